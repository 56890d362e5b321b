"""SB3 callbacks of sim2real runs: DR logging, evaluation on targets, checkpoints, control,
and the guard that keeps their faults from ending a run.

Only callbacks live here; what they use is elsewhere: condition envs and summaries in
:mod:`sim2real.evaluation.training_eval`, checkpoint files in :mod:`sim2real.runs`, the
episode recorder wrapper in :mod:`sim2real.episode_recorder`, the TensorBoard logger in
:mod:`sim2real.tensorboard_log`, and the run lifecycle in :mod:`sim2real.lifecycle`.
"""

from sim2real.callbacks.checkpoint import CheckpointCallback
from sim2real.callbacks.control import ProgressCallback, StopOnSignalCallback
from sim2real.callbacks.episodes import DynamicsLogCallback
from sim2real.callbacks.evaluation import EvaluationCallback
from sim2real.callbacks.guard import GuardedCallback
from sim2real.callbacks.trigger import EveryNTimestepsOnGrid

__all__ = [
    "CheckpointCallback",
    "DynamicsLogCallback",
    "EvaluationCallback",
    "EveryNTimestepsOnGrid",
    "GuardedCallback",
    "ProgressCallback",
    "StopOnSignalCallback",
]
