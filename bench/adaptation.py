"""Adaptation benchmark: every method that crosses the gap, at the same simulation budget.

For one robot, with its shipped adaptation config (``<robot>_rma``), per seed (``--methods``
picks a subset; DR-only and the oracles always run, as the gap is theirs):

1. **RMA**: ``sim2real train`` of the config: the teacher for ``budget - student steps``, then
   the student for ``student steps`` (``--student-fraction`` of the budget; default the
   config's own split);
2. **DR-only**: the same config without ``adaptation:`` for the whole budget;
3. **history-DR**: the DR-only config with ``env.history_steps: k`` (the last ``k``
   observations and actions as the policy's input; ``--history-steps``, default
   :data:`HISTORY_DR_STEPS`) for the whole budget;
4. **RecurrentPPO**: the same hyperparameters with sb3-contrib's ``MlpLstmPolicy`` (a memory
   instead of an explicit history), for the whole budget, except its minibatching
   (:data:`RECURRENT_MINIBATCHING`);
5. **ADR**: the robot's shipped ADR config (``<robot>_adr``) for the whole budget;
6. per target, **sysid**: ``--record-episodes`` (<= 10) episodes recorded on the target with
   ``--record-policy``, then ``transfer --strategy sysid`` from the DR-only run
   (``--identify-budget`` evaluations, ``--finetune-budget`` simulation steps);
7. per target, **fine-tuning** the DR-only run on the target with as many target samples as
   sysid recorded (on-policy PPO collects whole rollouts, so it may use a few more);
8. an **oracle** per target: trained on the target from scratch (``--oracle-budget`` steps),
   per seed, or once with ``--oracle-seed`` and shared by every seed (the oracle stands for
   what the target allows; sharing it saves a full training per target and seed).

Every policy is evaluated zero-shot on every target (``--episodes`` deterministic episodes,
fixed seeds); per method and target the table gives the mean return over seeds with a 95%
bootstrap CI over seeds, the target samples the method consumed (0 for the zero-shot
methods), and the fraction of the DR-only policy's gap to the oracle that the method closes,
``(J(method) - J(DR)) / (J(oracle) - J(DR))`` of the means over seeds (CI: seeds resampled
with their three returns together; "no gap" where the oracle is not above DR-only). The
privileged teacher is listed too, as what the student imitates. Target of the issue: the RMA
student closes at least half of the gap.

    python bench/adaptation.py hopper --seeds 0 1 2              # the real result (hours)
    python bench/adaptation.py cartpole --seeds 0 1 --budget 1200 --oracle-budget 512 \\
        --episodes 2 --targets heavy hard --n-envs 2 --record-episodes 2 \\
        --identify-budget 80 --finetune-budget 512            # a smoke run (a few minutes)

Everything lands in ``<out>/<robot>/``: run directories per seed, ``results.json`` and
``summary.md`` (the table for BENCHMARKS.md). ``--reuse`` keeps finished runs and continues
unfinished ones from their last checkpoint, so a bench cut off in one session goes on in the
next; a run there that trained something else than its arm is a one-line error.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_parser import (  # noqa: E402
    BenchParser,
    check_unique,
    count,
    output_path,
    real,
    run_bench,
)
from sysid_transfer import (  # noqa: E402
    RECORD_EPISODES,
    check_identify_budget,
    record_data,
    run_finetune,
    run_sysid,
)
from transfer import completed  # noqa: E402  bench/transfer.py

from sim2real import limits  # noqa: E402
from sim2real.config import (  # noqa: E402
    ExperimentConfig,
    config_to_dict,
    load_config,
    parse_config,
)
from sim2real.data import load_data  # noqa: E402
from sim2real.errors import UserError  # noqa: E402
from sim2real.evaluation.bootstrap import bootstrap  # noqa: E402
from sim2real.evaluation.conditions import make_env, target_condition  # noqa: E402
from sim2real.evaluation.metrics import fraction_gap_closed  # noqa: E402
from sim2real.evaluation.rollouts import rollout  # noqa: E402
from sim2real.io import (  # noqa: E402
    atomic_write_text,
    check_output_dir,
    read_json_object,
    write_json,
)
from sim2real.policies.predictor import load_predictor  # noqa: E402
from sim2real.runs import Run  # noqa: E402
from sim2real.sysid.identify import BUDGET as IDENTIFY_BUDGET  # noqa: E402
from sim2real.sysid.identify import MIN_BUDGET as MIN_IDENTIFY_BUDGET  # noqa: E402
from sim2real.targets import Target, shipped_targets_named  # noqa: E402
from sim2real.training import train  # noqa: E402
from sim2real.transfer import transfer  # noqa: E402
from sim2real.transfer.rma.layout import TEACHER_DIR  # noqa: E402
from sim2real.transfer.sysid import SYSID_DIR  # noqa: E402

# robot -> (its adaptation config, its ADR config)
ROBOTS = {
    "cartpole": ("cartpole_rma.yaml", "cartpole_adr.yaml"),
    "hopper": ("hopper_rma_ppo.yaml", "hopper_adr_ppo.yaml"),
}
METHODS = (
    "dr",
    "history_dr",
    "recurrent_ppo",
    "rma_student",
    "rma_teacher",
    "adr",
    "sysid",
    "finetune",
)
PER_TARGET = ("sysid", "finetune")  # methods that consume target samples, one run per target
LABELS = {
    "dr": "DR-only",
    "history_dr": "history-DR",
    "recurrent_ppo": "RecurrentPPO",
    "rma_student": "RMA student",
    "rma_teacher": "RMA teacher (privileged)",
    "adr": "ADR",
    "sysid": "sysid (re-centred)",
    "finetune": "fine-tuned on target",
}
EVAL_SEED = 3_000_000  # evaluation episodes seeded away from every training seed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    overrides = [] if args.n_envs is None else [f"n_envs={args.n_envs}"]
    base = load_config(ROBOTS[args.robot][0], overrides)
    assert base.adaptation is not None
    targets = settle_args(args, base)
    check_reusable(args, base, overrides, targets)  # every check before any work
    out = args.out / args.robot
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    returns: dict[str, dict[str, dict[int, float]]] = {}
    samples: dict[str, dict[str, dict[int, int]]] = {}
    for seed in args.seeds:
        folder = out / f"seed{seed}"
        seed_args = argparse.Namespace(**{**vars(args), "seed": seed})
        policies = train_methods(seed_args, base, overrides, folder)
        for target in targets:
            oracle = train_oracle(args, policies["dr_run"], target, seed, folder)
            per_target = target_methods(seed_args, policies["dr_run"], target, folder)
            predictors = {
                **policies["predictors"],
                **{name: arm[:2] for name, arm in per_target.items()},
                "oracle": oracle,
            }
            for method, (predictor, env_kwargs) in predictors.items():
                value = evaluate(predictor, base.env.id, env_kwargs, target, args.episodes)
                returns.setdefault(method, {}).setdefault(target.name, {})[seed] = value
                used = per_target[method][2] if method in per_target else 0
                samples.setdefault(method, {}).setdefault(target.name, {})[seed] = used
                log(f"seed {seed}: {method} on {target.name}: {value:.1f}")
    methods = [m for m in METHODS if m in returns]
    results = {
        "robot": args.robot,
        "config": ROBOTS[args.robot][0],
        "adr_config": ROBOTS[args.robot][1],
        "seeds": args.seeds,
        "budget": args.budget,
        "student_steps": args.student_steps,
        "history_steps": args.history_steps,
        "oracle_budget": args.oracle_budget,
        "oracle_seed": args.oracle_seed,
        "record": {
            "episodes": args.record_episodes,
            "policy": args.record_policy,
            "identify_budget": args.identify_budget,
            "finetune_budget": args.finetune_budget,
        },
        "episodes": args.episodes,
        "returns": returns,
        "target_samples": samples,
        "table": table(returns, samples, methods, [t.name for t in targets], args.seeds),
        "machine": machine(),
        "minutes": (time.monotonic() - started) / 60,
        "date": datetime.date.today().isoformat(),
    }
    write_json(out / "results.json", results)
    summary = summary_markdown(results)
    atomic_write_text(out / "summary.md", summary)
    print(summary)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = BenchParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("robot", choices=sorted(ROBOTS))
    parser.add_argument("--seeds", type=count(limits.SEED, 0), nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=[m for m in METHODS if m not in ("dr", "rma_teacher")],
        help="arms besides DR-only and the oracles (default: all; rma_student brings its teacher)",
    )
    parser.add_argument(
        "--budget",
        type=count(limits.TOTAL_TIMESTEPS, 2),  # a teacher step and a student step at least
        help="simulation steps per method (default: config)",
    )
    parser.add_argument(
        "--student-fraction", type=real(0, 1), help="of the budget, for phase 2 (between 0 and 1)"
    )
    parser.add_argument(
        "--oracle-budget",
        type=count(limits.TOTAL_TIMESTEPS),
        help="default: the config's total_timesteps",
    )
    parser.add_argument(
        "--episodes", type=count(limits.EPISODES), default=10, help="per target and seed"
    )
    parser.add_argument("--targets", nargs="+", help="target names (default: every shipped one)")
    parser.add_argument("--n-envs", type=count(limits.N_ENVS), help="override the config's n_envs")
    parser.add_argument(
        "--history-steps",
        type=count(limits.HISTORY_STEPS),
        default=HISTORY_DR_STEPS,
        help=f"history-DR's k (default {HISTORY_DR_STEPS}; the student's k is the config's)",
    )
    parser.add_argument(
        "--record-episodes", type=count(RECORD_EPISODES), default=10, help="sysid: <= 10 (issue 11)"
    )
    parser.add_argument("--record-policy", choices=("sine", "random", "source"), default="sine")
    parser.add_argument(
        "--identify-budget", type=count(IDENTIFY_BUDGET, MIN_IDENTIFY_BUDGET), default=3000
    )
    parser.add_argument(
        "--finetune-budget",
        type=count(limits.TOTAL_TIMESTEPS),
        help="sysid's simulation steps (default: budget / 10)",
    )
    parser.add_argument(
        "--workers", type=count(limits.WORKERS), default=2, help="identify's parallel evaluations"
    )
    parser.add_argument(
        "--eval-episodes", type=count(limits.EPISODES), default=3, help="per learning-curve point"
    )
    parser.add_argument("--out", type=output_path, default=Path("bench_out/adaptation"))
    parser.add_argument(
        "--oracle-seed",
        type=count(limits.SEED, 0),
        help="train one oracle per target with this seed and use it for every seed "
        "(default: an oracle per seed)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep finished runs, continue unfinished ones"
    )
    args = parser.parse_args(argv)
    check_unique(parser, args.seeds, "--seeds")  # each seed is one run per arm, one CI sample
    args.methods = set(args.methods or METHODS) | {"dr"}
    args.pin_torso = False  # sysid searches the DR run's whole training spec
    return args


def settle_args(args: argparse.Namespace, base: ExperimentConfig) -> list[Target]:
    """Check what depends on the config (the counts are argparse types) and fill the defaults
    from it; the targets the bench measures on."""
    check_output_dir(args.out / args.robot, "option '--out'")
    targets = shipped_targets_named(base.env.id, args.targets, "option '--targets'")
    assert base.adaptation is not None
    if args.budget is None:
        args.budget = base.total_timesteps + base.adaptation.timesteps
    fraction = args.student_fraction
    if fraction is None:
        fraction = base.adaptation.timesteps / (base.total_timesteps + base.adaptation.timesteps)
    if not 0 < fraction < 1:
        raise UserError(f"option '--student-fraction' = {fraction}; must be between 0 and 1")
    args.student_steps = min(max(1, round(args.budget * fraction)), args.budget - 1)
    if args.oracle_budget is None:
        args.oracle_budget = base.total_timesteps
    if args.finetune_budget is None:
        args.finetune_budget = max(1, args.budget // 10)
    if args.methods & set(PER_TARGET):
        check_identify_budget(args.identify_budget, base, base.randomization)
    return list(targets)


# RecurrentPPO's minibatches: the RL Zoo's ppo_lstm setting for walkers (BipedalWalker-v3).
# With the Hopper's PPO minibatching (20 epochs of 128 samples) every gradient step runs the
# LSTM over padded sequences, and training ran at 76 steps/s against 211 with this on the
# 2-core machine (same rollouts, one update each): 2.5M steps in 3.3 h instead of 9.
RECURRENT_MINIBATCHING = {"batch_size": 256, "n_epochs": 10}

# History-DR's k: a flat MLP policy reads k observations and actions. With the student's k (50,
# 900 inputs on the Hopper) PPO never learned to hop in 2.5M steps (nominal 139); with 10 it
# hopped at 1,699 in 2M, with 3 (hopper_dr_ppo.yaml's) at 2,080 and 1,807 on `hard`
# (BENCHMARKS.md, "History-DR", "Pretrained zoo"). The student's k goes through its 1-D
# convolution, trained by regression, which a flat PPO input is not.
HISTORY_DR_STEPS = 3


def arm_configs(
    args: argparse.Namespace, base: ExperimentConfig, overrides: list[str]
) -> dict[str, ExperimentConfig]:
    """The configs of one seed's zero-shot arms, by the name of their run's folder. DR-only is
    the RMA config without its ``adaptation:`` (so with the history its teacher's body reads,
    if any)."""
    data = config_to_dict(base)
    data["seed"] = args.seed
    source = ROBOTS[args.robot][0]
    dr_data = {key: value for key, value in data.items() if key != "adaptation"}

    def variant(method: str, **changes: Any) -> ExperimentConfig:
        """The DR-only config with ``changes``, for the whole budget."""
        named = {"name": f"{args.robot}_{method}", "total_timesteps": args.budget}
        return parse_config({**dr_data, **named, **changes}, source=source)

    configs = {"dr": variant("dr")}
    if "rma_student" in args.methods:
        rma_data = {
            **data,
            "total_timesteps": args.budget - args.student_steps,
            "adaptation": {**data["adaptation"], "timesteps": args.student_steps},
        }
        configs["rma"] = parse_config(rma_data, source=source)
    if "history_dr" in args.methods:
        env = {**dr_data["env"], "history_steps": args.history_steps}
        configs["history_dr"] = variant("history_dr", env=env)
    if "recurrent_ppo" in args.methods:
        algorithm = {**dr_data["algorithm"], "name": "RecurrentPPO", "policy": "MlpLstmPolicy"}
        hyperparams = algorithm.get("hyperparams") or {}
        algorithm["hyperparams"] = {**hyperparams, **RECURRENT_MINIBATCHING}
        env = {**dr_data["env"], "history_steps": 0}  # its LSTM is its memory
        configs["recurrent_ppo"] = variant("recurrent_ppo", algorithm=algorithm, env=env)
    if "adr" in args.methods:
        adr_data = config_to_dict(load_config(ROBOTS[args.robot][1], overrides))
        adr_data.update(seed=args.seed, total_timesteps=args.budget)
        configs["adr"] = parse_config(adr_data, source=ROBOTS[args.robot][1])
    return configs


def train_methods(
    args: argparse.Namespace, base: ExperimentConfig, overrides: list[str], folder: Path
) -> dict[str, Any]:
    """The zero-shot methods' policies (and the teacher) of one seed, trained or reused."""
    configs = arm_configs(args, base, overrides)
    runs = {name: train_or_reuse(args, config, folder / name) for name, config in configs.items()}
    predictors: dict[str, tuple[Any, dict[str, Any]]] = {}
    for name, run in runs.items():
        if name == "rma":
            teacher = Run.open(run.path / TEACHER_DIR)
            predictors["rma_student"] = (load_predictor(run.path), dict(base.env.kwargs))
            predictors["rma_teacher"] = (load_predictor(teacher.path), teacher.config.env.kwargs)
        else:
            predictors[name] = (load_predictor(run.path), dict(configs[name].env.kwargs))
    return {"dr_run": runs["dr"], "predictors": predictors}


