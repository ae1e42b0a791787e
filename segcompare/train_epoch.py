"""One training epoch and one validation pass of a `Run` (see `segcompare.train_setup`).

`train_epoch` steps the optimizer over this process's shard (gradient accumulation, clipping, mixed
precision through Accelerate) and stops at `max_steps`; `validate` sums a confusion matrix over processes.
The loss is read back from the device only every `log_every` batches (one sync) and checked to be finite.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time

import torch

from .data.loader import set_epoch
from .errors import UserError
from .train_setup import Run


class Diverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def train_epoch(run: Run, epoch: int, step: int) -> dict:
    """One pass over this process's shard from optimizer step `step`;
    -> {"train_loss", "images", "seconds", "cpu_seconds", "step"} (the step count after the epoch)."""
    from tqdm.auto import tqdm

    acc, cfg, model, loader = run.acc, run.cfg, run.model, run.train_loader
    set_epoch(loader, epoch)
    model.train()
    n_batches = len(loader)
    if cfg.max_steps is not None:
        n_batches = min(n_batches, (cfg.max_steps - step) * cfg.grad_accum)
    loss_sum = torch.zeros((), device=acc.device, dtype=torch.float64)
    images, start, cpu_start = 0, time.perf_counter(), time.process_time()
    bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{run.epochs}", unit="batch", leave=False,
               file=sys.stderr, disable=not (cfg.progress and run.main), dynamic_ncols=True)
    for b, batch in enumerate(loader):
        if b >= n_batches:
            break
        x, y = to_device(batch, acc.device, cfg.channels_last)
        group_end = (b + 1) % cfg.grad_accum == 0 or b + 1 == n_batches
        group = cfg.grad_accum if b // cfg.grad_accum < n_batches // cfg.grad_accum else n_batches % cfg.grad_accum
        with _maybe_no_sync(run, not group_end), acc.autocast():
            loss = run.loss_fn(forward(run, x), y)
            acc.backward(loss / group)
        if group_end:
            if cfg.grad_clip:
                acc.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            run.opt.step()
            run.sched.step()
            run.opt.zero_grad(set_to_none=True)
            step += 1
        loss_sum += loss.detach() * x.shape[0]
        images += x.shape[0]
        bar.update(1)
        if (b + 1) % cfg.log_every == 0 or b + 1 == n_batches:
            mean = loss_sum.item() / images  # the only sync per log_every steps
            check_finite(mean, run, epoch, b)
            rate = images * acc.num_processes / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{mean:.4f}", img_s=f"{rate:.1f}", refresh=False)
    bar.close()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    totals = acc.reduce(torch.tensor([loss_sum.item(), float(images)], device=acc.device, dtype=torch.float64),
                        "sum")
    mean = (totals[0] / max(totals[1], 1)).item()
    check_finite(mean, run, epoch, n_batches)
    return {"train_loss": mean, "images": int(totals[1].item()), "seconds": seconds, "cpu_seconds": cpu_seconds,
            "step": step}


@torch.no_grad()
def validate(run: Run) -> dict:
    """Loss and mIoU on the validation split (confusion matrix summed over processes)."""
    from .metrics import ConfusionMatrix, miou

    acc = run.acc
    model = acc.unwrap_model(run.model)  # no DDP collectives: shards may have different batch counts
    was_training = model.training
    model.eval()
    cm = ConfusionMatrix(run.num_classes, run.ignore_index, device=acc.device)
    loss_sum = torch.zeros((), device=acc.device, dtype=torch.float64)
    n = 0
    for batch in run.val_loader:
        x, y = to_device(batch, acc.device, run.cfg.channels_last)
        with acc.autocast():
            logits = model(x)
            loss_sum += run.loss_fn(logits, y).double() * x.shape[0]
        cm.update(logits.argmax(1), y)
        n += x.shape[0]
    model.train(was_training)
    mat = acc.reduce(cm.mat, "sum")
    totals = acc.reduce(torch.stack([loss_sum, torch.tensor(float(n), device=acc.device, dtype=torch.float64)]),
                        "sum")
    return {"val_loss": (totals[0] / max(totals[1], 1)).item(), "val_miou": float(miou(mat.cpu())),
            "confusion_matrix": mat.cpu().tolist()}


def to_device(batch, device, channels_last: bool):
    x = batch[0].to(device, non_blocking=True)
    y = batch[1].to(device, non_blocking=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def forward(run: Run, x):
    try:
        return run.model(x)
    except ValueError as e:
        if "Expected more than 1 value per channel" not in str(e):
            raise
        raise UserError(f"{run.cfg.model}'s BatchNorm sees a single value per channel with batch {x.shape[0]} at "
                        f"{x.shape[-2]}x{x.shape[-1]}: use --batch-size 2 or more, or a larger --size") from None


def _maybe_no_sync(run: Run, skip: bool):
    """Accumulating processes skip DDP's gradient all-reduce until the group's last batch."""
    return run.acc.no_sync(run.model) if skip and run.acc.num_processes > 1 else contextlib.nullcontext()


def check_finite(value: float, run: Run, epoch: int, batch: int) -> None:
    if math.isfinite(value):
        return
    kept = f"the last good state (after epoch {epoch}) is kept in {run.out / 'last'}" if epoch else \
        "no epoch finished, so nothing was saved"
    raise Diverged(f"training loss became {value} in epoch {epoch + 1} (around batch {batch + 1}); {kept}. "
                   "Lower --lr, add --grad-clip 1.0, or use --mixed-precision no")
