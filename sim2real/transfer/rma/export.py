"""Export of an adaptation run's student as TorchScript, its history the declared input.

The graph (:class:`StudentGraph`) takes the flat history of raw observations and actions
(``(batch, k * obs + k * act)``, the layout of :class:`sim2real.envs.wrappers.History`, whose
last observation is the current one) and returns the action ``env.step`` takes: the teacher's
observation normalization, the adaptation module, the body's window of that history
(:class:`sim2real.transfer.rma.student.BodyWindow`), the teacher's deterministic body and the
clipping to the action bounds are all inside. ``contract.json`` declares the input and the
history (steps, sizes, layout); the caller keeps the history (a deployment, or
:class:`sim2real.policies.history.HistoryInput`, which ``load_exported`` puts around it).
Parity is checked step by step along the student's own episodes, since the history is state.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sim2real.errors import UserError
from sim2real.policies.actor import actor_network
from sim2real.policies.contract import history_contract
from sim2real.transfer.rma.student import StudentPolicy, observed_statistics

HISTORY_INPUT = "history"
EXPORT_FORMATS = ("torchscript",)


class StudentGraph(nn.Module):
    """``history (batch, k * (obs + act))`` raw -> action in the bounds (see module doc)."""

    def __init__(self, student: StudentPolicy):
        super().__init__()
        actor = actor_network(student.model)
        self.body = copy.deepcopy(nn.Sequential(*actor.deterministic_layers())).eval()
        self.module = copy.deepcopy(student.module).cpu().eval()
        self.squashed = actor.output == "tanh_rescale"
        self.steps = student.steps
        self.observation_size, self.action_size = student.observation_size, student.action_size
        space = student.action_space
        self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))
        self.register_buffer("body_indices", torch.as_tensor(student.body_indices))
        # The module's observations are normalized as the teacher's o_t, the body's window as
        # the teacher's own first entries.
        window = student.window
        observed = observed_statistics(student.normalization, window.latest)
        body = observed_statistics(student.normalization, slice(0, window.size))
        self.normalized = observed is not None and body is not None
        if observed is not None and body is not None:
            self.register_buffer("obs_mean", torch.as_tensor(observed[0], dtype=torch.float64))
            self.register_buffer("obs_std", torch.as_tensor(observed[1], dtype=torch.float64))
            self.register_buffer("body_mean", torch.as_tensor(body[0], dtype=torch.float64))
            self.register_buffer("body_std", torch.as_tensor(body[1], dtype=torch.float64))
            self.clip_obs = observed[2]

    @property
    def input_size(self) -> int:
        return self.steps * (self.observation_size + self.action_size)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        split = self.steps * self.observation_size
        observations = history[:, :split].reshape(-1, self.steps, self.observation_size)
        window = history.index_select(1, self.body_indices)
        if self.normalized:
            observations = self._normalized(observations, self.obs_mean, self.obs_std)
            window = self._normalized(window, self.body_mean, self.body_std)
        module_input = torch.cat([observations.reshape(-1, split), history[:, split:]], dim=1)
        latent = self.module(module_input)
        raw = self.body(torch.cat([window, latent], dim=1))
        if self.squashed:  # SB3's unscale_action of a tanh-squashed action
            return self.low + 0.5 * (raw + 1.0) * (self.high - self.low)
        return torch.maximum(torch.minimum(raw, self.high), self.low)

    def _normalized(
        self, entries: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
    ) -> torch.Tensor:
        """VecNormalize's: in float64, clipped, back to float32."""
        scaled = (entries.to(torch.float64) - mean) / std
        return scaled.clamp(-self.clip_obs, self.clip_obs).to(torch.float32)

    def example_inputs(self, batch: int = 2) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(batch, self.input_size, dtype=torch.float32),)


def check_student_format(run_dir: Path, format: str) -> None:
    if format not in EXPORT_FORMATS:
        raise UserError(
            f"--format {format!r}: an adaptation run's student exports as "
            f"{', '.join(EXPORT_FORMATS)} (its history is the graph's input); "
            f"e.g. sim2real export {run_dir} --format torchscript --out DIR"
        )


def student_contract(graph: StudentGraph, contract: dict[str, Any]) -> dict[str, Any]:
    """The contract of the run's export with the history as its input."""
    contract = history_contract(
        contract, HISTORY_INPUT, graph.steps, graph.observation_size, graph.action_size
    )
    return {
        **contract,
        "in_graph": {
            **contract["in_graph"],
            "adaptation": "the adaptation module (history -> latent) and the teacher's body",
        },
    }


def save_student(graph: StudentGraph, path: Path) -> None:
    from sim2real.policies.graph import save_torchscript

    save_torchscript(graph, path)
