"""Training on Hugging Face Accelerate: `fit(TrainConfig) -> Path` (the output folder), read top to bottom.

The output folder is a checkpoint (Contract 2) of the epoch with the best validation mIoU, plus
`last/` (resumable state, see `train_state`), `history.jsonl` (one line per epoch) and `train_config.json`
(the resolved options). The same code runs on a CPU, a GPU, or several processes under
`accelerate launch` (data sharded by a seeded per-epoch sampler, confusion matrices summed across
processes); only the main process writes files.

The parts: `train_setup` builds a `Run` (data, model, loss, optimizer), `train_epoch` runs one epoch and one
validation, `train_save` writes the files, `train_state` holds `Progress` (what `last/state.json` saves).

Determinism: the model is initialised from `seed`, the sampler shuffles with `seed + epoch` and hands each
index to the workers with its epoch, augmentation is seeded by (seed, epoch, index), and RNG states are saved
with every epoch, so a run resumed after a crash ends with the same weights as an uninterrupted one (on a
CPU, with or without persistent workers; pass `deterministic=True` on a GPU).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

from .errors import UserError
from .formats import EpochRecord
from .train_config import TrainConfig, resolve_config
from .train_epoch import Diverged, train_epoch, validate
from .train_save import save_best, save_history, save_last, save_train_config, summarize, update_summary
from .train_setup import Run, build_run, make_accelerator, prepare_out
from .train_state import Progress, check_resume, find_last, read_last, set_rng_state, train_lock

__all__ = ["Diverged", "TrainConfig", "fit", "resolve_config"]


def fit(config: TrainConfig) -> Path:
    """Train `config.model` on `config.dataset`; -> the output folder (best checkpoint + last/ + history)."""
    with train_lock(config, _is_main_env()):  # one run per --out (segcompare.locks)
        return _fit_in(config)


def _fit_in(config: TrainConfig) -> Path:
    if config.resume and config.out and find_last(Path(config.out).expanduser()) is None:
        raise UserError(f"nothing to resume in {config.out}: it has no last/ training state; drop --resume to start")
    cfg = resolve_config(config)
    check_resume(cfg)  # the same recipe as the run being continued
    out, last = prepare_out(cfg) if _is_main_env() else (Path(cfg.out), None)
    acc = make_accelerator(cfg, out)
    if not acc.is_main_process:
        last = find_last(out) if cfg.resume else None
    det = torch.are_deterministic_algorithms_enabled()
    try:
        return _fit(cfg, acc, out, last)
    finally:
        torch.use_deterministic_algorithms(det)
        if cfg.log:
            acc.end_training()


def _is_main_env() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _fit(cfg: TrainConfig, acc, out: Path, last: Path | None) -> Path:
    from accelerate.utils import set_seed

    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    set_seed(cfg.seed)
    progress, saved_opt, saved_rng = Progress(), None, None
    if last is not None:
        state, saved_opt, saved_rng = read_last(last)
        progress = Progress.from_state(state)
        if (progress.config or {}).get("dataset") not in (None, cfg.dataset) and acc.is_main_process:
            print(f"warning: resuming a run trained on {progress.config['dataset']} with {cfg.dataset}",
                  file=sys.stderr)
    run = build_run(cfg, acc, out, last, progress, saved_opt)
    if saved_rng is not None:
        set_rng_state(saved_rng, state["rng"])
    if run.main:
        save_train_config(run)
        print(_start_line(run), file=sys.stderr)
    if cfg.log:
        acc.init_trackers(Path(out).name or "segcompare", config=_flat(cfg.to_dict()))
    try:
        _loop(run, progress)
    except KeyboardInterrupt:
        if run.main:
            print(f"\n{_interrupted_line(out)}", file=sys.stderr)
        raise
    _finish(run, progress)
    acc.wait_for_everyone()
    return out


def _interrupted_line(out: Path) -> str:
    """Names the epoch last/ really holds: an interrupted write leaves the previous state in place."""
    last, saved = find_last(out), 0
    try:
        saved = Progress.from_state(read_last(last)[0]).epoch if last is not None else 0
    except UserError:  # unreadable: said as "nothing saved" rather than hiding the interrupt behind an error
        pass
    if not saved:
        return "interrupted during epoch 1; no epoch finished, so nothing was saved: start again"
    return f"interrupted during epoch {saved + 1}; the state after epoch {saved} is in {last}: continue with --resume"


def _loop(run: Run, progress: Progress) -> None:
    """Epochs from `progress.epoch` on: train, validate when due, save, stop early when told."""
    cfg, max_steps = run.cfg, run.cfg.max_steps
    for epoch in range(progress.epoch, run.epochs):
        if max_steps is not None and progress.step >= max_steps:
            break
        start = time.perf_counter()
        tr = train_epoch(run, epoch, progress.step)
        rec = EpochRecord(epoch=epoch + 1, train_loss=tr["train_loss"], val_loss=None, val_miou=None,
                          lr=run.opt.param_groups[0]["lr"], seconds=0.0, train_seconds=round(tr["seconds"], 3),
                          train_cpu_seconds=round(tr["cpu_seconds"], 3), images=tr["images"], step=tr["step"])
        final = epoch + 1 == run.epochs or (max_steps is not None and tr["step"] >= max_steps)
        improved = False
        if run.val_loader is not None and ((epoch + 1) % cfg.val_every == 0 or final):
            val = validate(run)
            rec.val_loss, rec.val_miou = val["val_loss"], val["val_miou"]
            improved = _score(progress, val["val_miou"], epoch)
        elif run.val_loader is None:
            progress.best_epoch = epoch + 1
        rec.seconds = round(time.perf_counter() - start, 3)
        row = rec.to_dict()
        progress.history.append(row)
        progress.epoch, progress.step = epoch + 1, tr["step"]
        progress.scheduler, progress.config = run.sched.state_dict(), cfg.to_dict()
        if cfg.patience and progress.bad_validations >= cfg.patience:
            progress.stopped = f"early stop after {progress.bad_validations} validations without improvement"
        if run.main:
            if improved:
                save_best(run, summarize(progress))
            save_history(run.out, progress.history)
            save_last(run, progress)
            print(_epoch_line(row, progress, run.epochs), file=sys.stderr)
        if cfg.log:
            run.acc.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=epoch + 1)
        run.acc.wait_for_everyone()
        if progress.stopped:
            if run.main:
                print(f"early stop: no better val mIoU in {cfg.patience} validations", file=sys.stderr)
            break


def _score(progress: Progress, miou: float, epoch: int) -> bool:
    """Record a validation score; -> whether it is the best so far."""
    if progress.best_miou is None or miou > progress.best_miou:
        progress.best_miou, progress.best_epoch, progress.bad_validations = miou, epoch + 1, 0
        return True
    progress.bad_validations += 1
    return False


def _finish(run: Run, progress: Progress) -> None:
    """The final summary into config.json (without validation, the last epoch is the best checkpoint)."""
    summary = {**summarize(progress), "finished": True}
    if not run.main:
        return
    if run.val_loader is None:
        save_best(run, summary)
    else:
        update_summary(run.out, summary)
    best = summary["best_val_miou"]
    print(f"done: {run.cfg.model} best val mIoU {'n/a' if best is None else f'{100 * best:.1f}'} at epoch "
          f"{summary['best_epoch']} ({summary['epochs_run']} epochs, {summary['seconds']:.0f} s, "
          f"{summary['images_per_s']} img/s) -> {run.out}", file=sys.stderr)


def _start_line(run: Run) -> str:
    cfg, world = run.cfg, run.acc.num_processes
    n_val = len(run.val_loader.dataset) if run.val_loader is not None else 0
    return (f"training {cfg.model} on {cfg.dataset} ({len(run.train_ds)} train / {n_val} val images, "
            f"{run.size[0]}x{run.size[1]}) for {run.epochs} epochs ({run.total_steps} steps) on {run.acc.device}"
            f"{f' x{world}' if world > 1 else ''} -> {run.out}")


def _epoch_line(row: dict, progress: Progress, epochs: int) -> str:
    rate = row["images"] / row["train_seconds"] if row["train_seconds"] else 0.0
    line = f"epoch {row['epoch']}/{epochs}: train loss {row['train_loss']:.4f}"
    if row["val_miou"] is not None:
        best = " (best)" if progress.best_epoch == row["epoch"] else f" (best {100 * progress.best_miou:.1f})"
        line += f", val loss {row['val_loss']:.4f}, val mIoU {100 * row['val_miou']:.1f}{best}"
    return line + f", lr {row['lr']:.2e}, {row['seconds']:.1f} s, {rate:.1f} img/s"


def _flat(d: dict, prefix: str = "") -> dict:
    """Tracker configs take scalars only."""
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, (list, tuple)):
            flat[prefix + k] = ",".join(map(str, v))
        else:
            flat[prefix + k] = v
    return flat
