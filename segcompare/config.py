"""Experiment configs (YAML) for `segcompare compare`: one dataset, several models, one leaderboard.

Format (every key but `dataset` and `models` is optional)::

    name: pets-fcn-vs-segformer          # experiment name (default: the file name)
    dataset: oxford-pet:data/oxford-pet  # dataset spec; the ROOT part can be replaced with --dataset-root
                                         # or the SEGCOMPARE_DATASET_ROOT environment variable
    dataset_options: {length: 400}       # options for get_dataset (e.g. synthetic length), all splits
    output: checkpoints/pets             # each run trains into OUTPUT/<run name> (default checkpoints/NAME)
    train:                               # TrainConfig keys shared by every run (see segcompare.train_config)
      size: [256, 256]
      epochs: 20
      optimizer: adamw
      scheduler: exponential
    models:                              # a model name, or a mapping with per-run overrides
      - unet_resnet34
      - {model: segformer_b0, lr: 6.0e-5}
      - {name: fcn-frozen, model: fcn_resnet50, strategy: frozen}   # `name`: the run's folder (default: model)
    evaluate:                            # options for segcompare.evaluation.evaluate
      split: test
      boundary_px: 3
      robustness: false
      latency: true
      max_images: null                   # evaluate only the first N images
      batch_size: 4
      fp16_weights: false                # re-save the best weights as fp16 if mIoU moves < 0.1 point
    report: reports/pets                 # leaderboard.csv/.md, figures, report.html (default reports/NAME)
    samples: {dir: assets/samples/pets, count: 8}   # the app's gallery: test images + masks at train size
    published: {unet_resnet34: 65.44}    # run name -> mIoU (%) of the experiment this config reproduces;
                                         # recorded in each run's results and shown beside the measured mIoU

Keys may be written with `-` or `_`. Unknown keys are refused with the list of valid ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .registry import unknown

TOP_KEYS = ("name", "dataset", "dataset_options", "output", "train", "models", "evaluate", "report", "samples",
            "provenance", "published")
# Where the models' knowledge comes from, shown wherever a model is (app, model card, results): data name,
# images, licence, credit, url, encoder pretraining, synthetic or not, and a caution for photos unlike the data.
PROVENANCE_KEYS = ("data", "train_images", "licence", "credit", "url", "encoder", "synthetic", "caution")
SAMPLES_KEYS = ("dir", "count", "split")
EVALUATE_KEYS = ("split", "boundary_px", "robustness", "robustness_images", "latency", "max_images", "batch_size",
                 "fp16_weights", "remap", "seed", "size")
ROOT_ENV = "SEGCOMPARE_DATASET_ROOT"


@dataclass
class Run:
    name: str  # folder under `output`, and the label in the leaderboard
    options: dict  # TrainConfig keys (model included) for this run, on top of `train`


@dataclass
class Experiment:
    name: str
    dataset: str
    output: str
    runs: list[Run]
    train: dict = field(default_factory=dict)
    dataset_options: dict = field(default_factory=dict)
    evaluate: dict = field(default_factory=dict)
    report: str | None = None
    path: str = ""
    samples: dict = field(default_factory=dict)  # {dir, count, split}: gallery export for the app
    provenance: dict = field(default_factory=dict)  # PROVENANCE_KEYS: recorded in every checkpoint and result
    published: dict[str, float] = field(default_factory=dict)  # run name -> published mIoU (%)

    def run_dir(self, run: Run) -> Path:
        return Path(self.output) / run.name


def load_yaml(path: str | Path) -> dict:
    """A YAML file holding a mapping, read by the bounded safe loader of `segcompare.formats`."""
    from .formats import load_yaml_file

    data = load_yaml_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a mapping of keys, got a {type(data).__name__}")
    return data


def check_top_types(raw: dict, path) -> None:
    """The top-level values' types: `output: [1]` would otherwise become a folder named "[1]"."""
    rules = {"name": (str,), "dataset": (str,), "output": (str,), "report": (str, bool), "dataset_options": (dict,),
             "train": (dict,), "evaluate": (dict,), "samples": (dict,), "provenance": (dict,)}
    for key, types in rules.items():
        v = raw.get(key)
        if (v is not None and not isinstance(v, types)) or (key == "report" and v is True):
            want = {"name": "a name", "dataset": "a dataset spec", "output": "a folder path",
                    "report": "a folder path (or false for none)"}.get(key, "a mapping of keys")
            raise UserError(f"{path}: `{key}:` must be {want}, got {v!r}")


def normalize_keys(d: dict, source: str) -> dict:
    if not isinstance(d, dict):
        raise UserError(f"{source}: expected a mapping, got {d!r}")
    return {str(k).replace("-", "_"): v for k, v in d.items()}



