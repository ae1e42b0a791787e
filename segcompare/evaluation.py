"""Evaluate a checkpoint on a dataset split -> results (Contract 4 of docs/DESIGN.md).

One pass over the split: the model's logits become per-image confusion matrices (one `torch.bincount`
per batch, on the device), whose sum is the dataset matrix every metric comes from; a second matrix
counts only the pixels near ground-truth edges (boundary IoU). A bounded pixel sample of probabilities
gives ROC / PR curves and calibration. Cost (parameters, size, latency) and an optional robustness sweep
over corrupted images complete the results, written atomically as JSON without NaN.
"""

from __future__ import annotations

import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from . import metrics as M
from .calibration import PixelSample, curves, reliability
from .data.taxonomies import TAXONOMIES
from .errors import UserError
from .results import FORMAT, check_results
from .robustness import SEVERITIES, corrupt, list_corruptions

# --- model and data ------------------------------------------------------------------------------------

def _load(checkpoint_or_model, config: dict | None, device: torch.device):
    """-> (model, config, checkpoint label) from a path / repo id, a (model, config) tuple or a module."""
    if isinstance(checkpoint_or_model, tuple):
        model, cfg = checkpoint_or_model
        cfg = {**(cfg or {}), **(config or {})}
    elif isinstance(checkpoint_or_model, torch.nn.Module):
        model, cfg = checkpoint_or_model, dict(config or {})
    else:
        from .checkpoint import load_model

        model, cfg = load_model(checkpoint_or_model, device="cpu")
        cfg = {**cfg, **(config or {})}
        cfg.setdefault("checkpoint", str(checkpoint_or_model))
    cfg.setdefault("name", getattr(model, "name", type(model).__name__))
    cfg.setdefault("num_classes", getattr(model, "num_classes", None))
    return model.to(device).eval(), cfg


