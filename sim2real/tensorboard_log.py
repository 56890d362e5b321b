"""TensorBoard logging of a run: the SB3 logger writing into ``tb/``, and its writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat, configure


def tensorboard_logger(tb_dir: str | Path, resume_step: int | None = None) -> Logger:
    """An SB3 logger writing TensorBoard events straight into ``tb_dir`` (no ``PPO_1/``).

    Resuming writes a new event file in the same directory, so the curves continue. Events a
    killed process wrote after its last checkpoint (``step > resume_step``) are hidden by a
    session-START marker, TensorBoard's own mechanism for restarted jobs (``purge_step``);
    what was logged at the checkpoint's step itself belongs to the checkpointed state.
    """
    logger = configure(str(tb_dir), ["tensorboard"])
    if resume_step is not None:
        writer = tensorboard_writer(logger)
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog

        start = SessionLog(status=SessionLog.START)
        writer.file_writer.add_event(Event(step=int(resume_step) + 1, session_log=start))
        writer.flush()
    return logger


def tensorboard_writer(logger: Logger) -> Any | None:
    """The ``SummaryWriter`` behind an SB3 logger, or None when it does not log to TensorBoard."""
    for output in logger.output_formats:
        if isinstance(output, TensorBoardOutputFormat):
            return output.writer
    return None