def parse_key_values(pairs: list[str], flag: str) -> dict:
    """Repeated `KEY=VALUE` command-line options -> dict, values read by `parse_value`."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} wants KEY=VALUE, got {pair!r}")
        out[key.strip()] = parse_value(value.strip()) if value.strip() else ""
    return out


def parse_value(text: str):
    """A command-line value as YAML would read it: 64 -> int, 1e-3 -> float, true -> bool, else the string."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def replace_root(spec: str, root: str | None) -> str:
    """`oxford-pet:data/oxford-pet` + root `/mnt/pets` -> `oxford-pet:/mnt/pets` (no-op for rootless specs)."""
    prefix, sep, old = spec.partition(":")
    if not root or not sep:
        return spec
    return f"{prefix}:{root}"


def load_experiment(path: str | Path, dataset_root: str | None = None) -> Experiment:
    from .train_config import TrainConfig

    raw = normalize_keys(load_yaml(path), str(path))
    bad = sorted(set(raw) - set(TOP_KEYS))
    if bad:
        raise UserError(f"{path}: " + unknown("key", bad[0], TOP_KEYS))
    check_top_types(raw, path)
    if not raw.get("dataset"):
        raise UserError(f"{path} has no `dataset:` (a spec such as synthetic-pets or folder:ROOT)")
    models = raw.get("models")
    if not isinstance(models, list) or not models:
        raise UserError(f"{path} has no `models:` list (model names or mappings with `model:`)")
    name = str(raw.get("name") or Path(path).stem)
    train = normalize_keys(raw.get("train") or {}, f"{path} train")
    for key in ("model", "dataset", "out", "resume"):
        if key in train:
            raise UserError(f"{path}: `{key}` cannot be set under train: (it is set per run)")
    runs = [_run(m, str(path)) for m in models]
    seen: set[str] = set()
    for r in runs:
        if r.name in seen:
            raise UserError(f"{path}: two runs are named {r.name!r}; give each a distinct `name:`")
        seen.add(r.name)
        try:  # unknown keys and wrong types fail now, not after the first run
            TrainConfig.from_dict({**train, **r.options})
        except UserError as e:
            raise UserError(f"{path}, run {r.name}: {e}") from None
    evaluate = normalize_keys(raw.get("evaluate") or {}, f"{path} evaluate")
    bad = sorted(set(evaluate) - set(EVALUATE_KEYS))
    if bad:
        raise UserError(f"{path} evaluate: " + unknown("key", bad[0], EVALUATE_KEYS))
    samples = normalize_keys(raw.get("samples") or {}, f"{path} samples")
    bad = sorted(set(samples) - set(SAMPLES_KEYS))
    if bad or (samples and not samples.get("dir")):
        raise UserError(f"{path} samples: " + (unknown("key", bad[0], SAMPLES_KEYS) if bad else "needs `dir:`"))
    provenance = normalize_keys(raw.get("provenance") or {}, f"{path} provenance")
    bad = sorted(set(provenance) - set(PROVENANCE_KEYS))
    if bad:
        raise UserError(f"{path} provenance: " + unknown("key", bad[0], PROVENANCE_KEYS))
    published = _published(raw.get("published"), runs, str(path))
    root = dataset_root or os.environ.get(ROOT_ENV)
    return Experiment(name=name, dataset=replace_root(str(raw["dataset"]), root),
                      output=str(raw.get("output") or f"checkpoints/{name}"), runs=runs, train=train,
                      dataset_options=dict(raw.get("dataset_options") or {}), evaluate=evaluate,
                      report=raw.get("report", f"reports/{name}"), path=str(path), samples=samples,
                      provenance=provenance, published=published)


def _published(raw, runs: list[Run], source: str) -> dict[str, float]:
    """`published:` -> {run name: mIoU in %}; a name that is no run, or a value outside 0-100, is refused."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{source} published: expected a mapping run name -> mIoU (%), got {raw!r}")
    names = [r.name for r in runs]
    out = {}
    for name, value in raw.items():
        if str(name) not in names:
            raise UserError(f"{source} published: " + unknown("run", str(name), names))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise UserError(f"{source} published: {name} must be an mIoU in % (0-100), got {value!r}")
        out[str(name)] = float(value)
    return out


def _run(entry, source: str) -> Run:
    if isinstance(entry, str):
        return Run(entry, {"model": entry})
    if isinstance(entry, dict):
        opts = normalize_keys(entry, source)
        if not opts.get("model"):
            raise UserError(f"{source}: a models entry needs `model:`, got {entry!r}")
        name = str(opts.pop("name", None) or opts["model"])
        if "/" in name or name.startswith("."):
            raise UserError(f"{source}: run name {name!r} must be a plain folder name")
        return Run(name, opts)
    raise UserError(f"{source}: a models entry is a name or a mapping, got {entry!r}")
