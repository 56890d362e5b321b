"""Algorithm hyperparameters: validated against the SB3 constructors, turned into SB3 objects.

A config names hyperparameters the way the RL Baselines3 Zoo does (the keyword arguments of
``PPO(...)``, ``SAC(...)``, ...), as plain data: schedules are strings like ``lin_3e-4`` and
classes inside ``policy_kwargs`` are names like ``relu``. Validation reads the real
``__init__`` signatures, so a hyperparameter SB3 does not know is caught at load, not after
the environments are built. SB3 and torch are imported inside functions: importing
:mod:`sim2real.config` stays light.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from sim2real import limits

ALGORITHMS: dict[str, str] = {
    "PPO": "stable_baselines3:PPO",
    "SAC": "stable_baselines3:SAC",
    "TD3": "stable_baselines3:TD3",
    "A2C": "stable_baselines3:A2C",
    "TQC": "sb3_contrib:TQC",
    "RecurrentPPO": "sb3_contrib:RecurrentPPO",
}
ON_POLICY = frozenset({"PPO", "A2C", "RecurrentPPO"})
ASYMMETRIC = ("PPO", "A2C", "SAC")  # algorithms with an asymmetric actor-critic policy
CONTINUOUS_ONLY = frozenset({"SAC", "TD3", "TQC"})
DEFAULT_POLICY = {"RecurrentPPO": "MlpLstmPolicy"}

# Constructor arguments a config sets elsewhere (or the training code passes itself).
MANAGED: dict[str, str] = {
    "policy": "set 'algorithm.policy'",
    "env": "the environments come from 'env' and 'n_envs'",
    "seed": "set the top-level 'seed'",
    "device": "set the top-level 'device'",
    "tensorboard_log": "the run directory holds the TensorBoard logs",
    "verbose": "the training command sets verbosity",
    "_init_setup_model": "internal to SB3",
}
# RL-Zoo hyperparameter-file keys that are top-level fields here.
ZOO_KEYS: dict[str, str] = {
    "n_timesteps": "use the top-level 'total_timesteps'",
    "n_envs": "use the top-level 'n_envs'",
    "normalize": "use the top-level 'normalize'",
}
# Arguments that only take Python objects: no plain-data spelling exists.
OBJECT_ONLY = frozenset(
    {"action_noise", "replay_buffer_class", "rollout_buffer_class", "features_extractor_class"}
)
SCHEDULES = frozenset({"learning_rate", "clip_range", "clip_range_vf"})
# Policy constructor arguments that are not policy_kwargs.
POLICY_POSITIONAL = frozenset({"self", "observation_space", "action_space", "lr_schedule"})

ACTIVATIONS: dict[str, str] = {
    "relu": "ReLU",
    "tanh": "Tanh",
    "elu": "ELU",
    "leaky_relu": "LeakyReLU",
    "gelu": "GELU",
    "silu": "SiLU",
    "selu": "SELU",
}
OPTIMIZERS: dict[str, str] = {
    "adam": "torch.optim:Adam",
    "adamw": "torch.optim:AdamW",
    "rmsprop": "torch.optim:RMSprop",
    "sgd": "torch.optim:SGD",
    "rmsprop_tf_like": "stable_baselines3.common.sb2_compat.rmsprop_tf_like:RMSpropTFLike",
}

# (lowest, highest, lowest allowed itself?) for common numeric hyperparameters.
_RANGES: dict[str, tuple[float, float, bool]] = {
    "learning_rate": (0.0, 1.0, False),  # above 1 every optimizer SB3 offers diverges
    "clip_range": (0.0, math.inf, False),
    "clip_range_vf": (0.0, math.inf, False),
    "gamma": (0.0, 1.0, True),
    "gae_lambda": (0.0, 1.0, True),
    "tau": (0.0, 1.0, False),
    "n_steps": (1, math.inf, True),
    "batch_size": (1, math.inf, True),
    "n_epochs": (1, math.inf, True),
    "buffer_size": (1, math.inf, True),
    "learning_starts": (0, math.inf, True),
    "max_grad_norm": (0.0, math.inf, False),
    "vf_coef": (0.0, 100.0, True),  # SB3 and the RL Zoo use 0.2-1; beyond 100 it diverges
    "ent_coef": (0.0, 100.0, True),
    "log_std_init": (-20.0, 5.0, True),  # policy_kwargs: the initial std exp(x), 2e-9..148
    "sde_sample_freq": (-1, math.inf, True),
    "target_update_interval": (1, math.inf, True),
    "policy_delay": (1, math.inf, True),
    "target_kl": (0.0, math.inf, False),
}


class HyperparameterError(ValueError):
    """A hyperparameter is invalid: ``path`` is its field path below ``algorithm``.

    ``related`` names the other fields a combination error depends on (paths from the config's
    top), so the message can blame the ``--set`` that changed any of them.
    """

    def __init__(
        self,
        path: tuple[str | int, ...],
        value: Any,
        problem: str,
        related: tuple[tuple[str | int, ...], ...] = (),
    ):
        super().__init__(problem)
        self.path, self.value, self.problem = path, value, problem
        self.related = related


def algorithm_class(name: str) -> type:
    """The SB3 / sb3-contrib class of an algorithm name (imported on first use)."""
    module, attribute = ALGORITHMS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def policy_names(algorithm: str) -> tuple[str, ...]:
    return tuple(algorithm_class(algorithm).policy_aliases)


def parse_schedule(value: str) -> float:
    """``lin_<float>`` -> the float (never evaluated as code); ValueError otherwise."""
    if not value.startswith("lin_"):
        raise ValueError("a schedule string must be 'lin_<number>', e.g. 'lin_3e-4'")
    try:
        number = float(value[len("lin_") :])
    except ValueError:
        raise ValueError("the part after 'lin_' must be a number, e.g. 'lin_3e-4'") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError("the part after 'lin_' must be a finite number > 0")
    return number


def validate_algorithm(
    algorithm: str, policy: str, hyperparams: Mapping[str, Any], n_envs: int
) -> dict[str, Any]:
    """Policy name, hyperparameters and their combinations; returns the normalized hyperparams.

    Raises :class:`HyperparameterError` with a field path below ``algorithm``.
    """
    policies = policy_names(algorithm)
    if policy not in policies:
        problem = f"not a {algorithm} policy; valid: {', '.join(policies)}"
        raise HyperparameterError(("policy",), policy, problem)
    validated = validate_hyperparams(algorithm, policy, hyperparams)
    check_combinations(algorithm, validated, n_envs)
    return validated


def check_action_space(algorithm: str, hyperparams: Mapping[str, Any], action_space: Any) -> None:
    """SAC/TD3/TQC and gSDE need continuous (Box) actions; raises ValueError saying why."""
    import gymnasium as gym

    if isinstance(action_space, gym.spaces.Box):
        return
    if algorithm in CONTINUOUS_ONLY:
        raise ValueError(
            f"{algorithm} needs a continuous (Box) action space, the env has {action_space}; "
            f"use PPO, A2C or RecurrentPPO"
        )
    if hyperparams.get("use_sde"):
        raise ValueError(f"use_sde needs a continuous (Box) action space, not {action_space}")


def check_observation_space(algorithm: str, policy: str, observation_space: Any) -> None:
    """The policy's feature extractor must read the env's observations (SB3 would fail at its
    first step otherwise); raises ValueError naming the policies that fit."""
    names = policy_names(algorithm)
    fitting = [name for name in names if _reads(algorithm, name, observation_space)]
    if policy in fitting:
        return
    needs = _observations_needed(_extractor(algorithm, policy))
    valid = ", ".join(fitting) or "none"
    raise ValueError(
        f"{policy} needs {needs} observations, the env's are {_space_name(observation_space)}; "
        f"valid: {valid}"
    )


def validate_hyperparams(algorithm: str, policy: str, hyperparams: Mapping[str, Any]) -> dict:
    """Check names, types and ranges; returns the normalized plain data (e.g. lists -> tuples).

    Raises :class:`HyperparameterError` naming the field path below ``algorithm``.
    """
    allowed = _constructor_params(algorithm)
    validated: dict[str, Any] = {}
    for name, value in hyperparams.items():
        path: tuple[str | int, ...] = ("hyperparams", name)
        if name in MANAGED or name in ZOO_KEYS:
            hint = MANAGED.get(name) or ZOO_KEYS[name]
            raise HyperparameterError(path, value, f"not allowed in hyperparams; {hint}")
        if name not in allowed:
            valid = ", ".join(sorted(set(allowed) - set(MANAGED) - OBJECT_ONLY))
            raise HyperparameterError(
                path, value, f"not a {algorithm} hyperparameter; valid: {valid}"
            )
        if name in OBJECT_ONLY:
            raise HyperparameterError(path, value, "takes a Python object; not settable from YAML")
        if name == "policy_kwargs":
            validated[name] = _validate_policy_kwargs(algorithm, policy, value)
        elif name in SCHEDULES and isinstance(value, str):
            try:
                initial = parse_schedule(value)
            except ValueError as error:
                raise HyperparameterError(path, value, str(error)) from None
            _check_range(path, name, initial)  # the schedule's starting value
            validated[name] = value
        else:
            validated[name] = _check_value(path, value, allowed[name])
            _check_special(path, validated[name])
    return validated


def check_combinations(algorithm: str, hyperparams: Mapping[str, Any], n_envs: int) -> None:
    """Hyperparameters that are fine alone but not together (raises HyperparameterError)."""
    if algorithm in ("PPO", "RecurrentPPO"):
        n_steps = hyperparam(algorithm, hyperparams, "n_steps")
        batch_size = hyperparam(algorithm, hyperparams, "batch_size")
        rollout = n_steps * n_envs
        if rollout < 2:
            raise HyperparameterError(
                ("hyperparams", "n_steps"),
                n_steps,
                "n_steps * n_envs must be > 1 for PPO",
                related=(("n_envs",),),
            )
        if batch_size is not None and batch_size > rollout:
            raise HyperparameterError(
                ("hyperparams", "batch_size"),
                batch_size,
                f"must be <= n_steps * n_envs = {n_steps} * {n_envs} = {rollout} (one rollout)",
                related=(("algorithm", "hyperparams", "n_steps"), ("n_envs",)),
            )


def sb3_kwargs(algorithm_cfg: Any) -> dict[str, Any]:
    """Constructor kwargs for ``algorithm_class(name)(policy, env, **kwargs)``.

    ``lin_X`` strings become ``progress_remaining -> progress_remaining * X`` schedules and
    names in ``policy_kwargs`` become torch classes. ``policy``, ``env``, ``seed``, ``device``,
    ``tensorboard_log`` and ``verbose`` are never included: the caller passes them.
    """
    from stable_baselines3.common.utils import LinearSchedule

    kwargs: dict[str, Any] = {}
    for name, value in algorithm_cfg.hyperparams.items():
        if name in SCHEDULES and isinstance(value, str):
            kwargs[name] = LinearSchedule(parse_schedule(value), 0.0, 1.0)
        elif name == "policy_kwargs":
            kwargs[name] = _policy_kwargs_objects(value)
        elif isinstance(value, Mapping):
            kwargs[name] = dict(value)
        else:
            kwargs[name] = value
    return kwargs


def sb3_default(algorithm: str, name: str) -> Any:
    """SB3's default for one of ``algorithm``'s constructor arguments (read off its signature)."""
    return _constructor_params(algorithm)[name].default


def hyperparam(algorithm: str, hyperparams: Mapping[str, Any], name: str) -> Any:
    """The value of ``name`` the model is built with: the configured one, else SB3's default."""
    return hyperparams[name] if name in hyperparams else sb3_default(algorithm, name)


