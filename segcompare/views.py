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

from . import evidence, recommend, report
from . import visualize as viz
from .catalog import Catalog, Sample, Task
from .errors import UserError
from .session import CompareService, Comparison, check_choice, check_index, check_number

VIEWS = ["Overlay", "Mask", "Correctness", "Confidence"]
PHOTO, TRUTH, MEAN_CLASS, ALL_CORRUPTIONS = "Photo", "Ground truth", "mean over classes", "average of all corruptions"
NO_CHECKPOINTS = ("### No models found\nNone were found in: {sources}. Train the demo models with `segcompare "
                  "compare --config configs/demo-pets.yaml`, or run `python app.py --checkpoints DIR|ORG/REPO`.")
CONFUSION_HELP = ("Rows: the true class; columns: what the model said (% of the row's pixels). A perfect model has "
                  "100 on the diagonal. Click a cell to list the test images with the most such pixels.")
CURVES_HELP = ("How well each model's confidence separates a class from the rest. *AUC* (area under the ROC curve) "
               "and *AP* (average precision) are 1.0 for a perfect ranking; guessing gives 0.5 and the class's "
               "share of pixels.")
# One line per architecture: what it is, in words a stakeholder knows.
WHAT_IT_IS = {
    "UNet": "an encoder-decoder that copies fine detail across at every scale: good edges",
    "DeepLabV3+": "samples context at several scales, then sharpens edges with a light decoder",
    "FCN": "the classic fully convolutional network: one coarse prediction, upsampled",
    "PSPNet": "pools context from the whole picture at four scales: fast, coarse edges",
    "SegFormer": "a transformer that relates every part of the picture to every other",
}
VIEW_HELP = ("Overlay: classes over the photo · Mask: classes only · Correctness: right / wrong per pixel "
             "(test samples) · Confidence: how sure each pixel is")
PER_IMAGE_NOTE = ("*mIoU on this picture* scores one image; the leaderboard's *test mIoU* is computed over "
                  "every test image at once, so the two can differ, and a model that wins overall can lose "
                  "on a single picture.")


def safe_markdown(text: str) -> str:
    """Markdown from our own templates with checkpoint text inside: no HTML, no images, no links."""
    text = html.escape(str(text), quote=False)
    return re.sub(r"!?\[([^\]]*)\]\(([^)]*)\)", lambda m: f"\\[{m[1]}\\]\\({m[2]}\\)", text)


def what_it_is(label: str) -> str:
    """"UNet (EfficientNet-Lite0)" -> its one-line description ("" for an architecture we cannot name)."""
    arch = re.split(r"[\s(-]", label, maxsplit=1)[0]
    return WHAT_IT_IS.get(arch, "")


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


def _picture(c: Comparison, mask: np.ndarray, conf, view: str, alpha: float, hidden: set[int]) -> np.ndarray:
    task, img, gt = c.task, c.shown.image, c.shown.gt
    if view == "Mask":
        return viz.colorize(_hide(mask, hidden), task.palette)
    if view == "Correctness" and gt is not None:  # over a grey photo, so the two colours stay clear
        return viz.blend(viz.grayscale(img), viz.correctness_map(mask, gt, task.ignore_index), alpha)
    if view == "Confidence" and conf is not None:
        return viz.blend(viz.grayscale(img), viz.confidence_map(conf), alpha)
    return viz.overlay(img, _hide(mask, hidden), task.palette, alpha, task.ignore_index)


def caption(label: str, ms: float, miou: float | None) -> str:
    text = f"{label} — {ms:.0f} ms"
    return text + (f" — mIoU {100 * miou:.1f}%" if miou is not None else "")


def model_pictures(c: Comparison, view: str, alpha: float, hidden: set[int] = frozenset()) -> list:
    """(picture, caption) per model in leaderboard order."""
    items = []
    for m in c.task.models:
        p = c.preds[m.key]
        items.append((_picture(c, p.mask, p.confidence, view, alpha, hidden),
                      caption(m.label, p.ms, image_miou(c.task, p.mask, c.shown.gt))))
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
        return _picture(c, p.mask, p.confidence, view, alpha, hidden)
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
        miou = image_miou(c.task, p.mask, c.shown.gt)
        test = (m.results or {}).get("miou")
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

def recommendation(task: Task, max_latency_ms: float | None, cpu_only: bool) -> str:
    """recommend.recommend's verdict, escaped; a budget at the slider's top (the slowest model) is no limit."""
    if max_latency_ms is not None and max_latency_ms >= latency_range(task):
        max_latency_ms = None
    if not task.results:
        return "No test results next to these checkpoints yet: run `segcompare evaluate` to get a recommendation."
    rec = recommend.recommend(task.results, max_latency_ms=max_latency_ms, cpu_only=bool(cpu_only))
    return safe_markdown(rec.markdown)