def target_methods(
    args: argparse.Namespace, dr_run: Run, target: Target, folder: Path
) -> dict[str, tuple[Any, dict[str, Any], int]]:
    """sysid and fine-tuning on one target: (predictor, env kwargs, target samples used)."""
    if not args.methods & set(PER_TARGET):
        return {}
    data = folder / f"{target.name}.npz"
    if not (args.reuse and data.is_file()):
        data = record_data(args, dr_run, target, folder)
    sysid = finished(args, folder / f"sysid_{target.name}") or run_sysid(
        args, dr_run, target, data, folder
    )
    recorded = int(sysid.meta["transfer"]["target_samples"])
    arms: dict[str, tuple[Any, dict[str, Any], int]] = {}
    if "sysid" in args.methods:
        arms["sysid"] = (load_predictor(sysid.path), dict(sysid.config.env.kwargs), recorded)
    if "finetune" in args.methods:
        tuned = finished(args, folder / f"finetune_{target.name}") or run_finetune(
            args, dr_run, target, recorded, folder
        )
        # On-policy fine-tuning collects whole rollouts: it may take more samples than asked.
        used = int(tuned.meta["timesteps"])
        arms["finetune"] = (load_predictor(tuned.path), dict(tuned.config.env.kwargs), used)
    return arms


