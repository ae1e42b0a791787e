"""Plotly figures of results (Contract 4) for the HTML report and the app, written for non-experts.

Every builder takes typed `Results` (a dict is checked and typed on the way in) and returns a plain
`plotly.graph_objects.Figure`. Models are named by `display_name` ("unet_mobilenet_v2" -> "UNet
(MobileNet-V2)") and keep one colour in every figure (`model_colors`). Scores are stored as fractions and
shown as percentages. A figure whose data is missing from every result (no latency, no robustness sweep,
no ROC) says so instead of being blank.
How they look (dark mode, wrapped titles) is `figure_style`'s job.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from . import zoo
from .errors import UserError
from .figure_style import INK, empty, layout
from .formats.results import Results
from .results import unique_labels

PALETTE = qualitative.Plotly + qualitative.Dark24
MEAN_OF_CORRUPTIONS = "mean over all corruptions"  # the label for robustness_figure(corruption=None)
MEAN_OF_CLASSES = "mean over all classes"  # the label for roc_figure / pr_figure(class_name=None)


# --- names and colours -----------------------------------------------------------------------------------

def display_name(result_or_name) -> str:
    """Human name of a model (or of a result's model), from the zoo's registry (`segcompare.zoo`)."""
    if isinstance(result_or_name, dict):  # a stand-in for a checkpoint without results (catalog)
        result_or_name = result_or_name.get("model", "?")
    name = result_or_name.model if isinstance(result_or_name, Results) else result_or_name
    return zoo.display_name(name)


def model_labels(results: list[Results | dict]) -> list[str]:
    """Display names made unique: two results of one architecture get their checkpoint folder's name."""
    results = typed(results)
    return unique_labels([display_name(r) for r in results], [r.checkpoint for r in results])


def model_colors(names) -> dict[str, str]:
    """One colour per model name, the same for the same set of names whatever order a figure lists them."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(sorted(set(names)))}


# --- helpers ----------------------------------------------------------------------------------------------

def _pct(v):
    return None if v is None else 100.0 * float(v)


def typed(results) -> list[Results]:
    """Results as the builders read them: dicts checked and typed, Results as they are."""
    return [Results.of(r) for r in results]


def _named(results: list[Results], colors: dict | None):
    labels = model_labels(results)
    return labels, colors or model_colors(labels)


# --- figures of one model ---------------------------------------------------------------------------------

def row_normalize(cm) -> np.ndarray:
    """Share of each true class's pixels given to each predicted class; NaN rows for absent classes."""
    cm = np.asarray(cm, dtype=np.float64)
    totals = cm.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, cm / totals, np.nan)


def confusion_figure(result: Results | dict, normalize: bool = True) -> go.Figure:
    """Heatmap of the confusion matrix, rows = true class; share of the row (or counts), counts on hover."""
    result = Results.of(result)
    counts = np.asarray(result.confusion_matrix, dtype=np.int64)
    classes = [str(c) for c in result.classes]
    z = row_normalize(counts) if normalize else counts.astype(np.float64)
    zlist = [[None if not np.isfinite(v) else float(v) for v in row] for row in z]
    # cell labels: blank below 0.5% so the few real mistakes stand out
    text = [["" if v is None or v < 0.005 else f"{100 * v:.0f}%" for v in row] for row in zlist]
    share = "%{z:.1%} of the true class's pixels<br>" if normalize else ""
    heat = go.Heatmap(z=zlist, x=classes, y=classes, customdata=counts.tolist(), colorscale="Blues",
                      zmin=0, zmax=1 if normalize else None, xgap=1, ygap=1,
                      colorbar=dict(title="share" if normalize else "pixels", tickformat=".0%" if normalize else ""),
                      hovertemplate="true: %{y}<br>predicted: %{x}<br>" + share + "%{customdata:,} pixels"
                      "<extra></extra>")
    if normalize and len(classes) <= 20:  # numbers in the cells while they stay readable
        heat.update(text=text, texttemplate="%{text}", textfont=dict(size=11 if len(classes) <= 10 else 9))
    fig = go.Figure(heat)
    fig.update_xaxes(title="predicted class", side="bottom", tickangle=-45 if len(classes) > 6 else 0)
    fig.update_yaxes(title="true class", autorange="reversed")
    size = min(900, 260 + 32 * len(classes))
    return layout(fig, f"Where does {display_name(result)} go wrong? (rows: true class, columns: predicted)",
                   height=size)


