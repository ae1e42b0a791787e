"""One validation layer for every file segcompare reads: typed readers, bounded in size and depth.

Checkpoints, results and datasets may come from strangers (a Hub repo, a download, an upload), so every
reader here checks a file's size before reading it, its nesting depth before walking it, and each field's
type before anyone uses it. Every refusal is a `FormatError` (a `UserError`): one line naming the file,
the field and the bad value, so the CLI exits 2 and the app lists the file with its reason.

Typed objects: `CheckpointConfig` (config.json), `Results` (results.json), `History` of `EpochRecord`s
(history.jsonl); each reads, validates and writes atomically, as do the reader/writer pairs of a run's
`train_config.json` and `last/state.json`. Shared constants (IGNORE_INDEX, ImageNet statistics, file names)
live in `formats.constants`.
"""

from __future__ import annotations

from .base import MAX_DEPTH, MAX_JSON_BYTES, FormatError, loads_json, read_json, read_text
from .checkpoint_config import CheckpointConfig, check_checkpoint_config, config_bytes, read_checkpoint_config
from .classes import check_classes_json
from .constants import (
    CONFIG_FILE,
    HISTORY_FILE,
    IGNORE_INDEX,
    IMAGENET_MEAN,
    IMAGENET_STD,
    RESULTS_FILE,
    STATE_FILE,
    TRAIN_CONFIG_FILE,
    WEIGHTS_FILE,
)
from .history import EpochRecord, History, check_history_row, read_history_file
from .model_names import check_model_name, refused, remember_refusal
from .results import Results, best_first, check_results, check_results_fields, rank_key, read_results_file
from .train_files import (
    check_recipe,
    check_state_json,
    read_state_json,
    read_train_config,
    write_state_json,
    write_train_config,
)
from .yaml_io import load_yaml_file, loads_yaml

__all__ = ["CONFIG_FILE", "CheckpointConfig", "EpochRecord", "FormatError", "HISTORY_FILE", "History", "IGNORE_INDEX",
           "IMAGENET_MEAN", "IMAGENET_STD", "MAX_DEPTH", "MAX_JSON_BYTES", "RESULTS_FILE", "Results", "STATE_FILE",
           "TRAIN_CONFIG_FILE", "WEIGHTS_FILE", "best_first", "check_checkpoint_config", "check_classes_json",
           "check_history_row", "check_model_name", "check_recipe", "check_results", "check_results_fields",
           "check_state_json", "config_bytes", "load_yaml_file", "loads_json", "loads_yaml", "rank_key",
           "read_checkpoint_config", "read_history_file", "read_json", "read_results_file", "read_state_json",
           "read_text", "read_train_config", "refused", "remember_refusal", "write_state_json", "write_train_config"]
