"""The pretrained zoo: small policies that ship with sim2real, each with its model card.

An entry ``policies/zoo/<name>/`` is a run directory without pickles: ``config.yaml`` (the
training config; its targets copied into ``targets/``), ``run.json``, the policy's arrays in
``weights.npz`` (the SB3 model is rebuilt from the config, never unpickled),
``normalization.npz`` when the run normalized observations, for an adaptation (RMA) run its
student's module as ``adaptation.npz`` (the student acts, as for the run), and the model card:
``card.json`` (machine-readable) and ``README.md``. ``zoo:<name>`` stands for the entry's
directory wherever a run is accepted (evaluate, sweep, enjoy, export, transfer as a source).

:func:`add_entry` builds an entry from a finished run: it writes the files into a staging
directory, checks that the rebuilt policy acts as the run's own model does (parity on
observations from the env), evaluates it on nominal dynamics, the training DR and every
target for the card, and only then renames it into place. The card's command that reproduces
the run names a run it started from (``init_from``) as the zoo entry holding the same policy,
where one does.
"""

from __future__ import annotations

import datetime
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim2real.errors import UserError

if TYPE_CHECKING:
    from sim2real.overrides import Overrides

__all__ = [
    "CARD_FILE",
    "MAX_ENTRY_BYTES",
    "ZOO_DIR",
    "ZOO_PREFIX",
    "ZooEntry",
    "add_entry",
    "list_entries",
    "resolve_source",
]

ZOO_DIR = Path(__file__).resolve().parent / "zoo"
ZOO_PREFIX = "zoo:"
CARD_FILE = "card.json"
CARD_MARKDOWN = "README.md"
MAX_ENTRY_BYTES = 1_000_000  # entries live in the repository and in every wheel
_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,63}\Z")  # a directory name on any file system


@dataclass(frozen=True)
class ZooEntry:
    name: str
    path: Path
    card: dict[str, Any]


def resolve_source(source: str | Path) -> Path:
    """``zoo:NAME`` -> the entry's directory (it must exist); anything else as a Path."""
    text = str(source)
    if not text.startswith(ZOO_PREFIX):
        return Path(source)
    name = text[len(ZOO_PREFIX) :]
    zoo_dir = ZOO_DIR
    path = zoo_dir / name
    if not _NAME.match(name) or not (path / CARD_FILE).is_file():
        names = ", ".join(entry.name for entry in list_entries(zoo_dir)) or "none"
        raise UserError(f"{text}: no such zoo entry; available: {names} (`sim2real zoo list`)")
    return path


def list_entries(zoo_dir: Path | None = None) -> list[ZooEntry]:
    """The entries of ``zoo_dir`` (default the shipped zoo), by name."""
    from sim2real.io import read_json

    zoo_dir = ZOO_DIR if zoo_dir is None else zoo_dir
    if not zoo_dir.is_dir():
        return []
    return [
        ZooEntry(path.name, path, read_json(path / CARD_FILE))
        for path in sorted(zoo_dir.iterdir())
        if path.is_dir() and not path.name.startswith(".") and (path / CARD_FILE).is_file()
    ]