# --- figures comparing models -----------------------------------------------------------------------------

def per_class_iou_figure(results: list[dict], colors: dict | None = None) -> go.Figure:
    """Grouped bars: IoU of every class, one bar per model."""
    title = "Which classes does each model get right? (IoU per class, higher is better)"
    if not results:
        return empty(title, "No results to show")
    results = typed(results)
    labels, colors = _named(results, colors)
    fig = go.Figure()
    for r, lab in zip(results, labels):
        fig.add_bar(x=[str(c) for c in r.classes], y=[_pct(v) for v in r.per_class_iou or []], name=lab,
                    marker_color=colors[lab], hovertemplate=lab + "<br>%{x}: %{y:.1f}%<extra></extra>")
    fig.update_yaxes(title="IoU (%)", range=[0, 100])
    fig.update_xaxes(title="class")
    return layout(fig, title, barmode="group", height=450, legend_title_text="model")


def _timed(r: Results) -> bool:
    return r.latency_p50 is not None and r.miou is not None


def pareto_front(results: list[Results | dict]) -> list[str]:
    """Labels of the models no other model beats on both accuracy (mIoU) and speed, fastest first."""
    results = typed(results)
    labels = model_labels(results)
    pts = [(r.latency_p50, r.miou, lab) for r, lab in zip(results, labels) if _timed(r)]
    front = [p for p in pts
             if not any(q[0] <= p[0] and q[1] >= p[1] and (q[0] < p[0] or q[1] > p[1]) for q in pts)]
    return [p[2] for p in sorted(front)]


def pareto_figure(results: list[Results | dict], colors: dict | None = None) -> go.Figure:
    """mIoU against latency; the best trade-offs (Pareto front) joined by a line and starred."""
    title = "Accuracy vs speed: up and to the left is better"
    results = typed(results)
    labels, colors = _named(results, colors)
    timed = sorted(((r, lab) for r, lab in zip(results, labels) if _timed(r)), key=lambda t: t[0].latency_p50)
    if not timed:
        return empty(title, "No latency measured: run `segcompare evaluate` without --no-latency")
    front = pareto_front([r for r, _ in timed])
    fig = go.Figure()
    fx = [r.latency_p50 for lab in front for r, lb in timed if lb == lab]
    fy = [_pct(r.miou) for lab in front for r, lb in timed if lb == lab]
    fig.add_scatter(x=fx, y=fy, mode="lines", line=dict(color=INK, dash="dot", width=2), name="best trade-offs",
                    hoverinfo="skip")
    xs, ys = [r.latency_p50 for r, _ in timed], [_pct(r.miou) for r, _ in timed]
    for rank, (r, lab) in enumerate(timed):  # fastest first
        best = lab in front
        hover = (f"<b>{lab}</b><br>mIoU %{{y:.1f}}%<br>%{{x:.1f}} ms per image ({r.latency_ms.get('device', '?')})"
                 + (f"<br>{r.params / 1e6:.1f} M parameters" if r.params else "")
                 + ("<br>a best trade-off" if best else "") + "<extra></extra>")
        fig.add_scatter(x=[r.latency_p50], y=[_pct(r.miou)], mode="markers+text", name=lab, text=[lab],
                        textposition=_label_side(xs, ys, rank), hovertemplate=hover, cliponaxis=False,
                        marker=dict(color=colors[lab], size=16 if best else 11, symbol="star" if best else "circle",
                                    line=dict(color=INK, width=1)))
    _pareto_axes(fig, xs, ys)
    return layout(fig, title, height=480, showlegend=False,
                   subtitle="Stars: the best trade-offs (no other model is both faster and more accurate). "
                            "p50 = median time per image over repeated timed runs.")


