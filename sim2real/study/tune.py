"""Run a study's trials on Ray Tune: an embedded local Ray instance, or a cluster to join.

Imported only by ``sim2real study`` once Ray is known to be installed (``pip install
"sim2real[ray]"``); nothing else in sim2real imports Ray.

Each trial is :func:`sim2real.study.trial.run_trial` with ``tune.with_resources`` (the study's
CPUs and GPU fraction) and as many torch threads as it has whole CPUs. A grid is
``tune.grid_search`` over every key; a search space goes to Ray Tune's ``OptunaSearch`` (TPE
or random sampler, seeded). ``scheduler: asha`` stops trials whose intermediate evaluations
fall behind (``ASHAScheduler`` on ``timesteps``). Failed trials are retried up to
``max_failures`` times (``FailureConfig``); a killed study continues with ``Tuner.restore``
(unfinished and errored trials run again, finished ones are kept and each trial keeps what it
had finished itself, see :mod:`sim2real.study.trial`). Ray's experiment state lives in
``<study dir>/tune`` (``storage_path``): on a cluster the study directory must be on storage
every node mounts at the same path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from sim2real.errors import UserError, describe
from sim2real.study.space import Dimension, as_plain
from sim2real.study.spec import Study, torch_threads_for
from sim2real.study.trial import TIME_ATTR, TRIALS_DIR, TUNE_DIR, read_trial, run_trial

__all__ = ["TrialOutcome", "run_study"]


@dataclass(frozen=True)
class TrialOutcome:
    """What Ray says of one trial, with the trial's record once it finished."""

    trial_id: str
    params: dict[str, Any]
    status: str  # finished | stopped (by the scheduler) | error | unfinished (interrupted)
    error: str | None
    last: dict[str, Any]  # the last reported metrics
    record: dict[str, Any] | None


def run_study(
    study: Study, study_dir: Path, address: str | None = None, resume: bool = False
) -> list[TrialOutcome]:
    """Run (or with ``resume``, continue) ``study`` in ``study_dir``; one outcome per trial."""
    study_dir = study_dir.resolve()
    started = _connect(address)
    try:
        _check_resources(study)
        trainable = _trainable(study, study_dir / TRIALS_DIR)
        if resume:
            tuner = _restore(study_dir / TUNE_DIR, trainable)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=_param_space(study),
                tune_config=_tune_config(study),
                run_config=tune.RunConfig(
                    name=TUNE_DIR,
                    storage_path=str(study_dir),
                    failure_config=tune.FailureConfig(max_failures=study.spec.max_failures),
                    verbose=1,
                ),
            )
        results = tuner.fit()
        outcomes = [_outcome(result, study, study_dir / TRIALS_DIR) for result in results]
        # Ray Tune ends fit() early on SIGINT, before it has created every trial.
        missing = _planned_trials(study) - len(outcomes)
        outcomes += [
            TrialOutcome(f"(not started {n + 1})", {}, "unfinished", None, {}, None)
            for n in range(missing)
        ]
        return outcomes
    finally:
        if started:
            ray.shutdown()


def _planned_trials(study: Study) -> int:
    search = study.spec.search
    return search.num_samples if search is not None else len(study.grid_points())


def _restore(path: Path, trainable: Any) -> tune.Tuner:
    try:
        return tune.Tuner.restore(str(path), trainable, resume_unfinished=True, resume_errored=True)
    except Exception as error:  # no experiment state saved yet, or unreadable
        raise UserError(
            f"--resume: Ray Tune cannot restore the study in {path} ({describe(error)}); "
            "start it again in a new --dir"
        ) from None


def _connect(address: str | None) -> bool:
    """Join ``address``, reuse a Ray session of this process, or start a local instance;
    True when this call started (and so stops) it."""
    if ray.is_initialized():
        return False
    if address is not None:
        try:
            ray.init(address=address, log_to_driver=True)
        except (ValueError, ConnectionError, RuntimeError, TimeoutError) as error:
            raise UserError(
                f"--address {address!r}: cannot join a Ray cluster there ({describe(error)}); "
                "give the head node's address (HOST:6379, or ray://HOST:10001 for Ray Client) "
                "or leave --address out to start a local instance"
            ) from None
    else:
        ray.init(include_dashboard=False)
    return True


