"""The networks of teacher-student adaptation (RMA, Kumar et al. 2021).

- :class:`PrivilegedEncoder`: the teacher's SB3 features extractor. The teacher's observation
  is ``[o, e]`` (``privileged=True``: ``e`` are the episode's dynamics normalized to the spec's
  ranges, plus the robot's privileged state; with ``env.history_steps`` ``o`` is the History
  window of the last observations and actions); the extractor encodes ``z = mu(e)`` (the
  "extrinsics", a small latent) and hands ``[o, z]`` to the policy body.
- :class:`AdaptationModule`: the student's estimate of ``z`` from the last ``k`` observations
  and actions (the flat history of :class:`sim2real.envs.wrappers.History`), a 1-D temporal
  CNN (RMA's: a per-step embedding, then strided convolutions) or an MLP.
- :func:`body_actions`: the teacher's frozen policy body applied to ``[o, z]``, whichever way
  ``z`` was made, so the student is the teacher with its encoder swapped out;
  :func:`action_statistic`: the same body's deterministic action, differentiable in ``z``
  (phase 2's action loss).

The teacher is on-policy (PPO, A2C: the encoder is ``pi_features_extractor``) or SAC / TQC
(the actor's own ``features_extractor``; the critics have encoders of their own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN
from torch import nn

from sim2real.errors import UserError
from sim2real.policies.actor import actor_network

TEACHER_ALGORITHMS = ("PPO", "A2C", "SAC", "TQC")
# RMA's temporal convolutions over the history: (kernel, stride) per layer; a layer is left out
# when the sequence it would see is shorter than its kernel (short histories).
CNN_LAYERS = ((8, 4), (5, 1), (5, 1))
CNN_CHANNELS = 32
MLP_LAYERS = (256, 128)


def mlp(inputs: int, hidden: Sequence[int], outputs: int) -> nn.Sequential:
    """Linear + ELU per hidden layer, then a linear output (no activation)."""
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(inputs, size), nn.ELU()]
        inputs = size
    layers.append(nn.Linear(inputs, outputs))
    return nn.Sequential(*layers)


def privileged_split(
    env_id: str, randomization: Any, env_kwargs: Mapping[str, Any]
) -> tuple[int, int, tuple[str, ...]]:
    """``(deployable observation size, action size, privileged entry names)`` of the
    teacher's env."""
    kwargs = {**env_kwargs, "privileged": True}
    try:
        env = gym.make(env_id, randomization=randomization, **kwargs)
    except TypeError:
        raise UserError(
            f"{env_id} has no privileged observation (no 'privileged' argument); "
            "adaptation needs one"
        ) from None
    try:
        unwrapped = env.unwrapped
        actions = int(np.prod(env.action_space.shape))
        return len(unwrapped.observation_names), actions, tuple(unwrapped.privileged_names)
    finally:
        env.close()


def body_input_size(env_id: str, randomization: Any, env: Any) -> int:
    """Entries the teacher's body reads before the privileged ones: the deployable observation,
    or its window of ``env.history_steps`` observations and actions (``env``: the config's)."""
    from sim2real.policies.history import window_size

    observed, actions, _ = privileged_split(env_id, randomization, env.kwargs)
    return window_size(env.history_steps, observed, actions)


def privileged_size(env_id: str, randomization: Any, env_kwargs: Mapping[str, Any]) -> int:
    """How many randomized dynamics entries the teacher's observation has."""
    *_, names = privileged_split(env_id, randomization, env_kwargs)
    return sum(name.startswith("dr:") for name in names)


class PrivilegedEncoder(BaseFeaturesExtractor):
    """``[o, e] -> [o, mu(e)]``: the first ``observation_size`` entries pass through."""

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        observation_size: int,
        latent_size: int,
        layers: Sequence[int],
    ):
        super().__init__(observation_space, features_dim=observation_size + latent_size)
        self.observation_size = observation_size
        privileged = int(np.prod(observation_space.shape)) - observation_size
        self.encoder = mlp(privileged, layers, latent_size)

    def latent(self, observations: torch.Tensor) -> torch.Tensor:
        """The extrinsics ``z`` of (normalized) teacher observations ``(n, obs + privileged)``."""
        return self.encoder(observations[:, self.observation_size :])

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        observed = observations[:, : self.observation_size]
        return torch.cat([observed, self.latent(observations)], dim=1)


def teacher_policy_kwargs(
    observation_size: int, latent_size: int, layers: Sequence[int]
) -> dict[str, Any]:
    """What the teacher's policy adds to the config's ``policy_kwargs``."""
    return {
        "features_extractor_class": PrivilegedEncoder,
        "features_extractor_kwargs": {
            "observation_size": observation_size,
            "latent_size": latent_size,
            "layers": list(layers),
        },
    }