def activation_class(name: str) -> type:
    import torch.nn

    return getattr(torch.nn, ACTIVATIONS[name])


def optimizer_class(name: str) -> type:
    module, attribute = OPTIMIZERS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


# -- internals ---------------------------------------------------------------------------


@functools.cache
def _constructor_params(algorithm: str) -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(algorithm_class(algorithm).__init__).parameters
    return {name: p for name, p in parameters.items() if name != "self"}


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter:
    return TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))


def _check_value(path: tuple[str | int, ...], value: Any, parameter: inspect.Parameter) -> Any:
    """Validate strictly against the annotation (YAML already typed the value)."""
    name = str(path[-1])
    if parameter.annotation is inspect.Parameter.empty or isinstance(parameter.annotation, str):
        return value
    adapter = _adapter(parameter.annotation)
    candidates = [value]
    if isinstance(value, list):
        candidates.append(tuple(value))  # e.g. train_freq: [1, episode]
    if isinstance(value, float) and value.is_integer():
        candidates.append(int(value))  # e.g. buffer_size: 1e6
    for candidate in candidates:
        try:
            checked = adapter.validate_python(candidate, strict=True)
        except ValidationError:
            continue
        _check_range(path, name, checked)
        return checked
    raise HyperparameterError(path, value, f"must be of type {_type_name(parameter.annotation)}")


