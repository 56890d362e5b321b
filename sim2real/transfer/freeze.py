"""Freezing the actor's feature layers so that fine-tuning trains only the layers above them.

``freeze_actor(model, n)`` freezes the first ``n`` hidden layers of the actor (default: all of
them, so only the action head trains) and, when it has weights, the actor's features
extractor (for on-policy algorithms the extractor the critic may share). Freezing is
``requires_grad_(False)`` *and* a rebuilt optimizer over the trainable parameters only:
left in the optimizer, a frozen weight could still move (weight decay acts without a
gradient in some optimizers, and a stale gradient or momentum would keep stepping it).

The actor is :func:`sim2real.policies.actor.actor_network`'s; its hidden layers are the ones
counted here (a recurrent policy's LSTM first), its head and ``log_std`` keep training. The
on-policy critic (``mlp_extractor.value_net``, ``value_net``, ``lstm_critic``) keeps training
too: it is not part of the deployed policy, and its estimates must follow the target's returns
for the advantages the actor's head learns from to mean anything. (A recurrent policy with
``shared_lstm`` gives the critic the actor's LSTM, which is then frozen for both.)

Critics of off-policy algorithms, target networks and the entropy coefficient train as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from sim2real.errors import UserError
from sim2real.policies.actor import actor_network


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


def freeze_actor(model: Any, layers: int | None = None) -> Freeze:
    """Freeze the features extractor and the first ``layers`` hidden layers of the actor.

    ``layers=None`` freezes every hidden layer, so only the action head trains. Raises
    :class:`UserError` when ``layers`` is not between 1 and the number of hidden layers.
    """
    policy = model.policy
    actor = actor_network(policy)
    hidden = actor.hidden_layers
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
    extractor = actor.features if _has_weights(actor.features) else None
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
    actor_params = {id(p): p for p in actor.parameters()}
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


def _has_weights(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


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
