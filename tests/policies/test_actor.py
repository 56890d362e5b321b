"""The extracted actor is the policy's: same deterministic actions, the parts freezing counts."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import TQC, RecurrentPPO
from stable_baselines3 import A2C, PPO, SAC, TD3

from sim2real.policies.actor import actor_network


def net(**extra):
    """Fresh policy_kwargs each time: SB3 adds keys to the dict it is given."""
    return {"net_arch": [16, 16], **extra}


def deterministic_actions(model, observations: np.ndarray) -> np.ndarray:
    """What the extracted actor alone computes, mapped into the action bounds."""
    actor = actor_network(model)
    network = torch.nn.Sequential(actor.features, *actor.deterministic_layers())
    with torch.no_grad():
        raw = network(torch.as_tensor(observations)).numpy()
    low, high = model.action_space.low, model.action_space.high
    if actor.output == "tanh_rescale":
        return low + 0.5 * (raw + 1.0) * (high - low)
    return np.clip(raw, low, high)


@pytest.mark.parametrize(
    ("algorithm", "kwargs", "output"),
    [
        (PPO, {"policy_kwargs": net()}, "clip"),
        (PPO, {"use_sde": True, "policy_kwargs": net(squash_output=True)}, "tanh_rescale"),
        (A2C, {"policy_kwargs": net()}, "clip"),
        (SAC, {"policy_kwargs": net()}, "tanh_rescale"),
        (SAC, {"use_sde": True, "policy_kwargs": net()}, "tanh_rescale"),
        (TD3, {"policy_kwargs": net()}, "tanh_rescale"),
        (TQC, {"policy_kwargs": net(n_critics=1)}, "tanh_rescale"),
    ],
)
def test_actor_matches_the_deterministic_predict(algorithm, kwargs, output):
    model = algorithm("MlpPolicy", gym.make("Pendulum-v1"), seed=0, device="cpu", **kwargs)
    observations = np.random.default_rng(0).uniform(-1, 1, size=(64, 3)).astype(np.float32)
    expected, _ = model.predict(observations, deterministic=True)
    assert actor_network(model).output == output
    np.testing.assert_allclose(deterministic_actions(model, observations), expected, atol=1e-6)


def test_actor_leaves_out_the_critic():
    model = PPO("MlpPolicy", gym.make("Pendulum-v1"), device="cpu", policy_kwargs=net())
    actor = actor_network(model)
    policy = model.policy
    assert [id(p) for p in actor.parameters()] == [
        *map(id, policy.mlp_extractor.policy_net.parameters()),
        *map(id, policy.action_net.parameters()),
        id(policy.log_std),
    ]
    assert actor_network(policy) == actor  # a policy works as well as its model


@pytest.mark.parametrize(
    ("algorithm", "policy", "hidden"),
    [(SAC, "MlpPolicy", 2), (TD3, "MlpPolicy", 2), (RecurrentPPO, "MlpLstmPolicy", 3)],
)
def test_hidden_layers_count_the_lstm_and_each_linear(algorithm, policy, hidden):
    model = algorithm(policy, gym.make("Pendulum-v1"), device="cpu", policy_kwargs=net())
    actor = actor_network(model)
    assert len(actor.hidden_layers) == hidden
    assert all(isinstance(layer, torch.nn.Linear) for layer in actor.hidden_layers[-2:])
    assert (actor.recurrent is not None) == (algorithm is RecurrentPPO)
