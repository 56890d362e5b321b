"""Export a run's policy with its contract: a bundle, an ONNX graph or a TorchScript module.

One function, :func:`export_run`: read the run (:meth:`Run.read`) and its predictor, collect
observations from the env it trained in, write the model and ``contract.json`` into a staging
directory, load the export back as a predictor and check parity with the run's deterministic
predict. Only an export that passes is renamed into place; a failure leaves nothing behind.

::

    <out>/
      policy.onnx | policy.pt | metadata.json + weights.npz [+ normalization.npz]
      contract.json        names, units, rates, action meaning, training, versions, parity
      targets/<name>.yaml  the training config's targets (``evaluate`` reads them from here)
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.envs.wrappers import with_history_input
from sim2real.errors import UserError
from sim2real.io import check_output_dir, staged_directory, write_json
from sim2real.policies.contract import (
    CONTRACT_FILE,
    FORMAT_VERSION,
    FORMATS,
    env_interface,
    framework_versions,
    history_contract,
)
from sim2real.policies.graph import RecurrentDeployedPolicy
from sim2real.policies.parity import (
    Parity,
    check_episode_parity,
    check_parity,
    collect_observations,
)
from sim2real.transfer.rma.layout import is_student_run

__all__ = ["ExportResult", "export_run"]

# What is inside the graph of each format, so that a deployment never applies it twice.
_IN_GRAPH = {
    "clip": "actions clipped to [action.low, action.high]",
    "tanh_rescale": "tanh-squashed actions rescaled to [action.low, action.high]",
}


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    parity: Parity


def export_run(run_dir: str | Path, out: str | Path, format: str = "bundle") -> ExportResult:
    """Export the policy of ``run_dir`` to the new directory ``out`` (see the module doc)."""
    from sim2real.evaluation.conditions import DR, Condition, make_env
    from sim2real.extras import require
    from sim2real.policies.asymmetric import deployable_size
    from sim2real.policies.exported import load_exported
    from sim2real.policies.predictor import RunPolicy
    from sim2real.runs import Run

    if format not in FORMATS:
        raise UserError(f"--format {format!r}; valid: {', '.join(FORMATS)}")
    out = check_output_dir(out, "--out", new=True)
    if format == "onnx":
        for module in ("onnx", "onnxscript", "onnxruntime"):
            require(module, "ONNX export")
    run = Run.read(run_dir)
    config = run.config
    if is_student_run(run.path):
        return _export_student(run, config, out, format)
    reference = RunPolicy.from_run(run.path)
    graph = _graph(format, reference)  # refuses what cannot be exported, before any rollout
    condition = Condition(DR, randomization=config.randomization)
    env = make_env(config.env.id, condition, config.env.kwargs)
    deployable = deployable_size(reference.model)
    deployed_kwargs = _deployed_kwargs(config.env.kwargs, deployable)
    history_steps = config.env.history_steps
    try:
        # A history policy's model reads the flat history: parity is checked on those.
        observations = collect_observations(with_history_input(env, history_steps), reference)
        if deployable is None:
            interface = env_interface(env)
        else:  # the actor's contract: the same env without its privileged entries
            deployed = make_env(config.env.id, condition, deployed_kwargs)
            try:
                interface = env_interface(deployed)
            finally:
                deployed.close()
    finally:
        env.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    with staged_directory(out) as staging:
        output = _write_model(format, reference, graph, staging, run)
        contract = _contract(format, run, config, reference, interface, output, staging, graph)
        contract["env_kwargs"] = deployed_kwargs
        if history_steps:  # a privileged run's own entries follow its history (a teacher's)
            privileged = len(interface["observation"]["privileged"])
            contract = history_contract(
                contract,
                contract["inputs"][0]["name"],
                history_steps,
                len(interface["observation"]["names"]) - privileged,
                len(interface["action"]["names"]),
                privileged,
            )
        write_json(staging / CONTRACT_FILE, contract)
        exported = load_exported(staging)
        if history_steps:  # the model itself, on the histories collected above
            exported = exported.inner
        if deployable is not None:
            exported = _DeployableView(exported, deployable)
        label = f"the {format} export"
        if isinstance(graph, RecurrentDeployedPolicy):  # its state: compare along episodes
            env = make_env(config.env.id, condition, config.env.kwargs)
            try:
                parity = check_episode_parity(reference, exported, env, label)
            finally:
                env.close()
        else:
            parity = check_parity(reference, exported, observations, label)
        write_json(staging / CONTRACT_FILE, {**contract, "parity": parity.to_json()})
    return ExportResult(out, format, parity)


def _deployed_kwargs(kwargs: Mapping[str, Any], deployable: int | None) -> dict[str, Any]:
    """The env kwargs an actor deploys with: an asymmetric one's drop ``privileged``."""
    if deployable is None:
        return dict(kwargs)
    return {name: value for name, value in kwargs.items() if name != "privileged"}


class _DeployableView:
    """An exported asymmetric actor fed the deployable part of privileged observations, so
    parity compares it with the run's policy on the same states."""

    def __init__(self, exported: Any, size: int):
        self._exported, self._size = exported, size

    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return self._exported.predict(observation[..., : self._size], deterministic)


def _graph(format: str, reference: Any) -> Any:
    """The DeployedPolicy of an ONNX or TorchScript export; for a bundle, its layers checked."""
    if format == "bundle":
        from sim2real.policies.bundle import bundle_layers

        bundle_layers(reference.model)
        return None
    from sim2real.policies.graph import deployed_policy

    return deployed_policy(reference.model, _observation_normalization(reference))


