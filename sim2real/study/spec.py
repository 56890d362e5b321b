"""Study files: YAML -> one validated :class:`Study`, checked entirely before Ray starts.

A study names a base experiment config, fixed overrides (``set``), and either a ``grid`` (every
combination of dotted config keys, e.g. ``seed``, ``randomization``, ``algorithm.name``,
``algorithm.hyperparams.learning_rate``) or a ``search`` space sampled by Optuna. Keys under
``transfer.`` vary the study's transfer section instead of the experiment config. Every grid
point, and every bound and choice of a search space, is validated like ``train --set`` does
(:func:`sim2real.config.load_config` with the values as overrides), so a trial never
fails on a value the study accepted. Problems are one line naming the study file, the field,
the value and what is valid.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from sim2real import limits
from sim2real.config import (
    ExperimentConfig,
    FieldPath,
    Locator,
    dotted,
    load_config,
    resolve_config_path,
)
from sim2real.errors import UserError
from sim2real.resources import read_yaml, resolve_file
from sim2real.study.space import Dimension, parse_space
from sim2real.transfer.strategies import (
    SIMULATED,
    STRATEGIES,
    TransferOptions,
    check_budget,
    default_eval_freq,
    transfer_config,
)

__all__ = [
    "METRICS",
    "Study",
    "StudyFile",
    "TransferSection",
    "load_study",
    "torch_threads_for",
    "transfer_options",
    "trial_label",
]

TRANSFER_PREFIX = "transfer."
# metric name -> (direction, needs targets). See sim2real.study.metrics for the definitions.
METRICS: dict[str, tuple[Literal["max", "min"], bool]] = {
    "iqm_targets": ("max", True),
    "worst_target": ("max", True),
    "mean_gap": ("min", True),
    "nominal": ("max", False),
}
# A trial fine-tunes on its config's targets; sysid would need recorded data, which it has not.
STUDY_STRATEGIES = tuple(s for s in STRATEGIES if s not in SIMULATED)
# Grid points validated one by one (each makes the env once); a larger grid is refused.
MAX_GRID_POINTS = 1000


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Count = Annotated[int, BeforeValidator(_integral), Field(ge=0)]
PositiveCount = Annotated[int, BeforeValidator(_integral), Field(ge=1)]
DottedKey = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TransferSection(_Model):
    """Each trial fine-tunes its trained policy on every target of its config."""

    strategy: str = "full"
    budget: PositiveCount
    lr_scale: float | None = None
    freeze_layers: PositiveCount | None = None
    normalization: str = "keep"
    dr_width: float | None = None
    eval_freq: PositiveCount | None = None

    @field_validator("strategy")
    @classmethod
    def _trained_on_the_targets(cls, strategy: str) -> str:
        if strategy not in STUDY_STRATEGIES:
            why = "needs recorded data, which a trial has not; " if strategy in SIMULATED else ""
            raise ValueError(f"{why}valid: {', '.join(STUDY_STRATEGIES)}")
        return strategy


class SearchSection(_Model):
    sampler: Literal["tpe", "random"] = "tpe"
    num_samples: PositiveCount = 10
    seed: Count = 0
    # key -> {uniform: [low, high]} | {loguniform: [...]} | {int: [...]} | {logint: [...]}
    #        | {choice: [values...]}
    space: dict[DottedKey, dict[str, list[Any]]] = Field(min_length=1)


class SchedulerSection(_Model):
    """``fifo`` runs every trial to the end; ``asha`` stops trials whose intermediate
    evaluations (evaluation.freq_steps of the config) fall behind, after grace_period_steps."""

    name: Literal["fifo", "asha"] = "fifo"
    grace_period_steps: PositiveCount = 10000
    reduction_factor: Annotated[float, Field(gt=1, allow_inf_nan=False)] = 3.0


class ResourcesSection(_Model):
    cpus: Annotated[float, BeforeValidator(_integral), Field(gt=0)] = 1
    gpus: Annotated[float, BeforeValidator(_integral), Field(ge=0)] = 0


class StudyEvaluation(_Model):
    """The evaluate step of every trial: episodes per seed on nominal, DR and each target."""

    episodes: PositiveCount = 10
    seeds: list[Count] = Field(default_factory=lambda: [0], min_length=1)
    n_boot: PositiveCount = 2000
    bootstrap_seed: Count = 0


class StudyFile(_Model):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    config: str
    set: dict[DottedKey, Any] = Field(default_factory=dict)
    grid: dict[DottedKey, list[Any]] = Field(default_factory=dict)
    search: SearchSection | None = None
    transfer: TransferSection | None = None
    evaluation: StudyEvaluation = Field(default_factory=StudyEvaluation)
    metric: Literal["iqm_targets", "worst_target", "mean_gap", "nominal"] = "iqm_targets"
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection)
    resources: ResourcesSection = Field(default_factory=ResourcesSection)
    max_concurrent: PositiveCount | None = None
    max_failures: Count = 1


@dataclass(frozen=True)
class Study:
    """A validated study: the file, its base config and the points it can run."""

    path: Path
    spec: StudyFile
    config_path: Path
    base: ExperimentConfig  # the base config with ``set`` applied
    dimensions: tuple[Dimension, ...]  # the search space (empty for a grid)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def mode(self) -> Literal["max", "min"]:
        return METRICS[self.spec.metric][0]

    @property
    def keys(self) -> list[str]:
        """The keys a trial's parameters have, in file order."""
        return list(self.spec.grid) or [dim.key for dim in self.dimensions]

    def grid_points(self) -> list[dict[str, Any]]:
        return list(_combinations(self.spec.grid))

    def trial_config(self, params: Mapping[str, Any]) -> ExperimentConfig:
        """The experiment config of one trial: the base, ``set``, then its parameters."""
        overrides = {**self.spec.set, **_config_params(params)}
        return load_config(self.config_path, [_override(k, v) for k, v in overrides.items()])

    def longest_trial(self) -> int:
        """The most timesteps a trial counts: training, plus its transfer budget."""
        budget = self.spec.transfer.budget if self.spec.transfer is not None else 0
        return self._largest("total_timesteps", self.base.total_timesteps) + self._largest(
            "transfer.budget", budget
        )

    def _largest(self, key: str, base: int) -> int:
        """The largest value a trial can give ``key``."""
        if key in self.spec.grid:
            return max(int(value) for value in self.spec.grid[key])
        for dim in self.dimensions:
            if dim.key == key:
                return int(max(dim.extremes()))
        return base

    def transfer_options(self, params: Mapping[str, Any]) -> TransferSection | None:
        """The transfer section with a trial's ``transfer.*`` parameters applied."""
        if self.spec.transfer is None:
            return None
        changes = {
            key.removeprefix(TRANSFER_PREFIX): value
            for key, value in params.items()
            if key.startswith(TRANSFER_PREFIX)
        }
        data = {**self.spec.transfer.model_dump(), **changes}
        return TransferSection.model_validate(data)


