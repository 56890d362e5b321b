"""Domain-randomization logging: the dynamics each episode ran with, its reward terms, blow-ups.

:class:`DynamicsLogCallback` collects what :class:`sim2real.episode_recorder.EpisodeRecorder`
puts in the last step's info of every episode and writes, every ``log_interval_steps``:
``dynamics/<parameter>/<element>`` (mean over the episodes that ended, a scalar),
``dynamics_hist/<parameter>/<element>`` (their histogram; TensorBoard needs a tag of its own
per plugin), ``reward_terms/<term>`` (mean episode sum) and ``episodes/non_finite`` (episodes
of the run so far that the env ended because the simulation blew up, ``info["non_finite"]``).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from sim2real.episode_recorder import DYNAMICS_KEY, REWARD_TERMS_KEY
from sim2real.tensorboard_log import tensorboard_writer

NON_FINITE_KEY = "non_finite"  # set by sim2real.envs.base.BulletEnv.step
NON_FINITE_TAG = "episodes/non_finite"


class DynamicsLogCallback(BaseCallback):
    """Writes sampled dynamics, reward terms and blow-ups of finished episodes to TensorBoard.

    ``non_finite_episodes`` counts blow-ups over the whole run; a resumed run starts from the
    count its checkpoint recorded.
    """

    def __init__(self, log_interval_steps: int = 2000, non_finite_episodes: int = 0):
        super().__init__()
        self.log_interval_steps = log_interval_steps
        self.non_finite_episodes = non_finite_episodes
        self._dynamics: dict[str, list[float]] = defaultdict(list)
        self._terms: dict[str, list[float]] = defaultdict(list)
        self._episodes = 0  # ended since the last write
        self._last_write = 0

    def _on_training_start(self) -> None:
        self._last_write = self.num_timesteps

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            if DYNAMICS_KEY not in info:  # not the last step of an episode
                continue
            self._episodes += 1
            self.non_finite_episodes += bool(info.get(NON_FINITE_KEY, False))
            for tag, value in info[DYNAMICS_KEY].items():
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
        if writer is not None and self._episodes:
            step = self.num_timesteps
            for tag, values in self._dynamics.items():
                writer.add_scalar(f"dynamics/{tag}", float(np.mean(values)), step)
                writer.add_histogram(f"dynamics_hist/{tag}", np.asarray(values), step)
            for term, values in self._terms.items():
                writer.add_scalar(f"reward_terms/{term}", float(np.mean(values)), step)
            writer.add_scalar(NON_FINITE_TAG, self.non_finite_episodes, step)
            writer.flush()
        self._dynamics.clear()
        self._terms.clear()
        self._episodes = 0
        self._last_write = self.num_timesteps
