"""The every-N-timesteps trigger shared by checkpoints and evaluations: a grid from step 0."""

from __future__ import annotations

import gymnasium as gym
import pytest
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from sim2real.callbacks import EveryNTimestepsOnGrid


class Record(BaseCallback):
    """A child callback that writes down the timestep of every event."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[int] = []

    def _on_step(self) -> bool:
        self.at.append(self.model.num_timesteps)
        return True


def ppo(n_envs: int = 1) -> PPO:
    env = make_vec_env("Pendulum-v1", n_envs=n_envs, seed=0)
    return PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")


def test_fires_on_every_multiple_of_n():
    record = Record()
    ppo().learn(200, callback=EveryNTimestepsOnGrid(50, record))
    assert record.at == [50, 100, 150, 200]


def test_steps_of_several_envs_fire_at_the_first_check_past_each_multiple():
    record = Record()
    ppo(n_envs=3).learn(90, callback=EveryNTimestepsOnGrid(20, record))
    assert record.at == [21, 42, 60, 81]  # counted in steps of 3, on the grid 20, 40, 60, 80


def test_a_resumed_run_keeps_the_grid():
    model = ppo()
    model.learn(70, callback=EveryNTimestepsOnGrid(50, Record()))
    assert model.num_timesteps == 96  # whole rollouts of 32
    record = Record()
    model.learn(100, callback=EveryNTimestepsOnGrid(50, record), reset_num_timesteps=False)
    assert record.at == [100, 150, 200]  # SB3's EveryNTimesteps: 146, 196 (96 + 50k)


@pytest.mark.parametrize(
    ("check_on", "expected"), [("rollout_start", [64, 128]), ("step", [50, 100, 150])]
)
def test_checks_at_rollout_boundaries_see_whole_rollouts(check_on, expected):
    record = Record()
    callback = EveryNTimestepsOnGrid(50, record, check_on=check_on)
    ppo().learn(160, callback=callback)
    assert record.at == expected


def test_rollout_end_checks_follow_off_policy_collection_rounds():
    record = Record()
    env = gym.make("Pendulum-v1")
    model = SAC("MlpPolicy", env, train_freq=8, learning_starts=1000, seed=0, device="cpu")
    model.learn(40, callback=EveryNTimestepsOnGrid(10, record, check_on="rollout_end"))
    assert record.at == [16, 24, 32, 40]


def test_zero_never_fires():
    record = Record()
    ppo().learn(100, callback=EveryNTimestepsOnGrid(0, record))
    assert record.at == []
