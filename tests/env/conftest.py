import gymnasium as gym
import pytest

import sim2real  # noqa: F401  (registers the envs)


@pytest.fixture
def make_env():
    """gym.make with every env closed at the end of the test."""
    made = []

    def _make(env_id, **kwargs):
        env = gym.make(env_id, **kwargs)
        made.append(env)
        return env

    yield _make
    for env in made:
        env.close()
