"""``sim2real export``: write a run's policy as a bundle (JSON + arrays, no pickles, no torch)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a run's deterministic policy as a numpy-only bundle",
        description=__doc__
        + " Load it with sim2real.policies.bundle.load_bundle(DIR).predict(observation).",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="run directory")
    parser.add_argument("--out", type=Path, required=True, help="bundle directory to create")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.io import check_output_dir
    from sim2real.policies.bundle import export_bundle
    from sim2real.policies.normalization import load_normalization
    from sim2real.runs import Run

    check_output_dir(args.out, "--out", new=True)
    source = Run.read(args.run_dir)
    model = source.load_model(device="cpu")
    normalization = None
    if source.normalization_path.is_file():
        loaded = load_normalization(source.normalization_path)
        normalization = loaded if loaded.norm_obs else None
    provenance = {"run": str(source.path.resolve()), "timesteps": source.meta.get("timesteps")}
    out = export_bundle(model, args.out, source.config.env.id, normalization, provenance)
    print(f"exported {source.path} -> {out}")
    return 0