def _check_range(path: tuple[str | int, ...], name: str, value: Any) -> None:
    if name not in _RANGES or isinstance(value, bool) or not isinstance(value, int | float):
        return
    low, high, low_ok = _RANGES[name]
    if not math.isfinite(value):
        raise HyperparameterError(path, value, "must be a finite number")
    if value > high or value < low or (value == low and not low_ok):
        relation = ">=" if low_ok else ">"
        upper = f" and <= {high:g}" if math.isfinite(high) else ""
        raise HyperparameterError(path, value, f"must be {relation} {low:g}{upper}")


def _check_special(path: tuple[str | int, ...], value: Any) -> None:
    """String forms SB3 parses itself: fail here, at load, instead of after building envs."""
    name = path[-1]
    if name == "ent_coef" and isinstance(value, str):
        initial = value.removeprefix("auto_")
        if value != "auto" and (initial == value or not _is_positive_number(initial)):
            raise HyperparameterError(path, value, "must be a number >= 0, 'auto' or 'auto_<init>'")
    if name == "target_entropy" and isinstance(value, str) and value != "auto":
        raise HyperparameterError(path, value, "must be a number or 'auto'")
    if name == "train_freq" and isinstance(value, tuple) and value[1] not in ("step", "episode"):
        raise HyperparameterError(path, value, "must be N or [N, step | episode]")
    if name == "ent_coef" and isinstance(value, int | float) and value < 0:
        raise HyperparameterError(path, value, "must be >= 0")
    frequency = value[0] if name == "train_freq" and isinstance(value, tuple) else value
    if name == "train_freq" and frequency < 1:
        raise HyperparameterError(path, value, "the frequency must be >= 1")


