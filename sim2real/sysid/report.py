"""What ``sim2real identify`` writes: the fit, a target, a re-centred spec, plots and a report.

::

    DIR/
      report.json       every fitted value with its uncertainty, flat directions, losses,
                        the loss curve, the settings
      report.md         the same for people
      target.yaml       the identified values as a target (sim2real.targets.load_target)
      spec.yaml         the spec re-centred on the fit: identified values uniform in
                        fit +- 2 std (within the original range); values the data cannot
                        tell keep their original range; everything not fitted is unchanged
      trajectories.png  recorded vs simulated joints, nominal and fitted values
      loss.png          the loss curve of the search

The directory is filled under a temporary name and renamed when complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sim2real.io import atomic_write_text, staged_directory, write_json
from sim2real.randomization import RandomizationSpec
from sim2real.randomization.spec import spec_to_data
from sim2real.state import field_columns
from sim2real.sysid.identify import Fit, Identification
from sim2real.sysid.plots import plot_loss_curve, plot_trajectories
from sim2real.sysid.space import LATENCY
from sim2real.table import render_markdown

__all__ = ["WIDTH_STDS", "narrow_spec_data", "report_data", "target_data", "write_outputs"]

WIDTH_STDS = 2.0  # the re-centred range is the fit +- this many standard deviations
TARGET_NAME = "identified"


def write_outputs(result: Identification, out: str | Path) -> Path:
    """Write every file of the module docstring into ``out`` (which must not exist)."""
    report = report_data(result)
    with staged_directory(out) as staging:
        write_json(staging / "report.json", report)
        atomic_write_text(staging / "report.md", report_markdown(report))
        atomic_write_text(staging / "spec.yaml", _yaml({"terms": narrow_spec_data(result)}))
        if result.identified:
            atomic_write_text(staging / "target.yaml", _yaml(target_data(result)))
        _save(_trajectory_figure(result), staging / "trajectories.png")
        _save(plot_loss_curve(result.search.curve, result.nominal_loss), staging / "loss.png")
    return Path(out)


def target_data(result: Identification) -> dict[str, Any]:
    """The identified values as a target file (values the data cannot tell are left out)."""
    setup = result.setup
    return {
        "name": TARGET_NAME,
        "env_id": setup.data.env_id,
        "description": (
            f"identified by sim2real identify from {setup.data_path.name} "
            f"({setup.data.episodes} episodes)"
        ),
        "terms": [
            {**_selector(fit), "operation": "abs", "value": fit.value} for fit in result.identified
        ]
        + _latency_terms(result, "reset"),
    }


def narrow_spec_data(result: Identification) -> list[dict[str, Any]]:
    """The spec's terms re-centred on the fit (see the module docstring)."""
    spec = result.setup.spec
    by_term: dict[int, list[Fit]] = {}
    for fit in result.fits:
        by_term.setdefault(fit.coordinate.term, []).append(fit)
    terms: list[dict[str, Any]] = []
    for index, term in enumerate(spec.terms):
        original = spec_to_data(RandomizationSpec(terms=(term,)))[0]
        if term.parameter == LATENCY and result.latency_identified:
            terms += _latency_terms(result, term.when)
            continue
        fits = by_term.get(index, [])
        if not fits:
            terms.append(original)
            continue
        rest = _other_elements(result, index, {fit.coordinate.element for fit in fits})
        if rest:
            terms.append({**original, "selector": rest})
        terms += [_narrow_term(fit, term.when) for fit in fits]
    return terms + spec_to_data(RandomizationSpec(events=spec.events))


def report_data(result: Identification) -> dict[str, Any]:
    setup = result.setup
    analysis = result.analysis
    names = [fit.coordinate.name for fit in result.fits]
    return {
        "data": str(setup.data_path),
        "env_id": setup.data.env_id,
        "episodes": setup.data.episodes,
        "steps": setup.data.steps,
        "policy": setup.data.policy,
        "randomization": setup.spec.source,
        "settings": {
            "budget": setup.budget,
            "workers": setup.workers,
            "seed": setup.seed,
            "horizon": setup.horizon,
            "torques": setup.torques,
        },
        "evaluations": result.evaluations,
        "stop": result.search.stop,
        "wall_s": result.wall_s,
        "loss": {"nominal": result.nominal_loss, "fit": result.fit_loss},
        "fits": [
            {
                "name": fit.coordinate.name,
                "parameter": fit.coordinate.parameter,
                "element": fit.coordinate.element,
                "nominal": fit.coordinate.nominal,
                "range": [fit.coordinate.low, fit.coordinate.high],
                "value": fit.value,
                "std": fit.std,
                "identified": fit.identified,
            }
            for fit in result.fits
        ],
        "flat_directions": [
            {
                "loss_rise_half_range": float(rise),
                "components": {
                    name: float(c) for name, c in zip(names, direction, strict=True) if abs(c) > 0.1
                },
            }
            for direction, rise in zip(analysis.flat_directions, analysis.flat_rises, strict=True)
        ],
        "flat_tolerance": analysis.tolerance,
        "held_at_nominal": list(setup.space.held),
        "fixed": result.space.fixed,
        "latency": {
            "tried": [list(pair) for pair in result.latency_losses],
            "value": result.latency,
            "identified": result.latency_identified,
        },
        "loss_curve": [list(point) for point in result.search.curve],
    }