def finished(args: argparse.Namespace, path: Path) -> Run | None:
    """A finished run at ``path`` to reuse (with ``--reuse``), else None."""
    if args.reuse and (path / "run.json").is_file():
        run = Run.read(path, model=False)
        return run if run.meta["status"] == "finished" else None
    return None


def train_or_reuse(args: argparse.Namespace, config: ExperimentConfig, path: Path) -> Run:
    """The arm's run at ``path``: with ``--reuse`` a finished one as it is and an unfinished one
    continued from its last checkpoint (a run cut off in an earlier session; check_reusable
    made sure it trains this arm); otherwise trained afresh."""
    reused = finished(args, path) or resumed(args, path)
    if reused is not None:
        return reused
    log(f"training {config.name} (seed {config.seed}) -> {path}")
    return completed(train(config, path, overwrite=True, progress_bar=False, verbose=False))


def resumed(args: argparse.Namespace, path: Path) -> Run | None:
    """With ``--reuse``, the unfinished run at ``path`` continued to its end from its last
    checkpoint; None when there is none to continue (the caller starts it afresh)."""
    if not (args.reuse and (path / "run.json").is_file()):
        return None
    log(f"resuming {path} ({Run.read(path, model=False).meta['timesteps']:,} steps so far)")
    try:
        run = train(None, path, resume=True, progress_bar=False, verbose=False)
    except UserError as error:  # no checkpoint yet (nor a teacher's): start it again
        log(f"cannot resume: {error}")
        return None
    return completed(run)


