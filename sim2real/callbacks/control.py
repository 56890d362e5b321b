"""Training control: a graceful stop on SIGINT/SIGTERM, and a progress bar with steps/s and ETA."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType, TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from stable_baselines3.common.callbacks import BaseCallback

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignalCallback(BaseCallback):
    """While active (a ``with`` block), SIGINT/SIGTERM only *request* a stop (``signum`` is set).

    ``learn`` then ends at the next environment step, and the run saves its final model
    (training also a checkpoint). A second signal raises ``KeyboardInterrupt`` at once, for a
    user who does not want to wait. Outside the main thread (where Python cannot install
    handlers) no signal is caught.

    SB3 runs callbacks before it stores the current transition, so an off-policy replay
    buffer misses that one step's transition (per env); on-policy rollouts are not saved.
    """

    def __init__(self) -> None:
        super().__init__()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignalCallback:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    @property
    def name(self) -> str | None:
        """The signal's name (``SIGINT``), or None while no stop was requested."""
        return signal.Signals(self.signum).name if self.signum is not None else None

    def _on_step(self) -> bool:
        return self.signum is None


class _StepsPerSecondColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(f"{speed:,.0f} steps/s" if speed else "- steps/s", style="progress.data.speed")


class ProgressCallback(BaseCallback):
    """A rich progress bar over all timesteps of the run (a resumed run starts part-way)."""

    def __init__(self, total_timesteps: int, console: Console | None = None):
        super().__init__()
        self.total_timesteps = total_timesteps
        self.progress = Progress(
            TextColumn("train"),
            BarColumn(),
            MofNCompleteColumn(),
            _StepsPerSecondColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            speed_estimate_period=60.0,
        )
        self._task: Any = None
        self._last_update = 0.0

    def _on_training_start(self) -> None:
        self.progress.start()
        self._task = self.progress.add_task(
            "train", total=self.total_timesteps, completed=self.num_timesteps
        )

    def _on_step(self) -> bool:
        now = time.monotonic()
        if now - self._last_update >= 0.1:  # rich redraws at its own rate; sampling is enough
            self.progress.update(self._task, completed=self.num_timesteps)
            self._last_update = now
        return True

    def _on_training_end(self) -> None:
        self.progress.update(self._task, completed=self.num_timesteps)
        self.progress.stop()

    def print(self, message: str) -> None:
        """Print above the bar while it is live."""
        self.progress.console.print(message, highlight=False, markup=False)
