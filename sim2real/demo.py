"""The main job on the embedded default (CartPole): does domain randomization close the gap?

1. Train PPO without and with DR (the shipped ``cartpole_nominal.yaml`` / ``cartpole_dr.yaml``),
   one process each, in parallel.
2. Evaluate both on nominal dynamics and on every shipped CartPole target; print the gap table
   and write a report.
3. Take the target where the no-DR policy loses most, fine-tune that policy there and train from
   scratch on the same budget (several seeds each, in parallel); print Taylor & Stone metrics
   and write a report.
4. The same gap table for the Hopper, from the pretrained zoo (``zoo:hopper_nominal``,
   ``zoo:hopper_dr`` and the RMA student ``zoo:hopper_rma``; no training): seconds instead of
   hours.

Every option is checked before stage 1 (:func:`check_plan`), including what stage 3 will
build, so a bad one costs no training. The parallel stages run in child processes that end
with the demo (:func:`sim2real.processes.run_in_processes`): stopping it stops them, each
training saving a checkpoint first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim2real.errors import UserError
from sim2real.evaluation.evaluate import Evaluation, EvaluationSettings, evaluate_runs
from sim2real.evaluation.evaluate_report import evaluation_table, write_evaluation_report
from sim2real.io import check_output_dir
from sim2real.limits import EPISODES, SEED, TOTAL_TIMESTEPS, WORKERS, check_count
from sim2real.processes import run_in_processes
from sim2real.table import render_table

NOMINAL_CONFIG = "cartpole_nominal.yaml"
DR_CONFIG = "cartpole_dr.yaml"
# Training-time evaluations (every target, every few steps) would cost as much as training:
# the demo keeps a coarse TensorBoard curve and leaves the careful numbers to step 2.
TRAINING_EVALUATION = ("evaluation.freq_steps=50000", "evaluation.episodes=3")
HOPPER_ENTRIES = ("hopper_nominal", "hopper_dr", "hopper_rma")  # zoo entries of stage 4


@dataclass(frozen=True)
class DemoPlan:
    out_dir: Path = Path("demo")
    train_overrides: tuple[str, ...] = ()  # `--set` style overrides for both trainings
    transfer_budget: int = 20_000
    transfer_seeds: tuple[int, ...] = (0, 1)
    transfer_eval_freq: int = 4_000
    transfer_eval_episodes: int = 3
    eval_episodes: int = 10
    hopper_episodes: int = 3  # per zoo policy and condition in stage 4; 0 skips it
    workers: int = 2
    log: Callable[[str], None] = field(default=print)


@dataclass(frozen=True)
class DemoResult:
    runs: dict[str, Path]
    evaluation: Evaluation
    hardest_target: str
    transfer_runs: list[Path]
    scratch_runs: list[Path]
    reports: dict[str, Path]


def run_demo(plan: DemoPlan) -> DemoResult:
    check_plan(plan)
    runs_dir = plan.out_dir / "runs"
    log = plan.log
    overrides = TRAINING_EVALUATION + plan.train_overrides
    log(f"[1/4] training PPO on sim2real/CartPole-v0 without and with DR -> {runs_dir}/")
    trained = _parallel(
        _train_job,
        [
            (NOMINAL_CONFIG, runs_dir, overrides),
            (DR_CONFIG, runs_dir, overrides),
        ],
        plan.workers,
    )
    runs = {"no DR": trained[0], "DR": trained[1]}

    log("[2/4] evaluating both on nominal dynamics and every CartPole target")
    settings = EvaluationSettings(episodes=plan.eval_episodes, workers=plan.workers)
    evaluation = evaluate_runs([str(runs["no DR"]), str(runs["DR"])], settings=settings)
    evaluate_dir = plan.out_dir / "reports" / "evaluate"
    write_evaluation_report(evaluation, evaluate_dir)
    table = evaluation_table(evaluation)
    log(render_table(table.headers, table.rows))
    log("gap = J(nominal) - J(target); gap vs DR = J(DR source distribution) - J(target)")

    nominal_method = _method_of(evaluation, runs["no DR"])
    hardest = hardest_target(evaluation, nominal_method)
    log(
        f"[3/4] fine-tuning the no-DR policy to '{hardest}' (its largest gap) vs training from "
        f"scratch there: {plan.transfer_budget} target steps, seeds {list(plan.transfer_seeds)}"
    )
    target_file = evaluation.conditions[hardest]["path"]
    jobs = [
        (
            runs["no DR"],
            target_file,
            plan.transfer_budget,
            strategy,
            seed,
            plan.transfer_eval_freq,
            plan.transfer_eval_episodes,
            plan.out_dir / "transfer",
        )
        for strategy in ("full", "scratch")
        for seed in plan.transfer_seeds
    ]
    transferred = _parallel(_transfer_job, jobs, plan.workers)
    n = len(plan.transfer_seeds)
    transfer_runs, scratch_runs = transferred[:n], transferred[n:]
    compare_dir = plan.out_dir / "reports" / "transfer"
    _compare(transfer_runs, scratch_runs, compare_dir, log)
    reports = {"evaluate": evaluate_dir, "transfer": compare_dir}

    hopper_dir = plan.out_dir / "reports" / "hopper"
    if _hopper_from_zoo(plan, hopper_dir):
        reports["hopper"] = hopper_dir
    log(f"reports: {', '.join(f'{path}/report.md' for path in reports.values())}")
    log(f"TensorBoard: tensorboard --logdir {plan.out_dir}")
    return DemoResult(runs, evaluation, hardest, transfer_runs, scratch_runs, reports)


def _hopper_from_zoo(plan: DemoPlan, out_dir: Path) -> bool:
    """Stage 4: the zoo's Hopper policies (no DR, DR, the RMA student) on every target."""
    from sim2real.policies.zoo import ZOO_DIR, list_entries

    log = plan.log
    if plan.hopper_episodes == 0:
        log("[4/4] Hopper from the zoo: skipped (--hopper-episodes 0)")
        return False
    shipped = {entry.name: entry.path for entry in list_entries()}
    missing = [name for name in HOPPER_ENTRIES if name not in shipped]
    if missing:
        log(f"[4/4] Hopper from the zoo: skipped ({', '.join(missing)} not in {ZOO_DIR})")
        return False
    log(
        "[4/4] the Hopper without DR, with DR and adapting (RMA), pretrained (zoo:"
        + ", zoo:".join(HOPPER_ENTRIES)
        + f"), on nominal dynamics and every Hopper target ({plan.hopper_episodes} episodes each)"
    )
    settings = EvaluationSettings(episodes=plan.hopper_episodes, workers=plan.workers)
    evaluation = evaluate_runs([str(shipped[name]) for name in HOPPER_ENTRIES], settings=settings)
    write_evaluation_report(evaluation, out_dir)
    table = evaluation_table(evaluation)
    log(render_table(table.headers, table.rows))
    return True


