"""One trial of a study: an ordinary ``train`` (+ ``transfer``) + ``evaluate`` in one directory.

``<trial dir>/train`` is the run ``sim2real train`` writes; with a transfer section,
``<trial dir>/transfer-<target>`` is the run ``sim2real transfer`` writes for each target;
``<trial dir>/evaluation`` is the report ``sim2real evaluate`` writes of all of them; and
``trial.json`` (written last, atomically) records the parameters, the runs, the per-episode
returns each condition's final policy got and the study metric. Every periodic evaluation
during training is reported (``timesteps`` and the metric), so a scheduler can stop the trial.

A trial started again (a retry after a failure, a resumed study) does not redo what is done:
a finished trial reports its recorded result, a finished training run is kept, an
interrupted one continues from its latest checkpoint. Nothing here imports Ray: the caller
passes ``report``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from sim2real.config import ExperimentConfig
from sim2real.errors import UserError
from sim2real.evaluation.conditions import DR, NOMINAL
from sim2real.io import read_json, write_json
from sim2real.runs import Run
from sim2real.study.metrics import study_metric
from sim2real.study.spec import Study, TransferSection, transfer_options, trial_label

__all__ = ["TIME_ATTR", "TRIALS_DIR", "TRIAL_FILE", "TUNE_DIR", "read_trial", "run_trial"]

# The study directory: Ray's experiment state, and one directory per trial.
TUNE_DIR = "tune"
TRIALS_DIR = "trials"
TRIAL_FILE = "trial.json"
TRAIN_DIR = "train"
EVALUATION_DIR = "evaluation"
LOCK_FILE = ".trial.lock"
LOCK_TIMEOUT_S = 600  # Ray ends a dead driver's trials within seconds
TIME_ATTR = "timesteps"  # what a scheduler counts progress in

Report = Callable[[dict[str, Any]], None]


def read_trial(trial_dir: str | Path) -> dict[str, Any] | None:
    """A trial's record, or None while it has not finished."""
    path = Path(trial_dir) / TRIAL_FILE
    return read_json(path) if path.is_file() else None


def run_trial(
    study: Study, params: Mapping[str, Any], trial_dir: str | Path, report: Report
) -> dict[str, Any]:
    """Run (or finish) one trial; returns its record (see the module docstring).

    One process at a time per trial directory: a trial started again while an earlier
    attempt's process is still alive (a killed driver's trial that Ray has not ended yet, a
    retry) waits for it to exit before reading what it left."""
    trial_dir = Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    # On a filesystem without flock, filelock falls back to a lock file, which a killed
    # process leaves behind: the trial's retries then fail here after the timeout.
    lock = FileLock(trial_dir / LOCK_FILE)
    try:
        lock.acquire(timeout=LOCK_TIMEOUT_S)
    except Timeout:
        raise RuntimeError(
            f"{trial_dir}: another process has held this trial for {LOCK_TIMEOUT_S} s "
            f"(a second driver on the same study directory, or a stale {LOCK_FILE})"
        ) from None
    try:
        return _run_trial(study, params, trial_dir, report)
    finally:
        lock.release()


def _run_trial(
    study: Study, params: Mapping[str, Any], trial_dir: Path, report: Report
) -> dict[str, Any]:
    metric = study.spec.metric
    done = read_trial(trial_dir)
    if done is not None:
        report({TIME_ATTR: done[TIME_ATTR], metric: done["metric"]})
        return done
    config = study.trial_config(params)
    targets = [target.name for target in config.targets]

    def observe(step: int, results: Mapping[str, np.ndarray]) -> None:
        report({TIME_ATTR: int(step), metric: study_metric(metric, results, targets)})

    train_run = _train(config, trial_dir / TRAIN_DIR, observe)
    section = study.transfer_options(params)
    transfer_runs = _transfer(section, train_run, config, trial_dir) if section else {}
    evaluation = _evaluate(study, train_run, transfer_runs, trial_dir / EVALUATION_DIR)
    returns, zero_shot = _final_returns(evaluation, train_run, transfer_runs)
    timesteps = config.total_timesteps + (section.budget if section else 0)
    record = {
        "params": dict(params),
        "method": trial_label(params),
        "seed": config.seed,
        "env_id": config.env.id,
        "targets": targets,
        "runs": {
            "train": str(train_run.path),
            "transfer": {name: str(run.path) for name, run in transfer_runs.items()},
        },
        "evaluation": str(trial_dir / EVALUATION_DIR),
        "conditions": {name: evaluation.conditions[name] for name in returns},
        "dr_is_nominal": not config.randomization,
        "returns": {name: values.tolist() for name, values in returns.items()},
        "zero_shot": {name: values.tolist() for name, values in zero_shot.items()},
        TIME_ATTR: timesteps,
        "metric_name": metric,
        "metric": study_metric(metric, returns, targets),
    }
    write_json(trial_dir / TRIAL_FILE, record)
    report({TIME_ATTR: timesteps, metric: record["metric"]})
    return record


