"""Periodic checkpoints (written by :func:`sim2real.runs.save_checkpoint`, atomically).

Checkpoints are taken on timestep multiples of ``freq_steps``, counted from timestep 0, so a
resumed run keeps the same grid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from sim2real.callbacks.trigger import EveryNTimestepsOnGrid
from sim2real.runs import Run, prune_checkpoints, save_checkpoint


class CheckpointCallback(EveryNTimestepsOnGrid):
    """Saves a checkpoint every ``freq_steps`` timesteps (0: only on :meth:`save`).

    Off-policy algorithms are saved at the end of a collection round: SB3 calls ``on_step``
    before it stores the step's transition, so a checkpoint taken there would miss it.
    """

    def __init__(
        self,
        run: Run,
        freq_steps: int,
        keep: int,
        save_replay_buffer: bool = False,
        extra: Callable[[], Mapping[str, Any]] | None = None,
    ):
        """``extra()``: more fields for each checkpoint.json (see :func:`save_checkpoint`)."""
        super().__init__(freq_steps)
        self.run, self.keep = run, keep
        self.save_replay_buffer = save_replay_buffer
        self.extra = extra

    def _init_callback(self) -> None:
        if isinstance(self.model, OffPolicyAlgorithm):
            self.check_on = "rollout_end"

    def _on_event(self) -> bool:
        self.save()
        return True

    def save(self) -> Path:
        """Checkpoint now, prune old ones, record the recoverable timestep in run.json."""
        extra = self.extra() if self.extra is not None else None
        path = save_checkpoint(self.model, self.run.checkpoints_dir, self.save_replay_buffer, extra)
        prune_checkpoints(self.run, self.keep)
        self.run.update_meta(timesteps=int(self.model.num_timesteps))
        return path
