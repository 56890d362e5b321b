"""The asymmetric actor-critic: the actor never reads the privileged entries, the critic does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from sim2real.policies.actor import actor_network
from sim2real.policies.asymmetric import (
    AsymmetricActorCriticPolicy,
    AsymmetricSACPolicy,
    deployable_size,
)

OBSERVATION = spaces.Box(-10.0, 10.0, (7,), np.float32)  # 4 deployable, 3 privileged
ACTION = spaces.Box(-1.0, 1.0, (2,), np.float32)


def observations_differing_in_the_privileged_part() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    base = rng.uniform(-1, 1, (16, 7)).astype(np.float32)
    other = base.copy()
    other[:, 4:] = rng.uniform(-5, 5, (16, 3))
    return torch.as_tensor(base), torch.as_tensor(other)


def test_ppo_actor_ignores_the_privileged_entries_and_the_critic_reads_them():
    policy = AsymmetricActorCriticPolicy(
        OBSERVATION, ACTION, lambda _: 1e-3, deployable_observations=4, net_arch=[16, 16]
    )
    base, other = observations_differing_in_the_privileged_part()
    with torch.no_grad():
        torch.testing.assert_close(
            policy.get_distribution(base).distribution.mean,
            policy.get_distribution(other).distribution.mean,
        )
        assert not torch.allclose(policy.predict_values(base), policy.predict_values(other))
        changed = base.clone()
        changed[:, 0] += 1.0  # a deployable entry does move the action
        assert not torch.allclose(policy._predict(base, True), policy._predict(changed, True))
    assert policy.mlp_extractor.policy_net[0].in_features == 4
    assert policy.mlp_extractor.value_net[0].in_features == 7
    assert deployable_size(policy) == 4 and actor_network(policy).features.size == 4


def test_sac_actor_ignores_the_privileged_entries_and_the_critics_read_them():
    policy = AsymmetricSACPolicy(
        OBSERVATION, ACTION, lambda _: 1e-3, deployable_observations=4, net_arch=[16, 16]
    )
    base, other = observations_differing_in_the_privileged_part()
    action = torch.zeros(16, 2)
    with torch.no_grad():
        torch.testing.assert_close(policy._predict(base, True), policy._predict(other, True))
        q_base, q_other = policy.critic(base, action)[0], policy.critic(other, action)[0]
        assert not torch.allclose(q_base, q_other)
    assert deployable_size(policy) == 4


@pytest.mark.parametrize("size", [0, 7, 9])
def test_the_deployable_part_must_leave_privileged_entries(size):
    with pytest.raises(ValueError, match=f"deployable_observations = {size}; must be between 1"):
        AsymmetricActorCriticPolicy(OBSERVATION, ACTION, lambda _: 1e-3, size)
