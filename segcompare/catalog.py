"""What the app shows: checkpoints found in folders or Hub repos, grouped into tasks, with their samples.

A source is a checkpoint folder, a folder of checkpoint folders, a folder of task folders of checkpoint
folders (`checkpoints/pets/unet_resnet34/`), or a Hub repo id. A task is the set of checkpoints that
share a task folder, or else the same dataset spec; its models must share one class list. Discovery
reads only `config.json`, `results.json` and `history.jsonl`: no weights, so the page comes up at once.
Test samples live in `assets/samples/<task>/<name>.png` with `<name>_mask.png` (labels, 255 ignored).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError
from .formats import CONFIG_FILE as CONFIG
from .formats import IGNORE_INDEX, RESULTS_FILE, History, Results, rank_key
from .formats import read_checkpoint_config as read_config
from .visualize import get_palette

ENV_VAR = "SEGCOMPARE_CHECKPOINTS"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MASK_SUFFIX = "_mask"
# A source's files are untrusted: the formats layer refuses what it can name (UserError); the rest is a
# net so that one odd checkpoint is listed with its reason instead of stopping the page.
SKIPPED = (UserError, OSError, ValueError, TypeError, KeyError, IndexError, RecursionError)


@dataclass
class ModelEntry:
    key: str                 # unique in the app: "<task>/<folder>"
    label: str               # human name, e.g. "UNet (ResNet-34)"
    path: Path
    config: dict
    results: Results | None = None
    history: list[dict] = field(default_factory=list)


@dataclass
class Sample:
    name: str
    image: Path
    mask: Path | None = None


@dataclass
class Task:
    name: str
    dataset: str | None
    classes: list[str]
    palette: np.ndarray
    ignore_index: int
    models: list[ModelEntry]
    samples: list[Sample] = field(default_factory=list)

    def model(self, label_or_key: str) -> ModelEntry:
        for m in self.models:
            if label_or_key in (m.label, m.key, m.path.name):
                return m
        raise UserError(f"task {self.name!r} has no model {label_or_key!r}; models: "
                        f"{', '.join(m.label for m in self.models)}")

    @property
    def results(self) -> list[Results]:
        return [m.results for m in self.models if m.results]


@dataclass
class Catalog:
    tasks: list[Task]
    problems: list[str] = field(default_factory=list)  # sources that could not be read, shown on the page

    def task(self, name: str | None) -> Task:
        if not self.tasks:
            raise UserError("no checkpoints found; see the note at the top of the page for how to get them")
        if not name:
            return self.tasks[0]
        for t in self.tasks:
            if t.name == name:
                return t
        raise UserError(f"unknown task {name!r}; tasks: {', '.join(t.name for t in self.tasks)}")

    def describe(self) -> list[dict]:
        """JSON-ready list of tasks with their models (the app's /tasks endpoint)."""
        return [{"name": t.name, "dataset": t.dataset, "classes": list(t.classes),
                 "palette": t.palette.tolist(), "samples": [s.name for s in t.samples],
                 "models": [{"name": m.label, "model": m.config.get("name"), "checkpoint": str(m.path),
                             "miou": m.results.miou if m.results else None} for m in t.models]}
                for t in self.tasks]


def parse_sources(value=None, default: str | Path = "checkpoints") -> list[str]:
    """Sources from a list or a comma/space separated string; else $SEGCOMPARE_CHECKPOINTS; else default."""
    if value is None or value == [] or value == "":
        value = os.environ.get(ENV_VAR, "").strip() or str(default)
    items = [value] if isinstance(value, (str, Path)) else list(value)
    return [s for item in items for s in re.split(r"[,\s]+", str(item).strip()) if s]


def _is_checkpoint(p: Path) -> bool:
    return (p / CONFIG).is_file()


def _subdirs(p: Path) -> list[Path]:
    return sorted(c for c in p.iterdir() if c.is_dir() and not c.name.startswith((".", "_")))


def checkpoint_dirs(source: str) -> list[tuple[Path, str | None]]:
    """(checkpoint folder, task folder name or None) for everything a source holds."""
    p = Path(source).expanduser()
    if p.is_dir():
        if _is_checkpoint(p):
            return [(p, None)]
        found = []
        for child in _subdirs(p):
            if _is_checkpoint(child):
                found.append((child, None))
            else:
                found += [(g, child.name) for g in _subdirs(child) if _is_checkpoint(g)]
        return found
    from .checkpoint import resolve  # a Hub repo id (or a clear error for a missing folder)

    return [(Path(resolve(source)), None)]


def task_name(dataset: str | None, folder: Path) -> str:
    """`synthetic-pets` -> `synthetic-pets`, `oxford-pet:/data/pets` -> `oxford-pet`; else the folder's name."""
    return str(dataset).split(":", 1)[0] if dataset else folder.parent.name or folder.name


def find_samples(task_dir: str | Path) -> list[Sample]:
    """Images of `task_dir` (not the `*_mask.png` files), each with its mask when one exists."""
    d = Path(task_dir)
    if not d.is_dir():
        return []
    out = []
    for f in sorted(d.iterdir()):
        if f.suffix.lower() in IMAGE_SUFFIXES and not f.stem.endswith(MASK_SUFFIX) and f.is_file():
            mask = d / f"{f.stem}{MASK_SUFFIX}.png"
            out.append(Sample(f.stem, f, mask if mask.is_file() else None))
    return out


def _entry(path: Path, config: dict, task: str) -> ModelEntry:
    results = Results.read(path) if (path / RESULTS_FILE).is_file() else None
    return ModelEntry(f"{task}/{path.name}", "", path, config, results, History.read(path).rows)


def _label_models(models: list[ModelEntry]) -> None:
    from .figures import display_name
    from .results import unique_labels

    names = [display_name(m.results or m.config.get("name", m.path.name)) for m in models]
    checkpoints = [m.results.checkpoint if m.results else str(m.path) for m in models]
    for m, label in zip(models, unique_labels(names, checkpoints)):
        m.label = label


def _reason(path: Path, e: Exception) -> str:
    """One line saying which checkpoint was skipped and why."""
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    text = text if isinstance(e, UserError) else f"{type(e).__name__}: {text}"
    return text if str(path) in text else f"{path}: {text}"


def discover(sources, samples_root: str | Path | None = None) -> Catalog:
    """Every task the sources hold (reads configs and results, never weights)."""
    groups: dict[tuple, list[tuple[Path, dict]]] = {}
    problems: list[str] = []
    seen: set[Path] = set()
    for source in parse_sources(sources):
        try:
            dirs = checkpoint_dirs(source)
        except (UserError, OSError) as e:
            problems.append(f"{source}: {e}")
            continue
        for path, folder_task in dirs:
            if path.resolve() in seen:  # named by two sources: show it once
                continue
            seen.add(path.resolve())
            try:
                config = read_config(path)
            except SKIPPED as e:
                problems.append(_reason(path, e))
                continue
            name = folder_task or task_name(config.get("dataset"), path)
            groups.setdefault((name, tuple(config.get("classes") or [])), []).append((path, config))
    tasks = []
    names = [k[0] for k in groups]
    for (name, classes), members in groups.items():
        if names.count(name) > 1:  # same folder or dataset, different label sets: keep them apart
            name = f"{name} ({len(classes)} classes)"
        models = []
        for path, config in members:
            try:
                models.append(_entry(path, config, name))
            except SKIPPED as e:
                problems.append(_reason(path, e))
        if not models:
            continue
        models.sort(key=lambda m: rank_key(m.results))  # leaderboard order wherever the app lists models
        _label_models(models)
        first = models[0].config
        samples = find_samples(Path(samples_root) / name) if samples_root else []
        tasks.append(Task(name, first.get("dataset"), list(classes) or [f"class {i}" for i in
                                                                         range(first["num_classes"])],
                          get_palette(first.get("palette"), first["num_classes"]),
                          int(first.get("ignore_index", IGNORE_INDEX)), models, samples))
    return Catalog(tasks, problems)


def sample_index(samples: list[Sample], max_side: int) -> dict[str, Sample]:
    """Content hash of each sample's pixels (as `images.load_image(..., max_side)` decodes them) -> Sample,
    so an uploaded copy of a test photo is recognised and scored against its ground truth."""
    from .images import image_key, load_image

    index = {}
    for s in samples:
        try:
            index[image_key(load_image(s.image, max_side=max_side))] = s
        except UserError:  # an unreadable sample is simply not recognised
            continue
    return index
