"""From results.json files (Contract 4) to a comparison people can read: leaderboard, verdicts, report.

`load_results` / `find_results` read and check results files, `leaderboard` makes the table (one row per
model, best mIoU first), `top_confusions` and `verdict_lines` put the confusion matrix and the paired
bootstrap of `stats` into plain sentences, and `write_report` writes leaderboard.csv/.md, one HTML file
per figure and a single self-contained report.html that opens offline. The plotly figure builders live in
`figures.py` and are re-exported here, so `report` is the one module the app and the CLI need.
"""

from __future__ import annotations

import html
import math
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserError
from .figures import (
    confusion_figure,
    display_name,
    model_colors,
    model_labels,
    pareto_figure,
    pareto_front,
    per_class_iou_figure,
    per_image_figure,
    pr_figure,
    robustness_figure,
    roc_figure,
    row_normalize,
    training_figure,
    typed,
)
from .formats.history import read_history_file
from .formats.results import Results, rank_key
from .recommend import recommend, to_html
from .report_assets import ensure_plotly_js, save_figure, save_text
from .stats import check_comparable  # one check for tables and the bootstrap (strict when paired)

__all__ = ["load_results", "find_results", "check_comparable", "display_name", "model_labels", "model_colors",
           "leaderboard", "leaderboard_markdown", "top_confusions", "verdict_lines", "read_history",
           "write_report", "confusion_figure", "per_class_iou_figure", "pareto_figure", "pareto_front",
           "robustness_figure", "training_figure", "roc_figure", "pr_figure", "per_image_figure", "row_normalize"]

RESULTS_FILE = "results.json"
HISTORY_FILE = "history.jsonl"
# column -> decimals shown; percentages from 0-1 fractions
COLUMNS = {"Model": None, "mIoU (%)": 1, "Published mIoU (%)": 2, "Pixel acc. (%)": 1, "Boundary IoU (%)": 1,
           "Mean acc. (%)": 1, "Latency p50 (ms)": 1, "Params (M)": 2, "Size (MB)": 1, "Robust mIoU (%)": 1}


# --- reading ----------------------------------------------------------------------------------------------

def load_results(path) -> Results:
    """Read one results.json, checked and typed (UserError naming the file on any problem)."""
    return Results.read(path)


def find_results(paths) -> list[Path]:
    """results.json files named by paths: a file, a checkpoint folder, or a folder of checkpoint folders."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            hits = [p]
        elif p.is_dir():
            hits = next((h for h in ([p / RESULTS_FILE] if (p / RESULTS_FILE).is_file() else [],
                                     sorted(p.glob(f"*/{RESULTS_FILE}")), sorted(p.glob(f"*/*/{RESULTS_FILE}")))
                         if h), [])
            if not hits:
                raise UserError(f"no {RESULTS_FILE} in {p} or its subfolders; run `segcompare evaluate` first")
        else:
            raise UserError(f"no such file or folder: {p}")
        found += [h for h in hits if h.resolve() not in {f.resolve() for f in found}]
    if not found:
        raise UserError("no results given; pass results.json files or checkpoint folders")
    return found


def read_history(checkpoint_dir) -> list[dict]:
    """Epoch records of history.jsonl (a folder or the file); [] without one.

    A broken last line (a training process killed mid-write) is skipped; a resumed run may repeat
    epochs, and the last record of an epoch wins.
    """
    path = Path(checkpoint_dir)
    return read_history_file(path / HISTORY_FILE if path.is_dir() else path)


# --- the table --------------------------------------------------------------------------------------------

def _row(r: Results, label: str) -> dict:
    pct = lambda v: None if v is None else 100.0 * v
    return {"Model": label, "mIoU (%)": pct(r.miou), "Pixel acc. (%)": pct(r.pixel_accuracy),
            "Boundary IoU (%)": pct(r.boundary_iou), "Mean acc. (%)": pct(r.mean_accuracy),
            "Latency p50 (ms)": r.latency_p50, "Params (M)": None if r.params is None else r.params / 1e6,
            "Size (MB)": r.size_mb, "Robust mIoU (%)": pct(r.mean_robustness)}


def published_column(results: list[Results]) -> list[float]:
    """The published mIoU (%) of the experiment a run reproduces (`published:` of the config), NaN if none."""
    return [math.nan if r.published_miou is None else 100.0 * r.published_miou for r in results]


def leaderboard(results: list[Results | dict]) -> pd.DataFrame:
    """One row per model in `formats.rank_key` order (best mIoU first, ties faster first); the published and
    robustness columns only when some model has them."""
    results = typed(results)
    ranked = sorted(zip(results, model_labels(results)), key=lambda pair: rank_key(pair[0]))
    df = pd.DataFrame([_row(r, lab) for r, lab in ranked], columns=list(COLUMNS))
    df = df.astype({c: float for c in COLUMNS if c != "Model"})
    df["Published mIoU (%)"] = published_column([r for r, _ in ranked])
    for optional in ("Published mIoU (%)", "Robust mIoU (%)"):
        if df[optional].isna().all():
            df = df.drop(columns=optional)
    return df.round({c: d for c, d in COLUMNS.items() if d is not None and c in df})


def _formatted(df: pd.DataFrame) -> pd.DataFrame:
    """Strings with each column's decimals; '–' for values that were not measured."""
    out = df.copy().astype(object)
    for col in df.columns:
        d = COLUMNS.get(col)
        if d is not None:
            out[col] = [("–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}f}")
                        for v in df[col]]
    return out


