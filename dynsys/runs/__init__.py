"""Many runs: the SQLite result store, the registered runners, sweeps (process pool / Dask) and
the experiment registry behind ``dynsys reproduce``."""

from .reproduce import PROFILES, Experiment, RunContext, discover, find_root, report_dir, run
from .runners import (
    RUNNERS,
    Runner,
    get_runner,
    logistic_lyapunov,
    sequence_runner,
    train_runner,
    validate_logistic_config,
    validate_sequence_config,
    validate_train_config,
)
from .store import STATUSES, STORE_SCHEMA_VERSION, ResultStore, config_hash
from .success_study import (
    METHODS,
    claim_lines,
    decided_differences,
    run_study,
    study_tables,
    train_configs,
    variants,
)
from .sweep import (
    EXECUTORS,
    SweepSpec,
    SweepSummary,
    expand_grid,
    load_sweep,
    run_key,
    run_sweep,
    sweep_results,
)

__all__ = [
    "ResultStore",
    "STORE_SCHEMA_VERSION",
    "STATUSES",
    "EXECUTORS",
    "config_hash",
    "Runner",
    "RUNNERS",
    "get_runner",
    "logistic_lyapunov",
    "train_runner",
    "validate_train_config",
    "sequence_runner",
    "validate_sequence_config",
    "validate_logistic_config",
    "SweepSpec",
    "SweepSummary",
    "load_sweep",
    "expand_grid",
    "run_sweep",
    "sweep_results",
    "run_key",
    "Experiment",
    "RunContext",
    "PROFILES",
    "find_root",
    "discover",
    "report_dir",
    "run",
    "METHODS",
    "claim_lines",
    "decided_differences",
    "run_study",
    "study_tables",
    "train_configs",
    "variants",
]