def _label_side(xs: list[float], ys: list[float], rank: int) -> str:
    """Where the name of the `rank`-th fastest point goes (latency `xs`, mIoU `ys`, fastest first): inwards
    at the plot's left and right edges (names are wide: there they were cut off), centred elsewhere (sideways
    they ran over the next point), and above the point only if it is higher than its nearest neighbour in
    speed (else below), so two models of similar speed put their names apart."""
    at = np.log10 if _log_latency(xs) else float
    near = min((i for i in range(len(xs)) if i != rank), key=lambda i: abs(at(xs[i]) - at(xs[rank])), default=rank)
    vertical = "top" if ys[rank] >= ys[near] else "bottom"
    spread = at(max(xs)) - at(min(xs))
    where = (at(xs[rank]) - at(min(xs))) / spread if spread > 0 else 0.5  # 0 = fastest, 1 = slowest
    return f"{vertical} {'right' if where < 0.1 else 'left' if where > 0.9 else 'center'}"


def _log_latency(xs: list[float]) -> bool:
    """A log latency axis when latencies span more than 10x (a fast model would sit on the axis otherwise)."""
    return min(xs) > 0 and max(xs) / min(xs) > 10


def _pareto_axes(fig: go.Figure, xs: list[float], ys: list[float]) -> None:
    """Latency axis (log when it spans 10x) and mIoU axis, with room around the points for their names."""
    if _log_latency(xs):  # 1-2-5 ticks: plotly's own log ticks read as "6 7 8 9 100 2"
        ticks = [m * 10**e for e in range(-2, 7) for m in (1, 2, 5) if min(xs) / 2 <= m * 10**e <= max(xs) * 2]
        lo, hi = np.log10(min(xs)), np.log10(max(xs))
        fig.update_xaxes(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks],
                         range=[lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)])
    else:
        pad = max(0.1 * (max(xs) - min(xs)), 0.05 * max(xs), 0.01)
        fig.update_xaxes(range=[max(0.0, min(xs) - pad), max(xs) + pad])
    pad = max(0.15 * (max(ys) - min(ys)), 4.0)  # percentage points: a line of name text above/below a point
    fig.update_xaxes(title="ms per image (p50 = median)")  # short: a phone shows ~40 characters
    fig.update_yaxes(title="mIoU (%)", range=[min(ys) - pad, max(ys) + pad])


def _severity_curve(r: Results, corruption: str | None) -> tuple[list, list] | None:
    """(severities incl. 0 = clean, mIoU %) for one corruption, or the mean over all of them."""
    rob = r.robustness
    if not rob or (corruption and corruption not in rob):
        return None
    names = [corruption] if corruption else list(rob)
    sevs = sorted({int(s) for c in names for s in rob[c]})
    ys = []
    for s in sevs:
        vals = [rob[c].get(str(s)) for c in names]
        vals = [v for v in vals if v is not None]
        ys.append(_pct(np.mean(vals)) if vals else None)
    return [0, *sevs], [_pct(r.miou), *ys]


def robustness_figure(results: list[Results | dict], corruption: str | None = None,
                      colors: dict | None = None) -> go.Figure:
    """mIoU as images get worse (severity 0 = clean): the mean over corruptions, one corruption, or "all"."""
    results = typed(results)
    labels, colors = _named(results, colors)
    have = [(r, lab) for r, lab in zip(results, labels) if r.robustness]
    title = "How much does accuracy drop when images get worse?"
    if not have:
        return empty(title, "No robustness results: run `segcompare evaluate --robustness`")
    known = sorted({c for r, _ in have for c in r.robustness})
    if corruption not in (None, "all", *known):
        raise UserError(f"unknown corruption {corruption!r}; results have: {', '.join(known)} (or 'all')")
    if corruption == "all":
        return _robustness_grid(have, known, colors, title)
    fig = go.Figure()
    for r, lab in have:
        curve = _severity_curve(r, corruption)
        if curve:
            fig.add_scatter(x=curve[0], y=curve[1], mode="lines+markers", name=lab, line=dict(color=colors[lab]),
                            hovertemplate=lab + "<br>severity %{x}: mIoU %{y:.1f}%<extra></extra>")
    what = corruption.replace("_", " ") if corruption else f"{MEAN_OF_CORRUPTIONS} ({len(known)})"
    fig.update_xaxes(title="corruption strength (0 = clean image)", dtick=1)
    fig.update_yaxes(title="mIoU (%)")
    return layout(fig, f"{title} (mIoU vs strength, {what})", height=420, legend_title_text="model")


