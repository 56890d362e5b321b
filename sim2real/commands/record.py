"""``sim2real record``: roll a policy out on a target and save what a robot's logs would hold.

The file (.npz, format in the README and sim2real/data.py) has per step the observations,
the actions as sent, the measured state (joint positions and velocities, base pose and
velocities), rewards and terminations, plus the env id and control period; never the
target's dynamics values. Give a trained policy (RUN: a run directory, zoo:NAME or a policy
bundle) or --policy random|zero|sine. An existing --out file (a robot's logs, perhaps) is
replaced only with --overwrite.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from sim2real import limits
from sim2real.envs import check_env_id
from sim2real.errors import UserError
from sim2real.record import SCRIPTED_POLICIES

if TYPE_CHECKING:
    from sim2real.config import ExperimentConfig
    from sim2real.targets import Target


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "record",
        help="record episodes on a target into a data file (for sim2real identify)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "source", nargs="?", metavar="RUN", help="run directory, zoo:NAME or policy bundle"
    )
    parser.add_argument("--policy", choices=SCRIPTED_POLICIES, help="a scripted policy instead")
    parser.add_argument("--env", required=True, metavar="ENV_ID", help="a registered env id")
    parser.add_argument(
        "--target", required=True, metavar="FILE", help="target file (path or shipped name)"
    )
    parser.add_argument("--episodes", required=True, type=int, metavar="N", help="episodes")
    parser.add_argument("--out", required=True, metavar="DATA.npz", help="file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default 0)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.data import save_data
    from sim2real.evaluation.conditions import make_env, target_condition
    from sim2real.io import check_output_file
    from sim2real.record import record

    check_env_id(args.env, "--env")
    policy, trained = _policy(args)
    env_kwargs = _interface_kwargs(trained, args.env)
    limits.check_count(args.episodes, limits.EPISODES, "--episodes")
    limits.check_count(args.seed, limits.SEED, "--seed", minimum=0)
    target = _target(args.target, args.env)
    out = check_output_file(args.out, "--out", "data.npz", overwrite=args.overwrite)
    env = make_env(args.env, target_condition(target), env_kwargs)
    try:
        trained_on = trained.env.id if trained else None
        data = record(env, policy, args.episodes, args.seed, trained_on)
    finally:
        env.close()
    save_data(out, data)
    print(
        f"{out}: {data.episodes} episode(s), {data.steps} steps "
        f"({data.steps * data.control_dt:.1f} s) of {policy} on {args.env}"
    )
    return 0


def _policy(args: argparse.Namespace) -> tuple[str, ExperimentConfig | None]:
    """The policy to record, and a trained one's config (a run's or an export's; None for a
    scripted policy or a bare policy bundle): it acts under its own env kwargs where it was
    trained on ``--env``, as ``evaluate`` rolls it out (its action bounds, its observations)."""
    if (args.source is None) == (args.policy is None):
        raise UserError(
            "give one policy: RUN (a run directory, zoo:NAME or a policy bundle) or --policy "
            f"{'|'.join(SCRIPTED_POLICIES)}"
        )
    if args.policy is not None:
        return args.policy, None
    from sim2real.policies.contract import is_export
    from sim2real.policies.exported import policy_config
    from sim2real.policies.zoo import resolve_source
    from sim2real.runs import META_FILE

    path = resolve_source(args.source)
    if not path.is_dir():
        raise UserError(
            f"RUN {path}: not a directory; give a run directory, zoo:NAME or a policy bundle"
        )
    if not ((path / META_FILE).is_file() or is_export(path)):
        return str(path), None  # a bare policy bundle: its metadata holds no config
    config = policy_config(path)
    if config.env.kwargs.get("privileged") and not config.algorithm.asymmetric:
        raise UserError(
            f"RUN {path}: its actor reads privileged observations (env kwarg 'privileged': "
            "true: the episode's dynamics), which a robot does not measure; record with a policy "
            "that acts on measured observations (a DR run, an asymmetric run, an RMA student) or "
            "--policy"
        )
    return str(path), config


def _interface_kwargs(trained: ExperimentConfig | None, env_id: str) -> dict:
    """A trained policy's env kwargs on its own env, but for its ``actuator``: the robot is
    the target, whose motors are its own ``actuator:`` or the ideal ones, never the model
    the policy trained with."""
    if trained is None or trained.env.id != env_id:
        return {}
    return {name: value for name, value in trained.env.kwargs.items() if name != "actuator"}


def _target(name: str, env_id: str) -> Target:
    from sim2real.resources import resolve_file
    from sim2real.targets import load_target

    target = load_target(resolve_file(name, "target"))
    if target.env_id != env_id:
        raise UserError(
            f"--target {name}: a target for {target.env_id}, not {env_id}; give one of "
            f"{env_id}'s targets"
        )
    return target
