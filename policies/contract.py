"""``contract.json``: what a deployment needs to know about an exported policy.

It sits beside the model of every export (bundle, ONNX, TorchScript) and says what goes in
and what comes out, in order and with units where the robot declares them; how often to
call the policy; what an action does to the robot (a torque scale, or PD position offsets
with gains, action scale and default pose); what is already inside the graph (observation
normalization, clipping, squashing: never apply them again); how the policy was trained
(the config with its randomization spec, the env, the algorithm, the source run); the
framework versions; and the parity check the export passed.

The training config is stored with its targets copied into the export (``targets/``), so
``evaluate`` reads an export wherever it was moved to.
"""

from __future__ import annotations

import importlib.metadata
import platform
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim2real.errors import UserError
from sim2real.io import read_json_object

__all__ = [
    "CONTRACT_FILE",
    "FORMATS",
    "FORMAT_VERSION",
    "Contract",
    "env_interface",
    "framework_versions",
    "history_contract",
    "is_export",
    "read_contract",
]

CONTRACT_FILE = "contract.json"
FORMAT_VERSION = 1
# Export format -> the file its model is in (a bundle is its metadata plus arrays).
FORMATS = {"bundle": "metadata.json", "onnx": "policy.onnx", "torchscript": "policy.pt"}
_PACKAGES = (
    "sim2real",
    "torch",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "stable-baselines3",
    "sb3-contrib",
    "gymnasium",
    "pybullet",
    "numpy",
)


@dataclass(frozen=True)
class Contract:
    """A read ``contract.json``: ``data`` is the JSON object, ``path`` the export directory."""

    path: Path
    data: Mapping[str, Any]

    @property
    def format(self) -> str:
        return self.data["format"]

    @property
    def model_path(self) -> Path:
        return self.path / self.data["model"]

    @property
    def env_id(self) -> str:
        return self.data["env_id"]

    @property
    def observation_dim(self) -> int:
        return len(self.data["observation"]["names"])

    @property
    def action_bounds(self) -> tuple[list[float], list[float]]:
        action = self.data["action"]
        return action["low"], action["high"]

    def config(self) -> Any:  # -> ExperimentConfig
        """The training config, its targets read from the export's own copies.

        An asymmetric run's actor deploys without the privileged entries its critic read:
        its config is the training one on the contract's ``env_kwargs``, actor only.
        """
        from sim2real.config import parse_config
        from sim2real.limits import LargeValueWarning

        data = self.data["training"]["config"]
        if data.get("algorithm", {}).get("asymmetric"):
            data = {
                **data,
                "env": {**data["env"], "kwargs": self.data["env_kwargs"]},
                "algorithm": {**data["algorithm"], "asymmetric": False},
            }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LargeValueWarning)
            return parse_config(data, str(self.path / CONTRACT_FILE), self.path)


def is_export(path: str | Path) -> bool:
    return (Path(path) / CONTRACT_FILE).is_file()


def read_contract(path: str | Path) -> Contract:
    """Read and check the contract of an export directory; any problem is one line."""
    path = Path(path)
    file = path / CONTRACT_FILE
    if not file.is_file():
        raise UserError(f"{path}: not an exported policy (no {CONTRACT_FILE})")
    data = read_json_object(file, "the export is damaged")
    if data.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{file}: field 'format_version' = {data.get('format_version')!r}; "
            f"this sim2real reads version {FORMAT_VERSION}"
        )
    if data.get("format") not in FORMATS:
        raise UserError(f"{file}: field 'format' = {data.get('format')!r}; valid: {list(FORMATS)}")
    for field in ("model", "env_id", "observation", "action", "training"):
        if field not in data:
            raise UserError(f"{file}: field {field!r} is missing; the export is damaged")
    contract = Contract(path, data)
    if not contract.model_path.is_file():
        raise UserError(f"{contract.model_path}: missing; the export is incomplete")
    return contract


def env_interface(env: Any) -> dict[str, Any]:
    """Names, units, bounds, control period and action meaning of an env (made as trained)."""
    unwrapped = env.unwrapped
    names = [*unwrapped.observation_names, *getattr(unwrapped, "privileged_names", ())]
    if len(names) != env.observation_space.shape[0]:
        raise UserError(
            f"{unwrapped.spec.id}: {len(names)} observation names for an observation of "
            f"shape {env.observation_space.shape}; the env's names are out of date"
        )
    units = {**dict.fromkeys(names), **unwrapped.observation_units}
    space = env.action_space
    return {
        "observation": {
            "names": names,
            "units": [units[name] for name in names],
            "privileged": list(getattr(unwrapped, "privileged_names", ())),
            "low": env.observation_space.low.tolist(),
            "high": env.observation_space.high.tolist(),
        },
        "action": {
            "names": list(unwrapped.action_names),
            "low": space.low.tolist(),
            "high": space.high.tolist(),
            "meaning": unwrapped.actuator.describe(),
        },
        "control": {
            "period_s": unwrapped.control_dt,
            "rate_hz": 1.0 / unwrapped.control_dt,
            "physics_steps_per_action": unwrapped.physics_steps_per_action,
        },
    }


def history_contract(
    contract: dict[str, Any],
    input_name: str,
    steps: int,
    observation_dim: int,
    action_dim: int,
    privileged_dim: int = 0,
) -> dict[str, Any]:
    """``contract`` for a model whose one input is the flat history of the last ``steps``
    raw observations and actions (an RMA student, a history policy), then, for a model of a
    privileged env that reads them (a teacher), the latest ``privileged_dim`` privileged
    entries: the input and its layout; the caller keeps the history
    (:class:`sim2real.policies.history.HistoryInput` does)."""
    privileged = f", then the latest {privileged_dim} privileged entries" if privileged_dim else ""
    layout = (
        f"[o_(t-{steps - 1}) .. o_t ({steps} x {observation_dim} raw observations), "
        f"a_(t-{steps}) .. a_(t-1) ({steps} x {action_dim} actions as sent to env.step)"
        f"{privileged}], oldest first; zeros before the episode has that many steps "
        "(sim2real.envs.wrappers.History builds it)"
    )
    size = steps * (observation_dim + action_dim) + privileged_dim
    note = (
        "the model takes the raw history (history.layout) and returns the action env.step "
        "takes; apply none of these again"
    )
    history = {"steps": steps, "observation_dim": observation_dim, "action_dim": action_dim}
    if privileged_dim:
        history["privileged_dim"] = privileged_dim
    return {
        **contract,
        "inputs": [{"name": input_name, "shape": ["batch", size], "dtype": "float32"}],
        "in_graph": {**contract["in_graph"], "note": note},
        "history": {**history, "layout": layout},
    }


def framework_versions(packages: Sequence[str] = _PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages an export depends on (None: not installed)."""
    from sim2real import __version__

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    versions["sim2real"] = __version__  # also when run from a source tree, not installed
    return versions