def add_entry(
    run_dir: str | Path,
    name: str,
    *,
    settings: Any = None,  # EvaluationSettings; default 10 episodes, seed 0
    zoo_dir: Path | None = None,
    overwrite: bool = False,
) -> ZooEntry:
    """Make a zoo entry ``name`` of the finished run ``run_dir`` (see the module doc)."""
    from sim2real.evaluation.evaluate import EvaluationSettings
    from sim2real.io import check_output_dir, staged_directory
    from sim2real.runs import Run
    from sim2real.transfer.rma.layout import is_teacher_run

    if not _NAME.match(name):
        raise UserError(
            f"--name {name!r}; use at most 64 lower-case letters, digits and '_', starting "
            "with a letter or digit (e.g. hopper_dr)"
        )
    settings = settings or EvaluationSettings()
    zoo_dir = check_output_dir(ZOO_DIR if zoo_dir is None else zoo_dir, "--zoo-dir")
    run = Run.read(run_dir)
    meta = run.meta
    if meta["status"] != "finished":
        raise UserError(
            f"{run.path}: status {meta['status']!r}; only a finished run goes into the zoo"
        )
    if is_teacher_run(run.path):
        raise UserError(
            f"{run.path}: the privileged teacher of an adaptation run; the zoo holds deployable "
            f"policies (its card's command would train teacher and student): add {run.path.parent}"
        )
    if not run.model_path.is_file():
        raise UserError(
            f"{run.model_path}: missing; an entry is made from a run with its final model.zip "
            "(a zoo entry holds only weights: give the run it was made from)"
        )
    final = zoo_dir / name
    if final.exists() and not overwrite:
        raise UserError(f"{final}: zoo entry {name!r} exists; pass --overwrite to replace it")
    with staged_directory(final) as staging:
        _write_policy(run, staging)
        size = _size(staging)  # before the parity check and the card's evaluation
        if size > MAX_ENTRY_BYTES:
            raise UserError(
                f"{run.path}: the entry would take {size:,} bytes; zoo entries stay under "
                f"{MAX_ENTRY_BYTES:,} (a smaller network, or keep it as a run)"
            )
        parity = _check_rebuilt(run, staging)
        card = _card(name, run, staging, parity, settings)
        _write_card(staging, card)
        if final.exists():
            shutil.rmtree(final)
    return ZooEntry(name, final, card)


# -- the files --------------------------------------------------------------------------------


def _write_policy(run: Any, staging: Path) -> None:
    """config.yaml (targets copied in), run.json, weights.npz, normalization.npz; for an
    adaptation run also its student's module as adaptation.npz."""
    import yaml

    from sim2real.config import config_to_dict
    from sim2real.io import atomic_write_text, write_json
    from sim2real.policies.weights import WEIGHTS_FILE, write_policy_weights
    from sim2real.runs import CONFIG_FILE, META_FILE
    from sim2real.transfer.rma.layout import is_student_run

    config = run.config
    data = config_to_dict(config)
    (staging / "targets").mkdir()
    data["targets"] = []
    for target in config.targets:
        relative = f"targets/{target.path.name}"
        shutil.copyfile(target.path, staging / relative)
        data["targets"].append(relative)
    if isinstance(data.get("randomization"), dict):
        data["randomization"].pop("source", None)  # a path on the training machine
    data.pop("init_from", None)  # another path there; the entry's weights are what counts
    atomic_write_text(staging / CONFIG_FILE, yaml.safe_dump(data, sort_keys=False))
    keep = ("env_id", "algorithm", "seed", "status", "timesteps", "total_timesteps", "device")
    meta = {key: run.meta.get(key) for key in keep}
    write_json(staging / META_FILE, {**meta, "source_run": None, "strategy": None})
    write_policy_weights(run.load_model(), staging / WEIGHTS_FILE)
    if run.normalization_path.is_file():
        shutil.copyfile(run.normalization_path, staging / run.normalization_path.name)
    if is_student_run(run.path):
        from sim2real.policies.weights import write_module_arrays
        from sim2real.transfer.rma.layout import MODULE_ARRAYS_FILE
        from sim2real.transfer.rma.student import StudentPolicy

        module = StudentPolicy.from_run(run.path).module
        write_module_arrays(module, staging / MODULE_ARRAYS_FILE)


def _check_rebuilt(run: Any, staging: Path) -> Any:  # -> Parity
    """The entry's rebuilt model acts as the run's model on observations from its env (a
    student, whose history is state, step by step along its own episodes)."""
    from sim2real.envs.wrappers import with_history_input
    from sim2real.evaluation.conditions import DR, Condition, make_env
    from sim2real.policies.parity import check_episode_parity, check_parity, collect_observations
    from sim2real.policies.predictor import RunPolicy
    from sim2real.transfer.rma.layout import is_student_run

    config = run.config
    env = make_env(
        config.env.id, Condition(DR, randomization=config.randomization), config.env.kwargs
    )
    label = "the zoo entry's rebuilt model"
    if is_student_run(run.path):
        from sim2real.transfer.rma.student import StudentPolicy

        student, rebuilt = StudentPolicy.from_run(run.path), StudentPolicy.from_run(staging)
        try:
            return check_episode_parity(student, rebuilt, env, label)
        finally:
            env.close()
    reference = RunPolicy.from_run(run.path)
    rebuilt = RunPolicy.from_run(staging)
    try:  # a history policy's model reads the flat history
        observations = collect_observations(
            with_history_input(env, config.env.history_steps), reference
        )
    finally:
        env.close()
    return check_parity(reference, rebuilt, observations, label)


