"""Inference latency per demo model: eager fp32 vs channels_last vs torch.compile vs ONNX Runtime vs the default.

    python -m benchmarks.bench_inference [--checkpoints DIR ...] [--sizes 512 app] [--runs 12] [--threads 2]
                                         [--compile first|512|all|none] [--json FILE]

For every checkpoint (default: checkpoints/pets/*, else random-weight demo models) and input size (512x512
and the app's working size = the checkpoint's `input_size`), batch 1, under `torch.inference_mode`:
  - eager fp32 (the reference), eager channels_last, torch.compile (inductor), ONNX Runtime on the exported
    graph, and `segcompare.backends.Backend` = the app's default (whichever path it settles on);
  - p50 / p95 latency, speed-up = eager p50 / variant p50, max |logit difference| vs eager, argmax agreement
    (% of pixels) and the mIoU of the variant's labels against eager's.
The variants run in turns (ABAB...) so a load change on the shared machine hits them alike; threads are set
explicitly. The input is a test image of the checkpoint's dataset (procedural datasets need no download).
On a GPU it adds cuda fp32 and cuda bf16 + channels_last rows.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEMO = ["fcn_mobilenet_v3_small", "unet_tu-mobilenetv3_small_100", "pspnet_tu-mobilenetv3_small_100",
        "deeplabv3plus_tu-mobilenetv3_small_100", "segformer_b0"]
GOAL_SPEEDUP = 1.3


def load_models(checkpoints: list[str] | None) -> list[tuple]:
    """(label, model, config) for each checkpoint; random-weight demo models when there are none."""
    from segcompare.checkpoint import load_model

    dirs = [Path(c) for c in checkpoints] if checkpoints else sorted((ROOT / "checkpoints" / "pets").glob("*/"))
    dirs = [d for d in dirs if (d / "config.json").is_file()]
    if dirs:
        return [(d.name, *load_model(d)) for d in dirs]
    from segcompare.models import build_model

    torch.manual_seed(0)
    return [(f"{n} (random)", build_model(n, 3).eval(), {"input_size": [128, 128], "dataset": "synthetic-pets"})
            for n in DEMO]


def test_image(config: dict, size) -> torch.Tensor:
    """One normalised test image of the checkpoint's dataset at `size`, else a fixed random picture."""
    try:
        from segcompare.data import get_dataset

        ds = get_dataset(config["dataset"], "test", size=tuple(size))
        return ds[0][0].unsqueeze(0).float().contiguous()
    except Exception:  # noqa: BLE001 - a dataset that needs a download: fall back to a random input
        return torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))


def variants(model, x: torch.Tensor, compile_it: bool) -> tuple[dict, dict, dict]:
    """name -> callable, name -> note, plus the default Backend's description."""
    from segcompare.backends import Backend

    fns, notes = {"eager fp32": model}, {}
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    fns["channels_last"] = lambda t: cl(t.contiguous(memory_format=torch.channels_last))
    if compile_it:
        t0 = time.perf_counter()
        try:
            compiled = torch.compile(copy.deepcopy(model))
            with torch.inference_mode():
                compiled(x)
            fns["torch.compile"] = compiled
            notes["torch.compile"] = f"compile {time.perf_counter() - t0:.0f} s"
        except Exception as e:  # noqa: BLE001 - inductor needs a compiler; report instead of crashing
            notes["torch.compile"] = f"failed: {type(e).__name__}"
    t0 = time.perf_counter()
    default = Backend(model, background=False)
    kind = default.prepare(tuple(x.shape))
    prep = time.perf_counter() - t0
    onnx_reason = "; ".join(f"{k}: {v}" for k, v in default.reasons.items() if k.startswith("onnx")) or ""
    if kind == "onnx":
        fns["onnxruntime = default"] = default
        notes["onnxruntime = default"] = f"export/check {prep:.0f} s (cached after the first run)"
    else:
        notes["onnxruntime"] = f"not used: {onnx_reason or 'unknown'}"
        fns[f"default = {kind}"] = default
    if torch.cuda.is_available():
        gpu = copy.deepcopy(model).cuda()
        fns["cuda fp32"] = lambda t: gpu(t.cuda()).float().cpu()
        g16 = copy.deepcopy(model).cuda().to(memory_format=torch.channels_last)

        def bf16(t):
            with torch.autocast("cuda", torch.bfloat16):
                return g16(t.cuda().contiguous(memory_format=torch.channels_last)).float().cpu()
        fns["cuda bf16+channels_last"] = bf16
    return fns, notes, {"kind": kind, "reasons": dict(default.reasons)}