def latency_range(task: Task) -> float:
    """The slowest model's p50 latency (ms), the latency slider's top ("no limit")."""
    values = [(r.get("latency_ms") or {}).get("p50") for r in task.results]
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(math.ceil(max(values))) if values else 1000.0


def models_text(task: Task) -> str:
    lines = [f"- **{m.label}**: {what_it_is(m.label) or 'a segmentation model'}" for m in task.models]
    return safe_markdown("\n".join(lines))


def per_class_table(task: Task) -> pd.DataFrame:
    """Per-class IoU (%) as a table: one row per class, one column per model (leaderboard order)."""
    cols = {m.label: [None if v is None else round(100 * v, 1) for v in (m.results or {}).get("per_class_iou") or []]
            for m in task.models if m.results}
    df = pd.DataFrame({"Class": [viz.readable(c) for c in task.classes]})
    for label, values in cols.items():
        df[label] = (values + [None] * len(task.classes))[:len(task.classes)]
    return df


def glossary() -> str:
    return "\n".join(f"- **{name}**: {text}" for name, text in report.GLOSSARY)


def evidence_items(task: Task, found: list) -> list[tuple[str, str]]:
    """Gallery items for the evidence images whose photos ship with the app (others are only listed)."""
    by_name = {s.name: s for s in task.samples}
    return [(str(by_name[e.name].image), e.caption) for e in found if e.name in by_name]


def evidence_list(found: list) -> str:
    if not found:
        return "No such test images."
    return safe_markdown("\n".join(f"- {e.caption}" for e in found))


def galleries(task: Task) -> tuple[list, list]:
    """(where the models disagree most, where the winner loses): shipped photos only."""
    if len(task.results) < 2:
        return [], []
    return (evidence_items(task, evidence.disagreement_images(task.results, k=24)),
            evidence_items(task, evidence.winner_loses_images(task.results, k=24)))


def confusion_table(task: Task, label: str) -> pd.DataFrame:
    """Row-normalised confusion matrix (%) of one model: rows the true class, columns the predicted."""
    m = task.model(label)
    if not m.results:
        return pd.DataFrame({"True class": [viz.readable(c) for c in task.classes]})
    share = report.row_normalize(m.results["confusion_matrix"]) * 100
    names = [viz.readable(c) for c in task.classes]
    df = pd.DataFrame(np.round(share, 1), columns=names)
    df.insert(0, "True class", names)
    return df


def cell_images(task: Task, label: str, true_class: int, pred_class: int) -> tuple[list, str]:
    """The test images with the most pixels of `true_class` labelled `pred_class` by the model."""
    m = task.model(label)
    if not m.results:
        return [], f"{label} has no per-image results."
    found = evidence.cell_images(m.results, true_class, pred_class, k=8)
    head = (f"**{viz.readable(task.classes[true_class])} labelled as {viz.readable(task.classes[pred_class])}** "
            f"by {m.label}: the test images with the most such pixels")
    return evidence_items(task, found), safe_markdown(head) + "\n\n" + evidence_list(found)


def sample_items(task: Task | None) -> list[tuple[str, str]]:
    return [(str(s.image), s.name) for s in task.samples] if task else []


def sample_named(task: Task, name: str) -> Sample | None:
    return next((s for s in task.samples if s.name == name), None)


def leaderboard(task: Task) -> tuple:
    """(table, "which differences are real" text, per-class figure, accuracy-vs-speed figure)."""
    if not task.results:
        return None, "No results.json next to these checkpoints: run `segcompare evaluate`.", None, None
    colors = report.model_colors([m.label for m in task.models])
    lines = "\n".join(f"- {line}" for line in report.verdict_lines(task.results)) or "- Only one model."
    return (report.leaderboard(task.results), safe_markdown(f"**Which differences are real?**\n\n{lines}"),
            report.per_class_iou_figure(task.results, colors=colors),
            report.pareto_figure(task.results, colors=colors))


def confusion(task: Task, label: str | None) -> tuple:
    """(confusion figure, its biggest mix-ups in words) of one model; (None, "") for no model."""
    if label in (None, "", "(none)"):
        return None, ""
    m = task.model(label)
    if not m.results:
        return None, safe_markdown(f"**{m.label}**: no results.json")
    lines = "\n".join(f"- {m.label} {line}" for line in report.top_confusions(m.results, k=5)) or "- none above 1%"
    return (report.confusion_figure(m.results, normalize=True),
            safe_markdown(f"**{m.label} — biggest mix-ups**\n\n{lines}"))


def corruptions(task: Task) -> list[str]:
    return sorted({c for r in task.results for c in (r.get("robustness") or {})})


