"""Exported policies as predictors: ONNX through onnxruntime, TorchScript through torch.

An export directory (``sim2real export``) holds the model and ``contract.json``; these
predictors run its graph on raw observations (normalization and action mapping are inside)
and so act exactly as the run they came from, within the export's parity tolerance. They
are deterministic: ``deterministic=False`` is accepted and ignored, as for bundles.

onnx and onnxruntime are an optional extra; without them an ONNX export is refused with one
line that says how to install them, and ``import sim2real`` never needs them.
"""

from __future__ import annotations

import abc
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from sim2real.errors import UserError
from sim2real.extras import require
from sim2real.policies.contract import Contract, is_export, read_contract
from sim2real.policies.predictor import Predictor

__all__ = ["OnnxPolicy", "RecurrentExport", "TorchScriptPolicy", "load_exported", "policy_config"]


class _ExportedPolicy(abc.ABC):
    """Batching and the declared spaces, shared by the exported formats."""

    def __init__(self, contract: Contract):
        self.contract = contract
        self.source = str(contract.path)
        obs_dim = contract.observation_dim
        self.observation_space = spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self.action_space = _action_space(contract)

    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs = np.asarray(observation, dtype=np.float32)
        if obs.ndim == 1:
            return self.run_graph([obs[None]])[0][0]
        return self.run_graph([obs])[0]

    @abc.abstractmethod
    def run_graph(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The graph's outputs for its float32 inputs, in the contract's order."""


class OnnxPolicy(_ExportedPolicy):
    """An ONNX export run by onnxruntime on the CPU, one thread (deterministic arithmetic)."""

    def __init__(self, contract: Contract):
        super().__init__(contract)
        ort = require("onnxruntime", "running an ONNX policy")
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(contract.model_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own types for a bad file
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise UserError(f"{contract.model_path}: cannot be loaded ({first})") from None
        self._inputs = [item.name for item in self.session.get_inputs()]

    def run_graph(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, dict(zip(self._inputs, inputs, strict=True)))


class TorchScriptPolicy(_ExportedPolicy):
    """A TorchScript export run by torch on the CPU."""

    def __init__(self, contract: Contract):
        super().__init__(contract)
        import torch

        try:
            with warnings.catch_warnings():  # torch deprecates TorchScript; the file is one
                warnings.simplefilter("ignore", DeprecationWarning)
                self.module = torch.jit.load(str(contract.model_path), map_location="cpu")
        except Exception as error:  # torch raises RuntimeError or worse for a bad file
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise UserError(f"{contract.model_path}: cannot be loaded ({first})") from None
        self.module.eval()

    def run_graph(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        with torch.no_grad():
            outputs = self.module(*(torch.as_tensor(array) for array in inputs))
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return [output.numpy() for output in outputs]


class RecurrentExport:
    """A predictor on plain observations for an exported LSTM policy: it keeps the state the
    graph returns and feeds it back, zeroed at each episode start (``reset()``)."""

    def __init__(self, inner: _ExportedPolicy, layers: int, hidden: int):
        self.inner, self.layers, self.hidden = inner, layers, hidden
        self.source = inner.source
        self.observation_space, self.action_space = inner.observation_space, inner.action_space
        self.reset()

    def reset(self) -> None:
        self._state: tuple[np.ndarray, np.ndarray] | None = None

    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs.reshape(1, -1) if single else obs
        n = batch.shape[0]
        if self._state is None or self._state[0].shape[1] != n:  # new episodes
            zeros = np.zeros((self.layers, n, self.hidden), np.float32)
            state, starts = (zeros, zeros.copy()), np.ones(n, np.float32)
        else:
            state, starts = self._state, np.zeros(n, np.float32)
        action, h, c = self.inner.run_graph([batch, *state, starts])
        self._state = (h, c)
        return action[0] if single else action


def load_exported(path: str | Path) -> Predictor:
    """The predictor of an export directory, whatever its format; one that declares a history
    input keeps the history itself (:class:`sim2real.policies.history.HistoryInput`)."""
    contract = read_contract(path)
    if contract.format == "onnx":
        predictor: Any = OnnxPolicy(contract)
    elif contract.format == "torchscript":
        predictor = TorchScriptPolicy(contract)
    else:
        from sim2real.policies.bundle import load_bundle

        predictor = load_bundle(contract.path)
    recurrent = contract.data.get("recurrent")
    if recurrent is not None:
        return RecurrentExport(predictor, int(recurrent["layers"]), int(recurrent["hidden"]))
    history = contract.data.get("history")
    if history is None:
        return predictor
    from sim2real.policies.history import HistoryInput

    # The model reads the flat history (an RMA student, a history policy): keep it, as the
    # contract lays it out.
    return HistoryInput(
        predictor,
        history["steps"],
        history["observation_dim"],
        _action_space(contract),
        str(contract.path),
        history.get("privileged_dim", 0),
    )


def _action_space(contract: Contract) -> spaces.Box:
    low, high = contract.action_bounds
    return spaces.Box(np.asarray(low, np.float32), np.asarray(high, np.float32), dtype=np.float32)


def policy_config(path: str | Path) -> Any:  # -> ExperimentConfig
    """The training config of a run directory (checked by :meth:`Run.read`, policy files
    included) or of an exported policy (its contract's, targets from the export)."""
    from sim2real.policies.zoo import resolve_source
    from sim2real.runs import Run

    path = resolve_source(path)
    if is_export(path):
        return read_contract(path).config()

    return Run.read(path).config
