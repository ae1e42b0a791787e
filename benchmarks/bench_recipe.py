"""Benchmark: which training recipe should be the default? `segcompare train` recipes vs a plain loop, on real photos.

    .venv/bin/python benchmarks/bench_recipe.py [--data ../shared/data] [--datasets camvid pets]
        [--model unet_resnet18] [--epochs 20] [--recipes default scale-crop/cosine light/cosine none/none]
        [--seeds 1] [--device auto] [--threads 2] [--json FILE]

For each real dataset (CamVid: train -> test, its val split cut in two by `test_from_val: 0.5` so that
choosing the best epoch on val never looks at the test frames; the Oxford-IIIT Pet subset: train -> test,
val = every 10th trainval name) it trains, from the same initial weights and at the same budget:
- the plain loop: AdamW (lr 1e-3, weight decay 0.01), constant learning rate, random horizontal flips,
  cross-entropy, batches of the whole train split pre-decoded in memory; its last weights are tested;
- `segcompare train` with each recipe `AUGMENT/SCHEDULER[/LOSS]`, or `default` (what a user gets with no
  options; everything else at its default: AdamW 1e-3, warm-up, default workers); its checkpoint (best
  validation mIoU) is tested.
Every model is tested the same way (one confusion matrix over the test split at the training size) and
every training speed is images per second of training time, median over the epochs after the first.
On a GPU (`--device auto` finds one) both sides train there in fp32 (the plain loop's batches pre-loaded into
GPU memory) at a larger size, and GPU utilisation is sampled while each trains (needs pynvml).
`python -m benchmarks` runs this with `--recipes default` for its training goals.
The defaults in segcompare are the recipe that wins here (see the README's "Training defaults" table).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.bench_train import GpuUtil, steady  # noqa: E402
from segcompare import metrics  # noqa: E402
from segcompare.checkpoint import load_model  # noqa: E402
from segcompare.data import get_dataset  # noqa: E402
from segcompare.data.transforms import DEFAULT_AUGMENT  # noqa: E402
from segcompare.formats import read_history_file  # noqa: E402
from segcompare.models import build_model  # noqa: E402
from segcompare.train import TrainConfig, fit  # noqa: E402

# name -> (spec under --data, dataset options, training size H W on a CPU (small enough for 2 cores), on a GPU)
DATASETS = {
    "camvid": ("folder:{data}/camvid", {"test_from_val": 0.5}, (96, 128), (192, 256)),
    "pets": ("oxford-pet:{data}/oxford-pet", {}, (96, 96), (256, 256)),
}
DEFAULT = f"default ({DEFAULT_AUGMENT}/{TrainConfig.scheduler}/{TrainConfig.loss})"  # the table's name for it


@dataclass
class Row:
    dataset: str
    recipe: str
    test_miou: float
    img_s: float  # training images per second (median of the epochs after the first)
    epochs: int
    minutes: float  # wall time of the whole run, validation included
    seed: int = 0
    device: str = "cpu"
    gpu_util: float | None = None  # mean GPU utilisation % while training (None: CPU, or no pynvml)


def plain_loop(model_name, spec, options, size, epochs, batch, seed=0,
               device=torch.device("cpu")) -> tuple[torch.nn.Module, float]:
    """The plainest loop -> (model, images/s): pre-decoded batches, AdamW, constant lr, flips, CE."""
    train = get_dataset(spec, "train", size=size, augment=False, **options)
    items = [train[i] for i in range(len(train))]  # each image decoded once
    x, y = torch.stack([a for a, _ in items]).to(device), torch.stack([b for _, b in items]).to(device)
    torch.manual_seed(seed)
    model = build_model(model_name, train.num_classes).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=train.ignore_index)
    g = torch.Generator().manual_seed(seed)
    rates = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        t = time.perf_counter()
        for k in range(len(x) // batch):  # drop the last partial batch, as segcompare's loader does
            idx = order[k * batch:(k + 1) * batch].to(device)
            xb, yb = x[idx], y[idx]
            flip = (torch.rand(len(idx), generator=g) < 0.5).to(device)
            xb[flip], yb[flip] = xb[flip].flip(-1), yb[flip].flip(-1)
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates.append((len(x) // batch) * batch / (time.perf_counter() - t))
    return model.eval(), steady(rates)


def segcompare_run(model_name, spec, options, size, epochs, batch, recipe, out, workers=None, seed=0,
                   device=torch.device("cpu")):
    """`segcompare train` with recipe AUGMENT/SCHEDULER[/LOSS] ("default": its defaults) -> (best model, images/s)."""
    parts = dict(zip(["augment", "scheduler", "loss"], recipe.split("/"))) if recipe != "default" else {}
    cfg = TrainConfig(model=model_name, dataset=spec, out=str(out), epochs=epochs, batch_size=batch,
                      size=size, dataset_options=dict(options), workers=workers, seed=seed, progress=False,
                      overwrite=True, device=str(device), **parts)
    fit(cfg)
    rows = read_history_file(Path(out) / "history.jsonl")
    rates = [r["images"] / r["train_seconds"] for r in rows if r.get("train_seconds")]
    model, _ = load_model(out)
    return model.to(device), steady(rates)


def test_miou(model, spec, options, size, batch=8) -> float:
    """mIoU over the whole test split: one confusion matrix, at the training size."""
    test = get_dataset(spec, "test", size=size, augment=False, **options)
    device = next(model.parameters()).device
    cm = torch.zeros(test.num_classes, test.num_classes, dtype=torch.long)
    loader = torch.utils.data.DataLoader(test, batch_size=batch)
    with torch.inference_mode():
        for xb, yb in loader:
            pred = model(xb.to(device)).argmax(1).cpu()
            cm += metrics.confusion_matrix(pred, yb, test.num_classes, test.ignore_index)
    return float(metrics.miou(cm))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="folder with camvid/ and oxford-pet/")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--model", default="unet_resnet18")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--batch", type=int, default=TrainConfig.batch_size)
    p.add_argument("--recipes", nargs="+", default=["default", "scale-crop/cosine", "light/cosine", "none/none"],
                   help="`default` or AUGMENT/SCHEDULER[/LOSS], e.g. flip/poly/ce+dice")
    p.add_argument("--size", type=int, nargs=2, help="training size H W for every dataset (default: per dataset)")
    p.add_argument("--device", default="auto", help="auto (a GPU when there is one) | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, help="segcompare's DataLoader workers (default: its own default)")
    p.add_argument("--seeds", type=int, default=1, help="runs per recipe (the table shows their mean)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds are FIRST_SEED .. FIRST_SEED + SEEDS - 1")
    p.add_argument("--json", help="write the rows here (after each run, so a stopped benchmark keeps its rows)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    rows: list[Row] = []
    for name in args.datasets:
        template, options, cpu_size, gpu_size = DATASETS[name]
        spec = template.format(data=args.data)
        size = tuple(args.size or (gpu_size if device.type == "cuda" else cpu_size))
        # seeds outermost: a load change on a shared machine hits every recipe alike
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for recipe in ["plain loop", *args.recipes]:
                rows.append(run_one(args, name, spec, options, size, recipe, seed, device))
                if args.json:
                    Path(args.json).write_text(json.dumps(report(args, rows, device), indent=1))
    print(table(rows))
    return 0


def run_one(args, name, spec, options, size, recipe, seed, device) -> Row:
    """Train one recipe (or the plain loop) with one seed and test it."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, GpuUtil(device) as util:
        if recipe == "plain loop":
            model, rate = plain_loop(args.model, spec, options, size, args.epochs, args.batch, seed, device)
        else:
            model, rate = segcompare_run(args.model, spec, options, size, args.epochs, args.batch, recipe,
                                         Path(tmp) / "run", args.workers, seed, device)
    miou = test_miou(model, spec, options, size)
    row = Row(name, DEFAULT if recipe == "default" else recipe, round(miou, 4), round(rate, 2), args.epochs,
              round((time.perf_counter() - start) / 60, 1), seed, str(device), util.mean)
    print(f"{name:>7} {row.recipe:>18} seed {seed}: test mIoU {miou:.4f}  train {rate:6.1f} img/s  "
          f"({row.minutes} min{f', GPU util {row.gpu_util}%' if row.gpu_util is not None else ''})", flush=True)
    return row


