"""Benchmark: training images/s of `fit()` vs a minimal hand-written PyTorch loop, same model and data.

    .venv/bin/python benchmarks/bench_train.py [--model fcn_resnet18] [--size 128 128] [--batch 8]
        [--images 64] [--epochs 3] [--threads 2] [--device auto] [--json FILE]

Both sides train the same model on the same batches held in memory (a dataset registered for the run, no
augmentation, workers 0): the hand loop is AdamW + cross-entropy + zero_grad/forward/backward/step, nothing
else; fit() adds Accelerate, the schedule, progress bar, loss syncs every `log_every` steps, validation
(excluded: fit's history separates training time) and checkpoints (excluded for the same reason).
Runs alternate (hand, fit, hand, fit, hand) and medians are compared, so a load change on the shared machine
hits both sides alike. Goal: fit >= 0.95x the hand loop.
On a GPU it also runs both in bf16 + channels_last, and samples GPU utilisation during fit().
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from segcompare.data import DATASETS  # noqa: E402
from segcompare.data.base import SegDataset  # noqa: E402
from segcompare.models import build_model  # noqa: E402
from segcompare.train import TrainConfig, fit  # noqa: E402

SPEC = "bench-memory"


class MemoryDataset(SegDataset):
    """Pre-made (image, mask) tensors: reading an item costs nothing, like the hand loop's batches."""

    classes = ["a", "b", "c"]
    palette = [[0, 0, 0], [255, 0, 0], [0, 255, 0]]

    def __init__(self, items, split):
        super().__init__(SPEC, split, size=tuple(items[0][1].shape))
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def make_items(n: int, size, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h, w = size
    items = []
    for _ in range(n):
        y = torch.zeros(h, w, dtype=torch.long)
        a, b = torch.randint(0, h // 2, (1,), generator=g).item(), torch.randint(0, w // 2, (1,), generator=g).item()
        y[a:a + h // 2, b:b + w // 2] = 1
        y[h - h // 4:, : w // 3] = 2
        x = torch.randn(3, h, w, generator=g) * 0.5 + y.float().unsqueeze(0) * 0.5
        items.append((x, y))
    return items


def register(items, val_items) -> None:
    if SPEC not in DATASETS:
        DATASETS.add(SPEC, lambda root, split="train", **kw: MemoryDataset(items if split == "train" else val_items,
                                                                           split))


def hand_loop(model_name, items, batch, epochs, device, bf16=False, channels_last=False, seed=0) -> float:
    """Images/s of the plainest loop: AdamW, CE, fixed shuffled batches, first epoch as warm-up."""
    torch.manual_seed(seed)
    model = build_model(model_name, 3).to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=255)
    nb = len(items) // batch
    batches = []
    for i in range(nb):
        x = torch.stack([items[j][0] for j in range(i * batch, (i + 1) * batch)]).to(device)
        y = torch.stack([items[j][1] for j in range(i * batch, (i + 1) * batch)]).to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        batches.append((x, y))
    rates, cpu_rates = [], []
    for _ in range(epochs):
        _sync(device)
        t, c = time.perf_counter(), time.process_time()
        for x, y in batches:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _sync(device)
        rates.append(nb * batch / (time.perf_counter() - t))
        cpu_rates.append(nb * batch / (time.process_time() - c))
    return steady(rates), steady(cpu_rates)


def fit_rate(model_name, out, batch, epochs, device, bf16=False, channels_last=False):
    cfg = TrainConfig(model=model_name, dataset=SPEC, out=str(out), epochs=epochs, batch_size=batch,
                      workers=0, augment=False, progress=False, overwrite=True, device=device.type,
                      mixed_precision="bf16" if bf16 else "no", channels_last=channels_last, scheduler="none")
    with GpuUtil(device) as util:
        fit(cfg)
    rows = [json.loads(x) for x in (Path(out) / "history.jsonl").read_text().splitlines()]
    rates = [r["images"] / r["train_seconds"] for r in rows]
    cpu_rates = [r["images"] / r["train_cpu_seconds"] for r in rows]
    return steady(rates), steady(cpu_rates), util.samples


class GpuUtil:
    """`with GpuUtil(device) as u:` samples torch.cuda.utilization() every 0.2 s; u.samples / u.mean afterwards."""

    def __init__(self, device: torch.device):
        self.device, self.samples, self.stop = device, [], threading.Event()

    def __enter__(self):
        if self.device.type == "cuda":
            threading.Thread(target=self._sample, daemon=True).start()
        return self

    def _sample(self):
        while not self.stop.wait(0.2):
            try:
                self.samples.append(torch.cuda.utilization(self.device))
            except Exception:  # pynvml missing: no utilisation figure
                return

    def __exit__(self, *exc):
        self.stop.set()

    @property
    def mean(self) -> float | None:
        return round(statistics.mean(self.samples), 1) if self.samples else None


def steady(rates: list[float]) -> float:
    """Median over the epochs after the first (warm-up)."""
    return statistics.median(rates[1:]) if len(rates) > 1 else rates[0]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compare(args, device, items, bf16=False, channels_last=False) -> dict:
    """Alternate hand, fit, hand, fit, ..., hand so a load change on a shared machine hits both alike.

    Reports wall-clock images/s and, on a CPU, images per CPU-second of this process (with --threads 1 that
    figure hardly depends on what else runs on the machine).
    """
    label = "bf16+channels_last" if bf16 else "fp32"
    run = lambda: hand_loop(args.model, items, args.batch, args.epochs, device, bf16, channels_last)
    hands, fits, util = [run()], [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            f, f_cpu, u = fit_rate(args.model, Path(tmp) / "run", args.batch, args.epochs, device, bf16,
                                   channels_last)
        fits.append((f, f_cpu))
        util += u
        hands.append(run())
    med = lambda rows, i: statistics.median(r[i] for r in rows)
    hand, f = med(hands, 0), med(fits, 0)
    row = {"mode": label, "hand_img_s": round(hand, 2), "fit_img_s": round(f, 2), "ratio": round(f / hand, 3),
           "hand_runs": [round(h[0], 2) for h in hands], "fit_runs": [round(x[0], 2) for x in fits]}
    line = f"{label:>20}: wall   hand loop {hand:8.1f} img/s | fit {f:8.1f} img/s | ratio {f / hand:.3f}"
    if device.type == "cpu":
        hand_cpu, f_cpu = med(hands, 1), med(fits, 1)
        row.update(hand_img_per_cpu_s=round(hand_cpu, 2), fit_img_per_cpu_s=round(f_cpu, 2),
                   cpu_ratio=round(f_cpu / hand_cpu, 3))
        line += (f"\n{'':>20}  CPU    hand loop {hand_cpu:8.1f} img/cpu-s | fit {f_cpu:8.1f} img/cpu-s | "
                 f"ratio {f_cpu / hand_cpu:.3f}")
    if util:
        row["gpu_util_mean"] = round(statistics.mean(util), 1)
        line += f" | GPU util {row['gpu_util_mean']}%"
    print(line + f"\n{'':>20}  runs: hand {row['hand_runs']}, fit {row['fit_runs']}")
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fcn_resnet18")
    p.add_argument("--size", type=int, nargs=2, default=[128, 128])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="fit runs, each followed by a hand-loop run")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    items = make_items(args.images, args.size)
    register(items, make_items(2, args.size, seed=1))
    print(f"{args.model}, batch {args.batch}, {args.size[0]}x{args.size[1]}, {args.images} images x "
          f"{args.epochs} epochs (first = warm-up), {device}, {args.threads} threads")
    rows = [compare(args, device, items)]
    if device.type == "cuda":
        rows.append(compare(args, device, items, bf16=True, channels_last=True))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "device": str(device), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
