"""segcompare's Gradio app: which model should we use, and why? The answer first, then the evidence.

Wiring only: comparisons come from `segcompare.session` (per browser session), all that is shown from
`segcompare.views` / `results_views`; every action is a named HTTP endpoint (docs/API.md). `python app.py
[--checkpoints DIR|ORG/REPO ...] [--port N]`; models load in the background once the page is up.
"""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path

import gradio as gr

from segcompare import results_views as r
from segcompare import views as v
from segcompare.catalog import discover, parse_sources
from segcompare.errors import UserError
from segcompare.hub import space_sources
from segcompare.session import CompareService

ROOT = Path(__file__).resolve().parent
SAMPLES_ROOT, CSS_PATH = ROOT / "assets" / "samples", ROOT / "assets" / "style.css"
QUEUE_SIZE = 64  # requests waiting beyond this are told the queue is full
log = logging.getLogger("segcompare.app")


def friendly(fn):
    """Every handler: user mistakes become a one-line message, anything else a short apology (logged)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:  # a bug: keep serving, keep the traceback in the server log only
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(f"Something went wrong on our side ({type(e).__name__}); please try again.",
                           print_exception=False) from None
    return wrapper


def build_demo(sources=None, samples_root: str | Path | None = SAMPLES_ROOT) -> gr.Blocks:
    """The app's Blocks. Reads configs, results and histories of the checkpoints; never their weights.
    Sources: the arguments, else a pushed Space's model repos (Hub cache first), else embedded checkpoints."""
    sources = parse_sources(sources or space_sources(ROOT), default=ROOT / "checkpoints")
    catalog = discover(sources, samples_root)
    service = CompareService(catalog, gr.utils.get_upload_folder(), upload_dir=gr.utils.get_upload_folder())
    if samples_root and Path(samples_root).is_dir():
        gr.set_static_paths([str(samples_root)])
    task_of, memo = catalog.task, functools.lru_cache(maxsize=256)
    pick = functools.partial(gr.Dropdown, allow_custom_value=True)  # choices follow the task; handlers check values
    gal = functools.partial(gr.Gallery, height="auto", allow_preview=False, columns=4)
    frame = functools.partial(gr.Dataframe, interactive=False, wrap=True)

    with gr.Blocks(title="segcompare — which segmentation model should we use?") as demo:
        demo.segcompare = service  # for tests and benchmarks
        with gr.Row(elem_id="sc-top"):
            gr.Markdown("# Which segmentation model should we use?", elem_id="sc-title", min_width=300)
            task = gr.Dropdown([t.name for t in catalog.tasks], value=catalog.tasks[0].name if catalog.tasks else None,
                               label="Task", interactive=len(catalog.tasks) > 1, allow_custom_value=True,
                               elem_id="sc-task", scale=0, min_width=160)
        gr.Markdown(r.header(catalog, sources), elem_id="sc-header")
        verdict = gr.Markdown("Working out the recommendation…", elem_id="sc-verdict", container=True)
        with gr.Row(elem_id="sc-constraints"):
            budget = gr.Slider(1, 1000, value=1000, step=1, label="Latency budget (ms per image; right end = no "
                               "limit)", elem_id="sc-budget", min_width=260)
            cpu = gr.Checkbox(False, label="Must run on CPU", elem_id="sc-cpu", min_width=160)
        about, loading, state = gr.HTML(elem_id="sc-about"), gr.Markdown("", elem_id="sc-loading"), gr.State(None)

        with gr.Tabs(overflow_behavior="wrap"):
            with gr.Tab("Compare", id="compare"):
                with gr.Row(equal_height=False):
                    samples = gr.Gallery(label="Click a test sample to compare every model on it", height=220, scale=3,
                                         columns=4, allow_preview=False, object_fit="cover", elem_id="sc-samples")
                    with gr.Column(scale=2, min_width=200):
                        image = gr.Image(type="filepath", sources=["upload", "clipboard"], height=160,
                                         label="…or your own picture", elem_id="sc-image")
                        run = gr.Button("Compare my picture", elem_id="sc-compare")
                status = gr.Markdown("Click a test sample: every model's answer appears below.", elem_id="sc-status")
                with gr.Row():
                    view = gr.Radio(v.VIEWS, value=v.VIEWS[0], label="Show", info=v.VIEW_HELP, elem_id="sc-view")
                    opacity = gr.Slider(0, 1, value=0.55, step=0.05, label="Colour opacity", elem_id="sc-opacity",
                                        min_width=200)
                classes = gr.CheckboxGroup(label="Hide classes (tick one to hide it everywhere)", elem_id="sc-classes")
                legend = gr.HTML("", elem_id="sc-legend")
                reference = gal(label="The picture, the right answer and where the models disagree", columns=3,
                                object_fit="contain", elem_id="sc-reference")
                gallery = gal(label="What each model sees (best first)", object_fit="contain", elem_id="sc-results")
                table = frame(label="Time and score on this picture", elem_id="sc-table")
                with gr.Row():
                    left, right = pick(label="Slider left", elem_id="sc-left"), pick(label="right", elem_id="sc-right")
                slider = gr.ImageSlider(label="Drag to compare", type="filepath", height=420, elem_id="sc-slider")
                disagree = gal(label="Test photos where the models disagree most (click one)", elem_id="sc-disagree")
                loses = gal(label="Test photos where the overall winner loses (click one)", elem_id="sc-loses")
            with gr.Tab("Leaderboard", id="leaderboard"):
                verdicts = gr.Markdown(elem_id="sc-verdicts")
                board = frame(label="Test-set results, best first", elem_id="sc-leaderboard")
                models_md = gr.Markdown(elem_id="sc-models")
                with gr.Accordion("What the numbers mean", open=False):
                    gr.Markdown(r.glossary(), elem_classes="sc-help")
                class_table = frame(label="IoU per class (%)", elem_id="sc-class-table")
                pareto, per_class = gr.Plot(label="Accuracy vs speed"), gr.Plot(label="IoU per class")
            with gr.Tab("Mix-ups", id="confusion"):
                gr.Markdown(r.CONFUSION_HELP)
                with gr.Row():
                    model_a, model_b = pick(label="Model", elem_id="sc-cm-a"), pick(label="Next to", elem_id="sc-cm-b")
                cells = frame(label="Confusion matrix (%)", elem_id="sc-cells")
                cell_md = gr.Markdown(elem_id="sc-cell-list")
                cell_gallery = gal(label="Shipped test photos among them", elem_id="sc-cell-photos")
                with gr.Row():
                    cm_a, cm_b = gr.Plot(label="Confusion matrix"), gr.Plot(label="Confusion matrix (second model)")
                with gr.Row():
                    words_a, words_b = gr.Markdown(), gr.Markdown()
            with gr.Tab("Training", id="training"):
                training = gr.Plot(label="Training curves")
            with gr.Tab("Robustness", id="robustness"):
                corruption = pick(label="Corruption")
                robustness = gr.Plot(label="Robustness")
            with gr.Tab("ROC / PR", id="curves"):
                gr.Markdown(r.CURVES_HELP)
                roc_class = pick(label="Class")
                with gr.Row():
                    roc, pr = gr.Plot(label="ROC curves"), gr.Plot(label="Precision-recall curves")

        # --- events: comparisons (per browser session) ---------------------------------------------------
        def comparing(start, req, progress, look, *args):
            st = start(req.session_hash, *args, progress=lambda f, text: progress(f, desc=text))
            return v.compared(service, req.session_hash, st, *look)

        @friendly
        def on_compare(img, t, vw, alpha, hide, req: gr.Request, progress=gr.Progress()):
            return comparing(service.compare, req, progress, (vw, alpha, hide), img, t)

        @friendly
        def on_pick_named(t, name, vw, alpha, hide, req: gr.Request, progress=gr.Progress()):
            return comparing(service.compare_named, req, progress, (vw, alpha, hide), t, name)

        @friendly
        def on_gallery_pick(t, vw, alpha, hide, evt: gr.SelectData, req: gr.Request, progress=gr.Progress()):
            return comparing(service.compare_named, req, progress, (vw, alpha, hide), t, v.picked_name(evt.value))

        @friendly
        def on_render(st, vw, alpha, hide, req: gr.Request):
            return v.rendered(service, req.session_hash, st, vw, alpha, hide) if st else (gr.skip(),) * 3

        @friendly
        def on_details(st, vw, alpha, hide, req: gr.Request):
            return v.details(service, req.session_hash, st, vw, alpha, hide) if st else (gr.skip(),) * 3

        @friendly
        def on_slider(st, vw, alpha, hide, a, b, req: gr.Request):
            return v.slider_files(service, req.session_hash, st, vw, alpha, hide, a, b) if st else gr.skip()

        looks, ins = [view, opacity, classes], [state, view, opacity, classes]
        render_io, details_io = (ins, [gallery, reference, legend]), (ins, [reference, legend, status])
        slider_io = ([*ins, left, right], [slider])
        private, raw = dict(api_visibility="private"), dict(preprocess=False)  # raw: our handlers check values

        def then_render(event, render=private, slider=private):
            event.success(on_details, *details_io, **render, **raw).success(on_slider, *slider_io, **slider, **raw)
        pick_out, near = [gallery, table, state], lambda at: dict(show_progress_on=[at, status, gallery])  # seen
        then_render(run.click(on_compare, [image, task, *looks], pick_out, api_name="compare", **raw, **near(image)),
                    render={"api_name": "compare_details"}, slider={"api_name": "slider_details"})
        then_render(image.upload(on_compare, [image, task, *looks], pick_out, **raw, **private, **near(image)))
        for source in (samples, disagree, loses):  # a click on a test photo compares it
            then_render(source.select(on_gallery_pick, [task, *looks], pick_out, **private, **near(source)))
        then_render(gr.Button(visible=False).click(on_pick_named, [task, gr.Textbox(visible=False), *looks], pick_out,
                                                   api_name="pick_sample"))
        for trigger, name in ((view.input, "view"), (opacity.release, "opacity"), (classes.input, "classes")):
            trigger(on_render, *render_io, api_name=name, **raw).success(on_slider, *slider_io, **private, **raw)
        gr.on([left.input, right.input], on_slider, *slider_io, api_name="slider", **raw)

        # --- events: the task's results (the same for everyone: cached) ---------------------------------
        def results_view(fn):  # the same for everyone: computed once per task and choice; names (text) only
            cached = memo(fn)
            return friendly(lambda *args: cached(*r.check_names(args)))

        @friendly
        def on_task(t):
            c = r.task_choices(task_of(t))
            return (c["samples"], None, gr.update(value=[], columns=c["columns"]), [], None, "", None,
                    gr.update(maximum=c["latency"], value=c["latency"]),
                    *(gr.update(choices=choices, value=value) for choices, value in c["pickers"]))

        switch = gr.on([demo.load, task.change], on_task, [task], [
            samples, state, gallery, reference, legend, status, table, budget, classes, left, right, model_a, model_b,
            corruption, roc_class], api_name="switch_task")
        on_recommend = friendly(lambda t, ms, cpu_only: r.recommendation(task_of(t), ms, cpu_only))
        recommend_io = ([task, budget, cpu], [verdict])
        switch.then(on_recommend, *recommend_io, api_name="recommendation", **raw)
        gr.on([budget.release, cpu.input], on_recommend, *recommend_io, **private, **raw)
        cm_io = ([task, model_a, model_b], [cm_a, words_a, cm_b, words_b])
        for fn, inputs, outputs, name, triggers in (
                (lambda t: r.leaderboard(task_of(t)), [task], [board, verdicts, per_class, pareto], "leaderboard", []),
                (lambda t: (r.per_class_table(task_of(t)), r.models_text(task_of(t))), [task],
                 [class_table, models_md], "leaderboard_tables", []),
                (lambda t: r.galleries(task_of(t)), [task], [disagree, loses], "evidence", []),
                (lambda t: r.about(task_of(t)), [task], [about], "about", []),
                (lambda t, a, b: (*r.confusion(task_of(t), a), *r.confusion(task_of(t), b)), *cm_io, "confusion",
                 [model_a.input, model_b.input]),
                (lambda t, a: r.confusion_table(task_of(t), a), [task, model_a], [cells], "confusion_table",
                 [model_a.input]),
                (lambda t: r.training(task_of(t)), [task], [training], "training", []),
                (lambda t, c: r.robustness(task_of(t), c), [task, corruption], [robustness], "robustness",
                 [corruption.input]),
                (lambda t, c: r.curves(task_of(t), c), [task, roc_class], [roc, pr], "roc", [roc_class.input])):
            handler = results_view(fn)
            switch.then(handler, inputs, outputs, api_name=name, **raw)
            if triggers:
                gr.on(triggers, handler, inputs, outputs, **private, **raw)

        @friendly
        def on_cell(t, a, evt: gr.SelectData):
            return r.cell_lookup(task_of(t), a, *r.cell_of(evt.index))

        cells.select(on_cell, [task, model_a], [cell_gallery, cell_md], **private)
        gr.Button(visible=False).click(friendly(lambda t, a, row, col: r.cell_lookup(task_of(t), a, row, col)), [
            task, model_a, gr.Number(visible=False), gr.Number(visible=False)], [cell_gallery, cell_md],
            api_name="confusion_cell")  # API: task, model, true and predicted class

        timer = gr.Timer(1.0)  # "models ready: 3 of 5" until every model is loaded
        timer.tick(lambda t: (s := service.loading_status(t), gr.Timer(active=bool(s))), [task], [loading, timer],
                   api_name="loading", show_progress="hidden")

        gr.api(catalog.describe, api_name="tasks")  # the tasks, each with its classes, palette, samples, models
    return demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)


def launch_options() -> dict:  # theme and css belong to launch() in Gradio 6
    return {"theme": gr.themes.Soft(primary_hue="blue", secondary_hue="slate"),
            "css_paths": [CSS_PATH] if CSS_PATH.is_file() else None, "max_file_size": "25mb"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Compare segmentation models in the browser.")
    parser.add_argument("--checkpoints", nargs="*", help="folders or Hub repo ids (default: $SEGCOMPARE_CHECKPOINTS)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own startup checks, one line per request
    (demo := build_demo(args.checkpoints)).launch(server_port=args.port, prevent_thread_lock=True, **launch_options())
    demo.segcompare.start_loading()  # the page is up: now read the weights, in the background
    demo.block_thread()


if __name__ == "__main__":
    main()
