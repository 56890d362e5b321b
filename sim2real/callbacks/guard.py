"""A callback whose failures do not end training: logging, evaluation and checkpoints run
inside :class:`GuardedCallback`, so a fault in them is reported instead of losing the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from sim2real.tensorboard_log import OnError


class GuardedCallback(BaseCallback):
    """Forwards every event to ``callback``; an exception it raises goes to ``on_error(what,
    error)`` and training goes on. ``BaseException``s (Ctrl-C) still end training."""

    def __init__(self, callback: BaseCallback, what: str, on_error: OnError):
        super().__init__(callback.verbose)
        self.callback, self.what, self.on_error = callback, what, on_error

    def _init_callback(self) -> None:
        self._guard(self.callback.init_callback, self.model)

    def _on_training_start(self) -> None:
        self._guard(self.callback.on_training_start, self.locals, self.globals)

    def _on_rollout_start(self) -> None:
        self._guard(self.callback.on_rollout_start)

    def _on_step(self) -> bool:
        return self._guard(self.callback.on_step) is not False

    def _on_rollout_end(self) -> None:
        self._guard(self.callback.on_rollout_end)

    def _on_training_end(self) -> None:
        self._guard(self.callback.on_training_end)

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        self._guard(self.callback.update_locals, locals_)

    def _guard(self, event: Callable[..., Any], *args: Any) -> Any:
        try:
            return event(*args)
        except Exception as error:
            self.on_error(self.what, error)
            return None
