"""``evaluation.video``: each evaluation puts GIFs of a nominal and the hardest target's
episode in TensorBoard; without imageio the config is refused in one line."""

from __future__ import annotations

import importlib.util

import imageio.v3 as iio
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config

import sim2real.callbacks.video as video
import sim2real.config as config_module
from sim2real.config import parse_config
from sim2real.errors import UserError
from sim2real.training import train

pytestmark = pytest.mark.slow


def test_each_evaluation_logs_a_nominal_and_a_hardest_target_gif(tmp_path, monkeypatch):
    """On an asymmetric actor-critic run, whose nominal and target envs must still give the
    privileged entries in the training layout."""
    monkeypatch.setattr(video, "MAX_FRAMES", 40)  # CartPole episodes run to 500 steps
    evaluation = {"freq_steps": 512, "episodes": 1, "video": True}
    data = tiny_ppo(
        total_timesteps=1024,
        evaluation=evaluation,
        checkpoint={"freq_steps": 0},
        env={"id": "sim2real/CartPole-v0", "kwargs": {"privileged": True}},
    )
    data["algorithm"] = {**data["algorithm"], "asymmetric": True}
    config = parse_config(data)
    run = train(config, tmp_path / "run", progress_bar=False, verbose=False)
    events = EventAccumulator(str(run.tb_dir), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    assert {"video/nominal", "video/hardest_target"} <= set(events.Tags()["images"])
    for tag in ("video/nominal", "video/hardest_target"):
        images = events.Images(tag)
        assert [image.step for image in images] == [512, 1024]
        gif = images[-1].encoded_image_string
        assert gif[:4] == b"GIF8"
        frames = iio.imread(gif, index=None)
        assert 2 <= len(frames) <= 40
        assert frames.shape[1:3] == (images[-1].height, images[-1].width)
    assert events.Scalars("eval/heavy/mean_return")  # the target the caption names


def test_video_without_imageio_is_one_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        config_module.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "imageio" else real(name, *args),
    )
    data = tiny_ppo(evaluation={"freq_steps": 512, "episodes": 1, "video": True})
    with pytest.raises(UserError, match=r"field 'evaluation.video' = True; GIFs need imageio"):
        parse_config(data)
