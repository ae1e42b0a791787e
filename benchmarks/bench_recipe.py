"""Benchmark: which training recipe should be the default? `segcompare train` recipes vs a plain loop, on real photos.

    .venv/bin/python benchmarks/bench_recipe.py [--data ../shared/data] [--datasets camvid pets]
        [--model unet_resnet18] [--epochs 20] [--recipes scale-crop/cosine light/cosine flip/cosine]
        [--threads 2] [--json FILE]

For each real dataset (CamVid: train -> test, its val split cut in two by `test_from_val: 0.5` so that
choosing the best epoch on val never looks at the test frames; the Oxford-IIIT Pet subset: train -> test,
val = every 10th trainval name) it trains, from the same initial weights and at the same budget:
- the plain loop: AdamW (lr 1e-3, weight decay 0.01), constant learning rate, random horizontal flips,
  cross-entropy, batches of the whole train split pre-decoded in memory; its last weights are tested;
- `segcompare train` with each recipe `AUGMENT/SCHEDULER` (everything else at its default: AdamW 1e-3,
  warm-up, default workers); its checkpoint (best validation mIoU) is tested.
Every model is tested the same way (one confusion matrix over the test split at the training size) and
every training speed is images per second of training time, median over the epochs after the first.
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
from segcompare import metrics  # noqa: E402
from segcompare.checkpoint import load_model  # noqa: E402
from segcompare.data import get_dataset  # noqa: E402
from segcompare.formats import read_history_file  # noqa: E402
from segcompare.models import build_model  # noqa: E402
from segcompare.train import TrainConfig, fit  # noqa: E402

# name -> (spec under --data, dataset options, training size H W: small enough for a 2-core CPU)
DATASETS = {
    "camvid": ("folder:{data}/camvid", {"test_from_val": 0.5}, (96, 128)),
    "pets": ("oxford-pet:{data}/oxford-pet", {}, (96, 96)),
}


@dataclass
class Row:
    dataset: str
    recipe: str
    test_miou: float
    img_s: float  # training images per second (median of the epochs after the first)
    epochs: int
    minutes: float  # wall time of the whole run, validation included


def plain_loop(model_name, spec, options, size, epochs, batch, seed=0) -> tuple[torch.nn.Module, float]:
    """The plainest loop -> (model, images/s): pre-decoded batches, AdamW, constant lr, flips, CE."""
    train = get_dataset(spec, "train", size=size, augment=False, **options)
    items = [train[i] for i in range(len(train))]  # each image decoded once
    x, y = torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])
    torch.manual_seed(seed)
    model = build_model(model_name, train.num_classes).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=train.ignore_index)
    g = torch.Generator().manual_seed(seed)
    rates = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        t = time.perf_counter()
        for k in range(len(x) // batch):  # drop the last partial batch, as segcompare's loader does
            idx = order[k * batch:(k + 1) * batch]
            xb, yb = x[idx], y[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb[flip], yb[flip] = xb[flip].flip(-1), yb[flip].flip(-1)
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rates.append((len(x) // batch) * batch / (time.perf_counter() - t))
    return model.eval(), steady(rates)


def segcompare_run(model_name, spec, options, size, epochs, batch, recipe, out, workers=None):
    """`segcompare train` with recipe AUGMENT/SCHEDULER -> (best checkpoint's model, images/s)."""
    augment, scheduler = recipe.split("/")
    cfg = TrainConfig(model=model_name, dataset=spec, out=str(out), epochs=epochs, batch_size=batch,
                      size=size, augment=augment, scheduler=scheduler, dataset_options=dict(options),
                      workers=workers, progress=False, overwrite=True)
    fit(cfg)
    rows = read_history_file(Path(out) / "history.jsonl")
    rates = [r["images"] / r["train_seconds"] for r in rows if r.get("train_seconds")]
    model, _ = load_model(out)
    return model, steady(rates)


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


def steady(rates: list[float]) -> float:
    return statistics.median(rates[1:]) if len(rates) > 1 else rates[0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="folder with camvid/ and oxford-pet/")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--model", default="unet_resnet18")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--batch", type=int, default=TrainConfig.batch_size)
    p.add_argument("--recipes", nargs="+", default=["scale-crop/cosine", "light/cosine", "flip/cosine"])
    p.add_argument("--size", type=int, nargs=2, help="training size H W for every dataset (default: per dataset)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, help="segcompare's DataLoader workers (default: its own default)")
    p.add_argument("--json", help="write the rows here (after each run, so a stopped benchmark keeps its rows)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows: list[Row] = []
    for name in args.datasets:
        template, options, size = DATASETS[name]
        spec, size = template.format(data=args.data), tuple(args.size or size)
        for recipe in ["plain loop", *args.recipes]:
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                if recipe == "plain loop":
                    model, rate = plain_loop(args.model, spec, options, size, args.epochs, args.batch)
                else:
                    model, rate = segcompare_run(args.model, spec, options, size, args.epochs, args.batch, recipe,
                                                 Path(tmp) / "run", args.workers)
                miou = test_miou(model, spec, options, size)
            rows.append(Row(name, recipe, round(miou, 4), round(rate, 2), args.epochs,
                            round((time.perf_counter() - start) / 60, 1)))
            print(f"{name:>7} {recipe:>18}: test mIoU {miou:.4f}  train {rate:6.1f} img/s  "
                  f"({rows[-1].minutes} min)", flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps({"model": args.model, "threads": args.threads,
                                                       "rows": [asdict(r) for r in rows]}, indent=1))
    print(table(rows))
    return 0


def table(rows: list[Row]) -> str:
    """Markdown table: each recipe against its dataset's plain loop (mIoU ratio and speed ratio)."""
    plain = {r.dataset: r for r in rows if r.recipe == "plain loop"}
    lines = ["| dataset | recipe | test mIoU | vs plain loop | train img/s | vs plain loop |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        base = plain.get(r.dataset)
        miou = f"{r.test_miou / base.test_miou:.2f}x" if base and base.test_miou else "-"
        speed = f"{r.img_s / base.img_s:.2f}x" if base and base.img_s else "-"
        lines.append(f"| {r.dataset} | {r.recipe} | {r.test_miou:.3f} | {miou} | {r.img_s:.1f} | {speed} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