def label_miou(pred: torch.Tensor, ref: torch.Tensor, k: int) -> float:
    from segcompare import metrics

    return float(metrics.miou(metrics.confusion_matrix(pred.flatten(), ref.flatten(), k)))


def time_interleaved(fns: dict, x: torch.Tensor, runs: int, warmup: int = 2) -> dict[str, list[float]]:
    times = {n: [] for n in fns}
    with torch.inference_mode():
        for i in range(warmup + runs):
            for n, fn in fns.items():
                t = time.perf_counter()
                fn(x)
                if x.is_cuda or n.startswith("cuda"):
                    torch.cuda.synchronize()
                if i >= warmup:
                    times[n].append((time.perf_counter() - t) * 1000)
    return times


def bench_one(label: str, model, config: dict, size, runs: int, compile_it: bool) -> list[dict]:
    x = test_image(config, size)
    fns, notes, default = variants(model, x, compile_it)
    times = time_interleaved(fns, x, runs)
    with torch.inference_mode():
        ref = model(x)
        outs = {n: fn(x) for n, fn in fns.items()}
    base = statistics.median(times["eager fp32"])
    rows = []
    for n, ts in times.items():
        out = outs[n].float()
        p50 = statistics.median(ts)
        rows.append({"model": label, "size": f"{size[0]}x{size[1]}", "variant": n, "p50_ms": round(p50, 1),
                     "p95_ms": round(float(np.percentile(ts, 95)), 1), "speedup": round(base / p50, 2),
                     "max_logit_diff": float(f"{float((out - ref).abs().max()):.2g}"),
                     "agreement_pct": round(100 * float((out.argmax(1) == ref.argmax(1)).float().mean()), 3),
                     "miou_vs_eager": round(100 * label_miou(out.argmax(1), ref.argmax(1), ref.shape[1]), 2),
                     "note": notes.get(n, ""), "default": n.startswith(("onnxruntime = default", "default"))})
    rows += [{"model": label, "size": f"{size[0]}x{size[1]}", "variant": n, "note": v}
             for n, v in notes.items() if n not in times]
    return rows


def print_table(rows: list[dict], header: bool = True) -> None:
    if header:
        print(f"{'model':40} {'size':>8} {'variant':26} {'p50 ms':>8} {'p95 ms':>8} {'speed':>6} {'max dlogit':>10} "
              f"{'agree %':>8} {'mIoU %':>7}  note")
    for r in rows:
        if "p50_ms" not in r:
            print(f"{r['model']:40} {r['size']:>8} {r['variant']:26} {'':>8} {'':>8} {'':>6} {'':>10} {'':>8} "
                  f"{'':>7}  {r['note']}")
            continue
        print(f"{r['model']:40} {r['size']:>8} {r['variant']:26} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} "
              f"{r['speedup']:5.2f}x {r['max_logit_diff']:10.2g} {r['agreement_pct']:8.3f} {r['miou_vs_eager']:7.2f}"
              f"  {r['note']}", flush=True)


def run(checkpoints=None, sizes=("512", "app"), runs: int = 10, threads: int = 2, compile_mode: str = "first",
        only: str | None = None) -> dict:
    torch.set_num_threads(threads)
    models = [m for m in load_models(checkpoints) if not only or only in m[0]]
    rows = []
    for label, model, config in models:
        for s in sizes:
            size = tuple(config.get("input_size") or (128, 128)) if s == "app" else (int(s), int(s))
            # compiling costs 10-160 s per model and shape on 2 cores: by default one model shows what it gives
            compile_it = compile_mode == "all" or (compile_mode in ("512", "first") and s != "app"
                                                   and (compile_mode == "512" or label == models[0][0]))
            new = bench_one(label, model, config, size, runs, compile_it)
            print_table(new, header=not rows)
            rows += new
    return {"threads": threads, "runs": runs, "device": "cuda" if torch.cuda.is_available() else "cpu",
            "goal_speedup": GOAL_SPEEDUP, "rows": rows}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoints", nargs="*", default=None)
    p.add_argument("--sizes", nargs="+", default=["512", "app"], help="square sizes and/or 'app'")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile", default="first", choices=["first", "512", "all", "none"],
                   help="torch.compile: first model at 512 (default), every model at 512, every size, or none")
    p.add_argument("--only", help="models whose name contains this")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args(argv)
    out = run(a.checkpoints, a.sizes, a.runs, a.threads, a.compile, a.only)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