def _train(
    config: ExperimentConfig,
    run_dir: Path,
    observe: Callable[[int, Mapping[str, np.ndarray]], None],
) -> Run:
    """The trial's training run: kept when finished, resumed when a checkpoint is there."""
    from sim2real.training import train

    if run_dir.is_dir():
        run = _open(run_dir)
        if run is not None and run.meta.get("status") == "finished":
            return run
        if run is not None and run.latest_checkpoint() is not None:
            return _finished(
                train(
                    run_dir=run_dir,
                    resume=True,
                    progress_bar=False,
                    verbose=False,
                    on_evaluation=observe,
                )
            )
    return _finished(
        train(
            config,
            run_dir=run_dir,
            overwrite=True,
            progress_bar=False,
            verbose=False,
            on_evaluation=observe,
        )
    )


def _transfer(
    section: TransferSection, source: Run, config: ExperimentConfig, trial_dir: Path
) -> dict[str, Run]:
    """One fine-tuned run per target of the trial's config (kept when already finished)."""
    from sim2real.transfer import transfer

    options = transfer_options(section)
    runs = {}
    for target in config.targets:
        run_dir = trial_dir / f"transfer-{target.name}"
        run = _open(run_dir) if run_dir.is_dir() else None
        if run is None or run.meta.get("status") != "finished":
            run = _finished(
                transfer(
                    source,
                    target,
                    section.budget,
                    options.strategy,
                    lr_scale=options.lr_scale,
                    freeze_layers=options.freeze_layers,
                    normalization=options.normalization,
                    dr_width=options.dr_width,
                    run_dir=run_dir,
                    overwrite=True,
                    eval_freq=section.eval_freq,
                    progress_bar=False,
                    verbose=False,
                )
            )
        runs[target.name] = run
    return runs


def _evaluate(study: Study, train_run: Run, transfer_runs: Mapping[str, Run], out: Path) -> Any:
    """``evaluate`` of the trial's runs, its report written to ``out``; the Evaluation."""
    from sim2real.evaluation.evaluate import EvaluationSettings, evaluate_runs
    from sim2real.evaluation.evaluate_report import write_evaluation_report

    section = study.spec.evaluation
    settings = EvaluationSettings(
        episodes=section.episodes,
        seeds=tuple(section.seeds),
        workers=1,  # the trial's CPUs are its resources; no process pool inside it
        bootstrap_seed=section.bootstrap_seed,
        n_boot=section.n_boot,
    )
    paths = [train_run.path, *(run.path for run in transfer_runs.values())]
    evaluation = evaluate_runs(paths, settings=settings)
    write_evaluation_report(evaluation, out)
    return evaluation


def _final_returns(
    evaluation: Any, train_run: Run, transfer_runs: Mapping[str, Run]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The returns of each condition's final policy (on a target: the one fine-tuned there)
    and, with transfer, the trained policy's on each target (zero-shot)."""
    by_run = _returns_by_run(evaluation)
    source = by_run[str(train_run.path.resolve())]
    returns = {NOMINAL: source[NOMINAL], DR: source[DR]}
    zero_shot = {}
    for name in evaluation.targets:
        returns[name] = source[name]
        if name in transfer_runs:
            zero_shot[name] = source[name]
            returns[name] = by_run[str(transfer_runs[name].path.resolve())][name]
    return returns, zero_shot


def _returns_by_run(evaluation: Any) -> dict[str, dict[str, np.ndarray]]:
    """run path -> condition -> per-episode returns, from an Evaluation."""
    by_run: dict[str, dict[str, np.ndarray]] = {}
    for by_condition in evaluation.results.values():
        for condition, result in by_condition.items():
            for path, values in result.returns.items():
                by_run.setdefault(path, {})[condition] = np.asarray(values, float)
    return by_run


def _open(run_dir: Path) -> Run | None:
    try:
        return Run.open(run_dir)
    except UserError:
        return None


def _finished(run: Run) -> Run:
    """A run that ended otherwise (stopped, failed) fails the trial, so Ray can retry it."""
    status = run.meta.get("status")
    if status != "finished":
        raise RuntimeError(f"{run.path}: the run ended with status {status!r}")
    return run
