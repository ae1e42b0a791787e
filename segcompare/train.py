"""Training on Hugging Face Accelerate: `fit(TrainConfig) -> Path` (the output folder).

The output folder is a checkpoint (Contract 2) of the epoch with the best validation mIoU, plus
`last/` (resumable state, see `train_state`), `history.jsonl` (one line per epoch) and `train_config.json`
(the resolved options). The same code runs on a CPU, a GPU, or several processes under
`accelerate launch` (data sharded by a seeded per-epoch sampler, confusion matrices summed across
processes); only the main process writes files.

Determinism: the model is initialised from `seed`, the sampler shuffles with `seed + epoch`, augmentation is
seeded by (seed, epoch, index), and RNG states are saved with every epoch, so a run resumed after a crash
ends with the same weights as an uninterrupted one (on a CPU; pass `deterministic=True` on a GPU).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from .checkpoint import save_checkpoint
from .errors import UserError
from .files import atomic_write_bytes, atomic_write_json
from .train_config import DEFAULT_SIZE, TrainConfig, resolve_config
from .train_state import check_resume, find_last, read_last, set_rng_state, train_lock, write_last

__all__ = ["TrainConfig", "fit", "resolve_config"]


class Diverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


# --- setup ----------------------------------------------------------------------------------------------
def make_accelerator(cfg: TrainConfig, out: Path):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    # Accelerate keeps its settings in process-wide singletons; each fit() (compare runs several) starts anew.
    AcceleratorState._reset_state()
    GradientState._reset_state()
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    cuda = torch.cuda.is_available()
    dev = cfg.device
    if dev.startswith("cuda") and not cuda:
        raise UserError(f"--device {dev} requested but CUDA is not available; use --device cpu")
    if dev.startswith("cuda:") and not distributed:
        torch.cuda.set_device(int(dev.split(":")[1]))
    use_cpu = dev == "cpu" or (dev == "auto" and not cuda)
    if cfg.mixed_precision == "fp16" and use_cpu:
        raise UserError("--mixed-precision fp16 needs a CUDA GPU; use bf16 or no on a CPU")
    trackers = check_trackers(cfg.log)
    return Accelerator(cpu=use_cpu, mixed_precision=cfg.mixed_precision, log_with=trackers or None,
                       project_dir=str(out / "logs") if trackers else None)


def check_trackers(names: list[str]) -> list[str]:
    import importlib.util

    needs = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",)}
    for name in names:
        if not any(importlib.util.find_spec(m) for m in needs[name]):
            raise UserError(f"--log {name} needs the {needs[name][0]} package: pip install {needs[name][0]}")
    return list(names)


def prepare_out(cfg: TrainConfig) -> tuple[Path, Path | None]:
    """Create (or check) the output folder; -> (out, last state folder when resuming)."""
    out = Path(cfg.out).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    last = find_last(out) if out.is_dir() else None
    if cfg.resume:
        if last is None:
            raise UserError(f"nothing to resume in {out}: it has no last/ training state; drop --resume to start")
        return out, last
    if last is not None and not cfg.overwrite:
        raise UserError(f"{out} already holds a training run; continue it with --resume, or choose another --out "
                        "(or pass --overwrite)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / ".write-test", b"")
        (out / ".write-test").unlink()
    except OSError as e:
        raise UserError(f"cannot write to --out {out}: {e.strerror or e}; choose a writable folder") from None
    for name in ("last", ".last.old", "history.jsonl"):
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    return out, None


def load_datasets(cfg: TrainConfig, is_main: bool):
    from .data import get_dataset

    opts = cfg.dataset_options
    train = get_dataset(cfg.dataset, "train", size=cfg.size, augment=cfg.augment, **opts)
    size = cfg.size or getattr(train, "default_size", None) or getattr(train, "size", None)
    if size is None:
        size = DEFAULT_SIZE
        if is_main:
            print(f"note: training at {size[0]}x{size[1]} (set --size H W to change)", file=sys.stderr)
    if tuple(size) != tuple(train.size or ()):
        train = get_dataset(cfg.dataset, "train", size=size, augment=cfg.augment, **opts)
    if len(train) == 0:
        raise UserError(f"the train split of {cfg.dataset} has no images")
    try:
        val = get_dataset(cfg.dataset, cfg.val_split, size=size, augment=False, **opts)
        if len(val) == 0:
            val = None
    except UserError as e:
        if is_main:
            print(f"warning: no validation ({e}); keeping the last epoch, early stopping off", file=sys.stderr)
        val = None
    return train, val, tuple(size)


class EpochSampler(torch.utils.data.Sampler):
    """This process's share of a permutation seeded by (seed, epoch): reproducible, and resumable at an epoch.

    With `shuffle=False` (validation) the shares are disjoint and cover every index exactly once.
    """

    def __init__(self, n: int, rank: int, world: int, seed: int, shuffle: bool):
        self.n, self.rank, self.world, self.seed, self.shuffle = n, rank, world, seed, shuffle
        self.epoch = 0

    def indices(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.rank, self.n, self.world))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        per = math.ceil(self.n / self.world)
        order += order[: per * self.world - self.n]  # equal shares: every process runs the same number of steps
        return order[self.rank::self.world]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices()) if not self.shuffle else math.ceil(self.n / self.world)


def make_loader(ds, batch_size: int, sampler: EpochSampler, workers: int | None, drop_last: bool):
    """A loader with its own generator: an iterator without one draws its workers' base seed from the global
    RNG, and a persistent (validation) iterator does so once per process, so a resumed run's global RNG (dropout)
    would drift from an uninterrupted run's. `train_epoch` reseeds it per epoch."""
    from .data.loader import default_workers, seed_worker

    if hasattr(ds, "fill_cache"):
        ds.fill_cache()
    workers = default_workers(ds) if workers is None else workers
    kwargs = {}
    if workers > 0:
        # Augmentation reads `ds.epoch`, which only freshly started workers see: no persistent workers then.
        kwargs = dict(worker_init_fn=seed_worker, persistent_workers=not getattr(ds, "augment", False))
        if "fork" in torch.multiprocessing.get_all_start_methods():
            kwargs["multiprocessing_context"] = "fork"
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers,
                                       drop_last=drop_last, pin_memory=torch.cuda.is_available(),
                                       generator=torch.Generator().manual_seed(loader_seed(sampler, 0)), **kwargs)


