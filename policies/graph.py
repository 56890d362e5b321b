"""A run's policy as one torch module: the raw observation in, the action the env applies out.

SB3 keeps three steps outside its policy network: VecNormalize's observation normalization
(statistics saved beside the model), and ``predict``'s clipping to the action bounds or
rescaling of a tanh-squashed action to them (an exported SB3 graph omits both, SB3 #1211).
:class:`DeployedPolicy` puts all three in the graph around the actor of
:func:`sim2real.policies.actor.actor_network`, so ONNX and TorchScript files need nothing
beside them. Normalization runs in float64 as in :class:`RunPolicy`, the network in float32.

A recurrent policy (RecurrentPPO) becomes :class:`RecurrentDeployedPolicy`: its LSTM state
is graph input and output (``lstm_h``, ``lstm_c`` of shape ``(layers, batch, hidden)``), and an
``episode_start`` input zeroes it before the step, as SB3 does at episode starts.

ONNX goes through torch's exporter (``torch.onnx.export(dynamo=True)``, which needs onnx and
onnxscript), TorchScript through ``torch.jit.trace``.
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
    "RecurrentDeployedPolicy",
    "deployed_policy",
    "save_onnx",
    "save_torchscript",
]

INPUT_NAME, OUTPUT_NAME = "observation", "action"
STATE_NAMES = ("lstm_h", "lstm_c")  # the LSTM's hidden and cell state
EPISODE_START_NAME = "episode_start"
ONNX_OPSET = 18  # the exporter's own opset: no version conversion of the graph


def deployed_policy(model: Any, normalization: Normalization | None = None) -> nn.Module:
    """The graph of ``model``: :class:`RecurrentDeployedPolicy` for an LSTM policy, else
    :class:`DeployedPolicy`."""
    if actor_network(model).recurrent is not None:
        return RecurrentDeployedPolicy(model, normalization)
    return DeployedPolicy(model, normalization)


class _PolicyGraph(nn.Module):
    """What every deployed graph does around its network: VecNormalize's observation
    normalization (float64, as :class:`RunPolicy`) and ``predict``'s action mapping."""

    def __init__(self, model: Any, normalization: Normalization | None):
        super().__init__()
        _check_spaces(model, type(model).__name__)
        self.actor = actor_network(model)
        self.squashed = self.actor.output == "tanh_rescale"
        # An asymmetric actor's input is the deployable observation itself: no slice in it.
        self.deployable = deployable_size(model)
        self.obs_dim = self.deployable or int(model.observation_space.shape[0])
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

    def normalize(self, observation: torch.Tensor) -> torch.Tensor:
        if not self.normalized:
            return observation
        scaled = (observation.to(torch.float64) - self.obs_mean) / self.obs_std
        return scaled.clamp(-self.clip_obs, self.clip_obs).to(torch.float32)

    def to_action(self, raw: torch.Tensor) -> torch.Tensor:
        if self.squashed:  # SB3's unscale_action of a tanh-squashed action
            return self.low + 0.5 * (raw + 1.0) * (self.high - self.low)
        return torch.maximum(torch.minimum(raw, self.high), self.low)


