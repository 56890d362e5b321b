"""Domain-randomization logging: the dynamics each episode ran with and its reward terms.

:class:`DynamicsLogCallback` collects what :class:`sim2real.episode_recorder.EpisodeRecorder`
puts in the last step's info of every episode and writes, every ``log_interval_steps``:
``dynamics/<parameter>/<element>`` (mean over the episodes that ended, a scalar),
``dynamics_hist/<parameter>/<element>`` (their histogram; TensorBoard needs a tag of its own
per plugin) and ``reward_terms/<term>`` (mean episode sum).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from sim2real.episode_recorder import DYNAMICS_KEY, REWARD_TERMS_KEY
from sim2real.tensorboard_log import tensorboard_writer


class DynamicsLogCallback(BaseCallback):
    """Writes sampled dynamics and reward terms of finished episodes to TensorBoard."""

    def __init__(self, log_interval_steps: int = 2000):
        super().__init__()
        self.log_interval_steps = log_interval_steps
        self._dynamics: dict[str, list[float]] = defaultdict(list)
        self._terms: dict[str, list[float]] = defaultdict(list)
        self._last_write = 0

    def _on_training_start(self) -> None:
        self._last_write = self.num_timesteps

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            for tag, value in info.get(DYNAMICS_KEY, {}).items():
                self._dynamics[tag].append(value)
            for term, value in info.get(REWARD_TERMS_KEY, {}).items():
                self._terms[term].append(value)
        return True

    def _on_rollout_end(self) -> None:
        if self.num_timesteps - self._last_write >= self.log_interval_steps:
            self.write()

    def _on_training_end(self) -> None:
        self.write()

    def write(self) -> None:
        """Write what was collected since the last write (at the current timestep), then clear."""
        writer = tensorboard_writer(self.logger)
        if writer is not None and (self._dynamics or self._terms):
            step = self.num_timesteps
            for tag, values in self._dynamics.items():
                writer.add_scalar(f"dynamics/{tag}", float(np.mean(values)), step)
                writer.add_histogram(f"dynamics_hist/{tag}", np.asarray(values), step)
            for term, values in self._terms.items():
                writer.add_scalar(f"reward_terms/{term}", float(np.mean(values)), step)
            writer.flush()
        self._dynamics.clear()
        self._terms.clear()
        self._last_write = self.num_timesteps
