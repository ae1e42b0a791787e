"""segcompare's Gradio app: which segmentation model should we use, and why? The answer first, then the evidence.

Wiring only: the verdict comes from `segcompare.recommend`, comparisons from `segcompare.session`
(per-session, UI-free), pictures, tables and words from `segcompare.views`, figures from
`segcompare.report`. Every action is also a named HTTP endpoint (Contract 6; docs/API.md lists them).

    python app.py [--checkpoints DIR|ORG/REPO ...] [--port N]

Sources default to $SEGCOMPARE_CHECKPOINTS, then ./checkpoints. The page comes up before any model is
loaded; the models then load in the background, and a Compare that must wait says what it waits for.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
from pathlib import Path

import gradio as gr

from segcompare import report
from segcompare import views as v
from segcompare.catalog import discover, parse_sources
from segcompare.errors import UserError
from segcompare.session import CompareService, check_choice, check_index, check_number

ROOT = Path(__file__).resolve().parent
SAMPLES_ROOT, CSS_PATH = ROOT / "assets" / "samples", ROOT / "assets" / "style.css"
QUEUE_SIZE = 64  # requests waiting beyond this are told the queue is full
NONE, ALL_CORRUPTIONS = "(none)", "average of all corruptions"
log = logging.getLogger("segcompare.app")
NO_CHECKPOINTS = ("### No models found\nNone were found in: {sources}. Train the demo models with `segcompare "
                  "compare --config configs/demo-pets.yaml`, or run `python app.py --checkpoints DIR|ORG/REPO`.")


def friendly(fn):
    """Every handler: user mistakes become a one-line message, anything else a short apology (logged)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as e:  # a bug: keep serving, keep the traceback in the server log only
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(f"Something went wrong on our side ({type(e).__name__}); please try again.",
                           print_exception=False) from None
    return wrapper


def header(catalog, sources) -> str:
    if not catalog.tasks:
        return NO_CHECKPOINTS.format(sources=", ".join(f"`{s}`" for s in sources))
    text = "; ".join(f"**{t.name}**: {len(t.models)} models, {len(t.classes)} classes" for t in catalog.tasks)
    skipped = "".join(f"\n- skipped: {p}" for p in catalog.problems)
    return v.safe_markdown(f"Models trained for {text}.{skipped}")


