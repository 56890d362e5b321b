"""The actor of an SB3 model: the layers its deterministic action comes from.

One extraction for everything that needs the actor rather than the whole policy: policy
bundles (numpy inference), freezing hidden layers for fine-tuning
(:mod:`sim2real.transfer.freeze`) and graph export. Where SB3 keeps the actor:

- PPO / A2C / RecurrentPPO (``ActorCriticPolicy``): ``pi_features_extractor`` (the shared
  extractor when features are shared), ``lstm_actor`` (recurrent only),
  ``mlp_extractor.policy_net``, then ``action_net``: the Gaussian mean, clipped to the action
  bounds (tanh-squashed and rescaled instead with gSDE's ``squash_output``);
  ``log_std`` is a parameter of the policy.
- SAC / TQC: ``actor.features_extractor``, ``actor.latent_pi``, then ``actor.mu`` (with gSDE's
  Hardtanh when it clips the mean); the distribution squashes with tanh and SB3 rescales to
  the bounds. ``actor.log_std`` is a layer (a parameter with gSDE).
- TD3: ``actor.features_extractor``, then ``actor.mu``, which ends in its own Tanh; its last
  Linear starts the head.

Critics, target networks and value heads are never part of the actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from torch import nn

from sim2real.errors import UserError

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.policies import BasePolicy

__all__ = ["ActorNetwork", "ActorOutput", "actor_network"]

# How the head's output becomes an action in the env's bounds [low, high]:
# "clip": clipped to them; "tanh_rescale": tanh-squashed to [-1, 1], then low + (a+1)(high-low)/2.
ActorOutput = Literal["clip", "tanh_rescale"]


@dataclass(frozen=True)
class ActorNetwork:
    """The modules of an SB3 policy that make its deterministic action, input side first.

    ``features`` is the features extractor the actor reads (for flat observations a
    ``FlattenExtractor``, which has no weights; on-policy it may be shared with the critic).
    ``recurrent`` is the actor's LSTM (RecurrentPPO) or None. ``body`` holds the hidden
    layers with their activations, ``head`` the layers that turn the last hidden layer into
    the action before ``output`` maps it into the bounds. ``log_std`` is the stochastic part
    the deterministic action ignores (PPO's parameter, SAC's layer); it is listed so that
    :meth:`parameters` is everything the actor trains.
    """

    features: nn.Module
    recurrent: nn.Module | None
    body: tuple[nn.Module, ...]
    head: tuple[nn.Module, ...]
    output: ActorOutput
    log_std: nn.Module | nn.Parameter | None = None

    @property
    def hidden_layers(self) -> list[nn.Module]:
        """Input side first: the LSTM (counted as one layer), then each Linear of the body."""
        linear = [module for module in self.body if isinstance(module, nn.Linear)]
        return [self.recurrent, *linear] if self.recurrent is not None else linear

    def deterministic_layers(self) -> list[nn.Module]:
        """Body and head as one feed-forward stack, from features to the pre-bounds action.

        With ``output == "tanh_rescale"`` the stack ends in a Tanh: SAC and TQC squash in
        their distribution, so one is appended for them (TD3's ``mu`` has its own).
        """
        layers = [*self.body, *self.head]
        if self.output == "tanh_rescale" and not isinstance(layers[-1], nn.Tanh):
            layers.append(nn.Tanh())
        return layers

    def modules(self) -> list[nn.Module]:
        """Every module whose weights the actor uses (``log_std`` when it is a layer)."""
        parts = [self.features, self.recurrent, *self.body, *self.head, self.log_std]
        return [part for part in parts if isinstance(part, nn.Module)]

    def parameters(self) -> list[nn.Parameter]:
        """The actor's parameters, each once, in the order of :meth:`modules` then log_std."""
        found: dict[int, nn.Parameter] = {}
        for module in self.modules():
            for parameter in module.parameters():
                found.setdefault(id(parameter), parameter)
        if isinstance(self.log_std, nn.Parameter):
            found.setdefault(id(self.log_std), self.log_std)
        return list(found.values())


def actor_network(model: BaseAlgorithm | BasePolicy) -> ActorNetwork:
    """The actor of an SB3 model or policy; see the module docstring.

    Raises :class:`UserError` for a policy with neither an actor-critic MLP nor an ``actor``.
    """
    policy = getattr(model, "policy", model)
    if hasattr(policy, "mlp_extractor"):
        return _on_policy_actor(policy)
    actor = getattr(policy, "actor", None)
    if actor is None:
        raise UserError(
            f"{type(policy).__name__}: no actor network found; supported: PPO, A2C, "
            "RecurrentPPO, SAC, TQC, TD3"
        )
    if hasattr(actor, "latent_pi"):  # SAC, TQC
        head = tuple(actor.mu) if isinstance(actor.mu, nn.Sequential) else (actor.mu,)
        return ActorNetwork(
            features=actor.features_extractor,
            recurrent=None,
            body=tuple(actor.latent_pi),
            head=head,
            output="tanh_rescale",
            log_std=actor.log_std,
        )
    stack = tuple(actor.mu)  # TD3: hidden layers, the output Linear, Tanh
    last_linear = max(i for i, module in enumerate(stack) if isinstance(module, nn.Linear))
    return ActorNetwork(
        features=actor.features_extractor,
        recurrent=None,
        body=stack[:last_linear],
        head=stack[last_linear:],
        output="tanh_rescale",
    )


def _on_policy_actor(policy: Any) -> ActorNetwork:
    log_std = getattr(policy, "log_std", None)
    return ActorNetwork(
        features=policy.pi_features_extractor,
        recurrent=getattr(policy, "lstm_actor", None),
        body=tuple(policy.mlp_extractor.policy_net),
        head=(policy.action_net,),
        output="tanh_rescale" if policy.squash_output else "clip",
        log_std=log_std if isinstance(log_std, nn.Parameter) else None,
    )
