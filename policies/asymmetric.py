"""Asymmetric actor-critic for SB3's PPO, A2C and SAC: the critic reads everything, the actor
only what the robot measures.

Training runs on ``privileged=True`` envs (envs/privileged.py), whose observation is the
deployable part first, then the privileged entries. :class:`AsymmetricActorCriticPolicy`
(PPO, A2C) and :class:`AsymmetricSACPolicy` keep separate features extractors
(``share_features_extractor=False``): the critic's flattens the whole observation, the
actor's (:class:`DeployableObservation`) keeps the first ``deployable_observations``
entries. The value estimate uses what a teacher knows (the dynamics drawn, the base
velocity), the action never does, so the actor deploys on an env without privileged
information: export writes it with the deployable observation as its input (see
:func:`deployable_size`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, MlpExtractor
from stable_baselines3.sac.policies import Actor, SACPolicy

__all__ = [
    "AsymmetricActorCriticPolicy",
    "AsymmetricSACPolicy",
    "DeployableObservation",
    "actor_extractor",
    "asymmetric_policy",
    "deployable_size",
]


class DeployableObservation(BaseFeaturesExtractor):
    """The first ``size`` entries of a flat observation: what the robot itself measures."""

    def __init__(self, observation_space: gym.spaces.Box, size: int):
        super().__init__(observation_space, size)
        self.size = size

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return observations[..., : self.size].float()


class _DeployableActor:
    """The constructor both asymmetric policies share: the deployable size, checked and saved
    with the model, and separate features extractors (a shared one would feed the critic
    the actor's slice)."""

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        action_space: gym.spaces.Space,
        lr_schedule: Any,
        deployable_observations: int,
        **kwargs: Any,
    ):
        self.deployable_observations = _check_size(deployable_observations, observation_space)
        kwargs["share_features_extractor"] = False
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["deployable_observations"] = self.deployable_observations
        return data


class AsymmetricActorCriticPolicy(_DeployableActor, ActorCriticPolicy):
    """An MLP actor-critic whose actor reads the deployable slice, the critic all of it."""

    def _build(self, lr_schedule: Any) -> None:
        actor = DeployableObservation(self.observation_space, self.deployable_observations)
        self.features_extractor = self.pi_features_extractor = actor
        super()._build(lr_schedule)

    def _build_mlp_extractor(self) -> None:
        # One MlpExtractor whose policy net starts from the slice, value net from everything.
        arguments = {"net_arch": self.net_arch, "activation_fn": self.activation_fn}
        actor = MlpExtractor(self.deployable_observations, device=self.device, **arguments)
        critic = MlpExtractor(self.features_dim, device=self.device, **arguments)
        actor.value_net, actor.latent_dim_vf = critic.value_net, critic.latent_dim_vf
        self.mlp_extractor = actor


class AsymmetricSACPolicy(_DeployableActor, SACPolicy):
    """SAC's MLP policy with the actor on the deployable slice; the critics read everything."""

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> Actor:
        slice_ = DeployableObservation(self.observation_space, self.deployable_observations)
        return super().make_actor(slice_)


ASYMMETRIC_POLICIES: dict[str, type] = {
    "PPO": AsymmetricActorCriticPolicy,
    "A2C": AsymmetricActorCriticPolicy,
    "SAC": AsymmetricSACPolicy,
}


def asymmetric_policy(algorithm: str) -> type:
    """The asymmetric MLP policy class of an algorithm (KeyError: none)."""
    return ASYMMETRIC_POLICIES[algorithm]


def actor_extractor(model: Any) -> BaseFeaturesExtractor | None:
    """The features extractor the actor of an SB3 model or policy reads its observation
    through (PPO, A2C: ``pi_features_extractor``; SAC, TQC: the actor's own)."""
    policy = getattr(model, "policy", model)
    extractor = getattr(policy, "pi_features_extractor", None)
    if extractor is None and getattr(policy, "actor", None) is not None:
        extractor = getattr(policy.actor, "features_extractor", None)
    return extractor


def deployable_size(model: Any) -> int | None:
    """How many leading observation entries the actor of an SB3 model or policy reads;
    None when it reads the whole observation."""
    extractor = actor_extractor(model)
    return extractor.size if isinstance(extractor, DeployableObservation) else None


def _check_size(size: int, observation_space: gym.spaces.Box) -> int:
    total = int(observation_space.shape[0])
    if not 0 < size < total:
        raise ValueError(
            f"deployable_observations = {size}; must be between 1 and {total - 1} (the "
            f"observation has {total} entries, the privileged ones last)"
        )
    return size
