"""Experiment configs: YAML -> one validated, frozen :class:`ExperimentConfig`.

Everything is checked once, at load, in this order: the files a config names (randomization
spec, targets), the structure and types (pydantic, unknown keys rejected at every level), the
algorithm's hyperparameters against the SB3 constructor (:mod:`sim2real.hyperparams`), sizes
against their sanity limits (:mod:`sim2real.limits`), ``env.kwargs`` against the env's
constructor, and finally what needs the env itself (action and observation spaces,
randomization and targets binding to it), for which the env is made once. Every problem is
one :class:`UserError` line naming the file (or the ``--set`` that caused it), the field path,
the value and what is valid.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import inspect
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    model_validator,
)

from sim2real import limits
from sim2real.errors import UserError, short_repr
from sim2real.randomization import RandomizationSpec, SpecError, parse_spec
from sim2real.randomization.spec import read_spec_file, spec_to_data
from sim2real.resources import (
    FileKind,
    find_file,
    not_found_message,
    parse_yaml_value,
    read_yaml,
    resolve_file,
    yaml_problem,
)
from sim2real.targets import Target, bind_target, load_target

AlgorithmName = Literal["PPO", "SAC", "TD3", "A2C", "TQC", "RecurrentPPO"]


def _integral(value: Any) -> Any:
    """Accept ``1e6`` (a float in YAML) where a count is expected, if it is a whole number."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _registered(env_id: str) -> str:
    from sim2real.envs import env_ids

    if env_id not in env_ids():
        raise ValueError(f"not a registered env; valid: {', '.join(env_ids())}")
    return env_id


def _is_spec(value: Any) -> RandomizationSpec:
    if not isinstance(value, RandomizationSpec):
        raise ValueError("expected a RandomizationSpec (load configs with parse_config)")
    return value


def _are_targets(value: Any) -> tuple[Target, ...]:
    if not isinstance(value, tuple) or not all(isinstance(t, Target) for t in value):
        raise ValueError("expected a tuple of Target (load configs with parse_config)")
    return value


def spec_to_dict(spec: RandomizationSpec) -> dict[str, Any]:
    """A spec as the YAML mapping it parses from; ``source`` keeps where it came from."""
    return {"source": spec.source, "terms": spec_to_data(spec)}


def _target_paths(targets: tuple[Target, ...]) -> list[str]:
    return [str(target.path) for target in targets]


