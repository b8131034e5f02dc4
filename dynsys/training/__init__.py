"""Training: the paper's tasks and initializations, the config of a run, one update (MSGD,
MSGD-C, MSGD-CR) and its options, optimizers, the history of a run and the trainer loop."""

from .config import METHODS, TrainConfig
from .history import EVAL_FIELDS, TrainingHistory
from .initializers import initialize, initializer_names
from .optimizers import optimizer_step
from .runtime import InterruptGuard, blas_threads, deferred_interrupts
from .step import StepInfo, StepOptions, evaluate, training_step
from .tasks import Task, TaskBatch, draw_length, get_task, sequence_errors, task_names
from .trainer import train

__all__ = [
    "METHODS",
    "TrainConfig",
    "TrainingHistory",
    "EVAL_FIELDS",
    "initialize",
    "initializer_names",
    "optimizer_step",
    "blas_threads",
    "deferred_interrupts",
    "InterruptGuard",
    "StepInfo",
    "StepOptions",
    "evaluate",
    "training_step",
    "Task",
    "TaskBatch",
    "get_task",
    "task_names",
    "sequence_errors",
    "draw_length",
    "train",
]
