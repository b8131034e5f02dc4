"""Training: the paper's tasks and initializations, the cells it trains (RNN, residual, LN, GRU,
LSTM), the config of a run, one update (MSGD,
MSGD-C, MSGD-CR) and its options, optimizers, the state and history of a run, its evaluation and
the trainer loop; the Bach chorales as piano rolls and the epoch trainer on fixed sequences
(natural data, :mod:`dynsys.training.sequences`)."""

from .cells import (
    CELLS,
    build_map,
    cell_activation,
    cell_inits,
    cell_weight_names,
    default_init,
    init_weights,
    parameter_count,
    recurrent_name,
)
from .config import METHODS, NONFINITE_POLICIES, OMEGA_FORMS, OPTIMIZERS, SUCCESS_RULES, TrainConfig
from .evaluation import (
    check_ensemble,
    error_counts,
    error_rates,
    evaluate_ensemble,
    screen_miss_rate,
    screen_misses,
    verdicts,
)
from .history import EVAL_FIELDS, TrainingHistory
from .initializers import initialize, initializer_names
from .monitor import (
    RECORD_NAME,
    BackgroundMonitor,
    MonitorConfig,
    TrainingMonitor,
    background_available,
    task_conditions,
)
from .music import Chorales, chorale_split, load_chorales, score_to_roll
from .optimizers import optimizer_step
from .report import EVENT_KINDS, MemberTrains, MonitorReport, member_trains, monitor_report
from .runtime import InterruptGuard, blas_threads, deferred_interrupts
from .sequences import SequenceConfig, SequenceHistory, check_sequence_data, sequence_nll, train_sequences
from .state import CHECKPOINT_KIND, Ensemble, TrainState
from .step import StepInfo, StepOptions, evaluate, loss_step, training_step
from .tasks import Task, TaskBatch, draw_length, get_task, sequence_errors, task_names
from .trainer import train, update_ensemble

__all__ = [
    "CELLS",
    "build_map",
    "cell_activation",
    "cell_inits",
    "cell_weight_names",
    "default_init",
    "init_weights",
    "parameter_count",
    "recurrent_name",
    "METHODS",
    "OPTIMIZERS",
    "SUCCESS_RULES",
    "OMEGA_FORMS",
    "NONFINITE_POLICIES",
    "TrainConfig",
    "TrainingHistory",
    "EVAL_FIELDS",
    "initialize",
    "MonitorConfig",
    "TrainingMonitor",
    "BackgroundMonitor",
    "background_available",
    "task_conditions",
    "RECORD_NAME",
    "EVENT_KINDS",
    "MemberTrains",
    "MonitorReport",
    "member_trains",
    "monitor_report",
    "initializer_names",
    "Chorales",
    "load_chorales",
    "score_to_roll",
    "chorale_split",
    "optimizer_step",
    "blas_threads",
    "deferred_interrupts",
    "InterruptGuard",
    "StepInfo",
    "StepOptions",
    "evaluate",
    "training_step",
    "loss_step",
    "SequenceConfig",
    "SequenceHistory",
    "check_sequence_data",
    "sequence_nll",
    "train_sequences",
    "Task",
    "TaskBatch",
    "get_task",
    "task_names",
    "sequence_errors",
    "draw_length",
    "Ensemble",
    "TrainState",
    "CHECKPOINT_KIND",
    "update_ensemble",
    "error_rates",
    "check_ensemble",
    "error_counts",
    "screen_miss_rate",
    "screen_misses",
    "verdicts",
    "evaluate_ensemble",
    "train",
]