def trial_label(params: Mapping[str, Any], exclude: Sequence[str] = ("seed",)) -> str:
    """``key=value, ...`` of a trial's parameters but its seed: the method it belongs to."""
    parts = [f"{key}={_compact(value)}" for key, value in params.items() if key not in exclude]
    return ", ".join(parts) or "base"


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


# -- loading ---------------------------------------------------------------------------------


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (see the module docstring)."""
    path = resolve_file(path, "study")
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise UserError(f"{path}: a study file must be a mapping of fields, got {data!r}")
    try:
        spec = StudyFile.model_validate(dict(data))
    except ValidationError as error:
        raise _one_line(error, path) from None
    where = Locator(str(path))
    config_path = _base_config(spec, path)
    base = _check_set(spec, path, config_path)
    dimensions = parse_space(spec.search.space, where) if spec.search else ()
    _check_sections(spec, base, where)
    study = Study(path, spec, config_path, base, dimensions)
    for point, field in _points_to_check(study):
        _check_point(study, point, field, where)
    scheduler = spec.scheduler
    if scheduler.name == "asha" and scheduler.grace_period_steps > study.longest_trial():
        raise where.error(
            ("scheduler", "grace_period_steps"),
            scheduler.grace_period_steps,
            f"must be <= the longest trial's {study.longest_trial():,} timesteps (training "
            "plus transfer budget): ASHA stops trials only after it",
        )
    return study


def _one_line(error: ValidationError, path: Path) -> UserError:
    first = error.errors()[0]
    location: FieldPath = tuple(first["loc"])
    if first["type"] == "extra_forbidden":
        model: Any = StudyFile
        for part in location[:-1]:
            annotation = model.model_fields[part].annotation
            model = next(
                (
                    arg
                    for arg in getattr(annotation, "__args__", ())
                    if hasattr(arg, "model_fields")
                ),
                annotation,
            )
        valid = ", ".join(getattr(model, "model_fields", {}))
        return Locator(str(path)).error(
            location, first["input"], f"not a known field; valid: {valid}"
        )
    if first["type"] == "missing":
        return UserError(f"{path}: field '{dotted(location)}' is required")
    message = first["msg"].removeprefix("Value error, ")
    return Locator(str(path)).error(location, first["input"], message)


def _base_config(spec: StudyFile, path: Path) -> Path:
    try:
        return resolve_config_path(spec.config, path.parent)
    except UserError as error:
        raise Locator(str(path)).error(("config",), spec.config, str(error)) from None


def _check_set(spec: StudyFile, path: Path, config_path: Path) -> ExperimentConfig:
    overrides = [_override(key, value) for key, value in spec.set.items()]
    try:
        return load_config(config_path, overrides)
    except UserError as error:
        raise UserError(f"{path}: field 'set' (base config {config_path}): {error}") from None


def _check_sections(spec: StudyFile, base: ExperimentConfig, where: Locator) -> None:
    if spec.grid and spec.search is not None:
        raise where.error(
            ("search",),
            "...",
            "a study has a grid or a search, not both (Optuna samples every key it varies; "
            "to vary seeds, add 'seed' to search.space as a choice)",
        )
    for key, values in spec.grid.items():
        if not values:
            raise where.error(("grid", key), values, "give one or more values")
        distinct = {json.dumps(value, sort_keys=True, default=str) for value in values}
        if len(distinct) != len(values):
            raise where.error(("grid", key), values, "values must be distinct (each is a trial)")
    keys = [*spec.grid, *(spec.search.space if spec.search else ())]
    for key in keys:
        section = ("grid",) if key in spec.grid else ("search", "space")
        if key.startswith(TRANSFER_PREFIX) and spec.transfer is None:
            raise where.error((*section, key), key, "varies 'transfer', but the study has none")
        if key == "name":
            raise where.error((*section, key), key, "the config name is the study's to set")
    if base.init_from is not None or "init_from" in keys:
        # Its checks need the source run, which a trial's worker would read from another
        # directory; a study trains from scratch.
        raise where.error(
            ("config",),
            spec.config,
            "a study's trials train from scratch; remove init_from from the config and set:",
        )
    size = math.prod(len(values) for values in spec.grid.values())
    if size > MAX_GRID_POINTS:
        raise where.error(("grid",), f"{size} points", f"at most {MAX_GRID_POINTS} trials")
    needs_targets = METRICS[spec.metric][1] or spec.transfer is not None
    if needs_targets and not base.targets and "targets" not in keys:
        what = "transfer" if spec.transfer is not None else f"metric {spec.metric!r}"
        raise where.error(
            ("config",),
            spec.config,
            f"names no targets, which {what} needs; add targets to it or use metric 'nominal'",
        )
    evaluation = spec.evaluation
    limits.check_count(
        evaluation.episodes, limits.EPISODES, f"{where.source}: field 'evaluation.episodes'"
    )
    limits.check_count(
        evaluation.n_boot, limits.N_BOOT, f"{where.source}: field 'evaluation.n_boot'"
    )
    if len(set(evaluation.seeds)) != len(evaluation.seeds):
        raise where.error(("evaluation", "seeds"), evaluation.seeds, "seeds must be distinct")
    if spec.transfer is not None:
        check_budget(spec.transfer.budget, f"{where.source}: transfer.budget")


def _points_to_check(study: Study) -> Iterator[tuple[dict[str, Any], FieldPath]]:
    """Every grid point; for a search, each key's bounds or choices, the others at each end."""
    if not study.dimensions:
        for point in study.grid_points():
            yield point, ("grid",)
        return
    lows = {dim.key: dim.extremes()[0] for dim in study.dimensions}
    highs = {dim.key: dim.extremes()[-1] for dim in study.dimensions}
    for dim in study.dimensions:
        for value in dim.extremes():
            for others in (lows, highs):
                yield {**others, dim.key: value}, ("search", "space", dim.key)


