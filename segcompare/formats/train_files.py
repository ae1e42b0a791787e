"""A run's own files, read on `--resume`: `train_config.json`, `last/state.json` (one reader and one writer
each, the writer checking what its reader checks), and the recipe check.

Resuming continues one run, so the options that define what is learned (the recipe) must be those the
run started with; a changed one would be recorded as the whole run's config. `--allow-changed-recipe`
accepts the change knowingly.
"""

from __future__ import annotations

from pathlib import Path

from .base import FormatError, is_int, is_number, need, read_json, show
from .constants import STATE_FILE, TRAIN_CONFIG_FILE
from .history import check_history_row

# What was learned depends on these; epochs, workers, logging, device, ... may change on resume.
RECIPE = ("lr", "weight_decay", "optimizer", "amsgrad", "scheduler", "warmup", "gamma", "loss", "class_weights",
          "strategy", "size", "batch_size", "grad_accum")


def read_train_config(path: str | Path) -> dict:
    """A run's `train_config.json` (or its `--out` folder's) as a dict of TrainConfig keys (their types are
    checked by TrainConfig)."""
    path = _in_folder(path, TRAIN_CONFIG_FILE)
    return check_train_config(read_json(path, "training config"), str(path))


def check_train_config(data, source: str) -> dict:
    if not isinstance(data, dict):
        raise FormatError(f"{source} must hold a mapping of training options, got {show(data)}; start again in "
                          "a fresh --out folder")
    return data


def write_train_config(path: str | Path, options: dict) -> Path:
    """Write a run's resolved options (TrainConfig.to_dict(), `size` the size trained at) atomically."""
    path = _in_folder(path, TRAIN_CONFIG_FILE)
    return _write_json(path, check_train_config(options, str(path)))


def read_state_json(path: str | Path) -> dict:
    """`last/state.json` (or that of a `last/` folder), checked."""
    path = _in_folder(path, STATE_FILE)
    return check_state_json(read_json(path, "training state"), str(path))


def write_state_json(path: str | Path, state: dict) -> Path:
    """Write `last/state.json` atomically, checked first: resuming never meets a state its reader refuses."""
    path = _in_folder(path, STATE_FILE)
    return _write_json(path, check_state_json(state, str(path)))


def check_state_json(state, source: str) -> dict:
    """`last/state.json`: counters, best score, history rows, scheduler and RNG states."""
    if not isinstance(state, dict):
        raise FormatError(f"{source} must hold a mapping, got {show(state)}")
    for key in ("epoch", "step", "bad_validations"):
        need(is_int(state.get(key)) and state[key] >= 0, source, key, "a whole number >= 0", state.get(key))
    need(state.get("best_miou") is None or is_number(state["best_miou"]), source, "best_miou", "a number or null",
         state.get("best_miou"))
    need(state.get("best_epoch") is None or is_int(state["best_epoch"]), source, "best_epoch",
         "a whole number or null", state.get("best_epoch"))
    history = state.get("history")
    need(isinstance(history, list), source, "history", "a list of epoch records", history)
    for row in history:
        check_history_row(row, source)
    need(isinstance(state.get("scheduler"), dict), source, "scheduler", "a mapping (the scheduler's state)",
         state.get("scheduler"))
    need(state.get("config") is None or isinstance(state["config"], dict), source, "config",
         "a mapping of training options", state.get("config"))
    rng = state.get("rng")
    need(isinstance(rng, dict) and isinstance(rng.get("numpy"), list) and len(rng["numpy"]) == 5
         and isinstance(rng.get("python"), list) and len(rng["python"]) == 3, source, "rng",
         "the saved numpy and python RNG states", rng)
    return state


def check_recipe(saved: dict, new: dict, allow: bool, source: str) -> None:
    """Refuse a resume whose recipe differs from the saved run's (unless `allow`)."""
    changed = [k for k in RECIPE if k in saved and new.get(k) is not None and _norm(saved[k]) != _norm(new[k])]
    if changed and not allow:
        shown = ", ".join(f"{k} {show(saved[k], 30)} -> {show(new[k], 30)}" for k in changed)
        raise FormatError(f"cannot resume with a changed recipe ({shown}; saved in {source}): drop those options, "
                          "start a new run in another --out, or pass --allow-changed-recipe")


def _norm(v):
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    return float(v) if is_number(v) and not isinstance(v, bool) else v


def _in_folder(path: str | Path, name: str) -> Path:
    path = Path(path)
    return path / name if path.is_dir() else path


def _write_json(path: Path, data) -> Path:
    """Atomically; OSError (disk full, read-only) goes to the caller, which knows what was being saved."""
    from ..files import atomic_write_json

    atomic_write_json(path, data)
    return path
