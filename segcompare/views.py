"""What the app shows, as data: a comparison's pictures, legend, table and words, and the results views.

UI-free: every function returns numpy pictures, HTML/Markdown strings, DataFrames or plotly figures that
app.py hands to Gradio. Text that comes from checkpoints (class names, model names) is escaped here
(`safe_markdown`), so a class named like a Markdown image is shown as text, never fetched.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import visualize as viz
from .catalog import Sample, Task
from .session import CompareService, Comparison, check_choice, check_number

VIEWS = ["Overlay", "Mask", "Correctness", "Confidence"]
PHOTO, TRUTH, MEAN_CLASS, ALL_CORRUPTIONS = "Photo", "Ground truth", "mean over classes", "average of all corruptions"
VIEW_HELP = ("Overlay: classes over the photo · Mask: classes only · Correctness: right / wrong per pixel "
             "(test samples) · Confidence: how sure each pixel is")
PER_IMAGE_NOTE = ("*mIoU on this picture* scores one image; the leaderboard's *test mIoU* is computed over "
                  "every test image at once, so the two can differ, and a model that wins overall can lose "
                  "on a single picture.")


def safe_markdown(text: str) -> str:
    """Markdown from our own templates with checkpoint text inside: no HTML, no images, no links."""
    text = html.escape(str(text), quote=False)
    return re.sub(r"!?\[([^\]]*)\]\(([^)]*)\)", lambda m: f"\\[{m[1]}\\]\\({m[2]}\\)", text)


def grid_columns(num_models: int, width_over_height: float) -> int:
    """Columns for the model pictures on a wide screen: wide pictures get fewer, so each stays legible,
    and rows are filled evenly (5 models -> 3 + 2, never 4 + 1)."""
    most = 3 if width_over_height >= 1.25 else 4
    rows = math.ceil(num_models / most)
    return max(1, math.ceil(num_models / rows))


def task_columns(task: Task | None) -> int:
    """`grid_columns` for a task: its model count and its test samples' shape (3 columns without samples)."""
    if task is None:
        return 3
    from PIL import Image

    aspect = 1.0
    if task.samples:
        with Image.open(task.samples[0].image) as im:
            aspect = im.width / im.height
    return grid_columns(len(task.models), aspect)


# --- one comparison ------------------------------------------------------------------------------------

def _hide(mask: np.ndarray, hidden: set[int]) -> np.ndarray:
    """Hidden classes become "ignored": the photo shows through (grey in the Mask view)."""
    if not hidden:
        return mask
    return np.where(np.isin(mask, list(hidden)), np.uint8(viz.IGNORE_INDEX), mask).astype(np.uint8)


def _picture(c: Comparison, mask: np.ndarray, pred, view: str, alpha: float, hidden: set[int]) -> np.ndarray:
    """`mask` in one view; `pred` (a Prediction, or None for the ground truth) is asked for its confidence
    only in the Confidence view: computing it costs ~14 ms per model on a 1024-px photo."""
    task, img, gt = c.task, c.shown.image, c.shown.gt
    if view == "Mask":
        return viz.colorize(_hide(mask, hidden), task.palette)
    if view == "Correctness" and gt is not None:  # over a grey photo, so the two colours stay clear
        return viz.blend(viz.grayscale(img), viz.correctness_map(mask, gt, task.ignore_index), alpha)
    if view == "Confidence" and pred is not None:
        return viz.blend(viz.grayscale(img), viz.confidence_map(pred.confidence), alpha)
    return viz.overlay(img, _hide(mask, hidden), task.palette, alpha, task.ignore_index)


def caption(label: str, ms: float, miou: float | None) -> str:
    text = f"{label} — {ms:.0f} ms"
    return text + (f" — mIoU {100 * miou:.1f}%" if miou is not None else "")


def model_pictures(c: Comparison, view: str, alpha: float, hidden: set[int] = frozenset()) -> list:
    """(picture, caption) per model in leaderboard order."""
    items = []
    for m in c.task.models:
        p = c.preds[m.key]
        items.append((_picture(c, p.mask, p, view, alpha, hidden),
                      caption(m.label, p.ms, c.image_mious[m.key])))
    return items


def reference_pictures(c: Comparison, view: str, alpha: float, hidden: set[int] = frozenset()) -> list:
    """(picture, caption) for the photo, its ground truth and where the models disagree."""
    shown = c.shown
    ref = [(shown.image, "Your image" if shown.sample is None else f"Test sample {shown.sample.name}")]
    if shown.gt is not None:
        gt_view = "Mask" if view == "Mask" else "Overlay"
        ref.append((_picture(c, shown.gt, None, gt_view, alpha, hidden), "Ground truth (the right answer)"))
    if len(c.task.models) > 1:
        ref.append((viz.disagreement_map([c.preds[m.key].mask for m in c.task.models]),
                    "Where the models disagree"))
    return ref


def slider_choices(task: Task, with_truth: bool = True) -> list[str]:
    return [PHOTO, *([TRUTH] if with_truth else []), *(m.label for m in task.models)]


