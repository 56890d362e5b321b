"""Atomic checkpoints: model, normalization statistics and (optionally) the replay buffer.

A checkpoint is staged in ``checkpoints/.staging-step_<N>-<pid>/`` and renamed to
``checkpoints/step_<N:09d>/`` only when every file is written, so a process killed at any
moment leaves either a complete checkpoint or a staging directory that is ignored (and
removed by the next run that resumes). Checkpoints are taken on timestep multiples of
``freq_steps``, counted from timestep 0, so a resumed run keeps the same grid.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from sim2real.io import staged_directory, write_json
from sim2real.policies.normalization import save_normalization
from sim2real.runs import (
    CHECKPOINT_META_FILE,
    MODEL_FILE,
    NORMALIZATION_FILE,
    REPLAY_BUFFER_FILE,
    Run,
    checkpoint_name,
    now_iso,
)

STAGING_PREFIX = ".staging-"


def save_checkpoint(model: Any, checkpoints_dir: Path, save_replay_buffer: bool = False) -> Path:
    """Write ``checkpoints_dir/step_<N>`` for the model's current timestep; returns its path."""
    step = int(model.num_timesteps)
    final = checkpoints_dir / checkpoint_name(step)
    if final.is_dir():  # same timestep, same state: nothing new to save
        return final
    staging = checkpoints_dir / f"{STAGING_PREFIX}{final.name}-{os.getpid()}"
    # A failed save leaves its staging directory, like a killed one; resuming removes both.
    with staged_directory(final, staging, keep_on_failure=True):
        model.save(staging / MODEL_FILE)
        files = [MODEL_FILE]
        vec_normalize = model.get_vec_normalize_env()
        if vec_normalize is not None:
            save_normalization(vec_normalize, staging / NORMALIZATION_FILE)
            files.append(NORMALIZATION_FILE)
        if save_replay_buffer and getattr(model, "replay_buffer", None) is not None:
            model.save_replay_buffer(staging / REPLAY_BUFFER_FILE)
            files.append(REPLAY_BUFFER_FILE)
        checkpoint_meta = {"timesteps": step, "created": now_iso(), "files": files}
        write_json(staging / CHECKPOINT_META_FILE, checkpoint_meta)
    return final


def prune_checkpoints(run: Run, keep: int) -> None:
    """Keep the newest ``keep`` checkpoints."""
    for checkpoint in run.checkpoints()[: max(0, len(run.checkpoints()) - keep)]:
        shutil.rmtree(checkpoint.path, ignore_errors=True)


def remove_staging(run: Run) -> None:
    """Remove staging directories left by a killed process."""
    if run.checkpoints_dir.is_dir():
        for entry in run.checkpoints_dir.iterdir():
            if entry.name.startswith(STAGING_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)


class CheckpointCallback(BaseCallback):
    """Saves a checkpoint every ``freq_steps`` timesteps (0: only on :meth:`save`).

    Off-policy algorithms are saved at the end of a collection round: SB3 calls ``on_step``
    before it stores the step's transition, so a checkpoint taken there would miss it.
    """

    def __init__(self, run: Run, freq_steps: int, keep: int, save_replay_buffer: bool = False):
        super().__init__()
        self.run, self.freq_steps, self.keep = run, freq_steps, keep
        self.save_replay_buffer = save_replay_buffer
        self._next = 0
        self._off_policy = False

    def _init_callback(self) -> None:
        self._off_policy = isinstance(self.model, OffPolicyAlgorithm)

    def _on_training_start(self) -> None:
        if self.freq_steps > 0:
            self._next = (self.num_timesteps // self.freq_steps + 1) * self.freq_steps

    def _on_step(self) -> bool:
        if not self._off_policy:
            self._maybe_save()
        return True

    def _on_rollout_end(self) -> None:
        if self._off_policy:
            self._maybe_save()

    def _maybe_save(self) -> None:
        if self.freq_steps > 0 and self.model.num_timesteps >= self._next:
            self.save()
            self._next = (self.model.num_timesteps // self.freq_steps + 1) * self.freq_steps

    def save(self) -> Path:
        """Checkpoint now, prune old ones, record the recoverable timestep in run.json."""
        path = save_checkpoint(self.model, self.run.checkpoints_dir, self.save_replay_buffer)
        prune_checkpoints(self.run, self.keep)
        self.run.update_meta(timesteps=int(self.model.num_timesteps))
        return path
