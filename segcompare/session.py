"""The app's comparison service, free of any UI: compare a picture for one browser session and keep it.

`CompareService` owns the models (`inference.Predictor`), loads them in the background once the page is
up, and keeps each session's recent comparisons in its own small LRU, so other visitors' Compares never
expire yours (a bounded number of sessions is kept). Pictures are written under random, per-write names
(`save_picture`), so nobody can test by URL whether a given photo was compared; they, and the uploads
Gradio leaves behind, are deleted once nobody has been shown them for an hour.

Every argument that arrives from the web is checked here (`check_*`): a wrong value is one line naming
the valid ones (`UserError`), never a traceback.
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import images
from .catalog import Catalog, Sample, Task, sample_index
from .errors import UserError
from .files import remove_older
from .images import MAX_PIXELS, fit_within, image_key, load_image, load_mask
from .inference import LRU, Prediction, Predictor

DISPLAY_MAX_SIDE = 1024
MAX_AGE_S, PRUNE_EVERY_S = 3600, 600
SESSIONS, PER_SESSION = 512, 4  # sessions kept, comparisons kept per session
Progress = Callable[[float, str], None]


def save_picture(rgb: np.ndarray, folder: str | Path) -> str:
    """Write one picture under a random name in `folder`; returns its path.

    The one place the app's pictures are encoded (`images.save_picture`: JPEG for photos and overlays,
    palette PNG for flat class colours). Random names: a content name would let anyone ask the server
    whether a given photo was compared.
    """
    return images.save_picture(rgb, folder, name=secrets.token_urlsafe(18))


# --- argument checks for values that come from the web ---------------------------------------------------

def check_choice(value, options: list[str], what: str) -> str:
    """`value` if it is one of `options`, else a one-line error listing them."""
    if not isinstance(value, str) or value not in options:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise UserError(f"unknown {what} {shown}; choose one of: {', '.join(options)}")
    return value


def check_number(value, what: str, low: float, high: float) -> float:
    """A finite number in [low, high] (numeric strings accepted), else a one-line error."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not math.isfinite(x) or not low <= x <= high:
        raise UserError(f"{what} must be a number from {low:g} to {high:g}, not {value!r}"[:200])
    return x


def check_index(value, count: int, what: str) -> int:
    """An integer in [0, count), else a one-line error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or not 0 <= value < count:
        raise UserError(f"{what} must be a whole number from 0 to {count - 1}, not {value!r}"[:200])
    return int(value)


def upload_path(image) -> str:
    """The file behind an upload: Gradio's file payload (dict or object) or a plain path string."""
    if isinstance(image, dict):
        image = image.get("path")
    elif hasattr(image, "path"):
        image = image.path
    if not image:
        raise UserError("upload an image (or click a test sample) first")
    if not isinstance(image, (str, Path)):
        raise UserError(f"an image must be a file, not {type(image).__name__}")
    return str(image)


@dataclass
class Shown:
    """One compared image as displayed (predictions live in the Predictor's cache)."""
    image: np.ndarray
    gt: np.ndarray | None
    sample: Sample | None
    task: str


@dataclass
class Comparison:
    """A session's comparison, ready to render: the task, the picture and every model's prediction."""
    task: Task
    shown: Shown
    preds: dict[str, Prediction]

    @functools.cached_property
    def image_mious(self) -> dict[str, float | None]:
        """Each model's mIoU on this picture (None without ground truth), once for the captions and the table."""
        return {key: image_miou(self.task, p.mask, self.shown.gt) for key, p in self.preds.items()}


def image_miou(task: Task, pred: np.ndarray, gt: np.ndarray | None) -> float | None:
    """mIoU of one prediction on one picture (classes present in either), None without ground truth."""
    if gt is None:
        return None
    import torch

    from . import metrics

    cm = metrics.confusion_matrix(torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(gt.astype(np.int64)),
                                  len(task.classes), task.ignore_index)
    v = float(metrics.miou(cm))
    return None if math.isnan(v) else v