def _check_point(study: Study, point: Mapping[str, Any], field: FieldPath, where: Locator) -> None:
    described = ", ".join(f"{key}={_compact(value)}" for key, value in point.items())
    location = f"{where.source}: field '{dotted(field)}' ({described})"
    try:
        config = study.trial_config(point)
    except UserError as error:
        raise UserError(f"{location}: {error}") from None
    if study.spec.transfer is not None:
        try:
            section = study.transfer_options(point)
        except ValidationError as error:
            first = error.errors()[0]
            raise UserError(
                f"{location}: transfer.{dotted(tuple(first['loc']))} = {first['input']!r}; "
                f"{first['msg'].removeprefix('Value error, ')}"
            ) from None
        try:
            _check_transfer_runs(config, section, location)
        except UserError as error:
            raise UserError(f"{location}: {error}") from None


def _check_transfer_runs(config: ExperimentConfig, section: TransferSection, source: str) -> None:
    """What the trial's transfer runs will be checked on once its policy is trained: their
    configs (a scaled learning rate among them) and, for ``freeze``, the layers to freeze."""
    options = transfer_options(section)
    freq = section.eval_freq or default_eval_freq(section.budget)
    for target in config.targets:
        transfer_config(
            config, target, options, section.budget, config.seed, freq, config.evaluation.episodes
        )
    if options.strategy == "freeze":
        from sim2real.training import untrained_model
        from sim2real.transfer.freeze import freeze_actor

        freeze_actor(untrained_model(config, "cpu", source), options.freeze_layers)


def transfer_options(section: TransferSection) -> TransferOptions:
    """The transfer strategy options of a section (validated by TransferOptions)."""
    return TransferOptions(
        section.strategy,
        section.lr_scale,
        section.freeze_layers,
        section.normalization,
        section.dr_width,
    )


# -- helpers -------------------------------------------------------------------------------------


def _combinations(grid: Mapping[str, Sequence[Any]]) -> Iterator[dict[str, Any]]:
    keys = list(grid)
    for values in itertools.product(*(grid[key] for key in keys)):
        yield dict(zip(keys, values, strict=True))


def _config_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if not k.startswith(TRANSFER_PREFIX)}


def _override(key: str, value: Any) -> str:
    """A ``--set`` item for a typed value: JSON is YAML, so it parses back to the same value."""
    return f"{key}={json.dumps(value)}"


def torch_threads_for(resources: ResourcesSection) -> int:
    """torch threads for one trial: its whole CPUs, at least one."""
    return max(1, int(resources.cpus))