def _card(name: str, run: Any, staging: Path, parity: Any, settings: Any) -> dict[str, Any]:
    from sim2real.evaluation.conditions import DR
    from sim2real.evaluation.evaluate import evaluate_runs
    from sim2real.overrides import shipped_overrides
    from sim2real.runs import now_iso

    meta = run.meta
    config = _portable_start(run.config)
    evaluation = evaluate_runs([staging], settings=settings)
    results = evaluation.results[config.name]
    conditions = {}
    for condition, result in results.items():
        if condition == DR and not config.randomization:
            continue  # no training distribution: evaluate reports nominal dynamics there
        summary = result.summary
        conditions[condition] = {
            "description": evaluation.conditions.get(condition, {}).get("description"),
            "mean": summary.mean,
            "iqm": summary.iqm,
            "iqm_ci95": [summary.ci_low, summary.ci_high],
            "episodes": summary.n,
            "gap": None if result.gap is None else result.gap.value,
            "gap_ci95": None if result.gap is None else [result.gap.ci_low, result.gap.ci_high],
        }
    overrides = shipped_overrides(config)
    return {
        "name": name,
        "env_id": config.env.id,
        "algorithm": config.algorithm.name,
        "config": config.name,
        "randomized": bool(config.randomization),
        "seed": meta["seed"],
        "timesteps": meta["timesteps"],
        "wall_time_s": _wall_time(meta),
        "resumes": len(meta.get("resumes") or []),  # each adds the pause before it to the wall
        "files": sorted(path.name for path in staging.glob("*.npz")),
        "machine": meta.get("machine"),  # runs before the zoo did not record it
        "device": meta.get("device"),
        "evaluation": {
            "episodes_per_condition": settings.episodes * len(settings.seeds),
            "seeds": list(settings.seeds),
            "deterministic": settings.deterministic,
            "statistic": "IQM with a 95% percentile bootstrap CI over episodes",
            "conditions": conditions,
        },
        "parity": {"observations": parity.observations, "max_abs_diff": parity.max_abs_diff},
        # None: no shipped config has the run's name; else the --set items from the shipped one.
        "overrides": None if overrides is None else list(overrides.sets),
        "unexpressed_changes": [] if overrides is None else list(overrides.unexpressed),
        "reproduce": [
            _train_command(config.name, meta["seed"], overrides, config.init_from),
            f"sim2real zoo add RUN --name {name} --episodes {settings.episodes}",
        ],
        "added": now_iso(),
    }


def _portable_start(config: Any) -> Any:
    """The config with a local ``init_from`` run named as the shipped zoo entry that holds the
    same policy, where one does: a path on the training machine means nothing on another."""
    from sim2real.policies.weights import module_arrays
    from sim2real.runs import Run

    source = config.init_from
    if source is None or source.startswith(ZOO_PREFIX):
        return config
    try:
        origin = Run.open(source)
        arrays = module_arrays(
            origin.load_model(device="cpu", path=origin.policy_files()[0]).policy
        )
    except Exception:  # gone or unreadable: the card keeps the path it was trained from
        return config
    for entry in list_entries():
        if entry.card.get("env_id") == config.env.id and _holds(entry.path, arrays):
            return config.model_copy(update={"init_from": f"{ZOO_PREFIX}{entry.name}"})
    return config


def _holds(entry: Path, arrays: Mapping[str, np.ndarray]) -> bool:
    """Whether a zoo entry's weights file holds exactly these arrays."""
    from sim2real.io import read_npz
    from sim2real.policies.weights import WEIGHTS_FILE

    path = entry / WEIGHTS_FILE
    if not path.is_file():
        return False
    held = read_npz(path, "a weights file (.npz of arrays)")
    return held.keys() == arrays.keys() and all(
        np.array_equal(held[name], array) for name, array in arrays.items()
    )