def report(args, rows: list[Row], device: torch.device) -> dict:
    return {"model": args.model, "threads": args.threads, "epochs": args.epochs, "batch": args.batch,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "rows": [asdict(r) for r in rows], "summary": summary(rows)}


def summary(rows: list[Row]) -> list[dict]:
    """Each recipe's mean over its seeds and its ratios to its dataset's plain loop (mIoU, images/s)."""
    runs: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        runs.setdefault((r.dataset, r.recipe), []).append(r)
    out = []
    for (dataset, recipe), v in runs.items():
        plain = runs.get((dataset, "plain loop"), [])
        utils = [r.gpu_util for r in v if r.gpu_util is not None]
        x = {"dataset": dataset, "recipe": recipe, "seeds": len(v),
             "test_miou": statistics.mean(r.test_miou for r in v),
             "miou_sd": statistics.stdev(r.test_miou for r in v) if len(v) > 1 else None,
             "img_s": statistics.mean(r.img_s for r in v), "gpu_util": statistics.mean(utils) if utils else None}
        base_miou = statistics.mean(r.test_miou for r in plain) if plain else 0.0
        base_speed = statistics.mean(r.img_s for r in plain) if plain else 0.0
        x["miou_ratio"] = x["test_miou"] / base_miou if base_miou else None
        x["speed_ratio"] = x["img_s"] / base_speed if base_speed else None
        out.append(x)
    return out


def table(rows: list[Row]) -> str:
    """Markdown table of `summary(rows)`."""
    lines = ["| dataset | recipe | seeds | test mIoU | vs plain loop | train img/s | vs plain loop |",
             "|---|---|---|---|---|---|---|"]
    for x in summary(rows):
        spread = f" ± {x['miou_sd']:.3f}" if x["miou_sd"] is not None else ""
        ratio = lambda v: f"{v:.2f}x" if v is not None else "-"  # noqa: E731
        lines.append(f"| {x['dataset']} | {x['recipe']} | {x['seeds']} | {x['test_miou']:.3f}{spread} | "
                     f"{ratio(x['miou_ratio'])} | {x['img_s']:.1f} | {ratio(x['speed_ratio'])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
