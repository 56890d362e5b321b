"""The Predictor protocol: SB3 models (RunPolicy) and bundles act alike in rollouts."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO

from sim2real.errors import UserError
from sim2real.evaluation.conditions import Condition, make_env
from sim2real.evaluation.rollouts import RolloutJob, get_predictor, rollout, run_jobs
from sim2real.policies.bundle import export_bundle
from sim2real.policies.history import with_history
from sim2real.policies.normalization import Normalization
from sim2real.policies.predictor import Predictor, RunPolicy, check_compatible, load_predictor

ENV_ID = "sim2real/CartPole-v0"


@pytest.fixture
def env():
    env = make_env(ENV_ID, Condition("nominal"))
    yield env
    env.close()


def normalization(mean, var) -> Normalization:
    return Normalization(
        norm_obs=True, norm_reward=False, obs_mean=np.asarray(mean, float),
        obs_var=np.asarray(var, float), obs_count=10.0, ret_mean=0.0, ret_var=1.0,
        ret_count=1.0, clip_obs=10.0, clip_reward=10.0, gamma=0.99, epsilon=1e-8,
    )  # fmt: skip


def test_run_policy_normalizes_single_and_batch(env):
    model = PPO("MlpPolicy", env, seed=0, device="cpu", policy_kwargs={"net_arch": [8]})
    stats = normalization([0.1, 0.0, -0.05, 0.2], [0.5, 2.0, 0.01, 4.0])
    policy = RunPolicy(model, stats)
    assert isinstance(policy, Predictor)
    observations = np.random.default_rng(0).uniform(-0.2, 0.2, (5, 4)).astype(np.float32)
    expected, _ = model.predict(stats.normalize_obs(observations), deterministic=True)
    np.testing.assert_array_equal(policy.predict(observations), expected)
    np.testing.assert_array_equal(policy.predict(observations[2]), expected[2])
    assert stats.obs_count == 10.0  # inference never touches the statistics


def test_recurrent_policy_resets_state_every_episode(env):
    model = RecurrentPPO("MlpLstmPolicy", env, seed=0, device="cpu")
    policy = RunPolicy(model)
    first = rollout(policy, env, seed=3, episodes=2).returns
    second = rollout(policy, env, seed=3, episodes=2).returns
    np.testing.assert_array_equal(first, second)
    assert policy.predict(np.zeros((3, 4), np.float32)).shape == (3, 1)


def test_bundle_runs_through_jobs_like_a_run_policy(env, tmp_path):
    model = PPO("MlpPolicy", env, seed=0, device="cpu", policy_kwargs={"net_arch": [8]})
    stats = normalization([0.0, 0.0, 0.0, 0.0], [0.1, 0.5, 0.01, 0.5])
    bundle_dir = export_bundle(model, tmp_path / "bundle", ENV_ID, stats)
    bundle = load_predictor(bundle_dir)
    observations = np.random.default_rng(1).uniform(-0.2, 0.2, (16, 4)).astype(np.float32)
    np.testing.assert_allclose(
        bundle.predict(observations), RunPolicy(model, stats).predict(observations), atol=1e-5
    )
    check_compatible(bundle, env, str(bundle_dir), ENV_ID)
    job = RolloutJob(str(bundle_dir), ENV_ID, Condition("nominal"), seed=0, episodes=2)
    (batch,) = run_jobs([job], workers=1)
    expected = rollout(get_predictor(bundle_dir), env, seed=0, episodes=2)
    np.testing.assert_array_equal(batch.returns, expected.returns)
    assert batch.lengths.tolist() == batch.returns.astype(int).tolist()  # +1 per step


def test_check_compatible_probes_predictors_without_spaces(env):
    class WrongAction:
        def predict(self, observation, deterministic=True):
            return np.zeros(2, np.float32)

    class WrongObservation:
        def predict(self, observation, deterministic=True):
            return np.asarray(observation) @ np.ones((3, 1))

    with pytest.raises(UserError, match=r"returns actions of shape \(2,\); .* expects \(1,\)"):
        check_compatible(WrongAction(), env, "wrong", ENV_ID)
    with pytest.raises(UserError, match=r"cannot act on .* observations of shape \(4,\)"):
        check_compatible(WrongObservation(), env, "wrong", ENV_ID)


def test_load_predictor_rejects_other_directories(tmp_path):
    with pytest.raises(UserError, match="not a run directory .* nor a policy bundle"):
        load_predictor(tmp_path)


class _FlatPolicy:
    """A predictor on flat histories that returns the sum of its input, as an action."""

    source = "flat"

    def __init__(self, flat: int):
        self.observation_space = spaces.Box(-np.inf, np.inf, (flat,), np.float32)
        self.action_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)

    def predict(self, observation, deterministic=True):
        return np.asarray(observation, np.float32).sum(axis=-1, keepdims=True)


def test_with_history_keeps_the_last_steps_and_is_the_policy_itself_without():
    inner = _FlatPolicy(2 * (3 + 1))
    assert with_history(inner, 0) is inner
    policy = with_history(inner, 2)
    first = policy.predict(np.array([1.0, 2.0, 3.0]))  # history [0 0 0, 1 2 3 | 0, 0]
    assert first.tolist() == [6.0]
    second = policy.predict(np.array([1.0, 1.0, 1.0]))  # [1 2 3, 1 1 1 | 0, 6]
    assert second.tolist() == [15.0]
    policy.reset()
    assert policy.predict(np.array([1.0, 1.0, 1.0])).tolist() == [3.0]


def test_with_history_refuses_an_input_that_is_no_such_history():
    with pytest.raises(UserError, match=r"^flat: a policy input of 7 entries is not a history"):
        with_history(_FlatPolicy(7), 2)
