"""Transfer strategies as data: the options, and the config a transfer run trains with.

A transfer run is described by an ordinary experiment config (``config.yaml``), derived from
the source run's config: the same algorithm and hyperparameters, ``total_timesteps`` = the
fine-tuning budget, the target as the only evaluation target, and a ``randomization`` spec
that *is* the training world:

- ``full``, ``freeze``, ``lr``, ``scratch``: the target's own terms (fixed values relative to
  nominal), so every reset of every sub-env lands exactly on the target's dynamics, the same
  values :func:`sim2real.targets.apply_target` sets;
- ``narrow_dr``: for every element the target changes, a uniform draw within ±``dr_width``
  (relative) of the target's value, as absolute values. Latency stays at the target's value:
  it is realized in whole control steps, so ±10% of it rounds back to the same step count;
- ``sysid``: the spec ``sim2real identify`` re-centred on the dynamics it fitted to recorded
  target data (:mod:`sim2real.transfer.sysid`); training happens in simulation only, and the
  target is where the learning curve is measured.

Writing the training world into the config (rather than patching the envs after they are
made) keeps the run directory self-describing: ``config.yaml`` says exactly what the policy
was trained on, and ``sim2real train`` of it would train in the same world. So a transfer run
whose config says everything it trains is an ordinary training run that ``sim2real train
--resume`` continues (:func:`resumable`); it checkpoints like one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from sim2real import limits
from sim2real.config import ExperimentConfig, config_to_dict, parse_config, spec_to_dict
from sim2real.errors import UserError
from sim2real.randomization import from_named, get_parameter
from sim2real.targets import Target, bind_target, target_dynamics

STRATEGIES = ("full", "freeze", "lr", "narrow_dr", "sysid", "scratch")
# Strategies that start from the source model (scratch is the baseline that does not).
FINE_TUNING = ("full", "freeze", "lr", "narrow_dr", "sysid")
# Strategies that train in simulation on identified dynamics: their target samples are the
# recorded data (run.json's transfer.target_samples), not their training steps.
SIMULATED = ("sysid",)
NORMALIZATION_MODES = ("keep", "refit")
DEFAULT_LR_SCALE = 0.1
DEFAULT_DR_WIDTH = 0.1
EVALUATION_POINTS = 10  # default evaluation interval: budget / 10 (plus the one at step 0)
_GLOB_CHARS = "*?["


@dataclass(frozen=True)
class TransferOptions:
    """What a transfer does besides fine-tuning; ``None`` picks the strategy's default.

    ``lr_scale`` applies to ``lr`` only, ``freeze_layers`` to ``freeze`` only, ``dr_width``
    to ``narrow_dr`` only; giving one to another strategy is an error rather than ignored.
    """

    strategy: str = "full"
    lr_scale: float | None = None
    freeze_layers: int | None = None  # None: every hidden layer of the actor
    normalization: str = "keep"
    dr_width: float | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise UserError(
                f"option '--strategy' = {self.strategy!r}; valid: {', '.join(STRATEGIES)}"
            )
        if self.normalization not in NORMALIZATION_MODES:
            raise UserError(
                f"option '--normalization' = {self.normalization!r}; "
                f"valid: {', '.join(NORMALIZATION_MODES)}"
            )
        for flag, value, owner in (
            ("--lr-scale", self.lr_scale, "lr"),
            ("--freeze", self.freeze_layers, "freeze"),
            ("--dr-width", self.dr_width, "narrow_dr"),
        ):
            if value is not None and self.strategy != owner:
                raise UserError(
                    f"option '{flag}' = {value!r} applies to --strategy {owner} only, "
                    f"not {self.strategy}"
                )
        if self.lr_scale is not None and not (math.isfinite(self.lr_scale) and self.lr_scale > 0):
            raise UserError(f"option '--lr-scale' = {self.lr_scale!r}; must be a number > 0")
        if self.freeze_layers is not None and self.freeze_layers < 1:
            raise UserError(
                f"option '--freeze' = {self.freeze_layers!r}; must be >= 1 hidden layers"
            )
        if self.dr_width is not None and not 0 < self.dr_width < 1:
            raise UserError(
                f"option '--dr-width' = {self.dr_width!r}; must be in (0, 1), e.g. 0.1 for ±10%"
            )

    @property
    def effective_lr_scale(self) -> float:
        return self.lr_scale if self.lr_scale is not None else DEFAULT_LR_SCALE

    @property
    def effective_dr_width(self) -> float:
        return self.dr_width if self.dr_width is not None else DEFAULT_DR_WIDTH


def check_budget(budget: Any, name: str = "--budget") -> int:
    """A number of target steps (``--budget``, ``--eval-freq``) within the training limit."""
    return limits.check_count(budget, limits.TOTAL_TIMESTEPS, f"option '{name}'")


def default_eval_freq(budget: int) -> int:
    return max(1, budget // EVALUATION_POINTS)


def transfer_name(source_name: str, target: Target, strategy: str) -> str:
    """``<source config name>-to-<target>-<strategy>``: the config (and method) name."""
    return f"{source_name}-to-{target.name}-{strategy}"


def transfer_config(
    source: ExperimentConfig,
    target: Target,
    options: TransferOptions,
    budget: int,
    seed: int,
    eval_freq: int,
    eval_episodes: int,
    world: dict[str, Any] | None = None,
) -> ExperimentConfig:
    """The config of a transfer run (validated like any config; see the module docstring).

    ``world`` is the randomization section when the caller has it (sysid: the re-centred
    spec); the target is passed as an object, so its file may be put in place later.
    """
    data = config_to_dict(source)
    data["name"] = transfer_name(source.name, target, options.strategy)
    data["randomization"] = world if world is not None else training_world(source, target, options)
    data["targets"] = [target]
    # A transfer run trains one plain policy: the source's curriculum (adr, init_from) and its
    # teacher-student phases (adaptation) belong to how the source was trained.
    for section in ("adr", "adaptation", "init_from"):
        data.pop(section, None)
    if target.actuator is not None and options.strategy not in SIMULATED:
        # The target's motor is part of the world these strategies train in.
        data["env"]["kwargs"] = {**data["env"]["kwargs"], "actuator": dict(target.actuator)}
    data["total_timesteps"] = budget
    data["seed"] = seed
    data["evaluation"] = {**data["evaluation"], "freq_steps": eval_freq, "episodes": eval_episodes}
    if not resumable(source, options):
        data["checkpoint"] = {**data["checkpoint"], "freq_steps": 0, "save_replay_buffer": False}
    if options.strategy == "lr":
        hyperparams = data["algorithm"]["hyperparams"]
        hyperparams["learning_rate"] = scaled_learning_rate(
            source.algorithm.name, hyperparams.get("learning_rate"), options.effective_lr_scale
        )
    return parse_config(data, source=f"transfer config {data['name']}")


def resumable(source: ExperimentConfig, options: TransferOptions) -> bool:
    """Whether ``sim2real train --resume`` can continue the transfer run from a checkpoint.

    Not when something stays fixed that the config cannot say: a frozen actor (``freeze``) or
    the source's normalization statistics frozen (``--normalization keep``, the default, of a
    source that normalizes); a resume would train them. ``scratch`` starts fresh statistics.
    """
    if options.strategy == "freeze":
        return False
    normalizes = source.normalize.observations or source.normalize.rewards
    return options.strategy == "scratch" or not normalizes or options.normalization == "refit"


def training_world(
    source: ExperimentConfig, target: Target, options: TransferOptions
) -> dict[str, Any]:
    """The randomization section (plain data) that makes every reset a target world."""
    if options.strategy in SIMULATED:
        raise ValueError(f"strategy {options.strategy!r} brings its own training world")
    if options.strategy != "narrow_dr":
        return spec_to_dict(target.spec)
    env = gym.make(source.env.id, **source.env.kwargs)
    try:
        terms = narrow_terms(env, target, options.effective_dr_width)
    finally:
        env.close()
    width = options.effective_dr_width
    return {
        "source": f"narrow DR +-{width:g} (relative) around target {target.name}",
        "terms": terms,
    }


def narrow_terms(env: gym.Env, target: Target, width: float) -> list[dict[str, Any]]:
    """Uniform ±``width`` (relative) around each value the target sets, as absolute terms.

    Elements with the same range share one term. A value of 0 (e.g. no damping) gives a
    zero-width range, i.e. stays exactly at the target; so does anything realized in whole
    steps (latency, sensor delay), which ±``width`` would only round back or off the step.
    """
    unwrapped = env.unwrapped
    values = from_named(target_dynamics(env, target), unwrapped.layout, unwrapped.nominal)
    groups: dict[tuple[str, float, float], list[str]] = {}
    for bound in bind_target(env, target).terms:
        parameter = bound.term.parameter
        names = unwrapped.layout.names(parameter)
        for index in bound.indices:
            value = float(values[parameter][index])
            whole_steps = get_parameter(parameter).step_quantum is not None
            spread = 0.0 if whole_steps else abs(value) * width
            key = (parameter, value - spread, value + spread)
            element = _escape_glob(names[int(index)])
            if element not in groups.setdefault(key, []):
                groups[key].append(element)
    return [
        {
            "parameter": parameter,
            "selector": selector,
            "distribution": "uniform",
            "range": [low, high],
            "operation": "abs",
        }
        for (parameter, low, high), selector in groups.items()
    ]


def scaled_learning_rate(algorithm: str, learning_rate: Any, scale: float) -> float | str:
    """The learning rate times ``scale``; a ``lin_X`` schedule stays linear (``lin_<X*scale>``).

    Without one in the config, the algorithm's own default is scaled.
    """
    from sim2real.hyperparams import parse_schedule, sb3_default

    if learning_rate is None:
        learning_rate = sb3_default(algorithm, "learning_rate")
    if isinstance(learning_rate, str):
        return f"lin_{parse_schedule(learning_rate) * scale:.12g}"
    return float(learning_rate) * scale


def _escape_glob(name: str) -> str:
    """Selectors are globs: make an element name match only itself."""
    return "".join(f"[{char}]" if char in _GLOB_CHARS else char for char in name)