def check_reusable(
    args: argparse.Namespace, base: ExperimentConfig, overrides: list[str], targets: list[Target]
) -> None:
    """With ``--reuse``, every run and recording the bench would keep must be what it would
    make now (the same arm, seed, budget, target and settings): one line naming the first
    difference, before any work, not a table of silently wrong arms."""
    if not args.reuse:
        return
    root = args.out / args.robot
    for seed in args.seeds:
        folder = root / f"seed{seed}"
        seed_args = argparse.Namespace(**{**vars(args), "seed": seed})
        for name, config in arm_configs(seed_args, base, overrides).items():
            if (folder / name / "run.json").is_file():
                check_same_arm(Run.read(folder / name, model=False), config)
        dr_path = str((folder / "dr").resolve())
        for target in targets:
            oracle_seed, oracle = oracle_run(args, target, seed, folder)
            check_same_transfer(
                oracle,
                strategy="scratch",
                target=target.name,
                budget=args.oracle_budget,
                seed=oracle_seed,
            )
            if not args.methods & set(PER_TARGET):
                continue
            recorded = check_recording(args, folder / f"{target.name}.npz")
            sysid = folder / f"sysid_{target.name}"
            check_same_transfer(
                sysid, strategy="sysid", target=target.name, budget=args.finetune_budget,
                seed=seed, source_run=dr_path, identify_budget=args.identify_budget,
            )  # fmt: skip
            check_same_transfer(
                folder / f"finetune_{target.name}", strategy="full", target=target.name,
                budget=recorded, seed=seed, source_run=dr_path,
            )  # fmt: skip


