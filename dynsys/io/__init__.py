"""Disk: the only part of dynsys that writes files (atomic npz/json, figures, provenance) and the
weight formats (``.npz``, PyTorch state dicts) that become maps."""

from .files import (
    check_writable_dir,
    check_writable_output,
    git_commit,
    load_arrays,
    load_checkpoint,
    load_result,
    provenance,
    result_exists,
    result_paths,
    save_arrays,
    save_checkpoint,
    save_figure,
    save_result,
    to_json,
    write_text_atomic,
)
from .pytorch import from_torch, from_torch_rnn, load_torch_weights, state_dict_map, to_torch_state_dict
from .records import RecordFile, append_record, read_records, truncate_records
from .weights import load_weights, save_weights

__all__ = [
    "RecordFile",
    "append_record",
    "read_records",
    "truncate_records",
    "save_arrays",
    "load_arrays",
    "save_result",
    "load_result",
    "result_exists",
    "result_paths",
    "check_writable_output",
    "check_writable_dir",
    "save_checkpoint",
    "load_checkpoint",
    "save_figure",
    "write_text_atomic",
    "to_json",
    "git_commit",
    "provenance",
    "load_weights",
    "load_torch_weights",
    "from_torch",
    "to_torch_state_dict",
    "state_dict_map",
    "save_weights",
    "from_torch_rnn",
]
