"""Freezing the actor's feature layers so that fine-tuning trains only the layers above them.

``freeze_actor(model, n)`` freezes the first ``n`` hidden layers of the actor (default: all of
them, so only the action head trains) and, when it has weights, the actor's features
extractor (for on-policy algorithms the extractor the critic may share). Freezing is
``requires_grad_(False)`` *and* a rebuilt optimizer over the trainable parameters only:
left in the optimizer, a frozen weight could still move (weight decay acts without a
gradient in some optimizers, and a stale gradient or momentum would keep stepping it).

What counts as the actor:

- PPO / A2C / RecurrentPPO: ``mlp_extractor.policy_net`` (and ``lstm_actor``, the first
  hidden layer of a recurrent policy); the head is ``action_net`` (+ ``log_std``). The
  critic (``mlp_extractor.value_net``, ``value_net``, ``lstm_critic``) keeps training: it
  is not part of the deployed policy, and its estimates must follow the target's returns for
  the advantages the actor's head learns from to mean anything. (A recurrent policy with
  ``shared_lstm`` gives the critic the actor's LSTM, which is then frozen for both.)
- SAC / TQC: ``actor.latent_pi``; the head is ``actor.mu`` and ``actor.log_std``.
- TD3: the ``actor.mu`` stack; its last linear layer is the head.

Critics of off-policy algorithms, target networks and the entropy coefficient train as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from sim2real.errors import UserError


@dataclass(frozen=True)
class FrozenLayers:
    """What :func:`freeze_actor` did: parameter names as in ``policy.named_parameters()``."""

    hidden_layers: int  # the actor's hidden layers
    layers_frozen: int
    frozen: tuple[str, ...]
    trainable_actor: tuple[str, ...]  # the actor's parameters that still train (the head, ...)


@dataclass
class Freeze:
    """A frozen model's record: what was frozen, and how to save it loadable.

    SB3 restores an optimizer's state into an optimizer over *all* the module's parameters,
    so a checkpoint of the reduced optimizer would not load; :meth:`loadable_optimizers`
    puts full-size optimizers (same state for the trained parameters) in place while saving.
    """

    layers: FrozenLayers
    originals: list[tuple[Any, list[dict[str, Any]]]] = field(repr=False)

    @contextmanager
    def loadable_optimizers(self) -> Iterator[None]:
        reduced = [owner.optimizer for owner, _ in self.originals]
        try:
            for owner, groups in self.originals:
                owner.optimizer = _full_optimizer(owner.optimizer, groups)
            yield
        finally:
            for (owner, _), optimizer in zip(self.originals, reduced, strict=True):
                owner.optimizer = optimizer


def actor_hidden_layers(policy: nn.Module) -> list[nn.Module]:
    """The actor's hidden layers, input side first (linear layers; an LSTM counts as one)."""
    layers: list[nn.Module] = []
    lstm = getattr(policy, "lstm_actor", None)
    if isinstance(lstm, nn.Module):
        layers.append(lstm)
    if hasattr(policy, "mlp_extractor"):  # on-policy actor-critic
        return layers + _linear(policy.mlp_extractor.policy_net)
    actor = getattr(policy, "actor", None)
    if actor is None:
        raise UserError(f"{type(policy).__name__}: no actor network found to freeze layers of")
    if hasattr(actor, "latent_pi"):  # SAC, TQC
        return layers + _linear(actor.latent_pi)
    return layers + _linear(actor.mu)[:-1]  # TD3: the last linear layer is the action head


def actor_modules(policy: nn.Module) -> list[nn.Module]:
    """Every module whose weights the deployed actor uses (to name what still trains)."""
    if hasattr(policy, "mlp_extractor"):
        modules = [
            _actor_extractor(policy),
            policy.mlp_extractor.policy_net,
            policy.action_net,
        ]
        lstm = getattr(policy, "lstm_actor", None)
        return [m for m in [*modules, lstm] if isinstance(m, nn.Module)]
    return [policy.actor]