def _device(device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return dev


def recorded_options(spec: str, cfg: dict) -> dict:
    """The dataset options the checkpoint was trained with, when it is evaluated on the same dataset spec."""
    train = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
    same = spec in (cfg.get("dataset"), train.get("dataset"))  # the dataset's spec, or the one given to train
    options = train.get("dataset_options") if same else None
    return dict(options) if isinstance(options, dict) else {}


def _dataset(spec: str, split: str, size, cfg: dict, options: dict | None = None, remap=None):
    from .data import get_dataset

    options = recorded_options(spec, cfg) if options is None else options
    ds = get_dataset(spec, split, size=size, normalize=False, **options)
    k = cfg.get("num_classes") or len(ds.classes)
    if len(ds.classes) != k:
        # --remap maps the model's predictions *after* scoring on the dataset it was trained on
        hint = ("--remap applies to results on the model's own label set: evaluate on a dataset with its "
                f"{k} classes and remap those" if remap is not None else
                "or use --remap on a model with more classes")
        raise UserError(f"model {cfg['name']!r} predicts {k} classes but dataset {spec!r} has "
                        f"{len(ds.classes)} ({', '.join(ds.classes)}); evaluate on a dataset with the same "
                        f"classes ({hint})")
    if cfg.get("classes") and list(cfg["classes"]) != list(ds.classes):
        print(f"warning: class names differ between the model ({', '.join(cfg['classes'])}) and {spec} "
              f"({', '.join(ds.classes)}); results use the dataset's names", file=sys.stderr)
    return ds


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- the evaluation pass -------------------------------------------------------------------------------

def _normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def _batches(ds, indices: list[int], batch_size: int):
    """Batches of (images [B,3,H,W] in [0,1], masks [B,H,W], dataset indices) from the one loader factory;
    workers off (2 cores)."""
    from .data.loader import make_loader

    loader = make_loader(torch.utils.data.Subset(ds, indices), batch_size, workers=0, pin_memory=False)
    for start, (images, masks) in zip(range(0, len(indices), batch_size), loader):
        yield images, masks, indices[start:start + batch_size]


def _run(model, ds, indices, cfg, device, batch_size, boundary_px=None, sample=None, corruption=None,
         seed=0, bar=None) -> dict:
    """One pass: per-image matrices (CPU), the dataset matrix (accumulated on the device), band matrix."""
    k, ignore = len(ds.classes), ds.ignore_index
    total = M.ConfusionMatrix(k, ignore, device=device)
    band = M.ConfusionMatrix(k, ignore, device=device)
    per_image, timing = [], {"data_s": 0.0, "forward_s": 0.0, "metrics_s": 0.0}
    t0 = time.perf_counter()
    with torch.inference_mode():
        for images, masks, ids in _batches(ds, indices, batch_size):
            images, masks = images.to(device), masks.to(device)
            if corruption is not None:
                images = corrupt(images, corruption[0], corruption[1], ids, seed=seed)
            _sync(device)
            t1 = time.perf_counter()
            logits = model(_normalize(images, cfg["mean"], cfg["std"]))
            _sync(device)
            t2 = time.perf_counter()
            pred = logits.argmax(1)
            cms = M.confusion_per_image(pred, masks, k, ignore)
            total.add(cms.sum(0))
            if boundary_px is not None:
                near_edge = M.boundary_band(masks, boundary_px)
                band.add(M.confusion_per_image(pred, masks, k, ignore, mask=near_edge).sum(0))
            if sample is not None:
                sample.add(logits, masks, ids)
            per_image.append(cms.cpu())
            t3 = time.perf_counter()
            timing["data_s"] += t1 - t0
            timing["forward_s"] += t2 - t1
            timing["metrics_s"] += t3 - t2
            t0 = t3
            if bar is not None:
                bar.update(len(ids))
    total.reduce()
    band.reduce()
    per = torch.cat(per_image) if per_image else torch.zeros(0, k, k, dtype=torch.int64)
    return {"cm": total.mat.cpu(), "band": band.mat.cpu(), "per_image": per, "timing": timing}


# --- cost ----------------------------------------------------------------------------------------------

def model_size_mb(model, cfg: dict) -> float:
    """Size of model.safetensors on disk when evaluating a checkpoint, else parameter bytes (MiB)."""
    path = cfg.get("path") or cfg.get("checkpoint")
    if path:
        f = Path(str(path)) / "model.safetensors"
        if f.is_file():
            return f.stat().st_size / 2**20
    return sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20


def measure_latency(model, size, device, runs: int = 20, warmup: int = 3) -> dict:
    """Batch-1 forward latency in ms (p50 / p95) after warm-up, under inference_mode."""
    device = torch.device(device)
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0)).to(device)
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            _sync(device)
            t = time.perf_counter()
            model(x)
            _sync(device)
            if i >= warmup:
                times.append((time.perf_counter() - t) * 1000)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"device": name, "batch": 1, "size": list(size), "p50": float(np.percentile(times, 50)),
            "p95": float(np.percentile(times, 95)), "threads": torch.get_num_threads(), "runs": runs}


# --- results -------------------------------------------------------------------------------------------