def build_demo(sources=None, samples_root: str | Path | None = SAMPLES_ROOT) -> gr.Blocks:
    """The app's Blocks. Reads configs, results and histories of the checkpoints; never their weights."""
    from segcompare.hub import space_sources  # a pushed Space: its model repos (Hub cache first), else embedded

    sources = parse_sources(sources or space_sources(ROOT), default=ROOT / "checkpoints")
    catalog = discover(sources, samples_root)
    upload_dir = gr.utils.get_upload_folder()
    service = CompareService(catalog, upload_dir, upload_dir=upload_dir)
    first = catalog.tasks[0] if catalog.tasks else None
    labels = [m.label for m in first.models] if first else []
    if samples_root and Path(samples_root).is_dir():
        gr.set_static_paths([str(samples_root)])
    task_of = catalog.task
    memo = functools.lru_cache(maxsize=256)

    with gr.Blocks(title="segcompare — which segmentation model should we use?") as demo:
        demo.segcompare = service  # for tests and benchmarks
        with gr.Row(elem_id="sc-top"):
            gr.Markdown("# Which segmentation model should we use?", elem_id="sc-title")
            task = gr.Dropdown([t.name for t in catalog.tasks], value=first.name if first else None,
                               label="Task", interactive=len(catalog.tasks) > 1, allow_custom_value=True,
                               elem_id="sc-task", scale=0, min_width=160)
        gr.Markdown(header(catalog, sources), elem_id="sc-header")
        verdict = gr.Markdown(elem_id="sc-verdict", container=True)
        with gr.Row(elem_id="sc-constraints"):
            top = v.latency_range(first) if first else 1000.0
            budget = gr.Slider(1, top, value=top, step=1, label="Latency budget (ms per image; right end = no limit)",
                               elem_id="sc-budget")
            cpu = gr.Checkbox(False, label="Must run on CPU", elem_id="sc-cpu")
        loading = gr.Markdown("", elem_id="sc-loading")
        state = gr.State(None)

        with gr.Tab("Compare", id="compare"):
            with gr.Row(equal_height=False):
                samples = gr.Gallery(v.sample_items(first), label="Click a test sample to compare every model on it",
                                     columns=4, height=220, allow_preview=False, object_fit="cover", scale=3,
                                     elem_id="sc-samples")
                with gr.Column(scale=2, min_width=200):
                    image = gr.Image(type="filepath", sources=["upload", "clipboard"], label="…or your own picture",
                                     height=160, elem_id="sc-image")
                    run = gr.Button("Compare my picture", variant="secondary", elem_id="sc-compare")
            status = gr.Markdown("Click a test sample above: every model's answer appears here.", elem_id="sc-status")
            with gr.Row():
                view = gr.Radio(v.VIEWS, value="Overlay", label="Show", info=v.VIEW_HELP, scale=3, elem_id="sc-view")
                opacity = gr.Slider(0, 1, value=0.55, step=0.05, label="Colour opacity", scale=1, elem_id="sc-opacity")
            classes = gr.CheckboxGroup(first.classes if first else [], value=[],
                                       label="Hide classes (tick one to hide it in every picture)",
                                       elem_id="sc-classes")
            legend = gr.HTML("", elem_id="sc-legend")
            reference = gr.Gallery(label="The picture, the right answer and where the models disagree", columns=3,
                                   height="auto", object_fit="contain", allow_preview=False, elem_id="sc-reference")
            gallery = gr.Gallery(label="What each model sees (best test mIoU first)", columns=v.task_columns(first), height="auto",
                                 object_fit="contain", allow_preview=False, elem_id="sc-results")
            table = gr.Dataframe(label="Time and score on this picture", interactive=False, wrap=True,
                                 elem_id="sc-table")
            with gr.Row():
                left = gr.Dropdown(v.slider_choices(first) if first else [], value=v.PHOTO, label="Slider: left",
                                   allow_custom_value=True, elem_id="sc-left")
                right = gr.Dropdown(v.slider_choices(first) if first else [], value=labels[0] if labels else None,
                                    label="Slider: right", allow_custom_value=True, elem_id="sc-right")
            slider = gr.ImageSlider(label="Drag to compare two pictures", type="filepath", elem_id="sc-slider")
            disagree = gr.Gallery(label="Test photos where the models disagree most (click to compare)", columns=4,
                                  height="auto", allow_preview=False, object_fit="cover", elem_id="sc-disagree")
            loses = gr.Gallery(label="Test photos where the overall winner loses (click to compare)", columns=4,
                               height="auto", allow_preview=False, object_fit="cover", elem_id="sc-loses")

        with gr.Tab("Leaderboard", id="leaderboard"):
            verdicts = gr.Markdown(elem_id="sc-verdicts")
            board = gr.Dataframe(label="Test-set results, best first", interactive=False, elem_id="sc-leaderboard")
            models_md = gr.Markdown(elem_id="sc-models")
            with gr.Accordion("What the numbers mean", open=False):
                gr.Markdown(v.glossary(), elem_classes="sc-help")
            class_table = gr.Dataframe(label="IoU per class (%)", interactive=False, elem_id="sc-class-table")
            pareto, per_class = gr.Plot(label="Accuracy vs speed"), gr.Plot(label="IoU per class")

        with gr.Tab("Mix-ups", id="confusion"):
            gr.Markdown("Rows: the true class; columns: what the model said (% of the row's pixels). A perfect "
                        "model has 100 on the diagonal. Click a cell to list the test images with most such pixels.")
            with gr.Row():
                model_a = gr.Dropdown(labels, value=labels[0] if labels else None, label="Model",
                                      allow_custom_value=True, elem_id="sc-cm-a")
                model_b = gr.Dropdown([NONE, *labels], value=labels[1] if len(labels) > 1 else NONE,
                                      label="Side by side with", allow_custom_value=True, elem_id="sc-cm-b")
            cells = gr.Dataframe(label="Confusion matrix (%)", interactive=False, elem_id="sc-cells")
            cell_md = gr.Markdown(elem_id="sc-cell-list")
            cell_gallery = gr.Gallery(label="Shipped test photos among them", columns=4, height="auto",
                                      allow_preview=False, elem_id="sc-cell-photos")
            with gr.Row():
                cm_a, cm_b = gr.Plot(label="Confusion matrix"), gr.Plot(label="Confusion matrix (second model)")
            with gr.Row():
                words_a, words_b = gr.Markdown(), gr.Markdown()

        with gr.Tab("Training", id="training"):
            training = gr.Plot(label="Training curves")
        with gr.Tab("Robustness", id="robustness"):
            corruption = gr.Dropdown([ALL_CORRUPTIONS, "all"], value=ALL_CORRUPTIONS, label="Corruption",
                                     allow_custom_value=True)
            robustness = gr.Plot(label="Robustness")
        with gr.Tab("ROC / PR", id="curves"):
            gr.Markdown("How well each model's confidence separates a class from the rest. *AUC* (area under "
                        "the ROC curve) and *AP* (average precision) are 1.0 for a perfect ranking, 0.5 / the "
                        "class share for guessing.")
            roc_class = gr.Dropdown(["mean over classes", *(first.classes if first else [])],
                                    value="mean over classes", label="Class", allow_custom_value=True)
            with gr.Row():
                roc, pr = gr.Plot(label="ROC curves"), gr.Plot(label="Precision-recall curves")

        # --- events ------------------------------------------------------------------------------------
        def hidden_of(t, hide) -> set[int]:
            return {t.classes.index(check_choice(c, t.classes, "class")) for c in (hide or [])}

        def look(st, view_name, alpha, shown, req):
            c = service.comparison(req.session_hash, st)
            return (c, check_choice(view_name, v.VIEWS, "view"), check_number(alpha, "opacity", 0, 1),
                    hidden_of(c.task, shown))

        def results_out(c, items):
            return service.pictures(items), v.score_table(c)

        def comparing(start, req, progress, args):
            st = start(req.session_hash, *args, progress=lambda f, text: progress(f, desc=text))
            return (*results_out(service.comparison(req.session_hash, st),
                                 v.model_pictures(service.comparison(req.session_hash, st), "Overlay", 0.55)), st)

        @friendly
        def on_compare(img, t, req: gr.Request, progress=gr.Progress()):
            return comparing(service.compare, req, progress, (img, t))

        @friendly
        def on_pick(t, evt: gr.SelectData, req: gr.Request, progress=gr.Progress()):
            return comparing(service.compare_sample, req, progress, (t, evt.index))

        @friendly
        def on_pick_named(t, name, req: gr.Request, progress=gr.Progress()):
            return comparing(service.compare_named, req, progress, (t, name))

        @friendly
        def on_evidence_pick(t, evt: gr.SelectData, req: gr.Request, progress=gr.Progress()):
            name = Path(str((evt.value or {}).get("image", {}).get("path", ""))).stem
            return comparing(service.compare_named, req, progress, (t, name))

        @friendly
        def on_render(st, view_name, alpha, hide, req: gr.Request):
            if not st:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            c, view_name, alpha, hidden = look(st, view_name, alpha, hide, req)
            return (service.pictures(v.model_pictures(c, view_name, alpha, hidden)),
                    service.pictures(v.reference_pictures(c, view_name, alpha, hidden)),
                    v.legend(c, view_name), v.status_text(c))

        @friendly
        def on_slider(st, view_name, alpha, hide, a, b, req: gr.Request):
            if not st:
                return gr.skip()
            c, view_name, alpha, hidden = look(st, view_name, alpha, hide, req)
            choices = v.slider_choices(c.task)
            pair = v.slider_pair(c, check_choice(a, choices, "slider picture"),
                                 check_choice(b, choices, "slider picture"), view_name, alpha, hidden)
            return tuple(path for path, _ in service.pictures([(pair[0], ""), (pair[1], "")]))

        render_io = ([state, view, opacity, classes], [gallery, reference, legend, status])
        slider_io = ([state, view, opacity, classes, left, right], [slider])
        pick_out = [gallery, table, state]
        run.click(on_compare, [image, task], pick_out, api_name="compare", preprocess=False,
                  concurrency_limit=1).success(
            on_render, *render_io, api_name="compare_details").success(on_slider, *slider_io, api_name="slider_details")
        image.upload(on_compare, [image, task], pick_out, preprocess=False, concurrency_limit=1,
                     api_visibility="private").success(on_render, *render_io, api_visibility="private").success(
            on_slider, *slider_io, api_visibility="private")
        for source, fn in ((samples, on_pick), (disagree, on_evidence_pick), (loses, on_evidence_pick)):
            source.select(fn, [task], pick_out, concurrency_limit=1, api_visibility="private").success(
                on_render, *render_io, api_visibility="private").success(on_slider, *slider_io, api_visibility="private")
        sample_name, api_pick = gr.Textbox(visible=False), gr.Button(visible=False)
        api_pick.click(on_pick_named, [task, sample_name], pick_out, api_name="pick_sample").success(
            on_render, *render_io, api_visibility="private").success(on_slider, *slider_io, api_visibility="private")
        for trigger, name in ((view.input, "view"), (opacity.release, "opacity"), (classes.input, "classes")):
            trigger(on_render, *render_io, api_name=name).success(on_slider, *slider_io, api_visibility="private")
        gr.on([left.input, right.input], on_slider, *slider_io, api_name="slider")

        @friendly
        def on_recommend(t, ms, cpu_only):
            t = task_of(t)
            limit = check_number(ms, "latency budget", 0, 1e6)
            return v.recommendation(t, None if limit >= v.latency_range(t) else limit, bool(cpu_only))

        gr.on([demo.load, task.change, budget.release, cpu.input], on_recommend, [task, budget, cpu], [verdict],
              api_name="recommendation")

        @friendly
        def on_task(t):
            t = task_of(t)
            names, top = [m.label for m in t.models], v.latency_range(t)
            return (v.sample_items(t), None, gr.update(value=[], columns=v.task_columns(t)), [], None, "", None,
                    gr.update(choices=t.classes, value=[]), gr.update(maximum=top, value=top),
                    gr.update(choices=v.slider_choices(t), value=v.PHOTO),
                    gr.update(choices=v.slider_choices(t), value=names[0] if names else None),
                    gr.update(choices=names, value=names[0] if names else None),
                    gr.update(choices=[NONE, *names], value=names[1] if len(names) > 1 else NONE),
                    gr.update(choices=[ALL_CORRUPTIONS, "all", *v.corruptions(t)], value=ALL_CORRUPTIONS),
                    gr.update(choices=["mean over classes", *t.classes], value="mean over classes"))

        switch = task.change(on_task, [task], [samples, state, gallery, reference, legend, status, table, classes,
                                               budget, left, right, model_a, model_b, corruption, roc_class],
                             api_name="switch_task")

        def results_view(fn):
            """A cached results view: arguments checked (strings only), then computed once per task."""
            def call(*args):
                if not all(a is None or isinstance(a, str) for a in args):
                    raise UserError("every argument of this endpoint is a name (text)")
                return fn(*args)
            return friendly(call)

        def on_cell(t, label, evt: gr.SelectData):
            t = task_of(t)
            row, col = (evt.index if isinstance(evt.index, (list, tuple)) else (None, None))
            k = len(t.classes)
            return v.cell_images(t, label, check_index(row, k, "row"), check_index((col or 0) - 1, k, "column"))

        def on_cell_api(t, label, true_class, pred_class):
            t = task_of(t)
            k = len(t.classes)
            return v.cell_images(t, label, check_index(true_class, k, "true class"), check_index(pred_class, k, "class"))

        confusion = memo(lambda t, label: v.confusion(task_of(t), label))
        cm_io = ([task, model_a, model_b], [cm_a, words_a, cm_b, words_b])
        both = results_view(lambda t, a, b: (*confusion(t, a), *confusion(t, b)))
        leaderboard = memo(lambda t: v.leaderboard(task_of(t)))
        table_of = results_view(lambda t, a: v.confusion_table(task_of(t), a))
        gr.on([demo.load, task.change], results_view(leaderboard), [task], [board, verdicts, per_class, pareto],
              api_name="leaderboard")
        gr.on([demo.load, task.change], results_view(lambda t: (v.per_class_table(task_of(t)),
                                                                v.models_text(task_of(t)))),
              [task], [class_table, models_md], api_name="leaderboard_tables")
        gr.on([demo.load, task.change], results_view(lambda t: v.galleries(task_of(t))), [task], [disagree, loses],
              api_name="evidence")
        demo.load(both, *cm_io, api_name="confusion")
        switch.then(both, *cm_io, api_name="confusion_task")
        gr.on([model_a.input, model_b.input], both, *cm_io, api_name="confusion_models")
        gr.on([demo.load, model_a.input], table_of, [task, model_a], [cells], api_name="confusion_table")
        switch.then(table_of, [task, model_a], [cells], api_name="confusion_table_task")
        cells.select(friendly(on_cell), [task, model_a], [cell_gallery, cell_md], api_visibility="private")
        row_in, col_in, api_cell = gr.Number(visible=False), gr.Number(visible=False), gr.Button(visible=False)
        api_cell.click(friendly(on_cell_api), [task, model_a, row_in, col_in], [cell_gallery, cell_md],
              api_name="confusion_cell")
        gr.on([demo.load, task.change], results_view(lambda t: report.training_figure(
            {m.label: m.history for m in task_of(t).models})), [task], [training], api_name="training")
        robust = results_view(lambda t, c: report.robustness_figure(
            task_of(t).results, corruption=None if c in (None, ALL_CORRUPTIONS) else c))
        gr.on([demo.load, corruption.input], robust, [task, corruption], [robustness], api_name="robustness")
        switch.then(robust, [task, corruption], [robustness], api_name="robustness_task")
        curves = results_view(lambda t, c: v.curves(task_of(t), c))
        gr.on([demo.load, roc_class.input], curves, [task, roc_class], [roc, pr], api_name="roc")
        switch.then(curves, [task, roc_class], [roc, pr], api_name="roc_task")

        timer = gr.Timer(1.0)
        timer.tick(lambda t: (service.loading_status(t), gr.Timer(active=bool(service.loading_status(t)))),
                   [task], [loading, timer], api_name="loading", show_progress="hidden")
        def tasks() -> list[dict]:
            """The tasks, each with its classes, palette, samples and models (leaderboard order)."""
            return catalog.describe()

        gr.api(tasks, api_name="tasks")
    return demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)


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
    logging.getLogger("httpx").setLevel(logging.WARNING)
    demo = build_demo(args.checkpoints)
    demo.launch(server_port=args.port, prevent_thread_lock=True, **launch_options())
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    demo.segcompare.start_loading()  # the page is up: now read the weights, in the background
    demo.block_thread()


if __name__ == "__main__":
    main()
