"""segcompare's Gradio app: compare segmentation models on your own pictures and read their test results.

Wiring only: what the tabs show comes from `segcompare.catalog` (checkpoints, results, samples),
`segcompare.inference` (live predictions), `segcompare.visualize` (pictures) and `segcompare.report`
(tables, sentences and figures). Every action is also a named HTTP endpoint (Contract 6 of DESIGN.md).

    python app.py [--checkpoints DIR|ORG/REPO ...] [--port N]

Sources default to $SEGCOMPARE_CHECKPOINTS, then ./checkpoints. The page comes up before any model is
loaded; each model is loaded on its first Compare and then kept.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from segcompare import report
from segcompare import visualize as viz
from segcompare.catalog import Catalog, Sample, Task, discover
from segcompare.errors import UserError
from segcompare.files import remove_older
from segcompare.images import MAX_PIXELS, fit_within, image_key, load_image, load_mask, save_picture
from segcompare.inference import LRU, Predictor

ROOT = Path(__file__).resolve().parent
SAMPLES_ROOT = ROOT / "assets" / "samples"
CSS_PATH = ROOT / "assets" / "style.css"
DISPLAY_MAX_SIDE = 1024
QUEUE_SIZE = 20  # requests waiting beyond this are told the queue is full
PNG_MAX_AGE_S, PRUNE_EVERY_S = 3600, 600
VIEWS = ["Overlay", "Mask", "Correctness", "Confidence"]
NONE = "(none)"
MEAN = "mean over classes"
log = logging.getLogger("segcompare.app")

NO_CHECKPOINTS = """### No models found
This app shows checkpoints made with **segcompare**. None were found in: {sources}.

- Train and evaluate the demo models: `segcompare compare --config configs/demo-pets.yaml`
  (writes `checkpoints/pets/<model>/`), or
- point the app at checkpoint folders or Hugging Face Hub repos:
  `python app.py --checkpoints path/to/checkpoints org/model-repo` (or set `SEGCOMPARE_CHECKPOINTS`).
"""

HOW_TO_READ = """**How to read this.** *mIoU* (mean intersection over union) says how well a model's coloured
regions overlap the true ones: for each class, the shared area divided by the combined area, averaged
over classes (100% = perfect). *Pixel accuracy* is the share of pixels labelled right (easy to inflate
with large background areas). *Boundary IoU* scores only the outlines. *Latency* is the time for one
image. The sentences below say which differences are real and which could be luck of the test images.
"""


def friendly(fn):
    """Every handler: user mistakes become a message in the page, anything else a short apology (logged)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:  # a bug: keep serving, show no traceback, keep it in the server log
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(f"Something went wrong on our side ({type(e).__name__}); please try another "
                           "image or try again.", print_exception=False) from None
    return wrapper


@dataclass
class Shown:
    """One compared image as displayed (predictions live in the Predictor's cache)."""
    image: np.ndarray
    gt: np.ndarray | None
    sample: Sample | None
    task: str