def _nan_to_none(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def _per_image(names, cms: torch.Tensor) -> dict:
    return {"names": list(names), "miou": M._floats(M.miou(cms)) if len(cms) else [],
            "pixel_accuracy": M._floats(M.pixel_accuracy(cms)) if len(cms) else [],
            "confusion": cms.tolist()}


def metric_fields(cm, band_cm, per_image_cms, names) -> dict:
    """Every metric field of Contract 4 that derives from confusion matrices."""
    out = {"confusion_matrix": torch.as_tensor(cm).tolist(), **M.summarize(cm)}
    if band_cm is not None:
        out["boundary_iou"] = M._floats(M.miou(band_cm))
        out["per_class_boundary_iou"] = M._floats(M.iou_per_class(band_cm))
        out["boundary_confusion_matrix"] = torch.as_tensor(band_cm).tolist()
    out["per_image"] = _per_image(names, torch.as_tensor(per_image_cms))
    return out


def calibration_fields(sample: PixelSample, classes: list[str]) -> dict:
    """roc, pr, ece, reliability and sampled_pixels of results.json, from the sampled pixels' probabilities."""
    probs, labels = sample.arrays()
    roc, pr = curves(probs, labels, classes)
    rel = reliability(probs, labels)
    return {"roc": roc, "pr": pr, "ece": rel.pop("ece"), "reliability": rel, "sampled_pixels": int(labels.size)}


def evaluate(checkpoint_or_model, dataset: str, split: str = "test", size=None, boundary_px: int = 3,
             robustness: bool = False, latency: bool = True, device="cpu", batch_size: int = 4,
             max_images: int | None = None, config: dict | None = None, *,
             robustness_images: int | None = None, remap=None, roc_pixels: int = 200_000,
             latency_runs: int = 20, seed: int = 0, progress: bool = True,
             dataset_options: dict | None = None) -> dict:
    """Evaluate a checkpoint (path, Hub id, or `(model, config)`) on `split` of `dataset` -> results dict."""
    from tqdm.auto import tqdm

    if boundary_px < 0:
        raise UserError(f"--boundary-px must be >= 0, got {boundary_px}")
    if batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {batch_size}")
    dev = _device(device)
    model, cfg = _load(checkpoint_or_model, config, dev)
    size = tuple(size) if size else (tuple(cfg["input_size"]) if cfg.get("input_size") else None)
    ds = _dataset(dataset, split, size, cfg, dataset_options, remap)
    cfg.setdefault("mean", list(ds.mean))
    cfg.setdefault("std", list(ds.std))
    indices = list(range(len(ds) if max_images is None else min(len(ds), max_images)))
    if not indices:
        raise UserError(f"split {split!r} of {dataset!r} has no images to evaluate")
    if size is None:
        batch_size = 1  # native sizes may differ between images: no stacking
    names = [ds.name(i) for i in indices]
    sample = PixelSample(len(indices), roc_pixels, seed, ds.ignore_index) if roc_pixels else None

    bar = tqdm(total=len(indices), desc=f"evaluate {cfg['name']}", unit="img", file=sys.stderr,
               disable=not progress)
    with bar:
        run = _run(model, ds, indices, cfg, dev, batch_size, boundary_px, sample, seed=seed, bar=bar)
    eval_size = list(size) if size else list(ds[indices[0]][1].shape)

    results = {"format": FORMAT, "model": cfg["name"], "checkpoint": cfg.get("checkpoint"),
               "dataset": dataset, "split": split, "classes": list(ds.classes), "num_images": len(indices),
               "input_size": eval_size, "boundary_px": boundary_px}
    results.update(metric_fields(run["cm"], run["band"], run["per_image"], names))
    results["params"] = sum(p.numel() for p in model.parameters())
    results["size_mb"] = model_size_mb(model, cfg)
    if latency:
        results["latency_ms"] = measure_latency(model, eval_size, dev, runs=latency_runs)
    if sample is not None:
        results.update(calibration_fields(sample, list(ds.classes)))
    if robustness:
        results.update(robustness_sweep(model, ds, indices[:robustness_images], cfg, dev, batch_size, seed,
                                        progress))
    if isinstance(cfg.get("provenance"), dict):
        results["provenance"] = cfg["provenance"]
    results["timing"] = {k: round(v, 4) for k, v in run["timing"].items()}
    results["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    from . import __version__

    results["segcompare_version"] = __version__
    if remap is not None:
        mapping, new_classes = resolve_remap(remap)
        results = remap_results(results, mapping, new_classes)
    return _nan_to_none(results)


def robustness_sweep(model, ds, indices, cfg, device, batch_size, seed=0, progress=True) -> dict:
    """mIoU under every corruption and severity: {"robustness": {name: {"1": miou, ...}}, ...}."""
    from tqdm.auto import tqdm

    names = list_corruptions()
    out, cms = {}, {}
    with tqdm(total=len(indices) * len(names) * len(SEVERITIES), desc="robustness", unit="img",
              file=sys.stderr, disable=not progress) as bar:
        for name in names:
            out[name], cms[name] = {}, {}
            for sev in SEVERITIES:
                run = _run(model, ds, indices, cfg, device, batch_size, corruption=(name, sev), seed=seed,
                           bar=bar)
                out[name][str(sev)] = M._floats(M.miou(run["cm"]))
                cms[name][str(sev)] = run["cm"].tolist()
    return {"robustness": out, "robustness_confusion": cms, "robustness_images": len(indices)}


# --- taxonomy remap ------------------------------------------------------------------------------------

def resolve_remap(remap) -> tuple[list | dict, list[str]]:
    """A builtin name, a JSON file ({"mapping": list|dict, "classes": [...]}) or (mapping, classes)."""
    if isinstance(remap, tuple):
        return remap
    if isinstance(remap, str) and remap in TAXONOMIES:
        return TAXONOMIES.get(remap).mapping, TAXONOMIES.get(remap).classes
    path = Path(str(remap))
    if not path.is_file():
        raise UserError(f"unknown remap {remap!r}: use {', '.join(TAXONOMIES)} or a JSON file "
                        '{"mapping": [new index per old class], "classes": [new names]}')
    from .formats import read_json

    try:
        spec = read_json(path, "remap file")
        mapping, classes = spec["mapping"], spec["classes"]
    except (KeyError, TypeError) as e:
        raise UserError(f"{path} is not a remap file ({type(e).__name__}: {e}); expected "
                        '{"mapping": [...] or {"old": new}, "classes": [...]}') from None
    return mapping, list(classes)


def remap_results(results: dict, mapping, new_classes: list[str]) -> dict:
    """Results on a coarser label set: every matrix remapped, every metric recomputed.

    ROC/PR and calibration depend on per-class probabilities, which are not stored: they are dropped.
    """
    k = len(new_classes)
    try:
        remap = lambda cm: M.remap_confusion(cm, mapping, num_new=k)
        cm = remap(results["confusion_matrix"])
        # boundary bands were drawn along the fine labels' edges, most of which are no edge after the remap:
        # a boundary IoU from them would be wrong, so none is reported
        band = None
        per = remap(results["per_image"]["confusion"]) if results["per_image"].get("confusion") else \
            torch.zeros(0, k, k, dtype=torch.int64)
    except ValueError as e:
        raise UserError(f"remap does not fit {results.get('model')} ({len(results['classes'])} classes): "
                        f"{e}") from None
    dropped = ("roc", "pr", "ece", "reliability", "sampled_pixels", "boundary_iou", "per_class_boundary_iou",
               "boundary_confusion_matrix")
    out = {key: v for key, v in results.items() if key not in dropped}
    out["classes"] = list(new_classes)
    out.update(metric_fields(cm, band, per, results["per_image"]["names"]))
    if "robustness_confusion" in results:
        rc = {c: {s: remap(m).tolist() for s, m in sev.items()}
              for c, sev in results["robustness_confusion"].items()}
        out["robustness_confusion"] = rc
        out["robustness"] = {c: {s: M._floats(M.miou(m)) for s, m in sev.items()} for c, sev in rc.items()}
    out["remapped_from"] = {"dataset": results["dataset"], "classes": list(results["classes"]),
                            "mapping": mapping}
    for _, t in TAXONOMIES.items():
        if mapping == t.mapping and str(results["dataset"]).startswith(f"{t.source}:"):
            # the same images with the coarse labels: comparable with models evaluated on the target dataset
            out["dataset"] = f"{t.target}:" + str(results["dataset"]).partition(":")[2]
    return _nan_to_none(out)


# --- files ---------------------------------------------------------------------------------------------

def write_results(results: dict, path) -> Path:
    """Write results JSON atomically (temp file + rename); NaN is written as null."""
    from .files import atomic_write_json

    path = Path(path)
    results = _nan_to_none(results)  # an absent class has no precision: null, which the format accepts
    check_results(results, str(path))
    try:
        atomic_write_json(path, results)
    except OSError as e:
        raise UserError(f"cannot write results to {path}: {e.strerror or e}") from None
    return path


def summary_line(results: dict, path=None) -> str:
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}"
    parts = [f"{results['model']} on {results['dataset']} {results['split']} "
             f"({results['num_images']} images):",
             f"mIoU {pct(results['miou'])}", f"pixel acc {pct(results['pixel_accuracy'])}"]
    if "boundary_iou" in results:
        parts.append(f"boundary IoU {pct(results['boundary_iou'])}")
    if results.get("latency_ms"):
        parts.append(f"latency p50 {results['latency_ms']['p50']:.1f} ms")
    if path:
        parts.append(f"-> {path}")
    return " ".join(parts)
