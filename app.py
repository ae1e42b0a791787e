"""segcompare's Gradio app: which model should we use, and why? The answer first, then the evidence.

Wiring only: the page's components come from `segcompare.ui_layout`, comparisons from `segcompare.session`
(per browser session), all that is shown from `segcompare.views` / `results_views`; every action is a named
HTTP endpoint (docs/API.md). `python app.py [--checkpoints DIR|ORG/REPO ...] [--port N]`; models load in the
background once the page is up. One `wire_*` function per group of events, in the order they are registered.
"""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from segcompare import results_views as r
from segcompare import views as v
from segcompare.catalog import discover, parse_sources
from segcompare.errors import UserError
from segcompare.hub import space_sources
from segcompare.session import CompareService
from segcompare.ui_layout import page

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


PRIVATE, RAW = {"api_visibility": "private"}, {"preprocess": False}  # raw: our handlers check the values


def build_demo(sources=None, samples_root: str | Path | None = SAMPLES_ROOT) -> gr.Blocks:
    """The app's Blocks. Reads configs, results and histories of the checkpoints; never their weights.
    Sources: the arguments, else a pushed Space's model repos (Hub cache first), else embedded checkpoints."""
    sources = parse_sources(sources or space_sources(ROOT), default=ROOT / "checkpoints")
    catalog = discover(sources, samples_root)
    service = CompareService(catalog, gr.utils.get_upload_folder(), upload_dir=gr.utils.get_upload_folder())
    if samples_root and Path(samples_root).is_dir():
        gr.set_static_paths([str(samples_root)])
    with gr.Blocks(title="segcompare — which segmentation model should we use?") as demo:
        demo.segcompare = service  # for tests and benchmarks
        ui = page(catalog, sources)
        wire_comparisons(ui, comparison_handlers(service))
        switch = wire_task_switch(demo, ui, catalog.task)
        wire_results(switch, ui, catalog.task)
        wire_cells(ui, catalog.task)
        timer = gr.Timer(1.0)  # "models ready: 3 of 5" until every model is loaded
        timer.tick(lambda t: (s := service.loading_status(t), gr.Timer(active=bool(s))), [ui.task],
                   [ui.loading, timer], api_name="loading", show_progress="hidden")
        gr.api(catalog.describe, api_name="tasks")  # the tasks, each with its classes, palette, samples, models
    return demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)


def comparison_handlers(service: CompareService) -> SimpleNamespace:
    """The handlers of one browser session's comparison: start one, render it again, fill the slider."""
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

    # the names are also the private events' api names: `slider` would take the /slider endpoint's name
    return SimpleNamespace(on_compare=on_compare, on_pick_named=on_pick_named, on_gallery_pick=on_gallery_pick,
                           on_render=on_render, on_details=on_details, on_slider=on_slider)


def wire_comparisons(ui: SimpleNamespace, h: SimpleNamespace) -> None:
    """Compare (a click on any test photo, an upload, the button, /pick_sample), then the view controls."""
    looks, ins = [ui.view, ui.opacity, ui.classes], [ui.state, ui.view, ui.opacity, ui.classes]
    render_io, details_io = (ins, [ui.gallery, ui.reference, ui.legend]), (ins, [ui.reference, ui.legend, ui.status])
    slider_io = ([*ins, ui.left, ui.right], [ui.slider])

    def then_render(event, render=PRIVATE, slider=PRIVATE):
        event.success(h.on_details, *details_io, **render, **RAW).success(h.on_slider, *slider_io, **slider, **RAW)
    pick_out = [ui.gallery, ui.table, ui.state]

    def near(at):  # progress shows where the user looks: the clicked photo, the status line, the results
        return {"show_progress_on": [at, ui.status, ui.gallery]}
    then_render(ui.run.click(h.on_compare, [ui.image, ui.task, *looks], pick_out, api_name="compare", **RAW,
                             **near(ui.image)), render={"api_name": "compare_details"},
                slider={"api_name": "slider_details"})
    then_render(ui.image.upload(h.on_compare, [ui.image, ui.task, *looks], pick_out, **RAW, **PRIVATE,
                                **near(ui.image)))
    for source in (ui.samples, ui.disagree, ui.loses):  # a click on a test photo compares it
        then_render(source.select(h.on_gallery_pick, [ui.task, *looks], pick_out, **PRIVATE, **near(source)))
    then_render(gr.Button(visible=False).click(h.on_pick_named, [ui.task, gr.Textbox(visible=False), *looks], pick_out,
                                               api_name="pick_sample"))
    for trigger, name in ((ui.view.input, "view"), (ui.opacity.release, "opacity"), (ui.classes.input, "classes")):
        trigger(h.on_render, *render_io, api_name=name, **RAW).success(h.on_slider, *slider_io, **PRIVATE, **RAW)
    gr.on([ui.left.input, ui.right.input], h.on_slider, *slider_io, api_name="slider", **RAW)