def loader_seed(sampler: EpochSampler, epoch: int) -> int:
    """Seed of a loader's generator at an epoch: a function of (seed, epoch, rank), never of the process's past."""
    return (sampler.seed * 1_000_003 + epoch) * 1_009 + sampler.rank + (0 if sampler.shuffle else 500)


def build_loss_for(cfg: TrainConfig, train_ds, is_main: bool):
    from .losses import build_loss

    weights = None
    if cfg.class_weights != "none":
        from .data.stats import class_stats, class_weights

        if is_main:
            print(f"computing class weights ({cfg.class_weights}) from the train split ...", file=sys.stderr)
        weights = class_weights(class_stats(train_ds, max_images=500), cfg.class_weights)
    return build_loss(cfg.loss, ignore_index=getattr(train_ds, "ignore_index", 255), class_weights=weights)


def build_model_for(cfg: TrainConfig, num_classes: int, last: Path | None):
    from .checkpoint import WEIGHTS, check_state, read_config, read_weights
    from .models import build_model

    if last is None:
        return build_model(cfg.model, num_classes, pretrained=cfg.pretrained, frozen=cfg.strategy == "frozen")
    saved = read_config(last)
    if saved.get("name") != cfg.model:
        raise UserError(f"cannot resume: {last} trains {saved.get('name')!r}, not {cfg.model!r}")
    if saved["num_classes"] != num_classes:
        raise UserError(f"cannot resume: {last} has {saved['num_classes']} classes but {cfg.dataset} has "
                        f"{num_classes}; use the dataset it was trained on")
    model = build_model(cfg.model, num_classes)  # weights come from last/, no download needed
    if cfg.strategy == "frozen":
        model.freeze_encoder()
    state = read_weights(last / WEIGHTS)
    check_state(model, state, last / WEIGHTS)
    model.load_state_dict(state)
    return model


