"""An SB3 policy's weights as a plain ``.npz`` (``weights.npz``): no pickles, no code.

A model zip unpickles whatever its ``data`` entry holds; a policy shipped to other machines
(the zoo) holds only arrays instead, and the model is rebuilt from its experiment config
(:func:`build_model`) before the arrays are loaded into it. Every entry of the policy's
``state_dict`` is stored (actor, critic, log-std), so a rebuilt model predicts, evaluates and
fine-tunes as the original did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sim2real.errors import UserError
from sim2real.io import read_npz, write_npz

__all__ = ["WEIGHTS_FILE", "load_policy_weights", "write_policy_weights"]

WEIGHTS_FILE = "weights.npz"


def write_policy_weights(model: Any, path: str | Path) -> Path:
    """Every tensor of ``model.policy.state_dict()`` into one compressed ``.npz``, atomically."""
    arrays = {
        name: tensor.detach().cpu().numpy() for name, tensor in model.policy.state_dict().items()
    }
    return write_npz(path, arrays, compressed=True)


def load_policy_weights(model: Any, path: str | Path) -> None:
    """Load ``path`` into ``model.policy``; names, shapes and dtypes must all match.

    A file for another architecture (other layer sizes, another algorithm) is one
    :class:`UserError` naming the first entry that differs, before anything is loaded.
    """
    import torch

    arrays = read_npz(path, "a policy weights file (.npz of arrays)")
    expected = model.policy.state_dict()
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
        raise UserError(
            f"{path}: weights do not fit the policy its config builds ({what}; "
            f"{len(missing)} missing, {len(extra)} unexpected entries)"
        )
    for name, tensor in expected.items():
        array = arrays[name]
        if tuple(array.shape) != tuple(tensor.shape):
            raise UserError(
                f"{path}: entry {name!r} has shape {tuple(array.shape)}; the policy its config "
                f"builds has {tuple(tensor.shape)}"
            )
        if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
            raise UserError(f"{path}: entry {name!r} has dtype {array.dtype}; expected numbers")
    state = {
        name: torch.as_tensor(arrays[name], dtype=tensor.dtype) for name, tensor in expected.items()
    }
    model.policy.load_state_dict(state)