def curves(task: Task, class_name: str | None) -> tuple:
    """(ROC figure, precision-recall figure) for one class, or averaged over classes."""
    name = None if class_name in (None, "", MEAN_CLASS) else class_name
    return report.roc_figure(task.results, class_name=name), report.pr_figure(task.results, class_name=name)


# --- one request, start to end (what the app's handlers call) ------------------------------------------

def checked_view(c: Comparison, view, opacity, hide) -> tuple[str, float, set[int]]:
    """The web's view name, opacity and hidden class names, checked: (view, alpha, hidden class indices)."""
    hidden = {c.task.classes.index(check_choice(h, c.task.classes, "class")) for h in (hide or [])}
    return check_choice(view, VIEWS, "view"), check_number(opacity, "opacity", 0, 1), hidden


def compared(service: CompareService, session: str, state: dict) -> tuple:
    """After a Compare: (model pictures as files, score table, the session's state)."""
    c = service.comparison(session, state)
    return service.pictures(model_pictures(c, "Overlay", 0.55)), score_table(c), state


def rendered(service: CompareService, session: str, state, view, opacity, hide) -> tuple:
    """A comparison in one view: (model pictures, reference pictures, legend, status), pictures as files."""
    c = service.comparison(session, state)
    view, alpha, hidden = checked_view(c, view, opacity, hide)
    return (service.pictures(model_pictures(c, view, alpha, hidden)),
            service.pictures(reference_pictures(c, view, alpha, hidden)), legend(c, view), status_text(c))


def slider_files(service: CompareService, session: str, state, view, opacity, hide, left, right) -> tuple:
    """The before/after slider's two pictures as files."""
    c = service.comparison(session, state)
    view, alpha, hidden = checked_view(c, view, opacity, hide)
    choices = slider_choices(c.task)
    pair = slider_pair(c, check_choice(left, choices, "slider picture"), check_choice(right, choices, "slider picture"),
                       view, alpha, hidden)
    return tuple(path for path, _ in service.pictures([(pair[0], ""), (pair[1], "")]))


def cell_lookup(task: Task, label, true_class, pred_class) -> tuple[list, str]:
    """`cell_images` with the web's row and column checked."""
    k = len(task.classes)
    return cell_images(task, label, check_index(true_class, k, "true class"),
                       check_index(pred_class, k, "predicted class"))


def task_choices(task: Task) -> dict:
    """Everything on the page that follows the chosen task; `pickers`: (choices, value) of the class toggles,
    the slider's two sides, the two confusion models, the corruption and the ROC class, in that order."""
    names = [m.label for m in task.models]
    first = names[0] if names else None
    pickers = [(list(task.classes), []), (slider_choices(task), PHOTO), (slider_choices(task), first),
               (names, first), (["(none)", *names], names[1] if len(names) > 1 else "(none)"),
               ([ALL_CORRUPTIONS, "all", *corruptions(task)], ALL_CORRUPTIONS),
               ([MEAN_CLASS, *task.classes], MEAN_CLASS)]
    return {"samples": sample_items(task), "columns": task_columns(task), "latency": latency_range(task),
            "pickers": pickers}


def check_names(args: tuple) -> tuple:
    """Arguments of a results endpoint: task, model, class or corruption names (text) or None."""
    if not all(a is None or isinstance(a, str) for a in args):
        raise UserError("every argument of this endpoint is a name (text)")
    return args


def picked_name(value) -> str:
    """The sample name behind a gallery click (its picture's file name)."""
    image = (value or {}).get("image") if isinstance(value, dict) else None
    path = image.get("path") if isinstance(image, dict) else None
    return Path(str(path or "")).stem


def cell_of(index) -> tuple:
    """A confusion-table click (row, column) -> (true class, predicted class): column 0 holds the names."""
    if not isinstance(index, (list, tuple)) or len(index) != 2:
        return None, None
    row, col = index
    return row, col - 1 if isinstance(col, int) else col


def training(task: Task):
    return report.training_figure({m.label: m.history for m in task.models})


def robustness(task: Task, corruption: str | None):
    return report.robustness_figure(task.results, corruption=None if corruption in (None, ALL_CORRUPTIONS)
                                    else corruption)


def header(catalog: Catalog, sources: list[str]) -> str:
    """The line under the title: the tasks found, and every checkpoint skipped with its reason."""
    if not catalog.tasks:
        return NO_CHECKPOINTS.format(sources=", ".join(f"`{s}`" for s in sources))
    text = "; ".join(f"**{t.name}**: {len(t.models)} models, {len(t.classes)} classes" for t in catalog.tasks)
    skipped = "".join(f"\n- skipped: {p}" for p in catalog.problems)
    return safe_markdown(f"Models trained for {text}.{skipped}")
