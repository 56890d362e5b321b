"""Transfer to a target: fine-tuning strategies (:func:`transfer`). Their Taylor & Stone
comparison against training from scratch on the same budget is a study of its own
(:func:`sim2real.evaluation.compare.compare_runs`).

``transfer`` is imported on first use, so ``sim2real.evaluation.compare``, which reads the
strategy names from here, does not load torch and SB3.
"""

from typing import Any

from sim2real.transfer.strategies import FINE_TUNING, STRATEGIES, TransferOptions

__all__ = ["FINE_TUNING", "STRATEGIES", "TransferOptions", "transfer"]


def __getattr__(name: str) -> Any:
    if name == "transfer":
        from sim2real.transfer.finetune import transfer

        return transfer
    raise AttributeError(f"module 'sim2real.transfer' has no attribute {name!r}")