def wire_task_switch(demo: gr.Blocks, ui: SimpleNamespace, task_of) -> gr.events.Dependency:
    """On load and on a new task: every task-dependent choice, then the verdict; returns that event."""
    @friendly
    def on_task(t):
        c = r.task_choices(task_of(t))
        return (c["samples"], None, gr.update(value=[], columns=c["columns"]), [], None, "", None,
                gr.update(maximum=c["latency"], value=c["latency"]),
                *(gr.update(choices=choices, value=value) for choices, value in c["pickers"]))

    switch = gr.on([demo.load, ui.task.change], on_task, [ui.task], [
        ui.samples, ui.state, ui.gallery, ui.reference, ui.legend, ui.status, ui.table, ui.budget, ui.classes,
        ui.left, ui.right, ui.model_a, ui.model_b, ui.corruption, ui.roc_class], api_name="switch_task")
    on_recommend = friendly(lambda t, ms, cpu_only: r.recommendation(task_of(t), ms, cpu_only))
    recommend_io = ([ui.task, ui.budget, ui.cpu], [ui.verdict])
    switch.then(on_recommend, *recommend_io, api_name="recommendation", **RAW)
    gr.on([ui.budget.release, ui.cpu.input], on_recommend, *recommend_io, **PRIVATE, **RAW)
    return switch


def wire_results(switch, ui: SimpleNamespace, task_of) -> None:
    """The task's results views, after each task switch and on their own pickers (the same for everyone)."""
    memo = functools.lru_cache(maxsize=256)  # computed once per task and choice; names (text) only

    def results_view(fn):
        cached = memo(fn)
        return friendly(lambda *args: cached(*r.check_names(args)))
    cm_io = ([ui.task, ui.model_a, ui.model_b], [ui.cm_a, ui.words_a, ui.cm_b, ui.words_b])
    for fn, inputs, outputs, name, triggers in (
            (lambda t: r.leaderboard(task_of(t)), [ui.task], [ui.board, ui.verdicts, ui.per_class, ui.pareto],
             "leaderboard", []),
            (lambda t: (r.per_class_table(task_of(t)), r.models_text(task_of(t))), [ui.task],
             [ui.class_table, ui.models_md], "leaderboard_tables", []),
            (lambda t: r.galleries(task_of(t)), [ui.task], [ui.disagree, ui.loses], "evidence", []),
            (lambda t: r.about(task_of(t)), [ui.task], [ui.about], "about", []),
            (lambda t, a, b: (*r.confusion(task_of(t), a), *r.confusion(task_of(t), b)), *cm_io, "confusion",
             [ui.model_a.input, ui.model_b.input]),
            (lambda t, a: r.confusion_table(task_of(t), a), [ui.task, ui.model_a], [ui.cells], "confusion_table",
             [ui.model_a.input]),
            (lambda t: r.training(task_of(t)), [ui.task], [ui.training], "training", []),
            (lambda t, c: r.robustness(task_of(t), c), [ui.task, ui.corruption], [ui.robustness], "robustness",
             [ui.corruption.input]),
            (lambda t, c: r.curves(task_of(t), c), [ui.task, ui.roc_class], [ui.roc, ui.pr], "roc",
             [ui.roc_class.input])):
        handler = results_view(fn)
        switch.then(handler, inputs, outputs, api_name=name, **RAW)
        if triggers:
            gr.on(triggers, handler, inputs, outputs, **PRIVATE, **RAW)


def shown_if_any(photos: list, text: str) -> tuple:
    """A cell's (photos, list) for the page: the photo gallery only when a listed image ships with the app."""
    return gr.update(value=photos, visible=bool(photos)), text


def wire_cells(ui: SimpleNamespace, task_of) -> None:
    """Mix-ups: a click on a confusion-matrix cell lists its test images; /confusion_cell does it by index."""
    @friendly
    def on_cell(t, a, evt: gr.SelectData):
        return shown_if_any(*r.cell_lookup(task_of(t), a, *r.cell_of(evt.index)))

    cell_out = [ui.cell_gallery, ui.cell_md]
    ui.cells.select(on_cell, [ui.task, ui.model_a], cell_out, **PRIVATE)
    def on_other_matrix():  # another task or model: the listed cell belonged to the previous matrix
        return shown_if_any([], "")

    gr.on([ui.task.change, ui.model_a.input], on_other_matrix, None, cell_out, show_progress="hidden", **PRIVATE)
    gr.Button(visible=False).click(friendly(lambda t, a, row, col: r.cell_lookup(task_of(t), a, row, col)), [
        ui.task, ui.model_a, gr.Number(visible=False), gr.Number(visible=False)], cell_out,
        api_name="confusion_cell")  # API: task, model, true and predicted class; the plain (photos, list)


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
