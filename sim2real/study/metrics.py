"""The number a study optimizes, from per-episode returns by condition (pure numpy).

- ``iqm_targets``: IQM of the returns of every target episode pooled (higher is better);
- ``worst_target``: the lowest mean return over the targets (higher is better);
- ``mean_gap``: the mean over targets of ``J_nominal - J_target`` (lower is better);
- ``nominal``: the mean return on nominal dynamics (higher is better), for studies without
  targets.

The same function scores an intermediate evaluation during training, a finished trial and a
method (its trials' episodes pooled), so the scheduler, the searcher and the report agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sim2real.evaluation.conditions import NOMINAL
from sim2real.evaluation.metrics import iqm


def study_metric(name: str, returns: Mapping[str, np.ndarray], targets: Sequence[str]) -> float:
    """``name`` (see the module docstring) of ``returns``: condition -> ``(n,)`` returns."""
    if name == "nominal":
        return float(np.mean(returns[NOMINAL]))
    if not targets:
        raise ValueError(f"metric {name!r} needs targets")
    means = [float(np.mean(returns[target])) for target in targets]
    if name == "iqm_targets":
        return iqm(np.concatenate([np.asarray(returns[t], float) for t in targets]))
    if name == "worst_target":
        return min(means)
    if name == "mean_gap":
        nominal = float(np.mean(returns[NOMINAL]))
        return float(np.mean([nominal - mean for mean in means]))
    raise ValueError(f"unknown metric {name!r}")