def slider_pair(c: Comparison, left: str, right: str, view: str, alpha: float, hidden: set[int] = frozenset()):
    """The two pictures of the before/after slider, each one of photo, ground truth or a model."""
    def one(choice: str) -> np.ndarray:
        if choice == PHOTO:
            return c.shown.image
        if choice == TRUTH:
            if c.shown.gt is None:
                return c.shown.image
            return _picture(c, c.shown.gt, None, "Mask" if view == "Mask" else "Overlay", alpha, hidden)
        p = c.preds[c.task.model(choice).key]
        return _picture(c, p.mask, p, view, alpha, hidden)
    return one(left), one(right)


def present_classes(c: Comparison) -> list[int]:
    present = set(np.unique(np.concatenate([c.preds[m.key].mask.ravel()[::7] for m in c.task.models])).tolist())
    if c.shown.gt is not None:
        present |= set(np.unique(c.shown.gt).tolist())
    return sorted(k for k in present if k < len(c.task.classes))


def legend(c: Comparison, view: str) -> str:
    """HTML legend: the classes in this picture, and the colours of the chosen view."""
    out = viz.legend_html(c.task.classes, c.task.palette, present=present_classes(c), title="Classes in this picture")
    if view == "Correctness":
        out += viz.correctness_legend_html() if c.shown.gt is not None else (
            '<div class="sc-note">Correctness needs the right answer: click a test sample.</div>')
    if view == "Confidence":
        out += viz.confidence_legend_html()
    if len(c.task.models) > 1:
        out += viz.disagreement_legend_html(len(c.task.models))
    return out


def score_table(c: Comparison) -> pd.DataFrame:
    rows = []
    for m in c.task.models:
        p = c.preds[m.key]
        miou = c.image_mious[m.key]
        test = m.results.miou if m.results else None
        rows.append({"Model": m.label, "Inference (ms)": round(p.ms, 1),
                     "Image mIoU (%)": None if miou is None else round(100 * miou, 1),
                     "Test mIoU (%)": None if not isinstance(test, (int, float)) else round(100 * test, 1)})
    return pd.DataFrame(rows, columns=["Model", "Inference (ms)", "Image mIoU (%)", "Test mIoU (%)"])


def status_text(c: Comparison) -> str:
    h, w = c.shown.image.shape[:2]
    total = sum(p.ms for p in c.preds.values())
    if c.shown.sample is not None and c.shown.gt is not None:
        return safe_markdown(f"Test sample **{c.shown.sample.name}** ({w}×{h}): the right answer is known, so "
                             f"each model gets a score for this picture. The {len(c.preds)} models took "
                             f"{total:.0f} ms together.") + "\n\n" + PER_IMAGE_NOTE
    return (f"Your picture ({w}×{h}): there is no right answer to score against, so look at where the models "
            f"agree. The {len(c.preds)} models took {total:.0f} ms together. Click a test sample to see scores.")


# --- results views -------------------------------------------------------------------------------------


def sample_items(task: Task | None) -> list[tuple[str, str]]:
    return [(str(s.image), s.name) for s in task.samples] if task else []


def sample_named(task: Task, name: str) -> Sample | None:
    return next((s for s in task.samples if s.name == name), None)


# --- one request, start to end (what the app's handlers call) ------------------------------------------

def checked_view(c: Comparison, view, opacity, hide) -> tuple[str, float, set[int]]:
    """The web's view name, opacity and hidden class names, checked: (view, alpha, hidden class indices)."""
    hidden = {c.task.classes.index(check_choice(h, c.task.classes, "class")) for h in (hide or [])}
    return check_choice(view, VIEWS, "view"), check_number(opacity, "opacity", 0, 1), hidden


def compared(service: CompareService, session: str, state: dict, view, opacity, hide) -> tuple:
    """After a Compare: (model pictures in the chosen view as files, score table, the session's state)."""
    c = service.comparison(session, state)
    view, alpha, hidden = checked_view(c, view, opacity, hide)
    return service.pictures(model_pictures(c, view, alpha, hidden)), score_table(c), state


def rendered(service: CompareService, session: str, state, view, opacity, hide) -> tuple:
    """A comparison in another view: (model pictures, reference pictures, legend), pictures as files."""
    c = service.comparison(session, state)
    view, alpha, hidden = checked_view(c, view, opacity, hide)
    return (service.pictures(model_pictures(c, view, alpha, hidden)),
            service.pictures(reference_pictures(c, view, alpha, hidden)), legend(c, view))


def details(service: CompareService, session: str, state, view, opacity, hide) -> tuple:
    """What accompanies a new comparison: (reference pictures, legend, status text)."""
    c = service.comparison(session, state)
    view, alpha, hidden = checked_view(c, view, opacity, hide)
    return service.pictures(reference_pictures(c, view, alpha, hidden)), legend(c, view), status_text(c)


def slider_files(service: CompareService, session: str, state, view, opacity, hide, left, right) -> tuple:
    """The before/after slider's two pictures as files."""
    c = service.comparison(session, state)
    view, alpha, hidden = checked_view(c, view, opacity, hide)
    choices = slider_choices(c.task)
    pair = slider_pair(c, check_choice(left, choices, "slider picture"), check_choice(right, choices, "slider picture"),
                       view, alpha, hidden)
    return tuple(path for path, _ in service.pictures([(pair[0], ""), (pair[1], "")]))


def picked_name(value) -> str:
    """The sample name behind a gallery click (its picture's file name)."""
    image = (value or {}).get("image") if isinstance(value, dict) else None
    path = image.get("path") if isinstance(image, dict) else None
    return Path(str(path or "")).stem
