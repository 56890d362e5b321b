"""Evaluate runs on nominal dynamics, on their source DR distribution and on each target.

Runs with the same config name are one *method* (its training seeds) unless their configs
differ in what shapes the policy: such a run is a method of its own, labelled with the fields
that differ (:func:`~sim2real.evaluation.conditions.open_runs`). For every method and
condition this computes the mean return and the IQM with a 95% stratified bootstrap CI:
the strata are the runs, and episodes are resampled within each run, so every replicate
keeps each run's weight (rliable's scheme with runs in place of tasks). Per target:

- transfer gap ``J_source - J_target`` (absolute, and divided by ``|J_source|``) where
  ``J_source`` is the mean return on NOMINAL source dynamics; the gap relative to the
  source DR distribution (``J_dr - J_target``) is reported next to it;
- with an oracle run trained on the target: regret ``J_target(oracle) - J_target(method)``
  and the fraction of the baseline method's gap to the oracle that the method closes,
  ``(J_T(method) - J_T(baseline)) / (J_T(oracle) - J_T(baseline))``.

J is always the mean return over all episodes of all runs of the method; the gap and regret
CIs come from the same within-run bootstrap (source and target resampled independently).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim2real import limits
from sim2real.errors import UserError
from sim2real.evaluation.bootstrap import Estimate, bootstrap_replicates, percentile_interval
from sim2real.evaluation.conditions import (
    DR,
    NOMINAL,
    Condition,
    Probes,
    RunInfo,
    check_policies,
    condition_info,
    default_targets,
    open_runs,
    oracle_runs,
    target_conditions,
    unique_targets,
)
from sim2real.evaluation.metrics import (
    ReturnSummary,
    fraction_gap_closed,
    regret,
    summarize_returns,
    transfer_gap,
)
from sim2real.evaluation.rollouts import RolloutJob, run_jobs
from sim2real.targets import Target

__all__ = [
    "ConditionResult",
    "Estimate",
    "Evaluation",
    "EvaluationSettings",
    "bootstrap_means",
    "collect_returns",
    "condition_result",
    "difference",
    "evaluate_runs",
]


@dataclass(frozen=True)
class EvaluationSettings:
    episodes: int = 10  # per seed, per run and condition
    seeds: tuple[int, ...] = (0,)  # one env per seed; total episodes = len(seeds) * episodes
    deterministic: bool = True
    workers: int | None = None  # None: one per core
    bootstrap_seed: int = 0
    n_boot: int = 2000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        limits.check_count(self.episodes, limits.EPISODES, "--episodes")
        if not self.seeds:
            raise UserError("--seeds = []; give one or more seeds >= 0")
        limits.check_count(len(self.seeds), limits.EVALUATION_SEEDS, "the number of --seeds")
        for seed in self.seeds:
            limits.check_count(seed, limits.SEED, "--seeds", minimum=0)
        if len(set(self.seeds)) != len(self.seeds):
            raise UserError(f"--seeds = {_short_list(self.seeds)}; seeds must be distinct")
        if self.workers is not None:
            limits.check_count(self.workers, limits.WORKERS, "--workers")
        limits.check_count(self.bootstrap_seed, limits.SEED, "--seed", minimum=0)
        limits.check_count(self.n_boot, limits.N_BOOT, "--n-boot")
        if not 0 < self.confidence < 1:
            raise UserError(f"confidence = {self.confidence!r}; must be in (0, 1), e.g. 0.95")


def _short_list(values: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


@dataclass(frozen=True)
class ConditionResult:
    summary: ReturnSummary  # mean, IQM and the IQM's CI over all episodes of all runs
    returns: dict[str, list[float]]  # run path -> per-episode returns
    gap: Estimate | None = None  # J_nominal - J_target (targets only)
    gap_normalized: Estimate | None = None  # gap / |J_nominal|
    gap_vs_dr: Estimate | None = None  # J_dr - J_target
    regret: Estimate | None = None  # J_target(oracle) - J_target (with an oracle)
    fraction_gap_closed: float | None = None  # vs the baseline method (with an oracle)


@dataclass
class Evaluation:
    env_id: str
    settings: EvaluationSettings
    methods: dict[str, list[str]]  # method -> run paths, in command-line order
    conditions: dict[str, dict[str, Any]]  # name -> kind, description, dynamics changes
    results: dict[str, dict[str, ConditionResult]]  # method -> condition -> result
    oracles: dict[str, dict[str, Any]] = field(default_factory=dict)  # target -> run, summary
    baseline: str | None = None
    dr_is_nominal: dict[str, bool] = field(default_factory=dict)
    # method -> target -> target-environment samples its runs consumed there (mean over the
    # runs; 0 for zero-shot methods; None when an export does not say)
    target_samples: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        return [name for name, info in self.conditions.items() if info["kind"] == "target"]


def collect_returns(
    jobs: Sequence[RolloutJob], workers: int | None, progress: bool = False
) -> dict[tuple[str, str], np.ndarray]:
    """Run jobs, concatenating each (policy, condition)'s episodes in seed order.

    A job repeated with the same policy, condition name and seed (e.g. an oracle that is
    also one of the evaluated runs) runs once.
    """
    unique = {(job.policy, job.condition.name, job.seed): job for job in jobs}
    jobs = list(unique.values())
    # Each option has its limit; their product is the study's size.
    episodes = sum(job.episodes for job in jobs)
    limits.check_limit(episodes, limits.ROLLOUT_EPISODES, "episodes in all")
    batches = run_jobs(jobs, workers, progress)
    returns: dict[tuple[str, str], list[np.ndarray]] = {}
    for job, batch in zip(jobs, batches, strict=True):
        returns.setdefault((job.policy, job.condition.name), []).append(batch.returns)
    return {key: np.concatenate(parts) for key, parts in returns.items()}


def evaluate_runs(
    run_dirs: Sequence[str | Path],
    targets: Sequence[Target] | None = None,
    oracles: Mapping[str, str | Path] | None = None,
    settings: EvaluationSettings | None = None,
    baseline: str | None = None,
    progress: bool = False,
) -> Evaluation:
    """Evaluate runs on nominal dynamics, their source DR and each target (see module doc).

    Args:
        run_dirs: run directories; runs with the same config name that learned alike form one
            method.
        targets: targets to evaluate on; None: every target named in the runs' configs.
        oracles: ``{target name or file: run dir}`` of runs trained on that target.
        settings: episodes, seeds, workers, bootstrap settings.
        baseline: method whose gap the others close (default: the first method).
    """
    settings = settings or EvaluationSettings()
    runs = open_runs(run_dirs)
    env_id = runs[0].env_id
    targets = default_targets(runs) if targets is None else unique_targets(targets)
    oracle_infos = oracle_runs(oracles or {}, targets, env_id)
    methods: dict[str, list[RunInfo]] = {}
    for info in runs:
        methods.setdefault(info.method, []).append(info)
    baseline = baseline or next(iter(methods))
    if baseline not in methods:
        raise UserError(f"--baseline = {baseline!r}; valid: {', '.join(methods)}")

    probes = Probes(env_id)
    try:
        conditions = target_conditions(probes, runs[0].env_kwargs, targets)
        check_policies([*runs, *oracle_infos.values()], probes)
    finally:
        probes.close()

    jobs = []
    for info in runs:
        own = [Condition(NOMINAL)]
        if info.randomization:
            own.append(Condition(DR, randomization=info.randomization))
        own += [_target_condition(t.name, conditions) for t in targets]
        jobs += _jobs(info, own, settings)
    for target_name, info in oracle_infos.items():
        jobs += _jobs(info, [_target_condition(target_name, conditions)], settings)
    returns = collect_returns(jobs, settings.workers, progress)

    rng = np.random.default_rng(settings.bootstrap_seed)
    evaluation = Evaluation(
        env_id=env_id,
        settings=settings,
        methods={m: [str(i.path) for i in infos] for m, infos in methods.items()},
        conditions=condition_info(targets, conditions),
        results={},
        baseline=baseline if oracle_infos else None,
    )
    oracle_returns = {
        name: {str(info.path): returns[(str(info.path), name)]}
        for name, info in oracle_infos.items()
    }
    for target_name, by_run in oracle_returns.items():
        evaluation.oracles[target_name] = {
            "run": next(iter(by_run)),
            "summary": _summarize(by_run, rng, settings),
        }
    for method, infos in methods.items():
        by_condition = {NOMINAL: _by_run(returns, infos, NOMINAL)}
        evaluation.dr_is_nominal[method] = not infos[0].randomization
        # A method trained without DR has no source distribution but nominal dynamics.
        by_condition[DR] = (
            by_condition[NOMINAL] if not infos[0].randomization else _by_run(returns, infos, DR)
        )
        for target in targets:
            by_condition[target.name] = _by_run(returns, infos, target.name)
        evaluation.results[method] = {
            name: condition_result(name, by_condition, oracle_returns, rng, settings)
            for name in by_condition
        }
    _add_gap_closed(evaluation)
    evaluation.target_samples = {
        method: _target_samples([info.path for info in infos], evaluation.targets)
        for method, infos in methods.items()
    }
    return evaluation


def run_target_samples(path: Path) -> dict[str, int] | None:
    """Target samples a run consumed, per target (from run.json's ``transfer`` block: the
    fine-tuning budget, or the recorded steps of ``--strategy sysid``); ``{}`` for a policy
    trained in simulation only (DR, ADR, an adaptation student, the zoo); None for an export
    of a transferred run (its contract does not carry the count)."""
    from sim2real.policies.contract import is_export, read_contract
    from sim2real.runs import read_meta

    if is_export(path):
        source = read_contract(path).data.get("source") or {}
        return {} if source.get("strategy") is None else None
    transfer = read_meta(path / "run.json").get("transfer")
    if not isinstance(transfer, dict):
        return {}
    samples = transfer.get("target_samples", transfer.get("budget"))
    target = transfer.get("target")
    if not isinstance(samples, int) or not isinstance(target, str):
        return None
    return {target: samples}


def _target_samples(paths: Sequence[Path], targets: Sequence[str]) -> dict[str, float | None]:
    per_run = [run_target_samples(path) for path in paths]
    if any(samples is None for samples in per_run):
        return dict.fromkeys(targets)
    return {
        target: float(
            np.mean([samples.get(target, 0) for samples in per_run if samples is not None])
        )
        for target in targets
    }


# -- statistics -------------------------------------------------------------------------------


def bootstrap_means(
    by_run: Mapping[str, np.ndarray], rng: np.random.Generator, n_boot: int
) -> np.ndarray:
    """``(n_boot,)`` pooled means with episodes resampled within each run (the strata)."""
    strata = list(by_run.values())
    return bootstrap_replicates([strata], lambda x: x.mean(axis=-1), rng, n_boot, vectorized=True)


def _pooled_mean(by_run: Mapping[str, np.ndarray]) -> float:
    return float(np.mean(np.concatenate(list(by_run.values()))))


def difference(
    first: Mapping[str, np.ndarray],
    second: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    settings: EvaluationSettings,
) -> tuple[Estimate, Estimate]:
    """``J(first) - J(second)`` and that divided by ``|J(first)|``, with bootstrap CIs."""
    a_boot = bootstrap_means(first, rng, settings.n_boot)
    b_boot = bootstrap_means(second, rng, settings.n_boot)
    point = transfer_gap(_pooled_mean(first), _pooled_mean(second))
    with np.errstate(divide="ignore", invalid="ignore"):
        normalized = np.where(a_boot != 0, (a_boot - b_boot) / np.abs(a_boot), np.nan)
    absolute_ci = percentile_interval(a_boot - b_boot, settings.confidence)
    normalized_ci = percentile_interval(normalized, settings.confidence)
    return Estimate(point.absolute, *absolute_ci), Estimate(point.normalized, *normalized_ci)


def _summarize(
    by_run: Mapping[str, np.ndarray], rng: np.random.Generator, settings: EvaluationSettings
) -> ReturnSummary:
    return summarize_returns(dict(by_run), rng, settings.n_boot, settings.confidence, "iqm")


def condition_result(
    name: str,
    by_condition: Mapping[str, Mapping[str, np.ndarray]],
    oracle_returns: Mapping[str, Mapping[str, np.ndarray]],
    rng: np.random.Generator,
    settings: EvaluationSettings,
) -> ConditionResult:
    """Condition ``name`` of one method from its returns by condition, then by run (the
    strata): the IQM summary and, on a target, the gaps (and regret, given an oracle)."""
    by_run = by_condition[name]
    summary = _summarize(by_run, rng, settings)
    returns = {run: values.tolist() for run, values in by_run.items()}
    if name in (NOMINAL, DR):
        return ConditionResult(summary, returns)
    gap, gap_normalized = difference(by_condition[NOMINAL], by_run, rng, settings)
    gap_vs_dr, _ = difference(by_condition[DR], by_run, rng, settings)
    oracle_regret = None
    if name in oracle_returns:
        oracle_regret, _ = difference(oracle_returns[name], by_run, rng, settings)
        oracle_regret = Estimate(
            regret(_pooled_mean(oracle_returns[name]), _pooled_mean(by_run)),
            oracle_regret.ci_low,
            oracle_regret.ci_high,
        )
    return ConditionResult(summary, returns, gap, gap_normalized, gap_vs_dr, oracle_regret)


def _add_gap_closed(evaluation: Evaluation) -> None:
    """Fill ``fraction_gap_closed`` of each method on each target that has an oracle."""
    if evaluation.baseline is None:
        return
    for target, oracle in evaluation.oracles.items():
        j_oracle = oracle["summary"].mean
        j_before = evaluation.results[evaluation.baseline][target].summary.mean
        for by_condition in evaluation.results.values():
            result = by_condition[target]
            closed = fraction_gap_closed(j_before, result.summary.mean, j_oracle)
            by_condition[target] = _replace(result, fraction_gap_closed=closed)


def _replace(result: ConditionResult, **changes: Any) -> ConditionResult:
    from dataclasses import replace

    return replace(result, **changes)


# -- jobs ---------------------------------------------------------------------------------------


def _target_condition(name: str, conditions: Mapping[str, Mapping[str, Any]]) -> Condition:
    """A target as exact dynamics (and its actuator): the same values in every env."""
    found = conditions[name]
    return Condition(name, dynamics=found["full"], actuator=found["target"].actuator)


def _jobs(info: RunInfo, conditions: Sequence[Condition], settings: EvaluationSettings) -> list:
    return [
        RolloutJob(
            policy=str(info.path),
            env_id=info.env_id,
            condition=condition,
            seed=seed,
            episodes=settings.episodes,
            env_kwargs=dict(info.env_kwargs),
            deterministic=settings.deterministic,
        )
        for condition in conditions
        for seed in settings.seeds
    ]


def _by_run(
    returns: Mapping[tuple[str, str], np.ndarray], infos: Sequence[RunInfo], condition: str
) -> dict[str, np.ndarray]:
    return {str(i.path): returns[(str(i.path), condition)] for i in infos}
