"""Benchmark: confusion-matrix accumulation vs bare `torch.bincount`, and forward vs metric time.

    .venv/bin/python benchmarks/bench_metrics.py [--threads 1] [--size 512] [--batch 4] [--classes 19]

1. Accumulation speed on the same tensors (argmax labels and a ground truth with ignore pixels):
   - bare:       torch.bincount((target * K + pred).flatten(), minlength=K*K)   (no ignore handling)
   - reference:  torchvision's references ConfusionMatrix.update (boolean mask, compaction, bincount)
   - ours:       metrics.ConfusionMatrix.update (ignore to a spare bin, one bincount)
   - per-image:  metrics.confusion_per_image (one bincount gives one matrix per image)
   and, for scale, the rest of the per-batch metric work (argmax, boundary band, band matrix, pixel sample).
   Reported as ratios to bare in one run (goal: ours >= 0.9x bare speed).
2. evaluate() of a random-weight model on a generated folder dataset, split into data, forward and
   metric time (metric time = confusion matrices, boundary band, probability sample).
Timings are medians of repeated runs in one process with the thread count set explicitly (the machine is
shared: compare ratios, not absolute numbers, across runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from segcompare import metrics as M  # noqa: E402
from segcompare.calibration import PixelSample  # noqa: E402
from segcompare.evaluation import evaluate  # noqa: E402


def timeit_interleaved(fns: dict, repeat: int = 30, warmup: int = 3) -> dict:
    """Median seconds per function, running them in turns so a load change hits all of them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def reference_update(mat, a, b, n):
    """torchvision/references/segmentation/utils.py ConfusionMatrix.update (a = target, b = pred)."""
    k = (a >= 0) & (a < n)
    inds = n * a[k].to(torch.int64) + b[k]
    mat += torch.bincount(inds, minlength=n**2).reshape(n, n)


def bench_accumulation(args) -> dict:
    g = torch.Generator().manual_seed(0)
    k, b, s = args.classes, args.batch, args.size
    logits = torch.randn(b, k, s, s, generator=g)
    pred = logits.argmax(1)
    target = torch.randint(0, k, (b, s, s), generator=g)
    target[:, : s // 10] = 255  # 10% ignore, like a void region
    band = M.boundary_band(target, 3)
    cm = M.ConfusionMatrix(k)
    ref = torch.zeros(k, k, dtype=torch.int64)
    index = (target * k + pred).flatten()
    times = timeit_interleaved({
        "bare_bincount": lambda: torch.bincount((target * k + pred).flatten(), minlength=k * k),
        "bincount_of_precomputed_index": lambda: torch.bincount(index, minlength=k * k),
        "torchvision_reference": lambda: reference_update(ref, target.flatten(), pred.flatten(), k),
        "ours_ConfusionMatrix.update": lambda: cm.update(pred, target),
        "ours_confusion_per_image": lambda: M.confusion_per_image(pred, target, k),
    }, repeat=args.repeat)
    # the rest of evaluate()'s per-batch metric work, for scale
    times.update(timeit_interleaved({
        "argmax": lambda: logits.argmax(1),
        "boundary_band_3px": lambda: M.boundary_band(target, 3),
        "band_confusion": lambda: M.confusion_per_image(pred, target, k, mask=band).sum(0),
        "pixel_sample": lambda: PixelSample(100, seed=0).add(logits, target, range(b)),
    }, repeat=max(3, args.repeat // 5)))
    check = M.confusion_matrix(pred, target, k)
    ref.zero_()
    reference_update(ref, target.flatten(), pred.flatten(), k)
    assert torch.equal(check, ref), "ours and the reference disagree"
    pixels = b * s * s
    return {name: {"ms": round(1000 * t, 3), "mpix_per_s": round(pixels / t / 1e6, 1),
                   "speed_vs_bare": round(times["bare_bincount"] / t, 3)} for name, t in times.items()}


def write_folder(root: Path, n: int, size: int, k: int) -> str:
    rng = np.random.default_rng(0)
    for d in ("images", "masks"):
        (root / "test" / d).mkdir(parents=True, exist_ok=True)
    (root / "classes.json").write_text(json.dumps({"classes": [f"c{i}" for i in range(k)]}))
    for i in range(n):
        mask = np.zeros((size, size), np.uint8)
        for c in range(1, k):
            y, x = rng.integers(0, size * 3 // 4, 2)
            mask[y:y + size // 4, x:x + size // 4] = c
        Image.fromarray(rng.integers(0, 256, (size, size, 3)).astype(np.uint8)).save(root / f"test/images/{i}.png")
        Image.fromarray(mask).save(root / f"test/masks/{i}.png")
    return f"folder:{root}"


def bench_evaluate(args) -> dict:
    from segcompare.models import build_model

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_folder(Path(tmp), args.images, args.eval_size, args.eval_classes)
        for name in args.models:
            model = build_model(name, args.eval_classes).eval()
            cfg = {"input_size": [args.eval_size, args.eval_size]}
            evaluate((model, cfg), spec, latency=False, progress=False, max_images=1)  # warm-up
            res = evaluate((model, cfg), spec, batch_size=args.batch, latency=False, progress=False)
            t = res["timing"]
            out[name] = {**t, "metrics_share_of_forward": round(t["metrics_s"] / t["forward_s"], 4),
                         "images": res["num_images"], "size": args.eval_size}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--classes", type=int, default=19)
    p.add_argument("--repeat", type=int, default=40)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--eval-size", type=int, default=256)
    p.add_argument("--eval-classes", type=int, default=3)
    p.add_argument("--models", nargs="+", default=["unet_resnet18", "segformer_b0"])
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    report = {"threads": args.threads, "torch": torch.__version__,
              "accumulation": {"batch": args.batch, "size": args.size, "classes": args.classes,
                               **bench_accumulation(args)},
              "evaluate": bench_evaluate(args)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
