"""``sim2real study``: many train (+ transfer) + evaluate trials on Ray Tune, one report.

The study file names a base experiment config, a grid over config keys or an Optuna search
space, the metric and the budget (see configs/studies/). Each trial writes ordinary run
directories under STUDY_DIR/trials/<trial>/; the report across trials (report.md,
report.json, PNGs) goes to STUDY_DIR. Ray starts an embedded local instance unless --address
joins a cluster (then STUDY_DIR must be on storage every node mounts at the same path).

Needs the ray extra: pip install "sim2real[ray]".

Exit codes: 0 every trial finished or was stopped early by the scheduler; 1 a trial failed
after its retries (the report covers the others); 2 bad input (the study file is checked
before Ray starts); 130 Ctrl-C
stopped the study (Ray Tune saved its state; the report covers the finished trials): continue
it with --resume.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim2real.commands import path_arg
from sim2real.errors import UserError
from sim2real.io import atomic_write_text, check_output_dir

STUDY_COPY = "study.yaml"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "study",
        help="seeds x configs x algorithms x targets on Ray Tune (grid or Optuna), one report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("study", metavar="STUDY", help="study file (YAML path or shipped name)")
    parser.add_argument(
        "--dir", type=path_arg, metavar="DIR", help="study directory (default studies/<name>)"
    )
    parser.add_argument(
        "--address",
        metavar="ADDR",
        help="join a running Ray cluster: ray://HOST:PORT or auto (default: a local instance)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue a stopped or killed study in DIR; finished trials are not run again",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.extras import require
    from sim2real.study.report import StudyReport, write_study_report
    from sim2real.study.spec import load_study

    require("ray.tune", "sim2real study")
    study = load_study(args.study)
    if study.spec.search is not None:
        require("optuna", "a study with a search space")
    study_dir = args.dir if args.dir is not None else Path("studies") / study.name
    _check_study_dir(study_dir, study.path, args.resume)
    if not args.resume:
        study_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(study_dir / STUDY_COPY, study.path.read_text())

    from sim2real.study.tune import run_study  # imports Ray

    outcomes = run_study(study, study_dir, address=args.address, resume=args.resume)
    report = StudyReport(study, outcomes, study_dir.resolve())
    paths = write_study_report(report, study_dir)
    _print_summary(report, paths.markdown)
    resume = f"sim2real study {args.study} --dir {study_dir} --resume"
    if any(o.status == "unfinished" for o in outcomes):
        print(f"interrupted; continue with: {resume}", file=sys.stderr)
        return 130
    failed = [o.trial_id for o in outcomes if o.status == "error"]
    if failed:
        print(
            f"{len(failed)} trial(s) failed after their retries: {', '.join(failed)}; "
            f"see {paths.markdown}; run them again with: {resume}"
        )
        return 1
    return 0


def _check_study_dir(study_dir: Path, study_path: Path, resume: bool) -> None:
    from sim2real.resources import read_yaml
    from sim2real.study.trial import TUNE_DIR

    check_output_dir(study_dir, "--dir")
    started = (study_dir / TUNE_DIR).is_dir()
    if resume:
        if not started:
            raise UserError(f"--dir {study_dir}: no study to resume there; run it without --resume")
        copy = study_dir / STUDY_COPY
        if copy.is_file() and read_yaml(copy) != read_yaml(study_path):
            raise UserError(
                f"{study_path}: differs from the study being resumed ({copy}); a resumed study "
                "keeps its file (give that one, or a new --dir to start another)"
            )
    elif started:
        raise UserError(
            f"--dir {study_dir}: already holds a study; continue it with --resume or give "
            "another --dir"
        )


def _print_summary(report, markdown: Path) -> None:
    from sim2real.table import format_cell, render_table

    table = report.methods_table()
    if table.rows:
        print(render_table(table.headers, table.rows))
    if report.best is not None:
        value = format_cell(report.method_metric[report.best])
        print(f"best: {report.best} ({report.study.spec.metric} = {value})")
    print(f"report: {markdown} (+ report.json, PNGs)")
    print(f"TensorBoard over every trial: tensorboard --logdir {report.study_dir}")
