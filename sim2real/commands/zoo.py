"""``sim2real zoo``: the pretrained policies shipped with sim2real, and adding one.

``sim2real zoo list`` prints each entry with its budget and returns. ``sim2real zoo add RUN
--name NAME`` turns a finished run into an entry of policies/zoo/: config, weights as plain
arrays (the model is rebuilt from the config, never unpickled), normalization statistics and
a model card with returns and 95% CIs on nominal dynamics, the training DR and every target.
``zoo:NAME`` then works wherever a run does: evaluate, sweep, enjoy, export, transfer.
"""

from __future__ import annotations

import argparse

from sim2real.commands import path_arg
from sim2real.commands.evaluate import add_rollout_options, settings_from_args
from sim2real.table import render_table


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "zoo", help="list the pretrained policies, or add a finished run", description=__doc__
    )
    actions = parser.add_subparsers(dest="zoo_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the entries with their budgets and returns")
    listing.set_defaults(run=run_list)
    add = actions.add_parser("add", help="make a zoo entry of a finished run (with its card)")
    add.add_argument("run_dir", metavar="RUN", type=path_arg, help="a finished run directory")
    add.add_argument("--name", required=True, help="entry name, e.g. hopper_dr")
    add.add_argument("--overwrite", action="store_true", help="replace an existing entry")
    add.add_argument(
        "--zoo-dir",
        type=path_arg,
        default=None,
        help="zoo directory (default: the package's own policies/zoo, where zoo:NAME looks)",
    )
    add_rollout_options(add, default_episodes=10)
    add.set_defaults(run=run_add)


def run_list(args: argparse.Namespace) -> int:
    from sim2real.policies.zoo import list_entries

    rows = []
    for entry in list_entries():
        card = entry.card
        conditions = card["evaluation"]["conditions"]
        targets = [c for c in conditions if c not in ("nominal", "dr")]
        worst = min((conditions[t]["mean"] for t in targets), default=None)
        rows.append(
            [
                f"zoo:{entry.name}",
                card["env_id"],
                card["algorithm"],
                "yes" if card["randomized"] else "no",
                card["timesteps"],
                conditions["nominal"]["mean"],
                worst,
            ]
        )
    headers = ["entry", "env", "algorithm", "DR", "steps", "nominal", "worst target"]
    print(render_table(headers, rows))
    return 0


def run_add(args: argparse.Namespace) -> int:
    from sim2real.policies.zoo import ZOO_DIR, add_entry

    entry = add_entry(
        args.run_dir,
        args.name,
        settings=settings_from_args(args),
        zoo_dir=args.zoo_dir,
        overwrite=args.overwrite,
    )
    card = f"model card: {entry.path / 'README.md'}"
    if entry.path.parent.resolve() == ZOO_DIR.resolve():
        print(f"zoo:{entry.name} -> {entry.path} ({card})")
    else:  # zoo:NAME names the package's zoo only; the entry's path works wherever a run does
        print(f"{entry.path} ({card}; give this path where a run goes, e.g. sim2real evaluate)")
    return 0
