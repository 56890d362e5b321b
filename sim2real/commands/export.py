"""``sim2real export``: write a run's deterministic policy with its contract.

Formats: bundle (JSON + numpy arrays, no torch, no pickles), onnx (opset 18, onnxruntime;
needs the `export` extra) and torchscript (torch.jit). ONNX and TorchScript take the raw
observation and return the action as env.step takes it: observation normalization and
clipping or squashing are inside the graph. Beside the model, contract.json: observation and
action names in order, units, control period, action meaning, training config, versions and
the parity check every export passes (max |export - run's deterministic predict| <= 1e-5 on
observations from the env; a mismatch writes nothing). `evaluate`, `sweep` and `enjoy` take
the directory wherever they take a run.
"""

from __future__ import annotations

import argparse

from sim2real.commands import path_arg
from sim2real.policies.contract import FORMATS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a run's policy (bundle, ONNX, TorchScript) with contract.json",
        description=__doc__,
    )
    parser.add_argument("run_dir", metavar="RUN", type=path_arg, help="run directory")
    parser.add_argument(
        "--format", choices=list(FORMATS), default="bundle", help="default bundle (numpy only)"
    )
    parser.add_argument("--out", type=path_arg, required=True, help="export directory to create")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.policies.export import export_run

    result = export_run(args.run_dir, args.out, args.format)
    print(
        f"exported {args.run_dir} -> {result.path} ({result.format}; parity: max |diff| "
        f"{result.parity.max_abs_diff:.2g} on {result.parity.observations} observations)"
    )
    return 0
