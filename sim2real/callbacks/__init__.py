"""SB3 callbacks for sim2real training: DR logging, evaluation on targets, checkpoints, control."""

from sim2real.callbacks.checkpoint import (
    CheckpointCallback,
    prune_checkpoints,
    remove_staging,
    save_checkpoint,
)
from sim2real.callbacks.control import ProgressCallback, SignalStop, StopOnSignalCallback
from sim2real.callbacks.episodes import DynamicsLogCallback, EpisodeRecorder, randomized_elements
from sim2real.callbacks.evaluation import (
    EvalCondition,
    EvaluationCallback,
    evaluate_conditions,
    evaluation_conditions,
    make_condition_env,
    make_condition_envs,
    summarize,
    summary_table,
    truncate_evaluations,
)
from sim2real.callbacks.tensorboard import tensorboard_logger, tensorboard_writer

__all__ = [
    "CheckpointCallback",
    "DynamicsLogCallback",
    "EpisodeRecorder",
    "EvalCondition",
    "EvaluationCallback",
    "ProgressCallback",
    "SignalStop",
    "StopOnSignalCallback",
    "evaluate_conditions",
    "evaluation_conditions",
    "make_condition_env",
    "make_condition_envs",
    "prune_checkpoints",
    "randomized_elements",
    "remove_staging",
    "save_checkpoint",
    "summarize",
    "summary_table",
    "tensorboard_logger",
    "tensorboard_writer",
    "truncate_evaluations",
]