def _robustness_grid(have, corruptions, colors, title) -> go.Figure:
    cols = min(3, len(corruptions))  # 4 panels a row left no room for their titles in a half-width plot
    rows = -(-len(corruptions) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[c.replace("_", " ") for c in corruptions],
                        shared_yaxes=True, vertical_spacing=0.12)
    for i, c in enumerate(corruptions):
        for r, lab in have:
            curve = _severity_curve(r, c)
            if curve:
                fig.add_scatter(x=curve[0], y=curve[1], mode="lines+markers", name=lab, legendgroup=lab,
                                showlegend=i == 0, line=dict(color=colors[lab]), row=i // cols + 1,
                                col=i % cols + 1, hovertemplate=f"{lab}<br>{c} %{{x}}: mIoU %{{y:.1f}}%<extra></extra>")
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(title="mIoU (%)", col=1)
    fig.update_annotations(font_size=13)  # panel titles a size below the figure's title
    return layout(fig, f"{title} (mIoU vs strength 0-3 for each corruption)", height=300 * rows + 80)


def _miou_scale(rows: list[dict]) -> float:
    """100 for mIoU stored as a fraction (as everywhere in segcompare), 1 if a history already has percent."""
    vals = [h["val_miou"] for h in rows if h.get("val_miou") is not None]
    return 1.0 if vals and max(vals) > 1.0 else 100.0


def training_figure(histories: dict[str, list[dict]], colors: dict | None = None) -> go.Figure:
    """Loss (train solid, validation dashed) and validation mIoU per epoch, from history.jsonl lines."""
    title = "How did training go? (loss should fall, validation mIoU should rise)"
    histories = {k: v for k, v in histories.items() if v}
    if not histories:
        return empty(title, "No training history (history.jsonl) next to these results")
    colors = colors or model_colors(histories)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss: solid = training, dashed = validation",
                                                        "validation mIoU (higher is better)"))
    for name, rows in histories.items():
        ep = [h.get("epoch") for h in rows]
        series = [("train_loss", "training loss", "solid", 1, 1.0), ("val_loss", "validation loss", "dash", 1, 1.0),
                  ("val_miou", "validation mIoU", "solid", 2, _miou_scale(rows))]
        shown = False  # one legend entry per model; its traces toggle together
        for key, what, dash, col, scale in series:
            ys = [h.get(key) for h in rows]
            if all(v is None for v in ys):
                continue
            fmt = ".1f}%" if key == "val_miou" else ".4f}"
            fig.add_scatter(x=ep, y=[None if v is None else scale * v for v in ys], mode="lines+markers", name=name,
                            legendgroup=name, showlegend=not shown, line=dict(color=colors[name], dash=dash),
                            row=1, col=col, hovertemplate=f"{name}<br>epoch %{{x}}: {what} %{{y:{fmt}<extra></extra>")
            shown = True
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title="loss", row=1, col=1)
    fig.update_yaxes(title="mIoU (%)", row=1, col=2)
    return layout(fig, title, height=420)


def _mean_curve(curves: dict, xkey: str, ykey: str, score: str):
    """Macro-average of one-vs-rest curves on a common x grid; the mean of the per-class scores."""
    grid = np.linspace(0, 1, 101)
    ys, scores = [], []
    for c in curves.values():
        if c.get(xkey) and c.get(score) is not None:
            x, y = np.asarray(c[xkey], float), np.asarray(c[ykey], float)
            order = np.argsort(x, kind="mergesort")
            ys.append(np.interp(grid, x[order], y[order]))
            scores.append(c[score])
    if not ys:
        return None
    return grid.tolist(), np.mean(ys, 0).tolist(), float(np.mean(scores))