def check_plan(plan: DemoPlan) -> None:
    """Every option, with one line, before any process starts or any file is written."""
    check_output_dir(plan.out_dir, "--out")
    check_count(plan.workers, WORKERS, "--workers")
    check_count(plan.eval_episodes, EPISODES, "--episodes")
    check_count(plan.hopper_episodes, EPISODES, "--hopper-episodes", minimum=0)
    EvaluationSettings(episodes=plan.eval_episodes, workers=plan.workers)  # stage 2's own checks
    check_count(plan.transfer_budget, TOTAL_TIMESTEPS, "--transfer-budget")
    if not plan.transfer_seeds:
        raise UserError("--transfer-seeds: give one or more seeds")
    for seed in plan.transfer_seeds:
        check_count(seed, SEED, "--transfer-seeds", minimum=0)
    if len(set(plan.transfer_seeds)) != len(plan.transfer_seeds):
        raise UserError(f"--transfer-seeds = {list(plan.transfer_seeds)}; seeds must be distinct")
    configs = _check_configs(TRAINING_EVALUATION + plan.train_overrides)
    _check_transfers(configs[0], plan)


def _check_configs(overrides: tuple[str, ...]) -> list[Any]:
    """Both training configs with the overrides (a bad override fails here, with one line)."""
    from sim2real.config import load_config, resolve_config_path

    return [
        load_config(resolve_config_path(name), overrides) for name in (NOMINAL_CONFIG, DR_CONFIG)
    ]


def _check_transfers(source: Any, plan: DemoPlan) -> None:
    """Stage 3's configs as it will build them, for every target it may pick (each seed
    passed the seed check; the largest stands for all)."""
    from sim2real.transfer.strategies import TransferOptions, transfer_config

    for target in source.targets:
        for strategy in ("full", "scratch"):
            transfer_config(
                source,
                target,
                TransferOptions(strategy),
                plan.transfer_budget,
                max(plan.transfer_seeds),
                plan.transfer_eval_freq,
                plan.transfer_eval_episodes,
            )


def hardest_target(evaluation: Evaluation, method: str) -> str:
    """The target on which ``method`` loses the most return relative to nominal dynamics."""
    results = evaluation.results[method]
    return max(evaluation.targets, key=lambda name: results[name].gap.value)


def _method_of(evaluation: Evaluation, run: Path) -> str:
    for method, paths in evaluation.methods.items():
        if any(Path(p).resolve() == run.resolve() for p in paths):
            return method
    raise KeyError(f"{run} is not among the evaluated runs")


def _compare(
    transfer_runs: Sequence[Path],
    scratch_runs: Sequence[Path],
    out_dir: Path,
    log: Callable[[str], None],
) -> None:
    from sim2real.evaluation.compare import compare_runs
    from sim2real.evaluation.compare_report import metrics_table, write_comparison_report

    comparison = compare_runs([str(p) for p in transfer_runs], [str(p) for p in scratch_runs])
    write_comparison_report(comparison, out_dir)
    table = metrics_table(comparison)
    # The last column holds long definitions: report.md has them, the terminal does not need them.
    log(render_table(table.headers[:-1], [row[:-1] for row in table.rows]))


def _parallel(
    job: Callable[..., Path], args: Sequence[tuple[Any, ...]], workers: int
) -> list[Path]:
    """Run jobs in fresh child processes that end with this one (see the module doc)."""
    return run_in_processes(job, args, workers)


def _train_job(config_name: str, runs_dir: Path, overrides: tuple[str, ...]) -> Path:
    from sim2real.config import load_config, resolve_config_path
    from sim2real.training import train

    config = load_config(resolve_config_path(config_name), overrides)
    run_dir = runs_dir / f"{config.name}-seed{config.seed}"
    run = train(config, run_dir, overwrite=True, progress_bar=False, verbose=False)
    print(f"  trained {config.name}: {run.path}", flush=True)
    return run.path


def _transfer_job(
    source: Path,
    target: str,
    budget: int,
    strategy: str,
    seed: int,
    eval_freq: int,
    eval_episodes: int,
    out_dir: Path,
) -> Path:
    from sim2real.transfer import transfer

    run_dir = out_dir / f"{strategy}-seed{seed}"
    run = transfer(
        source,
        target,
        budget,
        strategy,
        seed=seed,
        run_dir=run_dir,
        overwrite=True,
        eval_freq=eval_freq,
        eval_episodes=eval_episodes,
        progress_bar=False,
        verbose=False,
    )
    print(f"  {strategy} seed {seed}: {run.path}", flush=True)
    return run.path
