"""An SB3 policy's weights as a plain ``.npz`` (``weights.npz``): no pickles, no code.

A model zip unpickles whatever its ``data`` entry holds; a policy shipped to other machines
(the zoo) holds only arrays instead, and the model is rebuilt from its experiment config
(:func:`build_model`) before the arrays are loaded into it. Every entry of the policy's
``state_dict`` is stored (actor, critic, log-std; a tensor listed under several names once),
so a rebuilt model predicts, evaluates and fine-tunes as the original did.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.errors import UserError
from sim2real.io import read_npz, write_npz

__all__ = [
    "WEIGHTS_FILE",
    "load_module_arrays",
    "load_policy_weights",
    "module_arrays",
    "write_module_arrays",
    "write_policy_weights",
]

WEIGHTS_FILE = "weights.npz"


def write_policy_weights(model: Any, path: str | Path) -> Path:
    """Every tensor of ``model.policy.state_dict()`` into one compressed ``.npz``, atomically."""
    return write_module_arrays(model.policy, path)


def load_policy_weights(model: Any, path: str | Path) -> None:
    """Load ``path`` into ``model.policy``; names, shapes and dtypes must all match.

    A file for another architecture (other layer sizes, another algorithm) is one
    :class:`UserError` naming the first entry that differs, before anything is loaded.
    """
    load_module_arrays(model.policy, path, "the policy its config builds")


def write_module_arrays(module: Any, path: str | Path) -> Path:
    """Every tensor of a torch module's ``state_dict()`` into one compressed ``.npz`` (see
    :func:`module_arrays`)."""
    return write_npz(path, module_arrays(module), compressed=True)


def module_arrays(module: Any) -> dict[str, np.ndarray]:
    """A torch module's ``state_dict()`` as arrays, as a weights file holds them: a name that
    only aliases an earlier one (SB3's shared features extractor is listed three times) is
    kept once, under the first name."""
    state = module.state_dict()
    aliases = _aliases(state)
    return {
        name: tensor.detach().cpu().numpy() for name, tensor in state.items() if name not in aliases
    }


def load_module_arrays(module: Any, path: str | Path, what: str) -> None:
    """Load the arrays of ``path`` into a torch module (``what`` names it in errors); every
    name and shape must match, numbers only, checked before anything is loaded."""
    import torch

    arrays = read_npz(path, "a weights file (.npz of arrays)")
    expected = module.state_dict()
    for alias, name in _aliases(expected).items():
        if alias not in arrays and name in arrays:
            arrays[alias] = arrays[name]
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        first = f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
        raise UserError(
            f"{path}: weights do not fit {what} ({first}; "
            f"{len(missing)} missing, {len(extra)} unexpected entries)"
        )
    for name, tensor in expected.items():
        array = arrays[name]
        if tuple(array.shape) != tuple(tensor.shape):
            raise UserError(
                f"{path}: entry {name!r} has shape {tuple(array.shape)}; {what} has "
                f"{tuple(tensor.shape)}"
            )
        if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
            raise UserError(f"{path}: entry {name!r} has dtype {array.dtype}; expected numbers")
    state = {
        name: torch.as_tensor(arrays[name], dtype=tensor.dtype) for name, tensor in expected.items()
    }
    module.load_state_dict(state)


def _aliases(state: Mapping[str, Any]) -> dict[str, str]:
    """Names whose tensor is one listed earlier (the same storage and shape) -> that name."""
    first: dict[tuple[int, tuple[int, ...]], str] = {}
    aliases = {}
    for name, tensor in state.items():
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key in first:
            aliases[name] = first[key]
        else:
            first[key] = name
    return aliases
