"""Policy bundles: a trained policy as plain arrays and JSON, loadable without unpickling.

A bundle directory holds::

    metadata.json       env id, spaces, layer list, output mapping, provenance
    weights.npz         one weight/bias pair per linear layer (``allow_pickle=False``)
    normalization.npz   observation mean/var/clip when the policy was trained normalized

Inference is numpy only: the deterministic actor of PPO/A2C (Gaussian mean, clipped to the
action bounds) or of SAC/TQC/TD3 (tanh-squashed, rescaled to the bounds). It implements the
``Predictor`` protocol, so bundles and SB3 models are evaluated alike.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zipfile import BadZipFile

import numpy as np

from sim2real.errors import UserError
from sim2real.io import atomic_write_text, read_json_object, staged_directory

FORMAT_VERSION = 1
_ACTIVATIONS = {
    "Tanh": lambda x, _: np.tanh(x),
    "ReLU": lambda x, _: np.maximum(x, 0.0),
    "ELU": lambda x, _: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "LeakyReLU": lambda x, layer: np.where(x > 0, x, x * layer["negative_slope"]),
    "Hardtanh": lambda x, layer: np.clip(x, layer["min_val"], layer["max_val"]),
    "Sigmoid": lambda x, _: 1.0 / (1.0 + np.exp(-x)),
}


@dataclass(frozen=True)
class PolicyBundle:
    metadata: Mapping[str, Any]
    weights: tuple[tuple[np.ndarray, np.ndarray], ...]
    obs_mean: np.ndarray | None = None
    obs_var: np.ndarray | None = None
    clip_obs: float = np.inf
    epsilon: float = 1e-8

    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Action for one observation (obs_dim,) or a batch (n, obs_dim)."""
        x = np.asarray(observation, dtype=np.float64)
        if self.obs_mean is not None:
            x = np.clip(
                (x - self.obs_mean) / np.sqrt(self.obs_var + self.epsilon),
                -self.clip_obs,
                self.clip_obs,
            )
        linear = iter(self.weights)
        for layer in self.metadata["layers"]:
            if layer["kind"] == "Linear":
                weight, bias = next(linear)
                x = x @ weight.T + bias
            else:
                x = _ACTIVATIONS[layer["kind"]](x, layer)
        low = np.asarray(self.metadata["action_low"])
        high = np.asarray(self.metadata["action_high"])
        if self.metadata["output"] == "tanh_rescale":
            return (low + 0.5 * (x + 1.0) * (high - low)).astype(np.float32)
        return np.clip(x, low, high).astype(np.float32)


def bundle_layers(model: Any) -> tuple[list[Any], str]:
    """The layers a bundle runs (features to pre-bounds action) and its output mapping.

    Bundles hold MLP actors on flat observations only: no recurrent policies, no weighted
    features extractor, no on-policy tanh squashing.
    """
    from sim2real.policies.actor import actor_network  # torch: only needed to export

    actor = actor_network(model)
    name = type(model).__name__
    on_policy = hasattr(model.policy, "mlp_extractor")
    if actor.recurrent is not None:
        raise UserError(f"{name}: recurrent policies cannot be exported as a bundle")
    _require_flatten(actor.features, name, model)
    if on_policy and actor.output != "clip":
        raise UserError(f"{name}: squashed on-policy actors are not supported in bundles")
    return actor.deterministic_layers(), actor.output


