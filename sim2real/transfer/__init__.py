"""Transfer to a target: fine-tuning strategies (:func:`transfer`) and their Taylor & Stone
comparison against training from scratch on the same budget
(:func:`sim2real.transfer.compare.compare_runs`).

``transfer`` is imported on first use, so ``sim2real.transfer.compare`` (numpy only) does not
load torch and SB3.
"""

from typing import Any

from sim2real.transfer.strategies import FINE_TUNING, STRATEGIES, TransferOptions

__all__ = ["FINE_TUNING", "STRATEGIES", "TransferOptions", "transfer"]


def __getattr__(name: str) -> Any:
    if name == "transfer":
        from sim2real.transfer.finetune import transfer

        return transfer
    raise AttributeError(f"module 'sim2real.transfer' has no attribute {name!r}")
