"""TensorBoard logging of a run: the SB3 logger writing into ``tb/``, and its writer.

Logging never ends a run: every call on the writer is guarded, a failure (e.g. a histogram of
values too large to bin) drops that one write and is reported to ``on_error``; a logger that
cannot be created at all is replaced by one that writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat, configure

# Called with what failed (e.g. "TensorBoard add_histogram('dynamics_hist/link_mass/pole')")
# and the exception.
OnError = Callable[[str, Exception], None]


def tensorboard_logger(
    tb_dir: str | Path, resume_step: int | None = None, on_error: OnError | None = None
) -> Logger:
    """An SB3 logger writing TensorBoard events straight into ``tb_dir`` (no ``PPO_1/``).

    Resuming writes a new event file in the same directory, so the curves continue. Events a
    killed process wrote after its last checkpoint (``step > resume_step``) are hidden by a
    session-START marker, TensorBoard's own mechanism for restarted jobs (``purge_step``);
    what was logged at the checkpoint's step itself belongs to the checkpointed state.

    With ``on_error``, writes that fail are dropped and reported there (see the module doc).
    """
    logger = _attempt(
        on_error, "TensorBoard logging", lambda: configure(str(tb_dir), ["tensorboard"])
    )
    if logger is None:
        return Logger(folder=None, output_formats=[])
    writer = tensorboard_writer(logger)
    if writer is not None and on_error is not None:
        writer = GuardedWriter(writer, on_error)
        for output in logger.output_formats:
            if isinstance(output, TensorBoardOutputFormat):
                output.writer = writer
    if resume_step is not None and writer is not None:
        _attempt(on_error, "TensorBoard resume marker", lambda: _mark_resume(writer, resume_step))
    return logger


def tensorboard_writer(logger: Logger) -> Any | None:
    """The ``SummaryWriter`` behind an SB3 logger, or None when it does not log to TensorBoard."""
    for output in logger.output_formats:
        if isinstance(output, TensorBoardOutputFormat):
            return output.writer
    return None


def _mark_resume(writer: Any, resume_step: int) -> None:
    from tensorboard.compat.proto.event_pb2 import Event, SessionLog

    start = SessionLog(status=SessionLog.START)
    writer.file_writer.add_event(Event(step=int(resume_step) + 1, session_log=start))
    writer.flush()


def _attempt(on_error: OnError | None, what: str, action: Callable[[], Any]) -> Any | None:
    """``action()``; with ``on_error``, a failure is reported there and gives None."""
    if on_error is None:
        return action()
    try:
        return action()
    except Exception as error:
        on_error(what, error)
        return None


class GuardedWriter:
    """A ``SummaryWriter`` whose method calls never raise: a failed call returns None; the first
    failure of each method is reported to ``on_error`` (one cause, e.g. values too large to
    bin, fails every tag). Attributes that are not methods are the writer's own."""

    def __init__(self, writer: Any, on_error: OnError):
        self._writer, self._on_error = writer, on_error
        self._failed: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._writer, name)
        if not callable(attribute):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except Exception as error:
                if name not in self._failed:
                    self._failed.add(name)
                    tag = f"{args[0]!r}" if args and isinstance(args[0], str) else ""
                    self._on_error(f"TensorBoard {name}({tag})", error)
                return None

        return guarded