def leaderboard_markdown(df: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown table (numbers right-aligned)."""
    f = _formatted(df)
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(map(esc, f.columns)) + " |",
             "|" + "|".join(":---" if c == "Model" else "---:" for c in f.columns) + "|"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in f.itertuples(index=False)]
    return "\n".join(lines) + "\n"


# --- sentences --------------------------------------------------------------------------------------------

def _share(s: float) -> str:
    return f"{100 * s:.0f}%" if s >= 0.095 else f"{100 * s:.1f}%"


def top_confusions(result: Results | dict, k: int = 5, min_share: float = 0.01) -> list[str]:
    """The k largest mistakes in words, e.g. "confuses sidewalk with road on 12% of sidewalk pixels"."""
    result = Results.of(result)
    share = row_normalize(result.confusion_matrix)
    np.fill_diagonal(share, np.nan)
    classes = [str(c) for c in result.classes]
    cells = [(share[i, j], i, j) for i in range(len(classes)) for j in range(len(classes))
             if np.isfinite(share[i, j]) and share[i, j] >= min_share]
    cells.sort(key=lambda c: -c[0])
    return [f"confuses {classes[i]} with {classes[j]} on {_share(s)} of {classes[i]} pixels" for s, i, j in cells[:k]]


def verdict_lines(results: list[Results | dict], n_boot: int = 2000, seed: int = 0) -> list[str]:
    """Every pair of models in one sentence each (paired bootstrap over test images), best model first."""
    from . import stats

    if len(results) < 2:
        return []
    results = typed(results)
    labels = model_labels(results)
    missing = [lab for r, lab in zip(results, labels) if not r.image_confusion]
    if missing:
        return [f"No significance test: {', '.join(missing)} lack per-image confusion matrices "
                "(re-run `segcompare evaluate`)."]
    labelled = [r.labelled(lab) for r, lab in zip(results, labels)]
    out = []
    for cmp in stats.compare_all(labelled, n_boot=n_boot, seed=seed):
        text = cmp["verdict"]
        out.append(text[0].upper() + text[1:] + ".")
    return out


def headline(results: list[Results | dict], n_boot: int = 2000) -> str:
    """The verdict's one-line headline ("Use X: the most accurate of ..."), as the app shows it."""
    return recommend(results, n_boot=n_boot).headline


# --- the report -------------------------------------------------------------------------------------------

GLOSSARY = [
    ("mIoU (mean intersection over union)",
     "For each class, the overlap between the pixels the model labels as that class and the true pixels, "
     "divided by everything either of them covers (100% = perfect, 0% = no overlap); then the average over "
     "classes, so rare classes count as much as common ones. The main score."),
    ("Pixel accuracy", "The share of all pixels labelled correctly. Easy to read, but dominated by large "
     "classes such as background or road."),
    ("Boundary IoU", "mIoU counted only on a thin band of pixels along the true object edges: how clean the "
     "outlines are. Usually much lower than mIoU."),
    ("Mean accuracy", "The share of each class's pixels found, averaged over classes."),
    ("Latency", "Milliseconds to segment one image (median of repeated runs, batch of 1) on the device "
     "named below. Lower is faster."),
    ("Params / Size", "Millions of learned numbers in the model, and the size of its weights file: "
     "what it costs to store and ship."),
    ("Robust mIoU", "mIoU averaged over corrupted copies of the test images (noise, blur, fog, JPEG, ...): "
     "how well the model copes with bad pictures."),
    ("95% CI", "The range the difference between two models would likely fall in if the test images had "
     "been a different sample. When it contains 0 the test set cannot tell the two models apart."),
]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.headline{background:#eef5ff;border-left:5px solid #36c;padding:.6em 1em;margin:1em 0}
.headline p:first-child{font-size:1.3em;margin:.2em 0} .headline ul{margin:.4em 0;padding-left:1.2em}
table.lb{border-collapse:collapse;margin:1em 0;font-size:.95em} table.lb th,table.lb td{padding:.35em .7em;
border-bottom:1px solid #e4e4e4;text-align:right} table.lb th{background:#f5f5f5}
table.lb td:first-child,table.lb th:first-child{text-align:left} table.lb tbody tr:first-child{font-weight:600}
dl.gloss dt{font-weight:600;margin-top:.5em} dl.gloss dd{margin-left:1.2em;color:#444}
.muted{color:#666;font-size:.9em} .fig{margin:1em 0 2em}
"""


def _figure_html(fig, first: bool) -> str:
    import plotly.io as pio

    return pio.to_html(fig, full_html=False, include_plotlyjs=bool(first), config={"displaylogo": False},
                       default_width="100%")


def _sources(results: list[Results]) -> str:
    r = results[0]
    dates = sorted({x.created[:10] for x in results if x.created})
    devices = sorted({x.latency_device for x in results} - {None})
    sizes = sorted({"×".join(map(str, x.input_size)) for x in results if x.input_size})
    parts = [f"Data: <code>{html.escape(str(r.dataset))}</code>, split <b>{html.escape(str(r.split))}</b>"
             f", {'?' if r.num_images is None else r.num_images} images, {len(r.classes)} classes "
             f"({html.escape(', '.join(map(str, r.classes)))})."]
    if sizes:
        parts.append(f"Image size: {', '.join(sizes)}.")
    if devices:
        parts.append(f"Latency measured on: {html.escape(', '.join(devices))}"
                     + (" (different devices: compare latencies with care)" if len(devices) > 1 else "") + ".")
    if dates:
        parts.append(f"Evaluated: {', '.join(dates)}.")
    parts.append(f"Report written {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.")
    return " ".join(parts)


def _page(results, df, verdicts, figures: list[tuple[str, str, str]], confusions, n_boot: int) -> str:
    """The HTML page; `figures` are (section title, html, note) with plotly.js inlined in the first."""
    esc = html.escape
    r0 = results[0]
    gloss = "".join(f"<dt>{esc(t)}</dt><dd>{esc(d)}</dd>" for t, d in GLOSSARY)
    table = _formatted(df).to_html(index=False, classes="lb", border=0, escape=True)
    front = pareto_front(results)
    parts = [f"<h1>Segmentation model comparison</h1><p class='muted'>{esc(str(r0.dataset))} · "
             f"{esc(str(r0.split))} split · {len(results)} models</p>",
             f"<div class='headline'>{to_html(recommend(results, n_boot=n_boot).markdown)}</div>"]
    if front:
        parts.append(f"<p>Best trade-offs between accuracy and speed: {esc(', '.join(front))}.</p>")
    parts += ["<h2>What the numbers mean</h2>", f"<dl class='gloss'>{gloss}</dl>",
              "<h2>Leaderboard</h2>", table]
    if verdicts:
        parts += ["<h2>Is the difference real?</h2>",
                  f"<p class='muted'>Each pair of models compared on the same test images, resampled {n_boot} times "
                  "(paired bootstrap).</p><ul>" + "".join(f"<li>{esc(v)}</li>" for v in verdicts) + "</ul>"]
    for title, fig_html, note in figures:
        parts.append(f"<h2>{esc(title)}</h2>" + (f"<p class='muted'>{esc(note)}</p>" if note else "")
                     + f"<div class='fig'>{fig_html}</div>")
        if title.startswith("Mistakes of "):
            lines = confusions.get(title[len("Mistakes of "):], [])
            items = "".join(f"<li>{esc(x)}</li>" for x in lines) or "<li>no mistake above 1% of a class</li>"
            parts.append(f"<p>Biggest mistakes:</p><ul>{items}</ul>")
    parts.append(f"<h2>Data</h2><p class='muted'>{_sources(results)}</p>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>segcompare report — {esc(str(r0.dataset))}</title><style>{CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>")


def _slug(label: str) -> str:
    """A file-name stem: "deeplabv3plus_resnet18" as is, "UNet (ResNet-18) [a]" -> "unet_resnet_18_a"."""
    return re.sub(r"[^a-z0-9+]+", "_", label.lower()).replace("+", "plus").strip("_")


def _by_rank(results: list[Results], paths: list[Path]) -> tuple[list[Results], list[Path]]:
    """Results and their files in leaderboard order (`formats.rank_key`), for every figure."""
    order = sorted(range(len(results)), key=lambda i: rank_key(results[i]))
    return [results[i] for i in order], [paths[i] for i in order]


def _figures(results, labels, histories) -> list[tuple[str, str, object, str]]:
    """(file stem, section title, figure, note) of every figure the report shows."""
    colors = model_colors(labels)
    figs = [("pareto", "Accuracy vs speed", pareto_figure(results, colors=colors),
             "Stars mark the best trade-offs: no other model is both faster and more accurate."),
            ("per_class_iou", "Per-class IoU", per_class_iou_figure(results, colors=colors), ""),
            ("per_image", "Image by image", per_image_figure(results, colors=colors),
             "Every dot is one test image; hover to see its name. The box holds the middle half of the images.")]
    if any(r.robustness for r in results):
        figs.append(("robustness", "Robustness to bad images", robustness_figure(results, colors=colors), ""))
        figs.append(("robustness_all", "Robustness, corruption by corruption",
                     robustness_figure(results, "all", colors=colors), ""))
    if any(r.roc for r in results):
        figs.append(("roc", "ROC curves", roc_figure(results, colors=colors),
                     "Averaged over classes; each class is treated as 'this class vs everything else'."))
        figs.append(("pr", "Precision and recall", pr_figure(results, colors=colors), ""))
    if histories:
        figs.append(("training", "Training curves", training_figure(histories, colors=colors), ""))
    models = [r.model for r in results]
    for r, lab in zip(results, labels):
        stem = _slug(r.model if models.count(r.model) == 1 else lab)
        figs.append((f"confusion_{stem}", f"Mistakes of {lab}", confusion_figure(r),
                     "Each row shows where the pixels of one true class ended up; the diagonal is correct."))
    return figs


def write_report(results_paths, out_dir, n_boot: int = 2000) -> Path:
    """leaderboard.csv/.md, figures/*.html and a self-contained report.html in out_dir -> report.html."""
    paths = find_results(results_paths if isinstance(results_paths, (list, tuple)) else [results_paths])
    results, paths = _by_rank([load_results(p) for p in paths], paths)
    check_comparable(results)
    labels = model_labels(results)
    out = Path(out_dir)
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create report folder {out}: {e.strerror or e}") from None
    df = leaderboard(results)
    save_text(out / "leaderboard.csv", df.to_csv(index=False))
    save_text(out / "leaderboard.md", leaderboard_markdown(df))
    histories = {lab: h for lab, p in zip(labels, paths) if (h := read_history(p.parent))}
    figs = _figures(results, labels, histories)
    for old in (out / "figures").glob("*.html"):  # a previous report's figures (other models) would mislead
        old.unlink()
    ensure_plotly_js(out / "figures")  # one plotly.min.js beside them, not one copy per file
    for stem, _, fig, _ in figs:
        save_figure(fig, out / "figures" / f"{stem}.html")
    sections = [(title, _figure_html(fig, i == 0), note) for i, (_, title, fig, note) in enumerate(figs)]
    confusions = {lab: top_confusions(r) for r, lab in zip(results, labels)}
    page = _page(results, df, verdict_lines(results, n_boot=n_boot), sections, confusions, n_boot)
    return save_text(out / "report.html", page)