# --- one epoch ------------------------------------------------------------------------------------------
def _batch(batch, device, channels_last: bool):
    x = batch[0].to(device, non_blocking=True)
    y = batch[1].to(device, non_blocking=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def train_epoch(ctx, epoch: int) -> dict:
    """One pass over this process's shard; -> {"train_loss", "images", "seconds", "steps"}."""
    from tqdm.auto import tqdm

    acc, cfg, model = ctx["acc"], ctx["cfg"], ctx["model"]
    loader, opt, sched, loss_fn = ctx["train_loader"], ctx["opt"], ctx["sched"], ctx["loss"]
    ctx["train_ds"].epoch = epoch
    loader.sampler.epoch = epoch
    loader.generator.manual_seed(loader_seed(loader.sampler, epoch))
    model.train()
    n_batches = len(loader)
    if ctx["max_steps"] is not None:
        n_batches = min(n_batches, (ctx["max_steps"] - ctx["step"]) * cfg.grad_accum)
    loss_sum = torch.zeros((), device=acc.device, dtype=torch.float64)
    images, seen, start, cpu_start = 0, 0, time.perf_counter(), time.process_time()
    bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{ctx['epochs']}", unit="batch", leave=False,
               file=sys.stderr, disable=not (cfg.progress and acc.is_main_process), dynamic_ncols=True)
    for b, batch in enumerate(loader):
        if b >= n_batches:
            break
        x, y = _batch(batch, acc.device, cfg.channels_last)
        group_end = (b + 1) % cfg.grad_accum == 0 or b + 1 == n_batches
        group = cfg.grad_accum if b // cfg.grad_accum < n_batches // cfg.grad_accum else n_batches % cfg.grad_accum
        with _maybe_no_sync(acc, model, not group_end), acc.autocast():
            loss = loss_fn(_forward(model, x, cfg), y)
            acc.backward(loss / group)
        if group_end:
            if cfg.grad_clip:
                acc.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            ctx["step"] += 1
        loss_sum += loss.detach() * x.shape[0]
        images += x.shape[0]
        bar.update(1)
        if (b + 1) % cfg.log_every == 0 or b + 1 == n_batches:
            mean = loss_sum.item() / images  # the only sync per log_every steps
            check_finite(mean, ctx, epoch, b)
            rate = (images - seen) * acc.num_processes / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{mean:.4f}", img_s=f"{rate:.1f}", refresh=False)
    bar.close()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    totals = acc.reduce(torch.tensor([loss_sum.item(), float(images)], device=acc.device, dtype=torch.float64),
                        "sum")
    mean = (totals[0] / max(totals[1], 1)).item()
    check_finite(mean, ctx, epoch, n_batches)
    return {"train_loss": mean, "images": int(totals[1].item()), "seconds": seconds, "cpu_seconds": cpu_seconds}


def _forward(model, x, cfg: TrainConfig):
    try:
        return model(x)
    except ValueError as e:
        if "Expected more than 1 value per channel" not in str(e):
            raise
        raise UserError(f"{cfg.model}'s BatchNorm sees a single value per channel with batch {x.shape[0]} at "
                        f"{x.shape[-2]}x{x.shape[-1]}: use --batch-size 2 or more, or a larger --size") from None


def _maybe_no_sync(acc, model, skip: bool):
    import contextlib

    return acc.no_sync(model) if skip and acc.num_processes > 1 else contextlib.nullcontext()