def check_same_arm(run: Run, config: ExperimentConfig) -> None:
    """A run to reuse must have trained what ``config`` trains: the same env, DR, algorithm,
    budget and seed (how often it evaluated or checkpointed, and where its files were, may
    differ)."""
    found, wanted = training_fields(run.config), training_fields(config)
    for field in sorted(set(found) | set(wanted)):
        if found.get(field) != wanted.get(field):
            raise UserError(
                f"{run.config_path}: field '{field}' = {found.get(field)!r}, but this arm trains "
                f"{wanted.get(field)!r}; move the run away or drop --reuse"
            )


def training_fields(config: ExperimentConfig) -> dict[str, Any]:
    """The config's fields that decide the policy it trains, with file paths as file names."""
    data = config_to_dict(config)
    for monitoring in ("name", "evaluation", "checkpoint"):
        data.pop(monitoring)
    if data.get("randomization"):
        data["randomization"] = {k: v for k, v in data["randomization"].items() if k != "source"}
    data["targets"] = [Path(target).name for target in data.get("targets") or []]
    return data


def check_same_transfer(path: Path, **wanted: Any) -> None:
    """A transfer run (an oracle, sysid, fine-tuning) to reuse must be the one this bench would
    make; ``wanted`` may hold strategy, target, budget, seed, source_run and identify_budget
    (None: not known yet, not checked)."""
    if not (path / "run.json").is_file():
        return
    run = Run.read(path, model=False)
    meta = run.meta.get("transfer") or {}
    found = {key: meta.get(key) for key in ("strategy", "target", "budget", "source_run")}
    found["seed"] = run.config.seed
    if "identify_budget" in wanted:
        report = path / SYSID_DIR / "report.json"
        settings = (
            read_json_object(report, "it is damaged").get("settings") if report.is_file() else {}
        )
        found["identify_budget"] = settings.get("budget") if isinstance(settings, dict) else None
    for key, value in wanted.items():
        if value is not None and found[key] != value:
            raise UserError(
                f"{run.meta_path}: {key} {found[key]!r}, but this bench makes {value!r} there; "
                "move the run away or drop --reuse"
            )


