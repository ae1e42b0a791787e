"""The app's page layout: every Gradio component, labelled and with its elem_id, and no event.

app.py builds the page with `page(catalog, sources)` inside its open `gr.Blocks` and wires the events to
the components it returns (one namespace, one attribute per component an event uses). Components appear
on the page in the order these functions create them, so each function is one part of the page.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import gradio as gr

from . import results_views as r
from . import views as v
from .catalog import Catalog

pick = functools.partial(gr.Dropdown, allow_custom_value=True)  # choices follow the task; handlers check values
gal = functools.partial(gr.Gallery, height="auto", allow_preview=False, columns=4)
frame = functools.partial(gr.Dataframe, interactive=False, wrap=True)


def top(catalog: Catalog, sources) -> SimpleNamespace:
    """Title, task picker, where the models come from, the verdict and its constraints."""
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
    return SimpleNamespace(task=task, verdict=verdict, budget=budget, cpu=cpu, about=about, loading=loading,
                           state=state)


def compare_tab() -> SimpleNamespace:
    """Test samples or an upload, every model's answer, the view controls, the slider and the evidence."""
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
        opacity = gr.Slider(0, 1, value=0.55, step=0.05, label="Colour opacity", elem_id="sc-opacity", min_width=200)
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
    return SimpleNamespace(samples=samples, image=image, run=run, status=status, view=view, opacity=opacity,
                           classes=classes, legend=legend, reference=reference, gallery=gallery, table=table,
                           left=left, right=right, slider=slider, disagree=disagree, loses=loses)


def leaderboard_tab() -> SimpleNamespace:
    """Test-set results: the table, which differences are real, per-class IoU and accuracy vs speed."""
    verdicts = gr.Markdown(elem_id="sc-verdicts")
    board = frame(label="Test-set results, best first", elem_id="sc-leaderboard")
    models_md = gr.Markdown(elem_id="sc-models")
    with gr.Accordion("What the numbers mean", open=False):
        gr.Markdown(r.glossary(), elem_classes="sc-help")
    class_table = frame(label="IoU per class (%)", elem_id="sc-class-table")
    pareto, per_class = gr.Plot(label="Accuracy vs speed"), gr.Plot(label="IoU per class")
    return SimpleNamespace(verdicts=verdicts, board=board, models_md=models_md, class_table=class_table,
                           pareto=pareto, per_class=per_class)


def mixups_tab() -> SimpleNamespace:
    """Confusion matrices of one or two models; a click on a cell lists its test images."""
    gr.Markdown(r.CONFUSION_HELP)
    with gr.Row():
        model_a, model_b = pick(label="Model", elem_id="sc-cm-a"), pick(label="Next to", elem_id="sc-cm-b")
    cells = frame(label="Confusion matrix (%)", elem_id="sc-cells")
    cell_md = gr.Markdown(elem_id="sc-cell-list")
    # hidden until a clicked cell lists a shipped photo: an empty gallery is an empty box
    cell_gallery = gal(label="Shipped test photos among them", elem_id="sc-cell-photos", visible=False)
    with gr.Row():
        cm_a, cm_b = gr.Plot(label="Confusion matrix"), gr.Plot(label="Confusion matrix (second model)")
    with gr.Row():
        words_a, words_b = gr.Markdown(), gr.Markdown()
    return SimpleNamespace(model_a=model_a, model_b=model_b, cells=cells, cell_md=cell_md,
                           cell_gallery=cell_gallery, cm_a=cm_a, cm_b=cm_b, words_a=words_a, words_b=words_b)


def figure_tabs() -> SimpleNamespace:
    """Training curves, robustness to corruptions, ROC / PR curves."""
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
    return SimpleNamespace(training=training, corruption=corruption, robustness=robustness, roc_class=roc_class,
                           roc=roc, pr=pr)


def page(catalog: Catalog, sources) -> SimpleNamespace:
    """The whole page, inside an open `gr.Blocks`: every component an event uses, in one namespace."""
    parts = [top(catalog, sources)]
    with gr.Tabs(overflow_behavior="wrap"):
        with gr.Tab("Compare", id="compare"):
            parts.append(compare_tab())
        with gr.Tab("Leaderboard", id="leaderboard"):
            parts.append(leaderboard_tab())
        with gr.Tab("Mix-ups", id="confusion"):
            parts.append(mixups_tab())
        parts.append(figure_tabs())
    return SimpleNamespace(**{k: c for part in parts for k, c in vars(part).items()})