def _is_positive_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("collections.abc.", "")


def _policy_class(algorithm: str, policy: str) -> type:
    return algorithm_class(algorithm).policy_aliases[policy]


def _extractor(algorithm: str, policy: str) -> type:
    parameters = inspect.signature(_policy_class(algorithm, policy).__init__).parameters
    return parameters["features_extractor_class"].default


def _space_name(space: Any) -> str:
    """``Box(4,)`` rather than the whole repr with every bound."""
    shape = getattr(space, "shape", None)
    return f"{type(space).__name__}{shape}" if shape else type(space).__name__


def _observations_needed(extractor: type) -> str:
    from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN

    if issubclass(extractor, CombinedExtractor):
        return "Dict"
    if issubclass(extractor, NatureCNN):
        return "image (Box of uint8, height x width x channels)"
    return "Box, Discrete or MultiDiscrete"


def _reads(algorithm: str, policy: str, space: Any) -> bool:
    import gymnasium as gym
    from stable_baselines3.common.preprocessing import is_image_space
    from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN

    extractor = _extractor(algorithm, policy)
    if issubclass(extractor, CombinedExtractor):
        return isinstance(space, gym.spaces.Dict)
    if issubclass(extractor, NatureCNN):
        return is_image_space(space, check_channels=False)
    return not isinstance(space, gym.spaces.Dict | gym.spaces.Tuple)


def _validate_policy_kwargs(algorithm: str, policy: str, value: Any) -> dict[str, Any]:
    base = ("hyperparams", "policy_kwargs")
    if not isinstance(value, Mapping):
        raise HyperparameterError(base, value, "must be a mapping of policy arguments")
    parameters = {
        name: p
        for name, p in inspect.signature(
            _policy_class(algorithm, policy).__init__
        ).parameters.items()
        if name not in POLICY_POSITIONAL
    }
    checked: dict[str, Any] = {}
    for name, item in value.items():
        path = (*base, name)
        if name not in parameters:
            valid = ", ".join(sorted(parameters))
            raise HyperparameterError(path, item, f"not an argument of {policy}; valid: {valid}")
        if name == "activation_fn":
            checked[name] = _named(path, item, ACTIVATIONS, "activation")
        elif name == "optimizer_class":
            checked[name] = _named(path, item, OPTIMIZERS, "optimizer")
        elif name in OBJECT_ONLY or name.endswith("_class"):
            raise HyperparameterError(path, item, "takes a Python class; not settable from YAML")
        elif name == "net_arch":
            checked[name] = _check_net_arch(path, item, algorithm)
        else:
            checked[name] = _check_value(path, item, parameters[name])
    return checked


def _named(path: tuple[str | int, ...], value: Any, options: Mapping[str, str], what: str) -> str:
    if not isinstance(value, str) or value not in options:
        raise HyperparameterError(path, value, f"unknown {what}; valid: {', '.join(options)}")
    return value


def _check_net_arch(path: tuple[str | int, ...], value: Any, algorithm: str) -> Any:
    keys = ("pi", "vf") if algorithm in ON_POLICY else ("pi", "qf")
    if isinstance(value, Mapping):
        unknown = set(value) - set(keys)
        if unknown:
            bad = sorted(unknown)[0]
            raise HyperparameterError(
                (*path, bad), value[bad], f"unknown network; valid: {', '.join(keys)}"
            )
        return {key: _layers((*path, key), layers) for key, layers in value.items()}
    return _layers(path, value)


def _layers(path: tuple[str | int, ...], value: Any) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in value
    ):
        raise HyperparameterError(
            path, value, "must be a list of positive layer sizes, e.g. [64, 64] (or pi/vf/qf)"
        )
    for index, size in enumerate(value):
        problem = limits.over_limit(size, limits.LAYER_WIDTH)
        if problem:
            raise HyperparameterError((*path, index), size, problem)
    return list(value)


def _policy_kwargs_objects(value: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for name, item in value.items():
        if name == "activation_fn":
            kwargs[name] = activation_class(item)
        elif name == "optimizer_class":
            kwargs[name] = optimizer_class(item)
        elif name == "net_arch" and isinstance(item, Mapping):
            kwargs[name] = {key: list(layers) for key, layers in item.items()}
        elif isinstance(item, Mapping):
            kwargs[name] = dict(item)
        elif isinstance(item, list):
            kwargs[name] = list(item)
        else:
            kwargs[name] = item
    return kwargs