def _curve_figure(results, class_name, colors, kind: str) -> go.Figure:
    roc = kind == "roc"
    xkey, ykey, score = ("fpr", "tpr", "auc") if roc else ("recall", "precision", "ap")
    which = "all classes (mean)" if class_name is None else repr(class_name)
    title = (f"How well does each model pick out {which}? ROC curve, higher and further left is better" if roc
             else f"Precision vs recall for {which}: closer to the top right is better")
    subtitle = ("AUC (in the legend) = area under the curve: 1.0 is perfect, 0.5 is a coin flip." if roc else
                "AP (in the legend) = average precision, the area under this curve: 1.0 is perfect.")
    subtitle += " Each class is judged against all the others, pixel by pixel, from the model's probabilities."
    results = typed(results)
    labels, colors = _named(results, colors)
    have = [(r, lab) for r, lab in zip(results, labels) if getattr(r, kind)]
    if not have:
        return empty(title, "No probability curves stored: re-run `segcompare evaluate` (not with --remap)")
    classes = list(have[0][0].classes)
    if class_name is not None and class_name not in classes:
        raise UserError(f"unknown class {class_name!r}; valid: {', '.join(map(str, classes))}")
    fig = go.Figure()
    if roc:
        fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=INK, dash="dot"),
                        name="random guess", hoverinfo="skip")
    for r, lab in have:
        if class_name is None:
            curve = _mean_curve(getattr(r, kind), xkey, ykey, score)
        else:
            c = getattr(r, kind).get(class_name) or {}
            curve = (c[xkey], c[ykey], c[score]) if c.get(xkey) else None
        if curve is None:
            continue
        s = "n/a" if curve[2] is None else f"{curve[2]:.3f}"
        fig.add_scatter(x=curve[0], y=curve[1], mode="lines", name=f"{lab} ({score.upper()} {s})",
                        line=dict(color=colors[lab], width=2),
                        hovertemplate=f"{lab}<br>{xkey} %{{x:.3f}}<br>{ykey} %{{y:.3f}}<extra></extra>")
    names = ("false positive rate", "true positive rate (recall)") if roc else ("recall", "precision")
    fig.update_xaxes(title=names[0], range=[0, 1])
    fig.update_yaxes(title=names[1], range=[0, 1.02])
    return layout(fig, title, subtitle, height=540)  # the legend below takes a row per model


def roc_figure(results: list[dict], class_name: str | None = None, colors: dict | None = None) -> go.Figure:
    """One-vs-rest ROC of one class per model, or the mean over classes; AUC in the legend."""
    return _curve_figure(results, class_name, colors, "roc")


def pr_figure(results: list[dict], class_name: str | None = None, colors: dict | None = None) -> go.Figure:
    """Precision-recall curve of one class per model, or the mean over classes; AP in the legend."""
    return _curve_figure(results, class_name, colors, "pr")


def per_image_figure(results: list[dict], colors: dict | None = None) -> go.Figure:
    """Distribution of per-image mIoU per model (box with every image as a point, name on hover)."""
    title = "How steady is each model from image to image? (mIoU of every test image)"
    results = typed(results)
    labels, colors = _named(results, colors)
    fig = go.Figure()
    for r, lab in zip(results, labels):
        pairs = [(n, _pct(v)) for n, v in zip(r.image_names, r.image_miou or []) if v is not None]
        if pairs:
            fig.add_box(y=[v for _, v in pairs], text=[n for n, _ in pairs], name=lab, marker_color=colors[lab],
                        boxpoints="all", jitter=0.4, pointpos=0, boxmean=True, marker=dict(size=4, opacity=0.6),
                        hovertemplate=lab + "<br>%{text}: mIoU %{y:.1f}%<extra></extra>")
    if not fig.data:
        return empty(title, "No per-image scores in these results")
    fig.update_yaxes(title="mIoU of one image (%)")
    return layout(fig, title, height=450, showlegend=False)