def export_bundle(
    model: Any,
    out_dir: str | Path,
    env_id: str,
    normalization: Any | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s deterministic actor as a bundle; ``normalization`` has obs_mean/obs_var.

    Written into a temp directory next to ``out_dir``, then renamed: never half a bundle.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise UserError(f"{out_dir}: already exists; choose another --out or remove it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with staged_directory(out_dir) as staging:
        write_bundle(model, staging, env_id, normalization, provenance)
    return out_dir


def write_bundle(
    model: Any,
    directory: Path,
    env_id: str,
    normalization: Any | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> None:
    """Write a bundle's files into the existing ``directory`` (an export's staging one)."""
    modules, output = bundle_layers(model)
    layers, weights = [], {}
    for module in modules:
        kind = type(module).__name__
        if kind == "Linear":
            index = len(weights) // 2
            weights[f"w{index}"] = module.weight.detach().cpu().numpy().astype(np.float64)
            weights[f"b{index}"] = module.bias.detach().cpu().numpy().astype(np.float64)
            layers.append({"kind": kind})
        elif kind in _ACTIVATIONS:
            layers.append({"kind": kind, **_activation_params(module)})
        else:
            raise UserError(
                f"layer {kind} cannot be exported; supported: Linear, {list(_ACTIVATIONS)}"
            )
    from sim2real.policies.asymmetric import deployable_size

    space = model.action_space
    deployable = deployable_size(model)  # an asymmetric actor: the deployable slice only
    observed = slice(deployable)  # everything when None
    metadata = {
        "format_version": FORMAT_VERSION,
        "env_id": env_id,
        "algorithm": type(model).__name__,
        "observation_shape": [deployable] if deployable else list(model.observation_space.shape),
        "action_low": space.low.tolist(),
        "action_high": space.high.tolist(),
        "layers": layers,
        "output": output,
        "normalized_observations": normalization is not None,
        "provenance": dict(provenance or {}),
    }
    # Plain json.dumps, not write_json: an unbounded action space's infinite bounds must
    # read back as infinities (strict JSON would turn them into null).
    atomic_write_text(directory / "metadata.json", json.dumps(metadata, indent=2) + "\n")
    np.savez(directory / "weights.npz", **weights)
    if normalization is not None:
        np.savez(
            directory / "normalization.npz",
            obs_mean=np.asarray(normalization.obs_mean[observed], dtype=np.float64),
            obs_var=np.asarray(normalization.obs_var[observed], dtype=np.float64),
            clip_obs=np.array(float(normalization.clip_obs)),
            epsilon=np.array(float(normalization.epsilon)),
        )


def load_bundle(path: str | Path) -> PolicyBundle:
    """Read a bundle directory written by :func:`export_bundle`; a damaged one is one
    :class:`UserError` line naming the file."""
    path = Path(path)
    meta_file = path / "metadata.json"
    if not meta_file.is_file():
        raise UserError(f"{path}: not a policy bundle (no metadata.json)")
    metadata = read_json_object(meta_file, "the bundle is damaged")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{meta_file}: field 'format_version' = {metadata.get('format_version')!r}; "
            f"this sim2real reads version {FORMAT_VERSION}"
        )
    with _arrays(path / "weights.npz") as arrays:
        n_linear = len(arrays.files) // 2
        weights = tuple((arrays[f"w{i}"], arrays[f"b{i}"]) for i in range(n_linear))
    if not metadata.get("normalized_observations"):
        return PolicyBundle(metadata, weights)
    with _arrays(path / "normalization.npz") as norm:
        return PolicyBundle(
            metadata,
            weights,
            norm["obs_mean"],
            norm["obs_var"],
            float(norm["clip_obs"]),
            float(norm["epsilon"]),
        )


@contextmanager
def _arrays(path: Path) -> Iterator[Any]:
    """The arrays of one .npz of a bundle; any failure to read them names the file."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            yield arrays
    except (OSError, ValueError, KeyError, TypeError, EOFError, BadZipFile, zlib.error) as error:
        raise UserError(
            f"{path}: cannot read the bundle's arrays ({error}); it is damaged"
        ) from None


def _require_flatten(extractor: Any, algorithm: str, model: Any) -> None:
    """Flat observations in: a FlattenExtractor, or an asymmetric actor's slice (the bundle's
    input is then the deployable observation)."""
    from sim2real.policies.asymmetric import deployable_size

    if type(extractor).__name__ != "FlattenExtractor" and deployable_size(model) is None:
        raise UserError(
            f"{algorithm}: features extractor {type(extractor).__name__} cannot be exported; "
            "bundles support MLP policies on flat observations"
        )


def _activation_params(module: Any) -> dict[str, float]:
    kind = type(module).__name__
    if kind == "LeakyReLU":
        return {"negative_slope": float(module.negative_slope)}
    if kind == "Hardtanh":
        return {"min_val": float(module.min_val), "max_val": float(module.max_val)}
    return {}