def _train_command(
    config_name: str, seed: int, overrides: Overrides | None, init_from: str | None
) -> str:
    """The shipped config with the run's changes, or this entry's own config.yaml (which
    leaves ``init_from`` out: the command sets it)."""
    from sim2real.overrides import Overrides, set_item
    from sim2real.runs import CONFIG_FILE

    if overrides is None or overrides.unexpressed:
        start = Overrides(() if init_from is None else (set_item("init_from", init_from),))
        parts = [f"sim2real train {CONFIG_FILE} --seed {seed}", start.command_line()]
        return " ".join(part for part in parts if part) + " --run-dir RUN  # this entry's config"
    parts = [f"sim2real train {config_name}.yaml --seed {seed}", overrides.command_line()]
    return " ".join(part for part in parts if part) + " --run-dir RUN"


def _trained_with(card: dict[str, Any]) -> str:
    """How the card's run was configured, for the card's first sentence."""
    from sim2real.overrides import Overrides
    from sim2real.runs import CONFIG_FILE

    shipped = f"the shipped config `{card['config']}.yaml`"
    overrides = card.get("overrides", [])  # cards made before it was recorded: shipped as is
    if overrides is None:
        return f"its own config `{card['config']}` (this entry's `{CONFIG_FILE}`)"
    if card.get("unexpressed_changes"):
        fields = ", ".join(card["unexpressed_changes"])
        return f"this entry's `{CONFIG_FILE}`: {shipped} without {fields}"
    if overrides:
        return f"{shipped} changed by `{Overrides(tuple(overrides)).command_line()}`"
    return shipped


def _wall_time(meta: dict[str, Any]) -> float | None:
    """Seconds from the run's creation to its end (a resumed run includes its pause)."""
    try:
        created = datetime.datetime.fromisoformat(meta["created"])
        finished = datetime.datetime.fromisoformat(meta["finished"])
    except (KeyError, TypeError, ValueError):
        return None
    return round((finished - created).total_seconds(), 1)


def _pauses(resumes: int) -> str:
    if not resumes:
        return ""
    return f"; stopped and resumed {resumes} time{'s' if resumes > 1 else ''}, pauses included"


def _write_card(staging: Path, card: dict[str, Any]) -> None:
    from sim2real.io import atomic_write_text, write_json

    write_json(staging / CARD_FILE, card)
    atomic_write_text(staging / CARD_MARKDOWN, card_markdown(card))


def card_markdown(card: dict[str, Any]) -> str:
    """The human-readable model card."""
    wall = card["wall_time_s"]
    wall_text = "not recorded" if wall is None else f"{wall / 60:.1f} min"
    machine = card["machine"] or "a machine the run did not record"
    evaluation = card["evaluation"]
    lines = [
        f"# zoo:{card['name']}",
        "",
        f"{card['algorithm']} on `{card['env_id']}` "
        f"({'with' if card['randomized'] else 'without'} domain randomization), trained with "
        f"{_trained_with(card)}.",
        "",
        f"- budget: {card['timesteps']:,} environment steps, seed {card['seed']}",
        f"- wall time: {wall_text} from the run's creation to its end (evaluations "
        f"included{_pauses(card.get('resumes', 0))}) on {machine}, device {card['device']}",
        f"- rebuilt from config + {' + '.join(card.get('files', ['weights.npz']))}; parity with "
        f"the run's own policy: max |diff| {card['parity']['max_abs_diff']:.2g} on "
        f"{card['parity']['observations']} observations",
        "",
        f"Returns ({evaluation['episodes_per_condition']} deterministic episodes per condition, "
        f"{evaluation['statistic']}):",
        "",
        "| condition | mean | IQM [95% CI] | gap to nominal [95% CI] |",
        "|---|---|---|---|",
    ]
    for condition, row in evaluation["conditions"].items():
        low, high = row["iqm_ci95"]
        gap = "-"
        if row["gap"] is not None:
            gap_low, gap_high = row["gap_ci95"]
            gap = f"{row['gap']:.1f} [{gap_low:.1f}, {gap_high:.1f}]"
        lines.append(
            f"| {condition} | {row['mean']:.1f} | {row['iqm']:.1f} [{low:.1f}, {high:.1f}] "
            f"| {gap} |"
        )
    lines += ["", "Reproduce:", "", "```", *card["reproduce"], "```", ""]
    return "\n".join(lines)


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