def teacher_encoder(policy: BasePolicy) -> PrivilegedEncoder:
    """The encoder the teacher's actor reads its observation through."""
    extractor = actor_network(policy).features
    if not isinstance(extractor, PrivilegedEncoder):
        raise UserError(
            f"the teacher's features extractor is a {type(extractor).__name__}, not the "
            "privileged encoder; train it with an 'adaptation:' section"
        )
    return extractor


class AdaptationModule(nn.Module):
    """``history (n, k * (obs + act)) -> z (n, latent)``; the history as History lays it out:
    ``[o_{t-k+1}, ..., o_t, a_{t-k}, ..., a_{t-1}]`` (each step pairs an observation with the
    action that led to it)."""

    def __init__(
        self, observation_size: int, action_size: int, steps: int, latent_size: int, kind: str
    ):
        super().__init__()
        self.observation_size, self.action_size, self.steps = observation_size, action_size, steps
        self.kind = kind
        step_size = observation_size + action_size
        if kind == "mlp":
            self.network: nn.Module = mlp(steps * step_size, MLP_LAYERS, latent_size)
        elif kind == "cnn":
            self.network = _temporal_cnn(step_size, steps, latent_size)
        else:
            raise ValueError(f"module kind {kind!r}; valid: cnn, mlp")

    @property
    def history_size(self) -> int:
        return self.steps * (self.observation_size + self.action_size)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        split = self.steps * self.observation_size
        observations = history[:, :split].reshape(-1, self.steps, self.observation_size)
        actions = history[:, split:].reshape(-1, self.steps, self.action_size)
        sequence = torch.cat([observations, actions], dim=2)  # (n, k, obs + act), oldest first
        if self.kind == "mlp":
            return self.network(sequence.flatten(1))
        return self.network(sequence)


class _Channels(nn.Module):
    """``(n, k, c) -> (n, c, k)``: time as the convolution axis."""

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        return sequence.transpose(1, 2)


def _temporal_cnn(step_size: int, steps: int, latent_size: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(step_size, CNN_CHANNELS), nn.ELU(), _Channels()]
    length = steps
    for kernel, stride in CNN_LAYERS:
        if length < kernel:
            continue
        layers += [nn.Conv1d(CNN_CHANNELS, CNN_CHANNELS, kernel, stride), nn.ELU()]
        length = (length - kernel) // stride + 1
    layers += [nn.Flatten(), nn.Linear(CNN_CHANNELS * length, latent_size)]
    return nn.Sequential(*layers)


def body_actions(
    policy: BasePolicy,
    observations: torch.Tensor,
    latent: torch.Tensor,
    deterministic: bool,
) -> np.ndarray:
    """Actions of the teacher's policy body on ``[o, z]`` (normalized ``o``), in the bounds.

    The same path as ``policy.predict`` after the features extractor: actor MLP, action
    distribution, then clipping (or unscaling a squashed output) to the action space.
    """
    features = torch.cat([observations, latent], dim=1)
    with torch.no_grad():
        actions = _sampled_actions(policy, features, deterministic).cpu().numpy()
    space = policy.action_space
    if isinstance(space, gym.spaces.Box):
        if policy.squash_output:
            return policy.unscale_action(actions)
        return np.clip(actions, space.low, space.high)
    return actions


def explores_with_sde(policy: BasePolicy) -> bool:
    """Whether the teacher samples with gSDE (the flag is PPO's policy's or SAC's actor's)."""
    return bool(getattr(getattr(policy, "actor", policy), "use_sde", False))


def action_statistic(
    policy: BasePolicy, observations: torch.Tensor, latent: torch.Tensor
) -> torch.Tensor:
    """The body's deterministic action on ``[o, z]`` before clipping (the mean; squashed where
    the policy squashes, as SAC's), differentiable in ``latent``: phase 2's action loss
    reaches the adaptation module through the frozen body. (Every world's action space is a
    ``Box``.)"""
    return _action_distribution(policy, torch.cat([observations, latent], dim=1)).mode()


def _sampled_actions(policy: Any, features: torch.Tensor, deterministic: bool) -> torch.Tensor:
    """The policy's action distribution on its actor's features, sampled (or its mode)."""
    return _action_distribution(policy, features).get_actions(deterministic=deterministic)


def _action_distribution(policy: Any, features: torch.Tensor) -> Distribution:
    """The action distribution of the policy's actor on its features."""
    if hasattr(policy, "mlp_extractor"):  # PPO, A2C: ActorCriticPolicy.get_distribution
        latent_pi = policy.mlp_extractor.forward_actor(features)
        return policy._get_action_dist_from_latent(latent_pi)
    actor = policy.actor  # SAC, TQC: Actor.get_action_dist_params, then Actor.forward
    latent_pi = actor.latent_pi(features)
    mean = actor.mu(latent_pi)
    if actor.use_sde:
        return actor.action_dist.proba_distribution(mean, actor.log_std, latent_pi)
    log_std = torch.clamp(actor.log_std(latent_pi), LOG_STD_MIN, LOG_STD_MAX)
    return actor.action_dist.proba_distribution(mean, log_std)
