"""One validation layer for every file segcompare reads: typed readers, bounded in size and depth.

Checkpoints, results and datasets may come from strangers (a Hub repo, a download, an upload), so every
reader here checks a file's size before reading it, its nesting depth before walking it, and each field's
type before anyone uses it. Every refusal is a `FormatError` (a `UserError`): one line naming the file,
the field and the bad value, so the CLI exits 2 and the app lists the file with its reason.
"""

from __future__ import annotations

from .base import MAX_DEPTH, MAX_JSON_BYTES, FormatError, loads_json, read_json, read_text
from .checkpoint_config import check_checkpoint_config
from .classes import check_classes_json
from .history import check_history_row
from .model_names import check_model_name, refused, remember_refusal
from .results import check_results_fields
from .train_files import check_recipe, check_state_json, read_train_config
from .yaml_io import load_yaml_file, loads_yaml

__all__ = ["FormatError", "MAX_DEPTH", "MAX_JSON_BYTES", "check_checkpoint_config", "check_classes_json",
           "check_history_row", "check_model_name", "check_recipe", "check_results_fields",
           "check_state_json", "load_yaml_file", "loads_json", "loads_yaml", "read_json", "read_text",
           "read_train_config", "refused", "remember_refusal"]