def check_recording(args: argparse.Namespace, path: Path) -> int | None:
    """A recording to reuse must hold ``--record-episodes`` episodes of ``--record-policy``;
    its steps (what fine-tuning gets), None when there is none yet."""
    if not path.is_file():
        return None
    data = load_data(path)
    source = args.record_policy == "source"  # recorded with the seed's DR-only run
    found = (data.episodes, Path(data.policy).name if source else data.policy)
    wanted = (args.record_episodes, "dr" if source else args.record_policy)
    if found != wanted:
        raise UserError(
            f"{path}: {data.episodes} episodes of {data.policy!r}, but this bench records "
            f"{args.record_episodes} of {args.record_policy!r}; move the file away or drop --reuse"
        )
    return data.steps


def oracle_run(
    args: argparse.Namespace, target: Target, seed: int, folder: Path
) -> tuple[int, Path]:
    """The seed and run directory of the oracle for ``target`` that seed ``seed`` compares to."""
    if args.oracle_seed is not None:  # one oracle per target for every seed
        seed, folder = args.oracle_seed, args.out / args.robot / "oracles"
    return seed, folder / f"oracle_{target.name}"


def train_oracle(
    args: argparse.Namespace, dr_run: Run, target: Target, seed: int, folder: Path
) -> tuple[Any, dict[str, Any]]:
    seed, path = oracle_run(args, target, seed, folder)
    if finished(args, path) is None and resumed(args, path) is None:
        log(f"seed {seed}: training the oracle on {target.name} for {args.oracle_budget:,} steps")
        completed(
            transfer(
                dr_run,
                target,
                args.oracle_budget,
                "scratch",
                seed=seed,
                run_dir=path,
                overwrite=True,
                progress_bar=False,
                verbose=False,
            )
        )
    run = Run.open(path)
    return load_predictor(path), dict(run.config.env.kwargs)


def evaluate(
    predictor: Any, env_id: str, env_kwargs: dict[str, Any], target: Target, episodes: int
) -> float:
    env = make_env(env_id, target_condition(target), env_kwargs)
    try:
        return float(np.mean(rollout(predictor, env, EVAL_SEED, episodes).returns))
    finally:
        env.close()


def table(
    returns: dict[str, dict[str, dict[int, float]]],
    samples: dict[str, dict[str, dict[int, int]]],
    methods: list[str],
    targets: list[str],
    seeds: list[int],
) -> dict[str, dict[str, Any]]:
    """Per method and target: mean over seeds with a CI, target samples used, and the fraction
    of the gap closed."""
    rng = np.random.default_rng(0)
    rows: dict[str, dict[str, Any]] = {}
    for method in (*methods, "oracle"):
        for target in targets:
            values = np.array([returns[method][target][seed] for seed in seeds])
            estimate = bootstrap([[values]], np.mean, rng, n_boot=2000)
            used = [samples.get(method, {}).get(target, {}).get(seed, 0) for seed in seeds]
            row = {
                "mean": estimate.value,
                "ci": [estimate.ci_low, estimate.ci_high],
                "target_samples": float(np.mean(used)),
            }
            if method not in ("dr", "oracle"):
                row.update(gap_closed(returns, method, target, seeds, rng))
            rows.setdefault(method, {})[target] = row
    return rows