def check_finite(value: float, ctx, epoch: int, batch: int) -> None:
    if math.isfinite(value):
        return
    kept = f"the last good state (after epoch {epoch}) is kept in {ctx['out'] / 'last'}" if epoch else \
        "no epoch finished, so nothing was saved"
    raise Diverged(f"training loss became {value} in epoch {epoch + 1} (around batch {batch + 1}); {kept}. "
                   "Lower --lr, add --grad-clip 1.0, or use --mixed-precision no")


@torch.no_grad()
def validate(ctx) -> dict:
    """Loss and mIoU on the validation split (confusion matrix summed over processes)."""
    from .metrics import ConfusionMatrix, miou

    acc, cfg = ctx["acc"], ctx["cfg"]
    model = acc.unwrap_model(ctx["model"])  # no DDP collectives: shards may have different batch counts
    was_training = model.training
    model.eval()
    cm = ConfusionMatrix(ctx["num_classes"], ctx["ignore_index"], device=acc.device)
    loss_sum = torch.zeros((), device=acc.device, dtype=torch.float64)
    n = 0
    for batch in ctx["val_loader"]:
        x, y = _batch(batch, acc.device, cfg.channels_last)
        with acc.autocast():
            logits = model(x)
            loss_sum += ctx["loss"](logits, y).double() * x.shape[0]
        cm.update(logits.argmax(1), y)
        n += x.shape[0]
    model.train(was_training)
    mat = acc.reduce(cm.mat, "sum")
    totals = acc.reduce(torch.stack([loss_sum, torch.tensor(float(n), device=acc.device, dtype=torch.float64)]),
                        "sum")
    return {"val_loss": (totals[0] / max(totals[1], 1)).item(), "val_miou": float(miou(mat.cpu())),
            "confusion_matrix": mat.cpu().tolist()}


# --- files ----------------------------------------------------------------------------------------------
def write_history(out: Path, history: list[dict]) -> None:
    text = "".join(json.dumps(h, allow_nan=False) + "\n" for h in history)
    try:
        atomic_write_bytes(out / "history.jsonl", text.encode())
    except OSError as e:
        raise UserError(f"cannot write {out / 'history.jsonl'}: {e.strerror or e} (disk full?)") from None


def checkpoint_meta(ctx, summary: dict | None = None) -> dict:
    train = ctx["cfg"].to_dict()
    train["size"] = list(ctx["size"])
    if summary is not None:
        train["summary"] = summary
    return {**ctx["train_ds"].info(), "input_size": list(ctx["size"]), "train": train}


def save_best(ctx, summary: dict) -> None:
    model = ctx["acc"].unwrap_model(ctx["model"])
    save_checkpoint(model, ctx["out"], checkpoint_meta(ctx, summary))


def save_last(ctx, state: dict) -> None:
    model = ctx["acc"].unwrap_model(ctx["model"])
    meta = checkpoint_meta(ctx)
    write_last(ctx["out"], lambda d: save_checkpoint(model, d, meta), ctx["opt"], state)


def summarize(ctx, state: dict) -> dict:
    hist = state["history"]
    secs = sum(h["seconds"] for h in hist)
    train_secs = sum(h.get("train_seconds", h["seconds"]) for h in hist)
    imgs = sum(h.get("images", 0) for h in hist)
    return {"best_epoch": state["best_epoch"], "best_val_miou": state["best_miou"], "epochs_run": len(hist),
            "steps": state["step"], "seconds": round(secs, 2),
            "images_per_s": round(imgs / train_secs, 2) if train_secs > 0 else None,
            "stopped": state.get("stopped", "completed")}