class App:
    """The state shared by all sessions: the catalog, the models and caches."""

    def __init__(self, catalog: Catalog, sources: list[str]):
        self.catalog, self.sources = catalog, sources
        # a Compare runs one task's models: up to one at a time per core (see Predictor)
        most = max((len(t.models) for t in catalog.tasks), default=1)
        self.predictor = Predictor({m.key: m.path for t in catalog.tasks for m in t.models},
                                   workers=min(os.cpu_count() or 1, most))
        self.shown = LRU(16)
        # Gallery pictures are PNG files we write (fast settings, in parallel) and hand to Gradio by path:
        # its own numpy -> PNG postprocessing took ~21 ms of a 72 ms Compare (now ~6 ms).
        # One folder per app: a content-named file is never deleted under another server's feet.
        self.png_dir = Path(gr.utils.get_upload_folder()) / f"segcompare-{uuid.uuid4().hex[:12]}"
        self._encoder = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1),
                                           thread_name_prefix="segcompare-png")
        self._pruned = time.monotonic()
        self._sample_keys: dict[str, dict[str, Sample]] = {}
        self._views: dict[tuple, object] = {}

    # --- compare ---------------------------------------------------------------------------------------

    def sample_for(self, task: Task, key: str) -> Sample | None:
        """The test sample with these pixels, if any (its ground truth can be shown)."""
        if task.name not in self._sample_keys:
            keys = {}
            for s in task.samples:
                try:
                    keys[image_key(load_image(s.image, max_side=DISPLAY_MAX_SIDE))] = s
                except UserError as e:
                    log.warning("sample %s: %s", s.image, e)
            self._sample_keys[task.name] = keys
        return self._sample_keys[task.name].get(key)

    def compare(self, image, task_name: str | None):
        task = self.catalog.task(task_name)
        path = upload_path(image)
        rgb = load_image(path, max_pixels=MAX_PIXELS, max_side=DISPLAY_MAX_SIDE)
        key = image_key(rgb)
        sample = self.sample_for(task, key)
        shown = fit_within(rgb, DISPLAY_MAX_SIDE)
        gt = load_mask(sample.mask, shown.shape[:2]) if sample and sample.mask else None
        self.shown.put((key, task.name), Shown(shown, gt, sample, task.name))
        self.predictor.predict(shown, [m.key for m in task.models], key=key)
        return key

    def get_shown(self, state: dict | None) -> tuple[Task, Shown, dict]:
        """The compared image of a session and its (cached, else recomputed) predictions."""
        if not state or "key" not in state:
            raise UserError("upload an image (or pick a sample) and press Compare first")
        task = self.catalog.task(state["task"])
        shown = self.shown.get((state["key"], task.name))
        if shown is None:
            raise UserError("this comparison has expired; press Compare again")
        preds = self.predictor.predict(shown.image, [m.key for m in task.models], key=state["key"])
        return task, shown, preds

    def image_miou(self, task: Task, pred: np.ndarray, gt: np.ndarray | None) -> float | None:
        if gt is None:
            return None
        import torch

        from segcompare import metrics

        cm = metrics.confusion_matrix(torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(gt.astype(np.int64)),
                                      len(task.classes), task.ignore_index)
        v = float(metrics.miou(cm))
        return None if v != v else v

    def files(self, items: list[tuple[np.ndarray, str]]) -> list[tuple[str, str]]:
        """(picture, caption) pairs -> (PNG path, caption) pairs for a gallery."""
        paths = list(self._encoder.map(lambda item: save_picture(item[0], self.png_dir), items))
        # A Space runs for weeks: drop pictures nobody has been shown for an hour, every 10 minutes at most.
        # (Not Gradio's delete_cache: that also deletes uploads, which are shared by content between servers.)
        if time.monotonic() - self._pruned > PRUNE_EVERY_S:
            self._pruned = time.monotonic()
            remove_older(self.png_dir, PNG_MAX_AGE_S)
        return [(path, caption) for path, (_, caption) in zip(paths, items)]

    # --- results views (cached per task: results files don't change while the app runs) ----------------

    def view(self, kind: str, task_name: str | None, *args):
        key = (kind, task_name, *args)
        if key not in self._views:
            self._views[key] = getattr(self, f"_{kind}")(self.catalog.task(task_name), *args)
        return self._views[key]

    @staticmethod
    def _colors(task: Task) -> dict:
        return report.model_colors([m.label for m in task.models])

    def _leaderboard(self, task: Task):
        results = task.results
        if not results:
            note = "No results.json next to these checkpoints: run `segcompare evaluate` to fill this tab."
            return pd.DataFrame({"Model": [m.label for m in task.models]}), note, None, None
        colors = self._colors(task)
        verdicts = report.verdict_lines(results)
        text = "\n".join(f"- {v}" for v in verdicts) or "- Only one model: nothing to compare yet."
        return (report.leaderboard(results), f"**Which differences are real?**\n\n{text}",
                report.per_class_iou_figure(results, colors=colors), report.pareto_figure(results, colors=colors))

    def _confusion(self, task: Task, label: str):
        if label in (None, "", NONE):
            return None, ""
        m = task.model(label)
        if not m.results:
            return None, f"**{m.label}**: no results.json"
        lines = report.top_confusions(m.results, k=5)
        text = "\n".join(f"- {m.label} {line}" for line in lines) or f"- {m.label}: no confusion above 1%"
        figure = fit_title(report.confusion_figure(m.results, normalize=True))
        return figure, f"**{m.label} — biggest mix-ups**\n\n{text}"

    def _training(self, task: Task):
        histories = {m.label: m.history for m in task.models}
        return report.training_figure(histories, colors=self._colors(task))

    def _robustness(self, task: Task, corruption: str | None):
        return report.robustness_figure(task.results, corruption=corruption, colors=self._colors(task))

    def _roc(self, task: Task, class_name: str | None):
        colors = self._colors(task)
        return (report.roc_figure(task.results, class_name=class_name, colors=colors),
                report.pr_figure(task.results, class_name=class_name, colors=colors))