def _observation_normalization(reference: Any) -> Any:
    normalization = reference.normalization
    return normalization if normalization is not None and normalization.norm_obs else None


def _write_model(format: str, reference: Any, graph: Any, staging: Path, run: Any) -> str:
    """Write the model file(s); returns how the graph maps its output into the bounds."""
    if format == "bundle":
        from sim2real.policies.bundle import bundle_layers, write_bundle

        provenance = {"run": str(run.path.resolve()), "timesteps": run.meta.get("timesteps")}
        normalization = _observation_normalization(reference)
        write_bundle(reference.model, staging, run.meta["env_id"], normalization, provenance)
        return bundle_layers(reference.model)[1]
    from sim2real.policies.graph import save_onnx, save_torchscript

    save = save_onnx if format == "onnx" else save_torchscript
    save(graph, staging / FORMATS[format])
    return "tanh_rescale" if graph.squashed else "clip"


def _contract(
    format: str,
    run: Any,
    config: Any,
    reference: Any,
    interface: Mapping[str, Any],
    output: str,
    staging: Path,
    graph: Any = None,
) -> dict[str, Any]:
    from sim2real.config import config_to_dict
    from sim2real.policies.graph import (
        EPISODE_START_NAME,
        INPUT_NAME,
        ONNX_OPSET,
        OUTPUT_NAME,
        STATE_NAMES,
    )
    from sim2real.runs import now_iso

    meta = run.meta
    obs_dim = len(interface["observation"]["names"])
    act_dim = len(interface["action"]["names"])
    normalized = config.normalize.observations
    inputs = [{"name": INPUT_NAME, "shape": ["batch", obs_dim], "dtype": "float32"}]
    outputs = [{"name": OUTPUT_NAME, "shape": ["batch", act_dim], "dtype": "float32"}]
    recurrent = {}
    if isinstance(graph, RecurrentDeployedPolicy):
        inputs, outputs = graph.interface()
        recurrent = {
            "recurrent": {
                "state": list(STATE_NAMES),
                "layers": graph.layers,
                "hidden": graph.hidden,
                "episode_start": EPISODE_START_NAME,
                "use": "start every episode with zero state (or episode_start = 1); feed the "
                "returned lstm_h_out, lstm_c_out back as lstm_h, lstm_c on the next step",
            }
        }
    return {
        "format_version": FORMAT_VERSION,
        "format": format,
        "model": FORMATS[format],
        **({"onnx_opset": ONNX_OPSET} if format == "onnx" else {}),
        "inputs": inputs,
        "outputs": outputs,
        **recurrent,
        "in_graph": {
            "observation_normalization": (
                "VecNormalize statistics of the run, clipped to +-clip_obs" if normalized else None
            ),
            "action": _IN_GRAPH[output],
            "note": "the model takes raw observations and returns the action env.step takes; "
            "apply none of these again",
        },
        "env_id": config.env.id,
        "env_kwargs": dict(config.env.kwargs),
        "algorithm": config.algorithm.name,
        **interface,
        "training": {
            "config": {**config_to_dict(config), "targets": _copy_targets(config, staging)},
            "timesteps": meta.get("timesteps"),
            "seed": meta.get("seed"),
        },
        "source": {
            "run": str(run.path.resolve()),
            "model": str(Path(reference.source).resolve()),  # a checkpoint's if cut short
            "status": meta.get("status"),
            "source_run": meta.get("source_run"),
            "strategy": meta.get("strategy"),
        },
        "versions": framework_versions(),
        "exported": now_iso(),
    }


def _copy_targets(config: Any, staging: Path) -> list[str]:
    """Copy the config's target files into ``targets/``; their paths relative to the export."""
    names = []
    for target in config.targets:
        relative = f"targets/{target.name}.yaml"
        (staging / "targets").mkdir(exist_ok=True)
        shutil.copyfile(target.path, staging / relative)
        names.append(relative)
    return names


def _export_student(run: Any, config: Any, out: Path, format: str) -> ExportResult:
    """An adaptation run's student, its history the graph's input (sim2real.transfer.rma.export)."""
    from sim2real.evaluation.conditions import DR, Condition, make_env
    from sim2real.policies.exported import load_exported
    from sim2real.transfer.rma.export import (
        StudentGraph,
        check_student_format,
        save_student,
        student_contract,
    )
    from sim2real.transfer.rma.student import StudentPolicy

    check_student_format(run.path, format)
    reference = StudentPolicy.from_run(run.path)
    graph = StudentGraph(reference)
    env = make_env(
        config.env.id, Condition(DR, randomization=config.randomization), config.env.kwargs
    )
    try:
        interface = env_interface(env)
        out.parent.mkdir(parents=True, exist_ok=True)
        with staged_directory(out) as staging:
            save_student(graph, staging / FORMATS[format])
            output = "tanh_rescale" if graph.squashed else "clip"
            contract = _contract(format, run, config, reference, interface, output, staging)
            contract = student_contract(graph, contract)
            write_json(staging / CONTRACT_FILE, contract)
            exported = load_exported(staging)
            parity = check_episode_parity(reference, exported, env, f"the {format} export")
            record = {**parity.to_json(), "reference": "the student's predict, step by step"}
            write_json(staging / CONTRACT_FILE, {**contract, "parity": record})
    finally:
        env.close()
    return ExportResult(out, format, parity)