def _check_resources(study: Study) -> None:
    """A trial that asks for more than the whole cluster has would wait forever."""
    total = ray.cluster_resources()
    resources = study.spec.resources
    for field, key, wanted in (("cpus", "CPU", resources.cpus), ("gpus", "GPU", resources.gpus)):
        if wanted > total.get(key, 0):
            raise UserError(
                f"{study.path}: field 'resources.{field}' = {wanted:g}; the Ray cluster has "
                f"{total.get(key, 0):g} {key}(s) in all, so no trial could start"
            )


def _trainable(study: Study, trials_dir: Path) -> Any:
    resources = study.spec.resources
    threads = torch_threads_for(resources)

    def trial(params: dict[str, Any]) -> None:
        import torch

        torch.set_num_threads(threads)
        trial_id = tune.get_context().get_trial_id()
        plain = {key: as_plain(params[key]) for key in study.keys}
        run_trial(study, plain, trials_dir / trial_id, tune.report)

    trial.__name__ = "sim2real_trial"
    return tune.with_resources(trial, {"cpu": resources.cpus, "gpu": resources.gpus})


def _param_space(study: Study) -> dict[str, Any]:
    if not study.dimensions:
        return {key: tune.grid_search(values) for key, values in study.spec.grid.items()}
    return {dim.key: _domain(dim) for dim in study.dimensions}


def _domain(dim: Dimension) -> Any:
    if dim.kind == "choice":
        return tune.choice(list(dim.values))
    low, high = dim.values
    factories = {
        "uniform": lambda: tune.uniform(low, high),
        "loguniform": lambda: tune.loguniform(low, high),
        "int": lambda: tune.randint(low, high + 1),  # Tune's upper bound is exclusive
        "logint": lambda: tune.lograndint(low, high + 1),
    }
    return factories[dim.kind]()


def _tune_config(study: Study) -> tune.TuneConfig:
    spec = study.spec
    search_alg = None
    num_samples = 1
    if spec.search is not None:
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
        search_alg = OptunaSearch(sampler=samplers[spec.search.sampler](seed=spec.search.seed))
        num_samples = spec.search.num_samples
    scheduler: Any = FIFOScheduler()
    if spec.scheduler.name == "asha":
        scheduler = ASHAScheduler(
            time_attr=TIME_ATTR,
            # ASHA stops a trial whose count reaches max_t: past the last training
            # evaluation, so every trial it keeps goes on to its transfer and evaluation.
            max_t=study.longest_trial() + 1,
            grace_period=spec.scheduler.grace_period_steps,
            reduction_factor=spec.scheduler.reduction_factor,
        )
    return tune.TuneConfig(
        metric=spec.metric,
        mode=study.mode,
        search_alg=search_alg,
        scheduler=scheduler,
        num_samples=num_samples,
        max_concurrent_trials=spec.max_concurrent,
        reuse_actors=True,  # a worker imports torch and SB3 once, not once per trial
        trial_dirname_creator=lambda trial: trial.trial_id,
        trial_name_creator=lambda trial: trial.trial_id,
    )


def _cause(error: BaseException) -> str:
    """What failed a trial, on one line: the exception raised in the trial (Ray wraps it in a
    ``RayTaskError`` whose text is the worker's coloured traceback)."""
    while getattr(error, "cause", None) is not None and error.cause is not error:
        error = error.cause
    if isinstance(error, UserError):
        return str(error).strip()
    return describe(error)


def _outcome(result: Any, study: Study, trials_dir: Path) -> TrialOutcome:
    metrics = dict(result.metrics or {})
    # Ray names a restarted trial's own directory anew; the id (our trial directory) stays.
    trial_id = str(metrics.get("trial_id") or Path(result.path).name)
    params = {key: as_plain(value) for key, value in (result.config or {}).items()}
    record = read_trial(trials_dir / trial_id)
    if result.error is not None:
        status, error = "error", _cause(result.error)
    elif record is not None:
        status, error = "finished", None
    elif metrics.get("done"):  # Tune marks the last result of a trial its scheduler stopped
        status, error = "stopped", None
    else:  # still running when Ray Tune was interrupted
        status, error = "unfinished", None
    last = {key: metrics[key] for key in (TIME_ATTR, study.spec.metric) if key in metrics}
    return TrialOutcome(trial_id, _ordered(params, study), status, error, last, record)


def _ordered(params: Mapping[str, Any], study: Study) -> dict[str, Any]:
    return {key: params[key] for key in study.keys if key in params}