class DeployedPolicy(_PolicyGraph):
    """Normalization, the deterministic actor and the action mapping of an SB3 model.

    ``forward`` takes float32 observations ``(batch, obs_dim)`` and returns float32 actions
    ``(batch, act_dim)`` within the action bounds: what ``env.step`` receives from
    :meth:`RunPolicy.predict`. The model itself is not changed (its layers are copied).
    """

    def __init__(self, model: Any, normalization: Normalization | None = None):
        super().__init__(model, normalization)
        if self.actor.recurrent is not None:
            raise UserError(f"{type(model).__name__}: an LSTM policy; use RecurrentDeployedPolicy")
        features = [] if self.deployable else [self.actor.features]
        stack = nn.Sequential(*features, *self.actor.deterministic_layers())
        self.network = copy.deepcopy(stack)
        self.network.eval()
        del self.actor  # the copy above is the graph; the model's modules are not its children

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return self.to_action(self.network(self.normalize(observation)))

    def example_inputs(self, batch: int = 2) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(batch, self.obs_dim, dtype=torch.float32),)

    def interface(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The graph's inputs and outputs as the contract lists them."""
        act_dim = int(self.low.shape[0])
        inputs = [{"name": INPUT_NAME, "shape": ["batch", self.obs_dim], "dtype": "float32"}]
        outputs = [{"name": OUTPUT_NAME, "shape": ["batch", act_dim], "dtype": "float32"}]
        return inputs, outputs

    dynamic_axes = ({0: "batch"},)


class RecurrentDeployedPolicy(_PolicyGraph):
    """A RecurrentPPO actor: ``forward(observation, lstm_h, lstm_c, episode_start)`` returns
    ``(action, lstm_h, lstm_c)``; a 1 in ``episode_start`` zeroes that row's state first.

    Feed the returned state back on the next step; start an episode with any state and
    ``episode_start`` 1 (or zeros). The same step as SB3's ``_process_sequence`` for one step.
    """

    def __init__(self, model: Any, normalization: Normalization | None = None):
        super().__init__(model, normalization)
        actor = self.actor
        self.features = copy.deepcopy(actor.features)
        self.lstm = copy.deepcopy(actor.recurrent)
        self.network = copy.deepcopy(nn.Sequential(*actor.deterministic_layers()))
        del self.actor
        self.eval()
        self.layers, self.hidden = int(self.lstm.num_layers), int(self.lstm.hidden_size)

    def forward(
        self,
        observation: torch.Tensor,
        lstm_h: torch.Tensor,
        lstm_c: torch.Tensor,
        episode_start: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        keep = (1.0 - episode_start).view(1, -1, 1)
        features = self.features(self.normalize(observation))
        output, (h, c) = self.lstm(features.unsqueeze(0), (lstm_h * keep, lstm_c * keep))
        return self.to_action(self.network(output.squeeze(0))), h, c

    def example_inputs(self, batch: int = 2) -> tuple[torch.Tensor, ...]:
        state = torch.zeros(self.layers, batch, self.hidden, dtype=torch.float32)
        return (
            torch.zeros(batch, self.obs_dim, dtype=torch.float32),
            state,
            state.clone(),
            torch.ones(batch, dtype=torch.float32),
        )

    def interface(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        act_dim = int(self.low.shape[0])
        state = {"shape": [self.layers, "batch", self.hidden], "dtype": "float32"}
        inputs = [
            {"name": INPUT_NAME, "shape": ["batch", self.obs_dim], "dtype": "float32"},
            *({"name": name, **state} for name in STATE_NAMES),
            {"name": EPISODE_START_NAME, "shape": ["batch"], "dtype": "float32"},
        ]
        outputs = [
            {"name": OUTPUT_NAME, "shape": ["batch", act_dim], "dtype": "float32"},
            *({"name": f"{name}_out", **state} for name in STATE_NAMES),
        ]
        return inputs, outputs

    dynamic_axes = ({0: "batch"}, {1: "batch"}, {1: "batch"}, {0: "batch"})


def save_onnx(policy: DeployedPolicy | RecurrentDeployedPolicy, path: str | Path) -> Path:
    """Write ``policy`` as ONNX (opset :data:`ONNX_OPSET`) with a dynamic batch dimension."""
    path = Path(path)
    batch = torch.export.Dim("batch", min=1)
    inputs, outputs = policy.interface()
    dynamic = tuple({axis: batch for axis in axes} for axes in policy.dynamic_axes)
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            policy,
            policy.example_inputs(),
            dynamo=True,
            opset_version=ONNX_OPSET,
            input_names=[item["name"] for item in inputs],
            output_names=[item["name"] for item in outputs],
            dynamic_shapes=dynamic,
            verbose=False,
        )
        program.save(str(path))
    return path


def save_torchscript(policy: nn.Module, path: str | Path) -> Path:
    """Write ``policy`` as a traced TorchScript module (``torch.jit.load`` reads it)."""
    path = Path(path)
    with _quiet_exporter(), torch.no_grad():
        traced = torch.jit.trace(policy, policy.example_inputs(), check_trace=False)
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
