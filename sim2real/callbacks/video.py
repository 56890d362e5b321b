"""Short videos of evaluation rollouts in TensorBoard (``evaluation.video: true``).

At each evaluation, one deterministic episode on nominal dynamics and one on the target where
the policy lost most in that evaluation (the largest gap), each cut at :data:`MAX_FRAMES`
frames, go to TensorBoard as animated GIFs: ``video/nominal`` and ``video/hardest_target``
(the image dashboard plays them; the caption names the target). The episodes run in their own
rendering envs (``render_mode="rgb_array"``, PyBullet's TinyRenderer, headless), made on
first use and closed with the run. GIFs need imageio (the ``video`` extra), checked when the
config is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from sim2real.evaluation.conditions import DR, NOMINAL, Condition, make_env
from sim2real.policies.history import with_history
from sim2real.policies.predictor import RunPolicy

__all__ = ["MAX_FRAMES", "EvaluationVideos", "gif_summary"]

MAX_FRAMES = 300  # 5 s at 60 Hz: enough to see a gait, small enough for every evaluation


class EvaluationVideos:
    """Renders and logs the two rollouts of one evaluation (see the module doc)."""

    def __init__(
        self,
        env_id: str,
        env_kwargs: Mapping[str, Any],
        conditions: Sequence[Condition],
        seed: int,
        max_frames: int | None = None,
        history_steps: int = 0,
    ):
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs)
        self.history_steps = history_steps
        self.conditions = {condition.name: condition for condition in conditions}
        self.seed = seed
        self.max_frames = MAX_FRAMES if max_frames is None else max_frames
        self._envs: dict[str, gym.Env] = {}

    def log(
        self, writer: Any, model: Any, normalization: Any, step: int, gaps: Mapping[str, Any]
    ) -> None:
        """Render and log the nominal and the hardest target's episode at ``step``."""
        policy = with_history(RunPolicy(model, normalization), self.history_steps)
        targets = {name: gap for name, gap in gaps.items() if name not in (NOMINAL, DR)}
        shown = {"nominal": NOMINAL}
        if targets:
            shown["hardest_target"] = max(targets, key=lambda name: targets[name][0])
        for tag, name in shown.items():
            frames, fps = self._episode(name, policy)
            summary = gif_summary(f"video/{tag}", frames, fps)
            writer.file_writer.add_summary(summary, step)
            writer.add_text(f"video/{tag}/condition", name, step)
        writer.flush()

    def _episode(self, name: str, policy: Any) -> tuple[list[np.ndarray], float]:
        env = self._env(name)
        policy.reset()  # a new episode: no memory of the last one
        observation, _ = env.reset(seed=self.seed)
        frames = [env.render()]
        done = False
        while not done and len(frames) < self.max_frames:
            action = policy.predict(observation, deterministic=True)
            observation, _, terminated, truncated, _ = env.step(action)
            frames.append(env.render())
            done = terminated or truncated
        return frames, 1.0 / env.unwrapped.control_dt

    def _env(self, name: str) -> gym.Env:
        if name not in self._envs:
            kwargs = {**self.env_kwargs, "render_mode": "rgb_array"}
            self._envs[name] = make_env(self.env_id, self.conditions[name], kwargs)
        return self._envs[name]

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()


def gif_summary(tag: str, frames: Sequence[np.ndarray], fps: float) -> Any:
    """A TensorBoard image summary holding an animated GIF (what ``add_video`` writes, without
    its moviepy dependency)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    from sim2real.video import encode_video

    height, width = frames[0].shape[:2]
    image = Summary.Image(
        height=height, width=width, colorspace=3, encoded_image_string=encode_video(frames, fps)
    )
    return Summary(value=[Summary.Value(tag=tag, image=image)])