def report_markdown(report: dict[str, Any]) -> str:
    rows = [
        [
            fit["name"],
            fit["nominal"],
            f"[{fit['range'][0]:.4g}, {fit['range'][1]:.4g}]",
            fit["value"] if fit["identified"] else "-",
            fit["std"] if fit["identified"] else "-",
            "yes" if fit["identified"] else "no (flat direction)",
        ]
        for fit in report["fits"]
    ]
    lines = [
        f"# System identification: {report['env_id']}",
        "",
        f"Data: `{report['data']}` ({report['episodes']} episodes, {report['steps']} steps, "
        f"policy {report['policy']}); ranges from `{report['randomization']}`.",
        f"Search: CMA-ES, {report['evaluations']} evaluations (stopped: {report['stop']}), "
        f"horizon {report['settings']['horizon']} steps, {report['settings']['workers']} "
        f"worker(s), seed {report['settings']['seed']}, {report['wall_s']:.1f} s.",
        f"Loss (mean squared normalized error of the state"
        f"{' and the measured joint torques' if report['settings']['torques'] else ''}): "
        f"nominal values {report['loss']['nominal']:.4g}, fit {report['loss']['fit']:.4g}.",
        "",
        render_markdown(["parameter", "nominal", "range", "fit", "std", "identified"], rows),
        "",
    ]
    if report["flat_directions"]:
        lines.append(
            "Flat directions (moving half of every range along them changes the loss by less "
            f"than {report['flat_tolerance']:.3g}); their parameters are not fitted:"
        )
        for flat in report["flat_directions"]:
            combination = " ".join(f"{c:+.2f} {name}" for name, c in flat["components"].items())
            lines.append(f"- {combination} (loss rise {flat['loss_rise_half_range']:.3g})")
        lines.append("")
        lines.append(
            "To pin a flat direction, fix one of its parameters in the spec (a term with "
            "`value:`), e.g. a motor strength known from the motor's data sheet."
        )
        lines.append("")
    latency = report["latency"]
    if latency["tried"]:
        tried = ", ".join(f"{value:g} s: {loss:.4g}" for value, loss in latency["tried"])
        verdict = "identified" if latency["identified"] else "not identified (losses too close)"
        lines.append(
            f"Action latency (whole steps, each searched with an equal share of half the "
            f"budget; best loss per latency {tried}): {latency['value']:g} s, {verdict}."
        )
        lines.append("")
    if report["fixed"]:
        lines.append(f"Held at the spec's fixed values: {report['fixed']}")
    if report["held_at_nominal"]:
        lines.append(
            "Held at nominal values (not identifiable from the motion by this method): "
            + ", ".join(report["held_at_nominal"])
        )
    return "\n".join(lines) + "\n"


# -- helpers -------------------------------------------------------------------------


def _latency_terms(result: Identification, when: str) -> list[dict[str, Any]]:
    """The identified action latency as a fixed term (none when it was not identified)."""
    if not result.latency_identified or result.latency is None:
        return []
    return [{"parameter": LATENCY, "operation": "abs", "value": result.latency, "when": when}]


def _narrow_term(fit: Fit, when: str) -> dict[str, Any]:
    coordinate = fit.coordinate
    if fit.identified:
        low = max(coordinate.low, fit.value - WIDTH_STDS * fit.std)
        high = min(coordinate.high, fit.value + WIDTH_STDS * fit.std)
    else:
        low, high = coordinate.low, coordinate.high
    bounds: dict[str, Any] = {"value": low} if low == high else {"range": [low, high]}
    return {**_selector(fit), **bounds, "operation": "abs", "when": when}


def _selector(fit: Fit) -> dict[str, Any]:
    coordinate = fit.coordinate
    if coordinate.single:
        return {"parameter": coordinate.parameter}
    return {"parameter": coordinate.parameter, "selector": [coordinate.element]}


def _other_elements(result: Identification, term_index: int, fitted: set[str]) -> list[str]:
    """Elements a spec term randomizes that were not fitted (zero-width or not asked for)."""
    elements = result.setup.space.term_elements[term_index]
    return [element for element in elements if element not in fitted]


def _trajectory_figure(result: Identification) -> Any:
    data = result.setup.data
    episode = int(np.argmax(data.episode_lengths))
    joints = field_columns(len(data.joint_names))["joint_positions"]
    start, steps = data.step_start(episode), int(data.episode_lengths[episode])
    first_row = data.state_start(episode)
    recorded = data.state_matrix()[first_row : first_row + steps + 1, joints]
    simulated = {
        "nominal values": result.before[start : start + steps, joints],
        "fit": result.after[start : start + steps, joints],
    }
    return plot_trajectories(
        recorded, simulated, result.segments, episode, data.joint_names, data.control_dt
    )


def _save(figure: Any, path: Path) -> None:
    figure.savefig(path, dpi=100)


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