def fit_title(fig, width: int = 55):
    """Break a long plotly title into lines of about `width` characters (half-width plots cut it off)."""
    text = fig.layout.title.text or ""
    if len(text) <= width or "<br>" in text:
        return fig
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    fig.update_layout(title_text="<br>".join(lines), margin_t=40 + 24 * len(lines))
    return fig


def upload_path(image) -> str:
    """The file behind an upload: Gradio's file payload (dict) or a plain path string."""
    if isinstance(image, dict):
        image = image.get("path")
    elif hasattr(image, "path"):
        image = image.path
    if not image:
        raise UserError("upload an image (or pick a test sample) first, then press Compare")
    return str(image)


def _caption(label: str, ms: float, miou: float | None) -> str:
    text = f"{label} — {ms:.0f} ms"
    return text + (f" — mIoU {100 * miou:.1f}%" if miou is not None else "")


def model_pictures(app: App, task: Task, shown: Shown, preds: dict, view: str, alpha: float) -> list:
    """(picture, caption) per model in one view."""
    img, gt = shown.image, shown.gt
    items = []
    for m in task.models:
        p = preds[m.key]
        if view == "Mask":
            pic = viz.colorize(p.mask, task.palette)
        elif view == "Correctness" and gt is not None:  # over a grey photo, so green and red stay clear
            pic = viz.blend(viz.grayscale(img), viz.correctness_map(p.mask, gt, task.ignore_index), alpha)
        elif view == "Confidence":
            pic = viz.blend(viz.grayscale(img), viz.confidence_map(p.confidence), alpha)
        else:
            pic = viz.overlay(img, p.mask, task.palette, alpha, task.ignore_index)
        items.append((pic, _caption(m.label, p.ms, app.image_miou(task, p.mask, gt))))
    return items


def reference_pictures(task: Task, shown: Shown, preds: dict, view: str, alpha: float) -> list:
    """(picture, caption) for the image itself, its ground truth and the disagreement map."""
    img, gt = shown.image, shown.gt
    ref = [(img, "Your image" if shown.sample is None else f"Test sample {shown.sample.name}")]
    if gt is not None:
        gt_pic = viz.colorize(gt, task.palette) if view == "Mask" else viz.overlay(img, gt, task.palette, alpha)
        ref.append((gt_pic, "Ground truth (the right answer)"))
    if len(task.models) > 1:
        ref.append((viz.disagreement_map([preds[m.key].mask for m in task.models]),
                    "Where the models disagree"))
    return ref


def legend_for(task: Task, shown: Shown, preds: dict, view: str) -> str:
    gt = shown.gt
    present = set(np.unique(np.concatenate([preds[m.key].mask.ravel()[::7] for m in task.models])).tolist())
    if gt is not None:
        present |= set(np.unique(gt).tolist())
    legend = viz.legend_html(task.classes, task.palette, present=present, title="Classes in this picture")
    if view == "Correctness":
        legend += viz.correctness_legend_html() if gt is not None else (
            '<div class="sc-note">Correctness needs the right answer: pick a test sample from the gallery.</div>')
    if view == "Confidence":
        legend += viz.confidence_legend_html()
    if len(task.models) > 1:
        legend += viz.disagreement_legend_html(len(task.models))
    return legend


def render(app: App, state: dict | None, view: str, opacity: float, parts=("models", "reference", "legend")):
    """The session's image in one view: (model gallery, reference gallery, legend), the `parts` asked for
    (others are None), galleries as PNG files."""
    task, shown, preds = app.get_shown(state)
    view, alpha = (view if view in VIEWS else VIEWS[0]), float(opacity)
    return (app.files(model_pictures(app, task, shown, preds, view, alpha)) if "models" in parts else None,
            app.files(reference_pictures(task, shown, preds, view, alpha)) if "reference" in parts else None,
            legend_for(task, shown, preds, view) if "legend" in parts else None)


