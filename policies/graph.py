"""A run's policy as one torch module: the raw observation in, the action the env applies out.

SB3 keeps three steps outside its policy network: VecNormalize's observation normalization
(statistics saved beside the model), and ``predict``'s clipping to the action bounds or
rescaling of a tanh-squashed action to them (an exported SB3 graph omits both, SB3 #1211).
:class:`DeployedPolicy` puts all three in the graph around the actor of
:func:`sim2real.policies.actor.actor_network`, so ONNX and TorchScript files need nothing
beside them. Normalization runs in float64 as in :class:`RunPolicy`, the network in float32.

ONNX goes through torch's exporter (``torch.onnx.export(dynamo=True)``, which needs onnx and
onnxscript), TorchScript through ``torch.jit.trace``. Recurrent policies are refused: their
LSTM state would have to be graph inputs and outputs, with SB3's reset on episode starts.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from sim2real.errors import UserError
from sim2real.policies.actor import actor_network
from sim2real.policies.asymmetric import deployable_size
from sim2real.policies.normalization import Normalization

__all__ = [
    "INPUT_NAME",
    "ONNX_OPSET",
    "OUTPUT_NAME",
    "DeployedPolicy",
    "save_onnx",
    "save_torchscript",
]

INPUT_NAME, OUTPUT_NAME = "observation", "action"
ONNX_OPSET = 18  # the exporter's own opset: no version conversion of the graph


class DeployedPolicy(nn.Module):
    """Normalization, the deterministic actor and the action mapping of an SB3 model.

    ``forward`` takes float32 observations ``(batch, obs_dim)`` and returns float32 actions
    ``(batch, act_dim)`` within the action bounds: what ``env.step`` receives from
    :meth:`RunPolicy.predict`. The model itself is not changed (its layers are copied).
    """

    def __init__(self, model: Any, normalization: Normalization | None = None):
        super().__init__()
        name = type(model).__name__
        _check_spaces(model, name)
        actor = actor_network(model)
        if actor.recurrent is not None:
            raise UserError(
                f"{name}: recurrent policies cannot be exported (their LSTM state would need "
                "graph inputs); export a feed-forward policy, or evaluate the run directory"
            )
        # An asymmetric actor's input is the deployable observation itself: no slice in it.
        deployable = deployable_size(model)
        features = [] if deployable else [actor.features]
        self.network = copy.deepcopy(nn.Sequential(*features, *actor.deterministic_layers()))
        self.network.eval()
        self.squashed = actor.output == "tanh_rescale"
        self.obs_dim = deployable or int(model.observation_space.shape[0])
        space = model.action_space
        self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))
        self.normalized = normalization is not None and normalization.norm_obs
        if self.normalized:
            std = np.sqrt(normalization.obs_var[: self.obs_dim] + normalization.epsilon)
            mean = normalization.obs_mean[: self.obs_dim]
            self.register_buffer("obs_mean", torch.as_tensor(mean))
            self.register_buffer("obs_std", torch.as_tensor(std, dtype=torch.float64))
            self.clip_obs = float(normalization.clip_obs)

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        x = observation
        if self.normalized:
            scaled = (x.to(torch.float64) - self.obs_mean) / self.obs_std
            x = scaled.clamp(-self.clip_obs, self.clip_obs).to(torch.float32)
        raw = self.network(x)
        if self.squashed:  # SB3's unscale_action of a tanh-squashed action
            return self.low + 0.5 * (raw + 1.0) * (self.high - self.low)
        return torch.maximum(torch.minimum(raw, self.high), self.low)

    def example_input(self, batch: int = 2) -> torch.Tensor:
        return torch.zeros(batch, self.obs_dim, dtype=torch.float32)


def save_onnx(policy: DeployedPolicy, path: str | Path) -> Path:
    """Write ``policy`` as ONNX (opset :data:`ONNX_OPSET`) with a dynamic batch dimension."""
    path = Path(path)
    batch = torch.export.Dim("batch", min=1)
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            policy,
            (policy.example_input(),),
            dynamo=True,
            opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},),
            verbose=False,
        )
        program.save(str(path))
    return path


def save_torchscript(policy: DeployedPolicy, path: str | Path) -> Path:
    """Write ``policy`` as a traced TorchScript module (``torch.jit.load`` reads it)."""
    path = Path(path)
    with _quiet_exporter(), torch.no_grad():
        traced = torch.jit.trace(policy, policy.example_input(), check_trace=False)
        torch.jit.save(traced, str(path))
    return path


def _check_spaces(model: Any, name: str) -> None:
    observation, action = model.observation_space, model.action_space
    if not (isinstance(observation, spaces.Box) and len(observation.shape) == 1):
        raise UserError(f"{name}: only flat Box observations export; got {observation}")
    if not (isinstance(action, spaces.Box) and len(action.shape) == 1):
        raise UserError(f"{name}: only flat Box actions export; got {action}")


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporters' progress logs and deprecation chatter are not the user's concern."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
