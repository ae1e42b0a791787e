"""What the results tabs show: the verdict, the leaderboard's tables and words, mix-ups and evidence images.

UI-free, like `views`: strings (escaped with `views.safe_markdown`), DataFrames, plotly figures and gallery
items built from a task's stored results (`recommend`, `evidence`, `report`); app.py caches them per task.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import evidence, provenance, recommend, report, zoo
from . import visualize as viz
from .catalog import Catalog, ModelEntry, Task
from .errors import UserError
from .session import check_index, check_number
from .views import ALL_CORRUPTIONS, MEAN_CLASS, PHOTO, safe_markdown, sample_items, slider_choices, task_columns

NO_CHECKPOINTS = ("### No models found\nNone were found in: {sources}. Train the demo models with `segcompare "
                  "compare --config configs/demo-pets.yaml`, or run `python app.py --checkpoints DIR|ORG/REPO`.")
CONFUSION_HELP = ("Rows: the true class; columns: what the model said (% of the row's pixels). A perfect model has "
                  "100 on the diagonal. Click a cell to list the test images with the most such pixels.")
CURVES_HELP = ("How well each model's confidence separates a class from the rest. *AUC* (area under the ROC curve) "
               "and *AP* (average precision) are 1.0 for a perfect ranking; guessing gives 0.5 and the class's "
               "share of pixels.")


def what_it_is(entry: ModelEntry) -> str:
    """A model's one-line description from the registry ("" for a model the registry cannot name)."""
    try:
        return zoo.model_facts(str(entry.config.get("name"))).what_it_is
    except UserError:
        return ""


def about(task: Task) -> str:
    """Where the task's models come from: data, size, credit, licence, encoder weights and the caution."""
    return provenance.about_html(task.name, [(m.config, m.results) for m in task.models], task.dataset)


def recommendation(task: Task, max_latency_ms, cpu_only) -> str:
    """recommend.recommend's verdict, escaped; a budget at the slider's top (the slowest model) is no limit."""
    if max_latency_ms is not None:
        max_latency_ms = check_number(max_latency_ms, "latency budget", 0, 1e6)
    cpu_only = cpu_only is True or cpu_only == "true"
    if max_latency_ms is not None and max_latency_ms >= latency_range(task):
        max_latency_ms = None
    if not task.results:
        return "No test results next to these checkpoints yet: run `segcompare evaluate` to get a recommendation."
    rec = recommend.recommend(task.results, max_latency_ms=max_latency_ms, cpu_only=bool(cpu_only))
    return safe_markdown(rec.markdown)


def latency_range(task: Task) -> float:
    """The slowest p50 latency (ms) measured on any device, the latency slider's top ("no limit"); read as
    the recommendation reads latencies (`Results.device_latencies`), so the top never cuts a model."""
    values = [v for r in task.results for v in r.device_latencies().values()]
    return float(math.ceil(max(values))) if values else 1000.0


def models_text(task: Task) -> str:
    lines = [f"- **{m.label}**: {what_it_is(m) or 'a segmentation model'}" for m in task.models]
    return safe_markdown("\n".join(lines))


def per_class_table(task: Task) -> pd.DataFrame:
    """Per-class IoU (%) as a table: one row per class, one column per model (leaderboard order)."""
    cols = {m.label: [None if v is None else round(100 * v, 1) for v in m.results.per_class_iou or []]
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
    share = report.row_normalize(m.results.confusion_matrix) * 100
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
    return sorted({c for r in task.results for c in r.robustness})


def curves(task: Task, class_name: str | None) -> tuple:
    """(ROC figure, precision-recall figure) for one class, or averaged over classes."""
    name = None if class_name in (None, "", MEAN_CLASS) else class_name
    return report.roc_figure(task.results, class_name=name), report.pr_figure(task.results, class_name=name)


def cell_lookup(task: Task, label, true_class, pred_class) -> tuple[list, str]:
    """`cell_images` with the web's row and column checked."""
    k = len(task.classes)
    return cell_images(task, label, check_index(true_class, k, "true class"),
                       check_index(pred_class, k, "predicted class"))


def check_names(args: tuple) -> tuple:
    """Arguments of a results endpoint: task, model, class or corruption names (text) or None."""
    if not all(a is None or isinstance(a, str) for a in args):
        raise UserError("every argument of this endpoint is a name (text)")
    return args


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