# --- the loop -------------------------------------------------------------------------------------------
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
    main = acc.is_main_process
    train_ds, val_ds, size = load_datasets(cfg, main)
    num_classes = len(train_ds.classes)
    state = {"epoch": 0, "step": 0, "best_miou": None, "best_epoch": None, "bad_validations": 0, "history": []}
    saved_opt = saved_rng = None
    if last is not None:
        state, saved_opt, saved_rng = read_last(last)
        if state.get("config", {}).get("dataset") not in (None, cfg.dataset) and main:
            print(f"warning: resuming a run trained on {state['config']['dataset']} with {cfg.dataset}",
                  file=sys.stderr)
    model = build_model_for(cfg, num_classes, last)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = build_loss_for(cfg, train_ds, main)
    from .memory import check_fits  # an impossible size/batch fails now, not when the OS kills the process

    check_fits(model, cfg.model, size, cfg.batch_size, cfg.optimizer, acc.device, cfg.amsgrad, cfg.mixed_precision)

    from .optim import build_optimizer, build_scheduler

    world, rank = acc.num_processes, acc.process_index
    train_sampler = EpochSampler(len(train_ds), rank, world, cfg.seed, shuffle=True)
    drop_last = len(train_sampler) > cfg.batch_size  # a lone tiny last batch adds noise (and breaks BatchNorm)
    train_loader = make_loader(train_ds, cfg.batch_size, train_sampler, cfg.workers, drop_last)
    val_loader = None
    if val_ds is not None:
        val_loader = make_loader(val_ds, cfg.batch_size, EpochSampler(len(val_ds), rank, world, cfg.seed, False),
                                 cfg.workers, False)
    steps_per_epoch = max(1, math.ceil(len(train_loader) / cfg.grad_accum))
    total_steps = steps_per_epoch * cfg.epochs
    epochs = cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
        epochs = min(epochs, math.ceil(cfg.max_steps / steps_per_epoch))
    opt = build_optimizer(cfg.optimizer, model, cfg.lr, cfg.weight_decay, cfg.amsgrad)
    sched = build_scheduler(cfg.scheduler, opt, total_steps, steps_per_epoch, cfg.warmup, cfg.gamma)
    if saved_opt is not None:
        opt.load_state_dict(saved_opt)
        sched.load_state_dict(state["scheduler"])
    model, opt = acc.prepare(model, opt)
    if saved_rng is not None:
        set_rng_state(saved_rng, state["rng"])

    ctx = {"acc": acc, "cfg": cfg, "model": model, "opt": opt, "sched": sched, "loss": loss_fn, "out": out,
           "train_ds": train_ds, "train_loader": train_loader, "val_loader": val_loader, "size": size,
           "num_classes": num_classes, "ignore_index": getattr(train_ds, "ignore_index", 255),
           "epochs": epochs, "step": state["step"], "max_steps": cfg.max_steps}
    if main:
        try:
            atomic_write_json(out / "train_config.json", {**cfg.to_dict(), "size": list(size)})
        except OSError as e:
            raise UserError(f"cannot write to --out {out}: {e.strerror or e} (disk full or read-only?)") from None
        print(f"training {cfg.model} on {cfg.dataset} ({len(train_ds)} train / "
              f"{len(val_ds) if val_ds else 0} val images, {size[0]}x{size[1]}) for {epochs} epochs "
              f"({total_steps} steps) on {acc.device}{f' x{world}' if world > 1 else ''} -> {out}", file=sys.stderr)
    if cfg.log:
        acc.init_trackers(Path(out).name or "segcompare", config=_flat(cfg.to_dict()))

    try:
        _loop(ctx, state, epochs, val_ds is not None)
    except KeyboardInterrupt:
        if main:
            done = state["epoch"]
            print(f"\ninterrupted during epoch {done + 1}; the state after epoch {done} is in {out / 'last'}: "
                  "continue with --resume", file=sys.stderr)
        raise
    summary = {**summarize(ctx, state), "finished": True}
    if main:
        if val_ds is None:  # no validation: the best checkpoint is the last epoch
            save_best(ctx, summary)
        else:
            _update_summary(out, summary)
        best = summary["best_val_miou"]
        print(f"done: {cfg.model} best val mIoU {'n/a' if best is None else f'{100 * best:.1f}'} at epoch "
              f"{summary['best_epoch']} ({summary['epochs_run']} epochs, {summary['seconds']:.0f} s, "
              f"{summary['images_per_s']} img/s) -> {out}", file=sys.stderr)
    acc.wait_for_everyone()
    return out