def compare_table(app: App, state: dict) -> pd.DataFrame:
    task, shown, preds = app.get_shown(state)
    rows = []
    for m in task.models:
        miou = app.image_miou(task, preds[m.key].mask, shown.gt)
        rows.append({"Model": m.label, "Inference (ms)": round(preds[m.key].ms, 1),
                     "Image mIoU (%)": None if miou is None else round(100 * miou, 1)})
    return pd.DataFrame(rows, columns=["Model", "Inference (ms)", "Image mIoU (%)"])


def status_text(app: App, state: dict) -> str:
    task, shown, preds = app.get_shown(state)
    h, w = shown.image.shape[:2]
    total = sum(p.ms for p in preds.values())
    if shown.sample is not None and shown.gt is not None:
        return (f"Test sample **{shown.sample.name}** ({w}×{h}): the ground truth is known, so each model gets "
                f"a score for this picture. The {len(preds)} models' inference times add up to {total:.0f} ms.")
    return (f"Your picture ({w}×{h}): there is no right answer to score against, so look at where the models "
            f"agree. The {len(preds)} models' inference times add up to {total:.0f} ms. Pick a test sample to see "
            "scores.")


def tasks_header(catalog: Catalog, sources: list[str]) -> str:
    if not catalog.tasks:
        text = NO_CHECKPOINTS.format(sources=", ".join(f"`{s}`" for s in sources))
    else:
        parts = [f"**{t.name}**: {len(t.models)} models, {len(t.classes)} classes" for t in catalog.tasks]
        text = "Models trained for " + "; ".join(parts) + "."
    if catalog.problems:
        text += "\n\n" + "\n".join(f"- skipped: {p}" for p in catalog.problems)
    return text


def _choices(task: Task | None):
    labels = [m.label for m in task.models] if task else []
    return labels


