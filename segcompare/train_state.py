"""The resumable training state in `OUT/last/`, written without pickle and swapped in atomically.

`last/` holds a loadable checkpoint (config.json + model.safetensors) plus:
- `optimizer.safetensors` + `optimizer.json`: the optimizer's tensors, and everything else of its state_dict;
- `rng.safetensors` + `state.json`: torch (and CUDA) RNG states; python/numpy RNG states, epoch, step,
  best score, early-stopping counter, history, scheduler state (plain numbers).
A new `last/` is written into a temp folder and swapped in with two renames; if a process dies between them,
`.last.old/` is still complete and `find_last` falls back to it. `Progress` is the typed form of state.json.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import UserError
from .files import STALE_TEMP_S, atomic_write_bytes, atomic_write_json, remove_older
from .formats import STATE_FILE, TRAIN_CONFIG_FILE, read_state_json, write_state_json

LAST, OLD = "last", ".last.old"
PAUSE_ENV = "SEGCOMPARE_PAUSE_WRITE"  # "EPOCH:FILE": tests interrupt a write at a known moment (see pause_hook)


@dataclass
class Progress:
    """Where a run stands after `epoch` epochs: what `last/state.json` saves (besides the RNG states)."""

    epoch: int = 0
    step: int = 0
    best_miou: float | None = None
    best_epoch: int | None = None
    bad_validations: int = 0
    history: list[dict] = field(default_factory=list)
    scheduler: dict = field(default_factory=dict)
    config: dict | None = None
    stopped: str | None = None  # why the run stopped early; None: it runs (or ran) to the end

    def to_state(self) -> dict:
        state = asdict(self)
        if self.stopped is None:
            del state["stopped"]  # state.json names a stop only when there was one
        return state

    @classmethod
    def from_state(cls, state: dict) -> Progress:
        return cls(**{k: state[k] for k in cls.__dataclass_fields__ if k in state})


# --- optimizer state_dict <-> (tensors, json) -----------------------------------------------------------
def split_state(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state_dict -> (flat tensor dict for safetensors, JSON-able rest with tensor placeholders)."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(obj, path: str):
        if isinstance(obj, torch.Tensor):
            tensors[path] = obj.detach().cpu().contiguous()
            return {"__tensor__": path}
        if isinstance(obj, dict):
            return {"__dict__": [[k, walk(v, f"{path}.{k}")] for k, v in obj.items()]}
        if isinstance(obj, (list, tuple)):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(obj)]
        return obj

    return tensors, walk(state, "s")


def join_state(tensors: dict[str, torch.Tensor], meta) -> dict:
    def walk(obj):
        if isinstance(obj, dict) and "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if isinstance(obj, dict) and "__dict__" in obj:
            return {k: walk(v) for k, v in obj["__dict__"]}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(meta)


# --- RNG states -----------------------------------------------------------------------------------------
def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py = random.getstate()
    meta = {"numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "python": [py[0], list(py[1]), py[2]]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("cuda.")), key=lambda k: int(k[5:]))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    kind, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    v, internal, gauss = meta["python"]
    random.setstate((v, tuple(internal), gauss))


# --- writing and reading last/ --------------------------------------------------------------------------
def write_last(out: Path, save_model, optimizer, state: dict) -> Path:
    """Write the resumable state to a temp folder, then swap it in as `out/last`.

    `save_model(dir)` writes config.json + model.safetensors; `state` is JSON-able (epoch, history, ...).
    """
    from safetensors.torch import save

    out = Path(out)
    tmp = Path(tempfile.mkdtemp(prefix=".last.tmp-", dir=out))
    try:
        save_model(tmp)
        opt_tensors, opt_meta = split_state(optimizer.state_dict())
        atomic_write_bytes(tmp / "optimizer.safetensors", save(opt_tensors))
        atomic_write_json(tmp / "optimizer.json", opt_meta)
        rng_tensors, rng_meta = rng_state()
        atomic_write_bytes(tmp / "rng.safetensors", save(rng_tensors))
        write_state_json(tmp / STATE_FILE, {**state, "rng": rng_meta})
        pause_hook(state.get("epoch"))
        last, old = out / LAST, out / OLD
        if old.exists():
            shutil.rmtree(old)
        if last.exists():
            last.rename(old)
        tmp.rename(last)
        shutil.rmtree(old, ignore_errors=True)
        remove_older(out, STALE_TEMP_S, ".last.tmp-*")  # a killed run's half-written state
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"cannot write the training state to {out}: {e.strerror or e} (disk full or "
                        "read-only?); the previous state is kept") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / LAST


def pause_hook(epoch) -> None:
    """With SEGCOMPARE_PAUSE_WRITE=EPOCH:FILE, the write of epoch EPOCH's state creates FILE and waits (its
    temp folder complete, not yet swapped in) until FILE is removed or a signal ends the process: tests
    interrupt a write at that moment instead of racing to catch one."""
    at, _, flag = os.environ.get(PAUSE_ENV, "").partition(":")
    if not flag or str(epoch) != at:
        return
    Path(flag).write_text(str(os.getpid()))
    while Path(flag).exists():
        time.sleep(0.01)  # waiting for an event (the file's removal or a signal), not for a time


def find_last(out: Path) -> Path | None:
    """`out/last`, or `out/.last.old` when a swap was interrupted; None when there is no state."""
    for name in (LAST, OLD):
        d = Path(out) / name
        if (d / STATE_FILE).is_file() and (d / "optimizer.safetensors").is_file():
            return d
    return None


def read_last(last: Path) -> tuple[dict, dict, dict[str, torch.Tensor]]:
    """-> (state.json, optimizer state_dict, rng tensors)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .formats import read_json

    try:
        state = read_state_json(last / STATE_FILE)
        opt = join_state(load_file(str(last / "optimizer.safetensors")), read_json(last / "optimizer.json",
                                                                                   "optimizer state"))
        rng = load_file(str(last / "rng.safetensors"))
    except (OSError, ValueError, KeyError, TypeError, SafetensorError, UserError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"the training state in {last} is unreadable ({detail}); start again without --resume "
                        "in a fresh --out folder") from None
    if "torch" not in rng:
        raise UserError(f"the training state in {last} lacks its RNG state; start again without --resume in a "
                        "fresh --out folder")
    return state, opt, rng


# --- one run per folder, and the same recipe on resume -------------------------------------------------
def train_lock(cfg, main: bool):
    """The `--out` folder's lock for the main process (others run inside the main one's lock)."""
    from contextlib import nullcontext

    from .locks import lock_folder

    return lock_folder(cfg.out, "train") if main and cfg.out else nullcontext()


def check_resume(cfg) -> None:
    """On `--resume`, refuse options that change the recipe of the saved run (unless allowed)."""
    from .formats import check_recipe, read_train_config

    path = Path(cfg.out).expanduser() / TRAIN_CONFIG_FILE
    if cfg.resume and path.is_file():
        check_recipe(read_train_config(path), cfg.to_dict(), cfg.allow_changed_recipe, str(path))