Count = Annotated[int, BeforeValidator(_integral), Field(ge=0)]
PositiveCount = Annotated[int, BeforeValidator(_integral), Field(ge=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class EnvConfig(_Model):
    id: Annotated[str, AfterValidator(_registered)]
    kwargs: dict[str, Any] = Field(default_factory=dict)
    # k > 0: the policy reads the last k observations and actions (sim2real.policies.history),
    # a memory of the dynamics it is in (with adaptation:, the teacher's body does); 0: the
    # observation alone.
    history_steps: Count = 0


class AlgorithmConfig(_Model):
    name: AlgorithmName
    policy: str = "MlpPolicy"
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    # The critic reads the privileged entries, the actor not (policies/asymmetric.py).
    asymmetric: bool = False

    @model_validator(mode="before")
    @classmethod
    def _default_policy(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "policy" not in data and data.get("name"):
            from sim2real.hyperparams import DEFAULT_POLICY

            if data["name"] in DEFAULT_POLICY:
                return {**data, "policy": DEFAULT_POLICY[data["name"]]}
        return data


class NormalizeConfig(_Model):
    observations: bool = False
    rewards: bool = False
    clip_obs: Annotated[float, Field(gt=0)] = 10.0

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # The RL Zoo writes ``normalize: true`` for observations and rewards.
        if isinstance(data, bool):
            return {"observations": data, "rewards": data}
        return data


class EvaluationConfig(_Model):
    freq_steps: Count = 10000  # 0 = off
    episodes: PositiveCount = 5
    deterministic: bool = True
    video: bool = False  # GIFs of a nominal and the hardest target's episode in TensorBoard


class CheckpointConfig(_Model):
    freq_steps: Count = 10000  # 0 = off
    save_replay_buffer: bool = False
    keep: PositiveCount = 3


class AdaptationConfig(_Model):
    """Teacher-student adaptation (RMA, Kumar et al. 2021); see sim2real.transfer.rma."""

    latent_size: PositiveCount = 8  # the extrinsics z the teacher's encoder makes
    encoder_layers: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [64, 64])
    history_steps: Annotated[int, BeforeValidator(_integral), Field(ge=1, le=1000)] = 30
    module: Literal["cnn", "mlp"] = "cnn"
    timesteps: PositiveCount = 100_000  # phase 2: env steps with the student acting
    rollout_steps: PositiveCount = 256  # phase 2: steps per env between regression updates
    epochs: PositiveCount = 4  # passes over the dataset per update
    # Phase 2's dataset: the last N rollouts (DAgger aggregates what the student visited;
    # the latent is one per episode draw, so one rollout holds few draws to learn from).
    dataset_rollouts: PositiveCount = 1
    # Phase 2 ends each episode after this many steps, so a rollout holds more draws; null:
    # the env's own time limit.
    episode_steps: PositiveCount | None = None
    # What phase 2 regresses: the teacher's latent (RMA), or the teacher body's actions through
    # the frozen body (action imitation: z's directions weighted by how much they move actions).
    loss: Literal["latent", "action"] = "latent"
    learning_rate: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 1e-3
    batch_size: PositiveCount = 256
    # The catalogue parameters whose episode values the teacher's encoder reads; None: every
    # one the spec randomizes. RMA's teacher reads physical factors a history can reveal; a
    # sensor's noise level per entry is hard to tell from k steps, and a latent that encodes
    # it is one the student cannot estimate.
    privileged_parameters: list[Annotated[str, Field(min_length=1)]] | None = None
    # An adaptation run (or its teacher/) whose finished teacher phase 1 copies instead of
    # training one: more students of one teacher (another loss, history, module). Everything
    # that changes what a teacher learns must match this config.
    teacher: Annotated[str, Field(min_length=1)] | None = None


class AdrConfig(_Model):
    """Automatic domain randomization over the ``randomization`` spec (sim2real.transfer.adr)."""

    threshold_high: Annotated[float, Field(allow_inf_nan=False)]  # mean return: widen
    threshold_low: Annotated[float, Field(allow_inf_nan=False)]  # mean return: narrow
    boundary_probability: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.5
    buffer_size: PositiveCount = 20  # boundary episodes per decision
    # Each move of a bound, as a fraction of the spec's range.
    step_fraction: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.05
    steps: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=dict
    )  # per ADR parameter, in its draw's units
    # Where each range starts, as a fraction of the way from nominal to its limit...
    initial_fraction: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.0
    # ...or, per ADR parameter, its starting range [low, high] in its draw's units.
    initial: dict[str, list[Annotated[float, Field(allow_inf_nan=False)]]] = Field(
        default_factory=dict
    )
    # Timesteps before the first boundary episode: a policy that cannot act yet would pull
    # every `initial` range back to nominal with its first returns.
    warmup_steps: Count = 0


class ExperimentConfig(_Model):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    env: EnvConfig
    # Dumped as the data they parse from, so config_to_dict is model_dump.
    randomization: Annotated[
        RandomizationSpec, PlainValidator(_is_spec), PlainSerializer(spec_to_dict)
    ] = Field(default_factory=RandomizationSpec)
    targets: Annotated[
        tuple[Target, ...], PlainValidator(_are_targets), PlainSerializer(_target_paths)
    ] = ()
    algorithm: AlgorithmConfig
    n_envs: PositiveCount = 1
    vec_env: Literal["dummy", "subproc"] = "dummy"
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    total_timesteps: PositiveCount
    seed: Count = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    adaptation: AdaptationConfig | None = None
    adr: AdrConfig | None = None
    # A run (or zoo:NAME) whose final policy this one starts from (sim2real.warm_start).
    init_from: Annotated[str, Field(min_length=1)] | None = None


# -- locating problems -------------------------------------------------------------------

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Locator:
    """Says where a field's value came from: the config file, or a ``--set`` on top of it."""

    source: str
    overrides: tuple[tuple[tuple[str, ...], str], ...] = ()

    def __call__(self, path: FieldPath, *related: FieldPath) -> str:
        """The source of ``path``'s value, or of a ``related`` field's the problem depends on."""
        candidates = [tuple(str(part) for part in each) for each in (path, *related)]
        for override_keys, text in reversed(self.overrides):
            for keys in candidates:
                common = min(len(keys), len(override_keys))
                if keys[:common] == override_keys[:common]:
                    return f"{self.source} (--set {text})"
        return self.source

    def error(
        self, path: FieldPath, value: Any, problem: str, related: tuple[FieldPath, ...] = ()
    ) -> UserError:
        where = self(path, *related)
        return UserError(f"{where}: field '{dotted(path)}' = {short_repr(value)}; {problem}")


def dotted(path: FieldPath) -> str:
    """``("targets", 0, "x")`` -> ``targets[0].x``."""
    text = ""
    for part in path:
        name = str(part) if str(part).isprintable() else repr(part)  # keep messages one line
        text += f"[{part}]" if isinstance(part, int) else (f".{name}" if text else name)
    return text


# -- public API ----------------------------------------------------------------------------


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read, override (``key.sub=value``, YAML-typed) and validate an experiment config."""
    resolved = resolve_config_path(path)
    data = read_yaml(resolved)
    if data is None:
        raise UserError(f"{resolved}: the config file is empty")
    data, locator = apply_overrides(data, overrides, str(resolved))
    return _parse(data, locator, resolved.parent)


def parse_config(
    data: Mapping[str, Any], source: str = "<inline>", base_dir: Path | None = None
) -> ExperimentConfig:
    """Validate plain data; relative file names resolve against ``base_dir``."""
    return _parse(data, Locator(source), base_dir)


def apply_overrides(
    data: Any, overrides: Sequence[str], source: str
) -> tuple[dict[str, Any], Locator]:
    """Set ``key.sub=value`` items on a copy of ``data``; the Locator remembers which were set."""
    if not isinstance(data, Mapping):
        raise UserError(f"{source}: a config must be a mapping of fields, got {short_repr(data)}")
    result = copy.deepcopy(dict(data))
    applied: list[tuple[tuple[str, ...], str]] = []
    for given in overrides:
        key, sep, raw = given.partition("=")
        text = _one_line_text(given)
        keys = tuple(key.strip().split("."))
        if not sep or not all(keys):
            raise UserError(f"--set {text}: expected key.sub=value, e.g. --set n_envs=4")
        value = _override_value(keys, raw, text)
        node = result
        for depth, part in enumerate(keys[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = dotted(keys[: depth + 1])
                raise UserError(
                    f"{source} (--set {text}): field '{where}' = {short_repr(child)} is not a "
                    f"mapping; set '{where}' as a whole instead"
                )
            node = child
        node[keys[-1]] = value
        applied.append((keys, text))
    return result, Locator(source, tuple(applied))


# init_from starts a teacher by its first layers (sim2real.warm_start), an on-policy policy's.
ON_POLICY_TEACHERS = ("PPO", "A2C")

# Fields whose value is a name or a path, taken as typed (as YAML ``init_from=zoo:x`` would be
# a mapping and ``name=123`` a number): what to give, and whether ``null`` (none) is valid.
_TEXT_FIELDS = {
    ("name",): ("a run name", False),
    ("init_from",): ("a run directory or zoo:NAME, or null for none", True),
}


def _override_value(keys: tuple[str, ...], raw: str, text: str) -> Any:
    quoted = raw.strip()[:1] in ("'", '"')  # as ``set_item`` writes a name YAML would retype
    if keys in _TEXT_FIELDS and not quoted:
        what, nullable = _TEXT_FIELDS[keys]
        value = raw.strip()
        if not value or (value in ("null", "~") and not nullable):
            raise UserError(f"--set {text}: give {what}")
        return None if value in ("null", "~") else value
    try:
        return parse_yaml_value(raw)
    except yaml.YAMLError as error:
        problem = yaml_problem(error)
        raise UserError(f"--set {text}: the value is not valid YAML ({problem})") from None


def _one_line_text(text: str) -> str:
    """An override as typed, or quoted when it holds line breaks or other unprintables."""
    return text if text.isprintable() else repr(text)


def resolve_config_path(
    name_or_path: str | Path, base_dir: Path | None = None, *, kind: FileKind = "experiment"
) -> Path:
    """Find a config file: as given, next to ``base_dir``, or among the shipped ones."""
    return resolve_file(name_or_path, kind, base_dir)


def sb3_kwargs(algorithm_cfg: AlgorithmConfig) -> dict[str, Any]:
    """SB3 constructor kwargs (schedules -> callables, names -> torch classes)."""
    from sim2real.hyperparams import sb3_kwargs as convert

    return convert(algorithm_cfg)


def config_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """Plain data (randomization inlined, targets as absolute paths); reloads to an equal config."""
    return _plain(cfg.model_dump())


# -- parsing -------------------------------------------------------------------------------


def _parse(data: Any, locator: Locator, base_dir: Path | None) -> ExperimentConfig:
    if not isinstance(data, Mapping):
        raise UserError(f"{locator.source}: a config must be a mapping of fields")
    raw = dict(data)
    if "randomization" in raw:
        raw["randomization"] = _randomization(raw["randomization"], locator, base_dir)
    if "targets" in raw:
        raw["targets"] = _targets(raw["targets"], locator, base_dir)
    raw = _with_actuator(raw, locator, base_dir)
    raw = _with_privileged_layout(raw)
    try:
        cfg = ExperimentConfig.model_validate(raw)
    except ValidationError as error:
        raise _one_line(error, locator) from None
    cfg = _check_algorithm(cfg, locator)
    _check_sizes(cfg, locator)
    _check_video(cfg, locator)
    _check_targets(cfg, locator)
    _check_env_kwargs(cfg, locator)
    _check_adr(cfg, locator)
    _check_history(cfg, locator)
    _check_adaptation(cfg, locator)  # before _check_env: its advice depends on the section
    _check_env(cfg, locator)
    return _check_reused_teacher(_check_init_from(cfg, locator, base_dir), locator, base_dir)


def _randomization(value: Any, locator: Locator, base_dir: Path | None) -> RandomizationSpec:
    path: FieldPath = ("randomization",)
    if isinstance(value, RandomizationSpec):
        return value
    if isinstance(value, str):
        file = find_file(value, "randomization", base_dir)
        if file is None:
            raise locator.error(path, value, not_found_message(value, "randomization"))
        try:
            return read_spec_file(file)
        except UserError as error:
            raise locator.error(path, value, str(error)) from None
    label = f"{locator(path)}: randomization"
    if isinstance(value, Mapping) and "source" in value:
        if not isinstance(value["source"], str):
            raise locator.error((*path, "source"), value["source"], "must be a string label")
        label = value["source"]
        value = {key: item for key, item in value.items() if key != "source"}
    return parse_spec(value, source=label)


def _with_actuator(raw: dict[str, Any], locator: Locator, base_dir: Path | None) -> dict[str, Any]:
    """env.kwargs.actuator checked, a learned model's directory made absolute."""
    env = raw.get("env")
    kwargs = env.get("kwargs") if isinstance(env, Mapping) else None
    if not isinstance(kwargs, Mapping) or kwargs.get("actuator") is None:
        return raw
    from sim2real.envs.motors import check_actuator_spec

    path = ("env", "kwargs", "actuator")
    try:
        actuator = check_actuator_spec(kwargs["actuator"], locator(path), base_dir, dotted(path))
    except ValueError as error:
        raise UserError(str(error)) from None
    return {**raw, "env": {**env, "kwargs": {**kwargs, "actuator": actuator}}}


def _with_privileged_layout(raw: dict[str, Any]) -> dict[str, Any]:
    """``env.kwargs.privileged: true`` made the training spec itself, once: every env of the
    run (training, evaluation on nominal dynamics or a target, export, videos, the zoo) then
    normalizes the privileged entries to the same ranges, whatever spec it is made with."""
    env = raw.get("env")
    kwargs = env.get("kwargs") if isinstance(env, Mapping) else None
    if not isinstance(kwargs, Mapping) or kwargs.get("privileged") is not True:
        return raw
    spec = raw.get("randomization")
    terms = spec_to_data(spec) if isinstance(spec, RandomizationSpec) else []
    return {**raw, "env": {**env, "kwargs": {**kwargs, "privileged": {"terms": terms}}}}


def _targets(value: Any, locator: Locator, base_dir: Path | None) -> tuple[Target, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise locator.error(("targets",), value, "must be a list of target file paths")
    targets = []
    for index, item in enumerate(value):
        path: FieldPath = ("targets", index)
        if isinstance(item, Target):
            targets.append(item)
            continue
        if not isinstance(item, str):
            raise locator.error(path, item, "must be a target file path")
        file = find_file(item, "target", base_dir)
        if file is None:
            raise locator.error(path, item, not_found_message(item, "target"))
        try:
            targets.append(load_target(file))
        except UserError as error:
            raise locator.error(path, item, str(error)) from None
    return tuple(targets)


def _one_line(error: ValidationError, locator: Locator) -> UserError:
    first = error.errors()[0]
    path: FieldPath = tuple(first["loc"])
    if first["type"] == "extra_forbidden":
        valid = ", ".join(_fields_at(path[:-1]))
        return locator.error(path, first["input"], f"not a known field; valid: {valid}")
    if first["type"] == "missing":
        return UserError(f"{locator(path)}: field '{dotted(path)}' is required")
    message = first["msg"].removeprefix("Value error, ")
    return locator.error(path, first["input"], message)


def _fields_at(path: FieldPath) -> list[str]:
    """Field names of the model at ``path`` inside ExperimentConfig (for 'valid: ...')."""
    model: Any = ExperimentConfig
    for part in path:
        model = model.model_fields[part].annotation
        # An optional section (``X | None``): the fields are X's.
        model = next((arg for arg in typing.get_args(model) if _is_model(arg)), model)
    return list(model.model_fields)


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


# -- semantic checks (after the structure is known to be right) ----------------------------


def _check_algorithm(cfg: ExperimentConfig, locator: Locator) -> ExperimentConfig:
    from sim2real import hyperparams as hp

    algorithm = cfg.algorithm
    try:
        validated = hp.validate_algorithm(
            algorithm.name, algorithm.policy, algorithm.hyperparams, cfg.n_envs
        )
    except hp.HyperparameterError as error:
        raise locator.error(
            ("algorithm", *error.path), error.value, error.problem, error.related
        ) from None
    if algorithm.asymmetric and (
        algorithm.name not in hp.ASYMMETRIC or algorithm.policy != "MlpPolicy"
    ):
        raise locator.error(
            ("algorithm", "asymmetric"),
            True,
            f"an asymmetric actor-critic is an MlpPolicy of {', '.join(hp.ASYMMETRIC)}; "
            f"not {algorithm.policy} of {algorithm.name}",
        )
    if cfg.checkpoint.save_replay_buffer and algorithm.name in hp.ON_POLICY:
        raise locator.error(
            ("checkpoint", "save_replay_buffer"),
            True,
            f"{algorithm.name} has no replay buffer; only SAC, TD3 and TQC do",
        )
    updated = algorithm.model_copy(update={"hyperparams": validated})
    return cfg.model_copy(update={"algorithm": updated})


# Fields with a sanity limit (sim2real.limits): refused above it, a warning when large.
_SIZES: tuple[tuple[FieldPath, limits.Limit], ...] = (
    (("total_timesteps",), limits.TOTAL_TIMESTEPS),
    (("n_envs",), limits.N_ENVS),
    (("seed",), limits.SEED),
    (("evaluation", "episodes"), limits.EPISODES),
    (("checkpoint", "keep"), limits.CHECKPOINT_KEEP),
)
# Hyperparameters that size memory or time, with SB3's default when not configured.
_HYPERPARAM_SIZES: dict[str, limits.Limit] = {
    "buffer_size": limits.BUFFER_SIZE,
    "n_epochs": limits.N_EPOCHS,
}


def _check_video(cfg: ExperimentConfig, locator: Locator) -> None:
    """Evaluation videos are GIFs written with imageio, an optional extra."""
    if cfg.evaluation.video and importlib.util.find_spec("imageio") is None:
        raise locator.error(
            ("evaluation", "video"),
            True,
            "GIFs need imageio, which is not installed: pip install 'sim2real[video]'",
        )


def _check_sizes(cfg: ExperimentConfig, locator: Locator) -> None:
    from sim2real.hyperparams import ON_POLICY, hyperparam

    algorithm, hyperparams = cfg.algorithm.name, cfg.algorithm.hyperparams
    sizes = [(path, functools.reduce(getattr, path, cfg), limit) for path, limit in _SIZES]
    sizes += [
        (("algorithm", "hyperparams", name), hyperparams[name], limit)
        for name, limit in _HYPERPARAM_SIZES.items()
        if name in hyperparams
    ]
    if algorithm in ON_POLICY:  # the rollout buffer holds n_steps * n_envs transitions
        n_steps = hyperparam(algorithm, hyperparams, "n_steps")
        path = ("algorithm", "hyperparams", "n_steps")
        sizes.append((path, n_steps * cfg.n_envs, limits.ROLLOUT_STEPS))
    for path, value, limit in sizes:
        # n_steps is checked as the rollout size it makes, and said so.
        field = f"field '{dotted(path)}'" + (" * n_envs" if path[-1] == "n_steps" else "")
        where = f"{locator(path)}: {field}"
        limits.check_limit(value, limit, where)


def _check_targets(cfg: ExperimentConfig, locator: Locator) -> None:
    seen: dict[str, int] = {}
    for index, target in enumerate(cfg.targets):
        path: FieldPath = ("targets", index)
        if target.env_id != cfg.env.id:
            raise locator.error(
                path,
                str(target.path),
                f"the target is for {target.env_id!r} but env.id is {cfg.env.id!r}",
            )
        if target.name in seen:
            raise locator.error(
                path,
                str(target.path),
                f"target name {target.name!r} is already used by targets[{seen[target.name]}]",
            )
        seen[target.name] = index


def _env_arguments(env_id: str) -> tuple[dict[str, inspect.Parameter], tuple[Any, ...]]:
    """The env constructor's keyword arguments (but ``randomization``) and its render modes."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    creator = load_env_creator(gym.spec(env_id).entry_point)
    parameters = dict(inspect.signature(creator).parameters)
    parameters.pop("randomization", None)  # set by the top-level 'randomization' field
    render_modes = (None, *getattr(creator, "metadata", {}).get("render_modes", ()))
    return parameters, render_modes


def _check_env_kwargs(cfg: ExperimentConfig, locator: Locator) -> None:
    """env.kwargs against the env's constructor: gym.make would take unknown ones itself
    (``max_episode_steps``) or wrap the env (``render_mode: human`` needs pygame and a display)."""
    parameters, render_modes = _env_arguments(cfg.env.id)
    keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for name, value in cfg.env.kwargs.items():
        path: FieldPath = ("env", "kwargs", name)
        if name == "randomization":
            raise locator.error(path, value, "set the top-level 'randomization' field instead")
        if name not in parameters and not keyword:
            valid = ", ".join(parameters) or "none"
            raise locator.error(path, value, f"not an argument of {cfg.env.id}; valid: {valid}")
        if name == "render_mode" and value not in render_modes:
            modes = ", ".join("null" if mode is None else str(mode) for mode in render_modes)
            raise locator.error(path, value, f"not a render mode of {cfg.env.id}; valid: {modes}")


_ENV_KWARG = re.compile(r"^env kwarg '([^']+)'(.*)$")


def _check_env(cfg: ExperimentConfig, locator: Locator) -> None:
    import gymnasium as gym

    from sim2real.envs.wrappers import with_history_input
    from sim2real.hyperparams import check_action_space, check_observation_space

    try:
        env = gym.make(cfg.env.id, randomization=cfg.randomization, **cfg.env.kwargs)
    except SpecError as error:
        source = cfg.randomization.source
        if source.startswith(locator.source):  # inline: the message already names the config
            raise UserError(str(error)) from None
        raise locator.error(("randomization",), source, str(error)) from None
    except (TypeError, ValueError) as error:
        # gymnasium appends the kwargs (with the whole spec) to the constructor's message.
        message = str(error).split(" was raised from the environment creator")[0]
        own = _ENV_KWARG.match(message)  # our envs name the kwarg and its value themselves
        if own is not None:
            where = locator(("env", "kwargs"))
            raise UserError(f"{where}: field 'env.kwargs.{own[1]}'{own[2]}") from None
        raise locator.error(("env", "kwargs"), cfg.env.kwargs, message) from None
    try:
        try:
            env = with_history_input(env, cfg.env.history_steps)
        except UserError as error:
            raise locator.error(
                ("env", "history_steps"), cfg.env.history_steps, str(error)
            ) from None
        try:
            check_action_space(cfg.algorithm.name, cfg.algorithm.hyperparams, env.action_space)
        except ValueError as error:
            raise locator.error(("algorithm", "name"), cfg.algorithm.name, str(error)) from None
        try:
            check_observation_space(cfg.algorithm.name, cfg.algorithm.policy, env.observation_space)
        except ValueError as error:
            raise locator.error(("algorithm", "policy"), cfg.algorithm.policy, str(error)) from None
        if cfg.algorithm.asymmetric and not getattr(env.unwrapped, "privileged_names", ()):
            raise locator.error(
                ("algorithm", "asymmetric"),
                True,
                "the critic needs privileged entries to read: set env.kwargs.privileged: true "
                "and randomize something (or use a robot with a privileged state)",
            )
        for index, target in enumerate(cfg.targets):
            try:
                bind_target(env, target)
            except UserError as error:
                raise locator.error(("targets", index), str(target.path), str(error)) from None
    finally:
        env.close()


def _check_init_from(
    cfg: ExperimentConfig, locator: Locator, base_dir: Path | None
) -> ExperimentConfig:
    """A plain run to start from, as an absolute path (the config records where it was): a
    relative one from the config file is relative to the file's folder, from ``--set`` to the
    working directory."""
    source = cfg.init_from
    if source is None:
        return cfg
    if cfg.adaptation is not None and cfg.algorithm.name not in ON_POLICY_TEACHERS:
        raise locator.error(
            ("init_from",),
            source,
            f"it starts an adaptation run's teacher with {' or '.join(ON_POLICY_TEACHERS)} "
            f"only, not {cfg.algorithm.name}; remove it to train the teacher from scratch",
        )
    return cfg.model_copy(
        update={"init_from": _run_path(source, ("init_from",), locator, base_dir)}
    )


def _check_reused_teacher(
    cfg: ExperimentConfig, locator: Locator, base_dir: Path | None
) -> ExperimentConfig:
    """``adaptation.teacher`` in a student's config only, as an absolute path (a resume from
    another folder finds it); the run itself is checked when training starts."""
    adaptation = cfg.adaptation
    if adaptation is None or adaptation.teacher is None:
        return cfg
    path: FieldPath = ("adaptation", "teacher")
    if cfg.env.kwargs.get("privileged"):
        raise locator.error(
            path,
            adaptation.teacher,
            "this config is a teacher's (env.kwargs.privileged); reuse a teacher from the "
            "config of its students",
        )
    teacher = _run_path(adaptation.teacher, path, locator, base_dir)
    return cfg.model_copy(update={"adaptation": adaptation.model_copy(update={"teacher": teacher})})


def _run_path(source: str, path: FieldPath, locator: Locator, base_dir: Path | None) -> str:
    """A run a config names, made absolute (the config records where it was): a relative one
    from the config file is relative to the file's folder, from ``--set`` to the working
    directory; ``zoo:NAME`` as it is."""
    if source.startswith("zoo:"):
        return source
    from_set = locator(path) != locator.source
    base = Path.cwd() if from_set or base_dir is None else base_dir
    return str((base / Path(source).expanduser()).resolve())


def _check_history(cfg: ExperimentConfig, locator: Locator) -> None:
    """A history policy is an actor on a longer input (an asymmetric one's critic, or an RMA
    teacher's encoder, also reads the privileged entries after it), not a recurrent policy.
    An RMA student's body reads its teacher's window out of the module's longer history."""
    steps = cfg.env.history_steps
    if not steps:
        return
    where = f"{locator(('env', 'history_steps'))}: field 'env.history_steps'"
    limits.check_limit(steps, limits.HISTORY_STEPS, where)
    if cfg.adaptation is not None and steps > cfg.adaptation.history_steps:
        raise locator.error(
            ("env", "history_steps"),
            steps,
            f"the student's body reads it out of the adaptation module's history; at most "
            f"adaptation.history_steps ({cfg.adaptation.history_steps})",
        )
    if cfg.algorithm.name == "RecurrentPPO":
        raise locator.error(
            ("env", "history_steps"),
            steps,
            "RecurrentPPO's LSTM keeps its own memory; set 0 or use PPO",
        )


def _check_adaptation(cfg: ExperimentConfig, locator: Locator) -> None:
    """The teacher's encoder needs an MLP policy of a teacher algorithm and randomized dynamics
    to encode."""
    from sim2real.transfer.rma.networks import TEACHER_ALGORITHMS, privileged_size

    adaptation = cfg.adaptation
    if adaptation is None:
        return
    algorithm = cfg.algorithm
    if algorithm.asymmetric:
        # The teacher's critic already reads the privileged entries through its encoder.
        raise locator.error(
            ("algorithm", "asymmetric"),
            True,
            "adaptation trains a privileged teacher and its student; an asymmetric "
            "actor-critic is another method: remove one of them",
        )
    if algorithm.name not in TEACHER_ALGORITHMS:
        valid = ", ".join(TEACHER_ALGORITHMS)
        raise locator.error(("algorithm", "name"), algorithm.name, f"adaptation needs {valid}")
    if algorithm.policy != "MlpPolicy":
        raise locator.error(("algorithm", "policy"), algorithm.policy, "adaptation needs MlpPolicy")
    policy_kwargs = algorithm.hyperparams.get("policy_kwargs", {})
    if "features_extractor_kwargs" in policy_kwargs:
        raise locator.error(
            ("algorithm", "hyperparams", "policy_kwargs", "features_extractor_kwargs"),
            policy_kwargs["features_extractor_kwargs"],
            "adaptation sets the features extractor (the privileged encoder); remove it",
        )
    _check_privileged_parameters(cfg, locator)
    if privileged_size(cfg.env.id, cfg.randomization, cfg.env.kwargs) == 0:
        spec = cfg.randomization
        raise locator.error(
            ("randomization",),
            spec.source if spec.terms else None,
            "adaptation needs randomized dynamics for the teacher to encode; "
            + ("this spec randomizes none" if spec.terms else "give a randomization spec"),
        )
    rollout = adaptation.dataset_rollouts * adaptation.rollout_steps * cfg.n_envs
    rollout *= adaptation.history_steps
    sizes: list[tuple[FieldPath, int, limits.Limit]] = [
        (("adaptation", "timesteps"), adaptation.timesteps, limits.TOTAL_TIMESTEPS),
        (("adaptation", "latent_size"), adaptation.latent_size, limits.LAYER_WIDTH),
        *(
            (("adaptation", "encoder_layers", index), width, limits.LAYER_WIDTH)
            for index, width in enumerate(adaptation.encoder_layers)
        ),
        (("adaptation", "epochs"), adaptation.epochs, limits.N_EPOCHS),
        (("adaptation", "rollout_steps"), rollout, limits.HISTORY_ROLLOUT),
    ]
    for path, value, limit in sizes:
        # rollout_steps is checked as the histories its dataset holds, and said so.
        product = (
            " * n_envs * history_steps * dataset_rollouts" if path[-1] == "rollout_steps" else ""
        )
        where = f"{locator(path)}: field '{dotted(path)}'{product}"
        limits.check_limit(value, limit, where)


def _check_privileged_parameters(cfg: ExperimentConfig, locator: Locator) -> None:
    """Each named parameter is one the spec randomizes, named once; the list is not empty."""
    assert cfg.adaptation is not None
    names = cfg.adaptation.privileged_parameters
    if names is None:
        return
    path: FieldPath = ("adaptation", "privileged_parameters")
    randomized = list(dict.fromkeys(term.parameter for term in cfg.randomization.terms))
    valid = ", ".join(randomized) if randomized else "none: the config randomizes nothing"
    if not names:
        raise locator.error(path, [], f"name at least one of {valid}, or null for all")
    for index, name in enumerate(names):
        if name not in randomized:
            raise locator.error((*path, index), name, f"not randomized by the spec; valid: {valid}")
        if name in names[:index]:
            raise locator.error((*path, index), name, "named twice")


def _check_adr(cfg: ExperimentConfig, locator: Locator) -> None:
    """ADR needs ranges to widen, thresholds in order and steps for its own parameters."""
    from sim2real.transfer.adr import parameter_names

    adr = cfg.adr
    if adr is None:
        return
    names = parameter_names(cfg.randomization)
    if not names:
        raise UserError(
            f"{locator(('adr',))}: field 'adr' widens the uniform or log-uniform ranges of "
            "the 'randomization' spec, and this config has none; add a randomization spec "
            "with ranges or remove 'adr'"
        )
    if adr.threshold_low >= adr.threshold_high:
        raise locator.error(
            ("adr", "threshold_low"),
            adr.threshold_low,
            f"must be below adr.threshold_high = {adr.threshold_high:g}",
        )
    for field in ("steps", "initial"):
        for name, value in getattr(adr, field).items():
            if name not in names.values():
                valid = ", ".join(names.values())
                raise locator.error(
                    ("adr", field, name), value, f"not an ADR parameter of the spec; valid: {valid}"
                )
    by_name = {name: cfg.randomization.terms[index] for index, name in names.items()}
    for name, bounds in adr.initial.items():
        limits = by_name[name].distribution
        if len(bounds) != 2 or not limits.low <= bounds[0] <= bounds[1] <= limits.high:
            raise locator.error(
                ("adr", "initial", name),
                list(bounds),
                f"expected [low, high] with low <= high inside the spec's range "
                f"[{limits.low:g}, {limits.high:g}] (the hard limits)",
            )


# -- plain data ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Tuples -> lists, mappings -> dicts, recursively (what yaml.safe_dump writes cleanly)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
