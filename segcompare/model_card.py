"""The model card (README.md) of a checkpoint pushed to the Hub.

The YAML front matter is what the Hub indexes: library, tags, datasets and a `model-index` with mIoU and
pixel accuracy for the semantic-segmentation task (built with huggingface_hub's `ModelCardData`, so it
follows the Hub's schema). The body is for people: a summary, per-class IoU, the training config, a sample
prediction when the checkpoint has one, and how to load the model with segcompare.
"""

from __future__ import annotations

import json
import math

TASK = ("semantic-segmentation", "Semantic Segmentation")


def dataset_name(spec: str | None) -> str:
    """`oxford-pet:/data/pets` -> `oxford-pet`, `folder:/data/roads` -> `roads`: never a whole local path."""
    prefix, _, root = (spec or "unknown").partition(":")
    if prefix == "folder" and root.strip("/\\"):
        return root.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return prefix or "unknown"


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _pct(value) -> str:
    value = _number(value)
    return "n/a" if value is None else f"{100 * value:.2f}"


def eval_results(config: dict, results: dict | None, history: list[dict] | None = None) -> list:
    """Test metrics from results.json; without it, the best validation mIoU from the training history."""
    from huggingface_hub import EvalResult

    dataset = dataset_name((results or {}).get("dataset") or config.get("dataset"))
    common = {"task_type": TASK[0], "task_name": TASK[1], "dataset_type": dataset, "dataset_name": dataset}
    metrics = []
    if results:
        split = results.get("split", "test")
        for key, mtype, name in [("miou", "mean_iou", "mIoU"), ("pixel_accuracy", "accuracy", "Pixel accuracy"),
                                 ("boundary_iou", "boundary_iou", "Boundary IoU")]:
            if _number(results.get(key)) is not None:
                metrics.append(EvalResult(**common, dataset_split=split, metric_type=mtype, metric_name=name,
                                          metric_value=round(results[key], 4)))
    elif history:
        best = max((_number(row.get("val_miou")) for row in history if _number(row.get("val_miou")) is not None),
                   default=None)
        if best is not None:
            metrics.append(EvalResult(**common, dataset_split="validation", metric_type="mean_iou",
                                      metric_name="mIoU (best validation epoch)", metric_value=round(best, 4)))
    return metrics


def card_metadata(config: dict, results: dict | None = None, history: list[dict] | None = None,
                  repo_id: str | None = None) -> dict:
    """The front matter as a dict (what the Hub reads)."""
    from huggingface_hub import ModelCardData

    name = config.get("name", "model")
    arch = name.split("_", 1)[0]
    dataset = dataset_name((results or {}).get("dataset") or config.get("dataset"))
    data = ModelCardData(
        library_name="segcompare", pipeline_tag="image-segmentation",
        tags=["semantic-segmentation", "segcompare", arch, name, config.get("library") or "pytorch", "pytorch",
              "safetensors"],
        datasets=[dataset] if dataset != "unknown" else None,
        metrics=["mean_iou", "accuracy"],
        model_name=repo_id.split("/")[-1] if repo_id else name,
        eval_results=eval_results(config, results, history) or None,
    )
    return data.to_dict()


def _per_class_table(classes: list[str], results: dict) -> str:
    columns = [("IoU", "per_class_iou"), ("Precision", "per_class_precision"), ("Recall", "per_class_recall")]
    columns = [(title, key) for title, key in columns if isinstance(results.get(key), list)]
    lines = ["| class | " + " | ".join(t for t, _ in columns) + " |", "|---|" + "---:|" * len(columns)]
    for i, cls in enumerate(classes):
        cells = [_pct(results[k][i] if i < len(results[k]) else None) for _, k in columns]
        lines.append(f"| {cls} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _summary(config: dict, results: dict | None) -> list[str]:
    rows = [("model", f"`{config.get('name')}` ({config.get('library', '?')})"),
            ("classes", f"{config.get('num_classes')}: " + ", ".join(map(str, config.get("classes") or []))),
            ("dataset", f"`{dataset_name(config.get('dataset'))}`"),
            ("input size", "x".join(map(str, config["input_size"])) if config.get("input_size") else "any"),
            ("normalisation", f"mean {config.get('mean')}, std {config.get('std')}"),
            ("parameters", f"{config['params'] / 1e6:.2f} M" if _number(config.get("params")) else "n/a")]
    if results:
        rows += [(f"mIoU ({results.get('split', 'test')})", f"{_pct(results.get('miou'))} %"),
                 ("pixel accuracy", f"{_pct(results.get('pixel_accuracy'))} %")]
        latency = results.get("latency_ms") or {}
        if _number(latency.get("p50")) is not None:
            rows.append(("latency p50", f"{latency['p50']:.1f} ms on {latency.get('device', '?')} "
                                        f"(batch {latency.get('batch', 1)})"))
    return ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]


def model_card(config: dict, results: dict | None = None, history: list[dict] | None = None, *,
               repo_id: str | None = None, sample: str | None = None) -> str:
    """README.md text: YAML front matter + summary, per-class IoU, training config, sample, usage."""
    import yaml

    meta = card_metadata(config, results, history, repo_id)
    repo = repo_id or "USER/REPO"
    name = config.get("name", "model")
    body = [f"# {repo.split('/')[-1]}", "",
            f"A `{name}` semantic-segmentation model trained and evaluated with "
            "segcompare (weights in `model.safetensors`, metadata in `config.json`).", "",
            *_summary(config, results), ""]
    if results and config.get("classes"):
        body += [f"## Per-class results ({dataset_name(results.get('dataset'))}, "
                 f"{results.get('split', 'test')} split, %)", "",
                 _per_class_table(list(config["classes"]), results), ""]
    if sample:
        body += ["## Sample prediction", "", f"![sample prediction]({sample})", ""]
    if history:
        body += [f"Trained for {len(history)} epochs; per-epoch losses and validation mIoU are in "
                 "`history.jsonl`.", ""]
    body += ["## Training config", "", "```json", json.dumps(config.get("train") or {}, indent=1, default=str),
             "```", "",
             "## How to use", "", "```python", "from segcompare import load_model", "",
             f'model, config = load_model("{repo}")  # cached by huggingface_hub; works offline once cached',
             "logits = model(images)  # float[B,3,H,W] normalised with config['mean'] / config['std']", "```", "",
             "From the command line:", "", "```bash",
             f"segcompare pull --repo {repo} --out checkpoints/{repo.split('/')[-1]}",
             f"segcompare evaluate --checkpoint {repo} --dataset SPEC --split test",
             f"python app.py --checkpoints {repo}", "```", ""]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n" + "\n".join(body)