def build_demo(sources=None, samples_root: str | Path | None = SAMPLES_ROOT) -> gr.Blocks:
    """The app's Blocks. Reads configs, results and histories of the checkpoints; never their weights."""
    from segcompare.catalog import parse_sources
    from segcompare.hub import space_sources  # a pushed Space: its model repos (Hub cache first), else embedded

    sources = parse_sources(sources or space_sources(ROOT), default=ROOT / "checkpoints")
    catalog = discover(sources, samples_root)
    app = App(catalog, sources)
    first = catalog.tasks[0] if catalog.tasks else None
    if samples_root and Path(samples_root).is_dir():
        gr.set_static_paths([str(samples_root)])

    with gr.Blocks(title="segcompare — which segmentation model is best?") as demo:
        demo.segcompare = app  # for tests and benchmarks
        gr.Markdown("# Which segmentation model should I use?\nEach model colours every pixel of a picture by "
                    "what it thinks is there. Compare them on your own picture, or read how they did on the "
                    "test set.", elem_id="sc-title")
        with gr.Row():
            task = gr.Dropdown([t.name for t in catalog.tasks], value=first.name if first else None,
                               label="Task (dataset the models were trained on)", scale=1,
                               interactive=len(catalog.tasks) > 1, allow_custom_value=True, elem_id="sc-task")
            gr.Markdown(tasks_header(catalog, sources), elem_id="sc-header")
        state = gr.State(None)

        with gr.Tab("Compare", id="compare"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=2):
                    image = gr.Image(type="filepath", sources=["upload", "clipboard", "webcam"],
                                     label="Your image (upload, paste or take a photo)", height=300,
                                     elem_id="sc-image")
                    run = gr.Button("Compare", variant="primary", elem_id="sc-compare")
                with gr.Column(scale=3):
                    samples = gr.Gallery(sample_items(first), label="…or pick a test sample (ground truth known)",
                                         columns=4, height=300, allow_preview=False, object_fit="cover",
                                         elem_id="sc-samples")
            with gr.Row():
                view = gr.Radio(VIEWS, value="Overlay", label="Show", scale=2, elem_id="sc-view",
                                info="Overlay: classes over the photo · Mask: classes only · Correctness: green "
                                     "right / red wrong · Confidence: how sure each pixel is")
                opacity = gr.Slider(0, 1, value=0.55, step=0.05, label="Colour opacity", scale=1,
                                    elem_id="sc-opacity")
            legend = gr.HTML("", elem_id="sc-legend")
            status = gr.Markdown("", elem_id="sc-status")
            gallery = gr.Gallery(label="What each model sees", format="png", columns=4, height="auto",
                                 object_fit="contain", elem_id="sc-results")
            with gr.Row():
                reference = gr.Gallery(label="Your image, ground truth and where models disagree", format="png",
                                       columns=3, height="auto", object_fit="contain", scale=1,
                                       elem_id="sc-reference")
                table = gr.Dataframe(label="Time and score on this image", interactive=False, scale=1, wrap=True,
                                     elem_id="sc-table")

        with gr.Tab("Leaderboard", id="leaderboard"):
            gr.Markdown(HOW_TO_READ, elem_classes="sc-help")
            board = gr.Dataframe(label="Test-set results (click a column to sort)", interactive=False,
                                 elem_id="sc-leaderboard")
            verdicts = gr.Markdown(elem_id="sc-verdicts")
            pareto = gr.Plot(label="Accuracy vs speed")
            per_class = gr.Plot(label="IoU per class")

        # Result dropdowns accept any value: their choices follow the task, and an API call for another task
        # must reach our handlers (which name the valid values) instead of Gradio's check against the first
        with gr.Tab("Confusion matrices", id="confusion"):
            gr.Markdown("Each row is the true class; the colour says which share of its pixels each model "
                        "labelled as each class. A perfect model is dark on the diagonal only.")
            labels = _choices(first)
            with gr.Row():
                model_a = gr.Dropdown(labels, value=labels[0] if labels else None, label="Model",
                                      allow_custom_value=True, elem_id="sc-cm-a")
                model_b = gr.Dropdown([NONE, *labels], value=labels[1] if len(labels) > 1 else NONE,
                                      label="Side by side with", allow_custom_value=True, elem_id="sc-cm-b")
            with gr.Row():
                cm_a, cm_b = gr.Plot(label="Confusion matrix"), gr.Plot(label="Confusion matrix (second model)")
            with gr.Row():
                words_a, words_b = gr.Markdown(), gr.Markdown()

        with gr.Tab("Training", id="training"):
            training = gr.Plot(label="Training curves")

        with gr.Tab("Robustness", id="robustness"):
            corruptions = sorted({c for r in (first.results if first else []) for c in (r.get("robustness") or {})})
            corruption = gr.Dropdown([MEAN, "all", *corruptions], value=MEAN, label="Corruption",
                                     allow_custom_value=True)
            robustness = gr.Plot(label="Robustness")
            roc_class = gr.Dropdown([MEAN, *(first.classes if first else [])], value=MEAN, label="Class",
                                    allow_custom_value=True)
            with gr.Row():
                roc, pr = gr.Plot(label="ROC curves"), gr.Plot(label="Precision-recall curves")

        # --- events ------------------------------------------------------------------------------------
        @friendly
        def on_compare(image, task_name, view_name, alpha):
            key = app.compare(image, task_name)
            st = {"key": key, "task": app.catalog.task(task_name).name}
            items, _, _ = render(app, st, view_name, alpha, parts=("models",))
            return items, compare_table(app, st), st

        @friendly
        def on_details(st, view_name, alpha):
            _, ref, legend_html = render(app, st, view_name, alpha, parts=("reference", "legend"))
            return ref, legend_html, status_text(app, st)

        @friendly
        def on_render(st, view_name, alpha):
            if not st:
                return gr.skip(), gr.skip(), gr.skip()
            return render(app, st, view_name, alpha)

        # preprocess=False: the upload reaches our own decoder as a file path (Gradio's PIL decoding would
        # fail with its own error on a decompression bomb or a non-image before we could explain it)
        run.click(on_compare, [image, task, view, opacity], [gallery, table, state], api_name="compare",
                  preprocess=False, concurrency_limit=1).success(
            on_details, [state, view, opacity], [reference, legend, status], api_name="compare_details")
        view.input(on_render, [state, view, opacity], [gallery, reference, legend], api_name="view")
        opacity.release(on_render, [state, view, opacity], [gallery, reference, legend], api_name="opacity")

        @friendly
        def on_pick(task_name, evt: gr.SelectData):
            t = app.catalog.task(task_name)
            return str(t.samples[evt.index].image)

        samples.select(on_pick, [task], [image], api_name="pick_sample")

        @friendly
        def on_task(task_name):
            t = app.catalog.task(task_name)
            names = _choices(t)
            corr = sorted({c for r in t.results for c in (r.get("robustness") or {})})
            return (sample_items(t), None, [], None, "", "", None,
                    gr.update(choices=names, value=names[0] if names else None),
                    gr.update(choices=[NONE, *names], value=names[1] if len(names) > 1 else NONE),
                    gr.update(choices=[MEAN, "all", *corr], value=MEAN),
                    gr.update(choices=[MEAN, *t.classes], value=MEAN))

        switch = task.change(on_task, [task], [samples, state, gallery, reference, legend, status, table, model_a,
                                               model_b, corruption, roc_class], api_name="switch_task")

        leaderboard_fn = friendly(lambda t: app.view("leaderboard", t))
        confusion_fn = friendly(lambda t, a, b: (*app.view("confusion", t, a), *app.view("confusion", t, b)))
        training_fn = friendly(lambda t: app.view("training", t))
        robustness_fn = friendly(lambda t, c: app.view("robustness", t, None if c in (None, MEAN) else c))
        roc_fn = friendly(lambda t, c: app.view("roc", t, None if c in (None, MEAN) else c))

        gr.on([demo.load, task.change], leaderboard_fn, [task], [board, verdicts, per_class, pareto],
              api_name="leaderboard")
        cm_io = ([task, model_a, model_b], [cm_a, words_a, cm_b, words_b])
        demo.load(confusion_fn, *cm_io, api_name="confusion")
        switch.then(confusion_fn, *cm_io, api_name="confusion_task")
        gr.on([model_a.input, model_b.input], confusion_fn, *cm_io, api_name="confusion_models")
        gr.on([demo.load, task.change], training_fn, [task], [training], api_name="training")
        demo.load(robustness_fn, [task, corruption], [robustness], api_name="robustness")
        switch.then(robustness_fn, [task, corruption], [robustness], api_name="robustness_task")
        corruption.input(robustness_fn, [task, corruption], [robustness], api_name="robustness_corruption")
        demo.load(roc_fn, [task, roc_class], [roc, pr], api_name="roc")
        switch.then(roc_fn, [task, roc_class], [roc, pr], api_name="roc_task")
        roc_class.input(roc_fn, [task, roc_class], [roc, pr], api_name="roc_class")

        def tasks() -> list[dict]:
            """The tasks, each with its classes, palette, samples and models."""
            return app.catalog.describe()

        gr.api(tasks, api_name="tasks")
    # One Compare at a time suits a 2-vCPU Space: parallel forwards only fight over the cores.
    return demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)


def sample_items(task: Task | None) -> list[tuple[str, str]]:
    return [(str(s.image), s.name) for s in task.samples] if task else []


def launch_options() -> dict:
    """Theme and css belong to launch() in Gradio 6."""
    return {"theme": gr.themes.Soft(primary_hue="blue", secondary_hue="slate"),
            "css_paths": [CSS_PATH] if CSS_PATH.is_file() else None, "max_file_size": "25mb"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Compare segmentation models in the browser.")
    parser.add_argument("--checkpoints", nargs="*", default=None,
                        help="checkpoint folders or Hub repo ids (default: $SEGCOMPARE_CHECKPOINTS or checkpoints/)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own startup checks, one line per request
    demo = build_demo(args.checkpoints)
    demo.launch(server_port=args.port, prevent_thread_lock=True, **launch_options())
    # the page is up: import torch now (1-2 s) instead of on the first Compare; no weights are read yet
    threading.Thread(target=warm_up, name="segcompare-warm-up", daemon=True).start()
    demo.block_thread()


def warm_up() -> None:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)  # one request at a time (queue below): use every core
    import segcompare.backends  # noqa: F401


if __name__ == "__main__":
    main()