def gap_closed(
    returns: dict[str, dict[str, dict[int, float]]],
    method: str,
    target: str,
    seeds: list[int],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """The fraction of DR-only's gap to the oracle that ``method`` closes on ``target``, as
    ``sim2real evaluate`` reports it: of the mean returns over seeds (a mean of per-seed ratios
    lets one seed with a small gap swamp the rest), with a CI from resampling seeds, each
    seed's three returns together; and whether the method's mean is above the oracle's. An
    oracle not above DR-only leaves no gap: a fraction of it would be noise, or of the wrong
    sign."""
    paired = np.array(
        [[returns[m][target][seed] for m in ("dr", method, "oracle")] for seed in seeds]
    )
    dr, value, oracle = paired.mean(axis=0)
    if oracle - dr < 1e-9:  # no gap to close: this oracle is no better than DR-only
        return {"no_gap": True}
    fraction = bootstrap(
        [[paired]], lambda rows: fraction_gap_closed(*rows.mean(axis=0)), rng, n_boot=2000
    )
    return {
        "gap_closed": {"mean": fraction.value, "ci": [fraction.ci_low, fraction.ci_high]},
        "above_oracle": bool(value > oracle),
    }


def summary_markdown(results: dict[str, Any]) -> str:
    seeds = results["seeds"]
    record = results["record"]
    shared = results.get("oracle_seed")
    oracles = "one per seed" if shared is None else f"one per target, seed {shared}, for every seed"
    lines = [
        f"### {results['robot']}: zero-shot return per target ({len(seeds)} seeds: "
        f"{', '.join(map(str, seeds))}; {results['episodes']} episodes per target and seed)",
        "",
        f"Budget per method {results['budget']:,} simulation steps (RMA: teacher "
        f"{results['budget'] - results['student_steps']:,} + student "
        f"{results['student_steps']:,}; history-DR: the last {results['history_steps']} steps); "
        f"oracles {results['oracle_budget']:,} steps on the target ({oracles}); sysid from "
        f"{record['episodes']} recorded episodes ({record['policy']} policy), "
        f"{record['identify_budget']:,} identify evaluations and "
        f"{record['finetune_budget']:,} simulation steps. Mean over seeds [95% "
        "bootstrap CI over seeds]; target steps: target samples consumed (mean over seeds); "
        "gap closed = (J - J_DR) / (J_oracle - J_DR) of the means over seeds (CI: seeds "
        "resampled); above 1 where a method beats the oracle, which then falls short of the "
        "best this target allows.",
        "",
    ]
    targets = list(next(iter(results["table"].values())))
    lines.append("| method | " + " | ".join(targets) + " |")
    lines.append("|---" * (len(targets) + 1) + "|")
    for method, per_target in results["table"].items():
        cells = []
        for target in targets:
            row = per_target[target]
            cell = f"{row['mean']:.1f} [{row['ci'][0]:.1f}, {row['ci'][1]:.1f}]"
            if row["target_samples"]:
                cell += f"; {row['target_samples']:,.0f} target steps"
            if "gap_closed" in row:
                closed = row["gap_closed"]
                cell += (
                    f"; closed {closed['mean']:.2f} [{closed['ci'][0]:.2f}, {closed['ci'][1]:.2f}]"
                )
                if row.get("above_oracle"):
                    cell += " (above the oracle)"
            elif row.get("no_gap"):
                cell += "; no gap (oracle not above DR-only)"
            cells.append(cell)
        lines.append(f"| {LABELS.get(method, method)} | " + " | ".join(cells) + " |")
    machine_info = results["machine"]
    lines += [
        "",
        f"Machine: {machine_info['cpus']} CPUs ({machine_info['processor']}), "
        f"{results['minutes']:.0f} min, {results['date']}.",
        "",
    ]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "processor": platform.processor() or platform.machine(),
        "cpus": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
    }


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


if __name__ == "__main__":
    run_bench(main)