def freeze_actor(model: Any, layers: int | None = None) -> Freeze:
    """Freeze the features extractor and the first ``layers`` hidden layers of the actor.

    ``layers=None`` freezes every hidden layer, so only the action head trains. Raises
    :class:`UserError` when ``layers`` is not between 1 and the number of hidden layers.
    """
    policy = model.policy
    hidden = actor_hidden_layers(policy)
    if not hidden:
        raise UserError(
            f"{type(model).__name__} policy: the actor has no hidden layers (net_arch is "
            "empty); there is nothing to freeze, use --strategy full"
        )
    count = len(hidden) if layers is None else layers
    if not 1 <= count <= len(hidden):
        raise UserError(
            f"option '--freeze' = {layers}; the actor has {len(hidden)} hidden layer(s), "
            f"valid: 1..{len(hidden)}"
        )
    extractor = _actor_extractor(policy)
    to_freeze = [*hidden[:count], *([extractor] if extractor is not None else [])]
    frozen_params = {id(p): p for module in to_freeze for p in module.parameters()}
    for parameter in frozen_params.values():
        parameter.requires_grad_(False)
        parameter.grad = None
    originals = []
    for owner in _optimizer_owners(policy):
        originals.append((owner, [dict(group) for group in owner.optimizer.param_groups]))
        owner.optimizer = rebuild_optimizer(owner.optimizer)
    names = {id(p): name for name, p in policy.named_parameters()}
    actor_params = {id(p): p for module in actor_modules(policy) for p in module.parameters()}
    if hasattr(policy, "log_std") and isinstance(policy.log_std, nn.Parameter):
        actor_params[id(policy.log_std)] = policy.log_std  # PPO's state-independent std
    info = FrozenLayers(
        hidden_layers=len(hidden),
        layers_frozen=count,
        frozen=tuple(names[key] for key in frozen_params if key in names),
        trainable_actor=tuple(
            names[key] for key, p in actor_params.items() if p.requires_grad and key in names
        ),
    )
    return Freeze(info, originals)


def rebuild_optimizer(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The same optimizer over its trainable parameters only, keeping their state (moments).

    Every parameter group keeps its own settings; groups left empty are dropped.
    """
    groups = []
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if p.requires_grad]
        if params:
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": params})
    if not groups:
        raise UserError("freezing left no trainable parameter in an optimizer; freeze fewer layers")
    rebuilt = type(optimizer)(groups, **optimizer.defaults)
    for group in groups:
        for parameter in group["params"]:
            if parameter in optimizer.state:
                rebuilt.state[parameter] = optimizer.state[parameter]
    return rebuilt


def _full_optimizer(
    reduced: torch.optim.Optimizer, groups: list[dict[str, Any]]
) -> torch.optim.Optimizer:
    """An optimizer over the original groups' parameters with the reduced one's state.

    The learning rate is the reduced optimizer's current one (SB3 updates it every step).
    """
    lr = reduced.param_groups[0].get("lr")
    full_groups = [{**group, **({"lr": lr} if lr is not None else {})} for group in groups]
    full = type(reduced)(full_groups, **reduced.defaults)
    for parameter, state in reduced.state.items():
        full.state[parameter] = state
    return full


def trainable_fraction(policy: nn.Module) -> float:
    """Share of the policy's parameters (by count) that still train."""
    total = sum(p.numel() for p in policy.parameters())
    trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    return trainable / total if total else 0.0


def _linear(modules: Iterable[nn.Module]) -> list[nn.Module]:
    return [m for m in modules if isinstance(m, nn.Linear)]


def _actor_extractor(policy: nn.Module) -> nn.Module | None:
    """The actor's features extractor, if it has weights (Flatten has none)."""
    if hasattr(policy, "mlp_extractor"):
        shared = getattr(policy, "share_features_extractor", True)
        extractor = policy.features_extractor if shared else policy.pi_features_extractor
    else:
        extractor = policy.actor.features_extractor
    return extractor if any(True for _ in extractor.parameters()) else None


def _optimizer_owners(policy: nn.Module) -> list[Any]:
    """Modules whose ``.optimizer`` holds a frozen parameter (policy, actor or critic)."""
    owners = []
    for owner in (policy, getattr(policy, "actor", None), getattr(policy, "critic", None)):
        optimizer = getattr(owner, "optimizer", None)
        if isinstance(optimizer, torch.optim.Optimizer) and any(
            not p.requires_grad for group in optimizer.param_groups for p in group["params"]
        ):
            owners.append(owner)
    return owners