def _loop(ctx, state: dict, epochs: int, has_val: bool) -> None:
    acc, cfg, main = ctx["acc"], ctx["cfg"], ctx["acc"].is_main_process
    for epoch in range(state["epoch"], epochs):
        if ctx["max_steps"] is not None and ctx["step"] >= ctx["max_steps"]:
            break
        start = time.perf_counter()
        tr = train_epoch(ctx, epoch)
        row = {"epoch": epoch + 1, "train_loss": tr["train_loss"], "val_loss": None, "val_miou": None,
               "lr": ctx["opt"].param_groups[0]["lr"], "seconds": 0.0, "train_seconds": round(tr["seconds"], 3),
               "train_cpu_seconds": round(tr["cpu_seconds"], 3),  # this process's CPU time: robust to load
               "images": tr["images"], "step": ctx["step"]}
        final = epoch + 1 == epochs or (ctx["max_steps"] is not None and ctx["step"] >= ctx["max_steps"])
        improved = False
        if has_val and ((epoch + 1) % cfg.val_every == 0 or final):
            val = validate(ctx)
            row["val_loss"], row["val_miou"] = val["val_loss"], val["val_miou"]
            improved = state["best_miou"] is None or val["val_miou"] > state["best_miou"]
            if improved:
                state["best_miou"], state["best_epoch"], state["bad_validations"] = val["val_miou"], epoch + 1, 0
            else:
                state["bad_validations"] += 1
        elif not has_val:
            state["best_epoch"] = epoch + 1
        row["seconds"] = round(time.perf_counter() - start, 3)
        state["history"].append(row)
        state["epoch"], state["step"] = epoch + 1, ctx["step"]
        state["scheduler"] = ctx["sched"].state_dict()
        state["config"] = cfg.to_dict()
        stop = cfg.patience and state["bad_validations"] >= cfg.patience
        if stop:
            state["stopped"] = f"early stop after {state['bad_validations']} validations without improvement"
        if main:
            if improved:
                save_best(ctx, summarize(ctx, state))
            write_history(ctx["out"], state["history"])
            save_last(ctx, state)
            print(_epoch_line(row, state, epochs), file=sys.stderr)
        if cfg.log:
            acc.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=epoch + 1)
        acc.wait_for_everyone()
        if stop:
            if main:
                print(f"early stop: no better val mIoU in {cfg.patience} validations", file=sys.stderr)
            break


def _epoch_line(row: dict, state: dict, epochs: int) -> str:
    rate = row["images"] / row["train_seconds"] if row["train_seconds"] else 0.0
    line = f"epoch {row['epoch']}/{epochs}: train loss {row['train_loss']:.4f}"
    if row["val_miou"] is not None:
        best = " (best)" if state["best_epoch"] == row["epoch"] else f" (best {100 * state['best_miou']:.1f})"
        line += f", val loss {row['val_loss']:.4f}, val mIoU {100 * row['val_miou']:.1f}{best}"
    return line + f", lr {row['lr']:.2e}, {row['seconds']:.1f} s, {rate:.1f} img/s"


def _update_summary(out: Path, summary: dict) -> None:
    from .checkpoint import read_config

    if not (out / "config.json").is_file():
        return
    config = read_config(out)
    config.setdefault("train", {})["summary"] = summary
    try:
        atomic_write_json(out / "config.json", config)
    except OSError as e:
        raise UserError(f"cannot update {out / 'config.json'}: {e.strerror or e}") from None


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