class CompareService:
    """Models, per-session comparisons and the picture folder of one app."""

    def __init__(self, catalog: Catalog, picture_root: str | Path, upload_dir: str | Path | None = None,
                 loader=None, workers: int | None = None):
        self.catalog = catalog
        most = max((len(t.models) for t in catalog.tasks), default=1)
        self.predictor = Predictor({m.key: m.path for t in catalog.tasks for m in t.models}, loader=loader,
                                   workers=workers or min(os.cpu_count() or 1, most))
        # one folder per app: a server never deletes another one's pictures
        self.picture_dir = Path(picture_root) / f"segcompare-{secrets.token_hex(8)}"
        self.upload_dir = Path(upload_dir) if upload_dir else None
        self._sessions = LRU(SESSIONS)
        self._indexes: dict[str, dict[str, Sample]] = {}
        self._index_lock = threading.Lock()
        self._encoder = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1),
                                           thread_name_prefix="segcompare-png")
        self._pruned = time.monotonic()
        self._loader: threading.Thread | None = None

    # --- models ----------------------------------------------------------------------------------------

    def start_loading(self) -> threading.Thread:
        """Load every model in a background thread (first task first); call once the page is up."""
        if self._loader is None:
            keys = [m.key for t in self.catalog.tasks for m in t.models]
            self._loader = threading.Thread(target=self._load_all, args=(keys,), name="segcompare-load",
                                            daemon=True)
            self._loader.start()
        return self._loader

    def _load_all(self, keys: list[str]) -> None:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)  # the app's forwards run one at a time: use every core
        for key in keys:
            try:
                self.predictor.model(key)
            except Exception:  # noqa: BLE001 - a model that fails to load says why on its first Compare
                continue

    def loading_status(self, task_name: str | None = None) -> str:
        """"Models ready: 3 of 5 (loading in the background)" for a task, or "" once all are loaded."""
        task = self.catalog.task(task_name)
        ready = sum(m.key in self.predictor.loaded for m in task.models)
        if ready == len(task.models):
            return ""
        return f"Models ready: {ready} of {len(task.models)} (the rest are loading; a Compare waits for them)"

    def wait_for_models(self, task: Task, progress: Progress | None = None) -> None:
        """Load the task's models, saying which one it waits for before each load."""
        missing = [m for m in task.models if m.key not in self.predictor.loaded]
        for i, m in enumerate(missing):
            if progress:
                progress(i / len(missing), f"Loading the models before the first comparison: {m.label} "
                                           f"({i + 1} of {len(missing)})")
            self.predictor.model(m.key)

    # --- comparisons -----------------------------------------------------------------------------------

    def sample_for(self, task: Task, key: str) -> Sample | None:
        """The test sample with these pixels, if any (its ground truth can be shown)."""
        with self._index_lock:
            if task.name not in self._indexes:
                self._indexes[task.name] = sample_index(task.samples, DISPLAY_MAX_SIDE)
        return self._indexes[task.name].get(key)

    def compare(self, session: str, image, task_name: str | None, progress: Progress | None = None) -> dict:
        """Run every model of a task on an upload (or a sample's file); returns the session's state."""
        task = self.catalog.task(task_name)
        rgb = load_image(upload_path(image), max_pixels=MAX_PIXELS, max_side=DISPLAY_MAX_SIDE)
        key = image_key(rgb)
        sample = self.sample_for(task, key)
        shown = fit_within(rgb, DISPLAY_MAX_SIDE)
        gt = load_mask(sample.mask, shown.shape[:2]) if sample and sample.mask else None
        self.wait_for_models(task, progress)
        if progress:
            progress(0.95, f"Running {len(task.models)} models on the picture")
        self.predictor.predict(shown, [m.key for m in task.models], key=key)
        self._session(session).put((key, task.name), Shown(shown, gt, sample, task.name))
        return {"key": key, "task": task.name}

    def compare_sample(self, session: str, task_name: str | None, index, progress: Progress | None = None
                       ) -> dict:
        """Compare the task's test sample number `index` (the sample gallery's order)."""
        task = self.catalog.task(task_name)
        if not task.samples:
            raise UserError(f"task {task.name!r} has no test samples")
        sample = task.samples[check_index(index, len(task.samples), "sample index")]
        return self.compare(session, str(sample.image), task.name, progress)

    def compare_named(self, session: str, task_name: str | None, name: str, progress: Progress | None = None
                      ) -> dict:
        """Compare the task's test sample called `name`."""
        task = self.catalog.task(task_name)
        names = [s.name for s in task.samples]
        return self.compare_sample(session, task.name, names.index(check_choice(name, names, "sample")),
                                   progress)

    def _session(self, session: str) -> LRU:
        if not isinstance(session, str) or not session:
            raise UserError("no browser session: reload the page")
        found = self._sessions.get(session)
        if found is None:
            found = LRU(PER_SESSION)
            self._sessions.put(session, found)
        return found

    def comparison(self, session: str, state) -> Comparison:
        """The session's compared image and its (cached, else recomputed) predictions."""
        if not isinstance(state, dict) or not isinstance(state.get("key"), str):
            raise UserError("nothing compared yet: click a test sample or upload a picture")
        task = self.catalog.task(state.get("task"))
        shown = self._session(session).get((state["key"], task.name))
        if shown is None:
            raise UserError("this comparison has expired; click the sample or upload the picture again")
        preds = self.predictor.predict(shown.image, [m.key for m in task.models], key=state["key"])
        return Comparison(task, shown, preds)

    # --- pictures --------------------------------------------------------------------------------------

    def pictures(self, items: list[tuple[np.ndarray, str]]) -> list[tuple[str, str]]:
        """(picture, caption) pairs -> (file path, caption) pairs, written in parallel."""
        paths = list(self._encoder.map(lambda item: save_picture(item[0], self.picture_dir), items))
        self.prune()
        return [(path, caption) for path, (_, caption) in zip(paths, items)]

    def prune(self, force: bool = False) -> int:
        """Every 10 minutes at most: delete pictures and uploads nobody has touched for an hour.

        (Not Gradio's delete_cache: it runs on its own clock and knows nothing of our folders.)"""
        if not force and time.monotonic() - self._pruned < PRUNE_EVERY_S:
            return 0
        self._pruned = time.monotonic()
        removed = remove_older(self.picture_dir, MAX_AGE_S)  # .jpg photos and .png masks alike
        if self.upload_dir and self.upload_dir.is_dir():
            # Gradio keeps each upload in <upload folder>/<hash>/<name>; app folders are pruned by their owner
            for folder in self.upload_dir.iterdir():
                if folder.is_dir() and not folder.name.startswith("segcompare-"):
                    removed += remove_older(folder, MAX_AGE_S)
                    _remove_if_empty(folder)
        return removed


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty, or gone already
        pass
