"""Module weights as plain arrays: every tensor once, aliases restored on load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sim2real.errors import UserError
from sim2real.policies.weights import load_module_arrays, write_module_arrays


class Shared(nn.Module):
    """One layer registered under two names, as SB3 shares its features extractor."""

    def __init__(self):
        super().__init__()
        self.features = nn.Linear(3, 4)
        self.pi_features = self.features
        self.head = nn.Linear(4, 2)


def test_an_aliased_tensor_is_stored_once_and_loads_back_under_every_name(tmp_path):
    torch.manual_seed(0)
    source = Shared()
    path = write_module_arrays(source, tmp_path / "weights.npz")
    with np.load(path) as arrays:
        stored = sorted(arrays.files)
    assert stored == ["features.bias", "features.weight", "head.bias", "head.weight"]
    torch.manual_seed(1)
    loaded = Shared()
    load_module_arrays(loaded, path, "the test module")
    for name, tensor in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert loaded.pi_features is loaded.features


def test_weights_of_another_shape_are_one_line(tmp_path):
    path = write_module_arrays(nn.Linear(3, 4), tmp_path / "weights.npz")
    with pytest.raises(UserError, match=r"entry 'weight' has shape \(4, 3\); the test module has"):
        load_module_arrays(nn.Linear(5, 4), path, "the test module")
