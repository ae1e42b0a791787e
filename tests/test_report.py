"""Leaderboard, names, figures, sentences and the HTML report, on results dicts built by hand."""

import json
import re

import fake_results
import numpy as np
import pytest
import torch

from segcompare import figure_style as style
from segcompare import figures as figs
from segcompare import report
from segcompare.cli import main
from segcompare.errors import UserError
from segcompare.evaluation import FORMAT, metric_fields
from segcompare.formats import best_first
from segcompare.recommend import recommend, to_html

CLASSES = ["road", "sidewalk", "car"]
# rows = truth: sidewalk goes to road on 12 of 100 pixels and to car on 3; car to road on 0.5%
KNOWN_CM = [[90, 10, 0], [12, 85, 3], [1, 0, 199]]


def random_cms(n, accuracy, seed, k=3, pixels=300):
    return fake_results.random_cms(n, accuracy, seed, k, pixels)


def make_results(model, accuracy=0.8, seed=0, latency=None, n=12, robustness=None, checkpoint=None, **extra):
    cms = torch.as_tensor(random_cms(n, accuracy, seed))
    res = {"format": FORMAT, "model": model, "checkpoint": checkpoint or f"runs/{model}",
           "dataset": "synthetic-streets", "split": "test", "classes": list(CLASSES), "num_images": n,
           "input_size": [64, 64], "params": 2_500_000, "size_mb": 9.6, "created": "2026-11-20T10:00:00+00:00"}
    res.update(metric_fields(cms.sum(0), cms.sum(0), cms, [f"img{i:03d}" for i in range(n)]))
    if latency is not None:
        res["latency_ms"] = {"device": "cpu", "batch": 1, "size": [64, 64], "p50": latency, "p95": latency * 1.2}
    if robustness is not None:
        res["robustness"] = robustness
    res.update(extra)
    return json.loads(json.dumps(res))  # what a reader of results.json gets


def write(tmp_path, res, folder=None, name="results.json"):
    d = tmp_path / (folder or res["model"])
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(json.dumps(res))
    return d / name


# --- names ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("segformer_b0", "SegFormer-B0"),
    ("unet_mobilenet_v2", "UNet (MobileNet-V2)"),
    ("fcn_resnet18", "FCN (ResNet-18)"),
    ("deeplabv3plus_resnet18", "DeepLabV3+ (ResNet-18)"),
    ("pspnet_resnet18", "PSPNet (ResNet-18)"),
    ("deeplabv3_mobilenet_v3_large", "DeepLabV3 (MobileNet-V3-Large)"),
    ("unetplusplus_efficientnet-b0", "UNet++ (EfficientNet-B0)"),
    ("segformer_mit_b0", "SegFormer (MiT-B0)"),
    ("lraspp_mobilenet_v3_large", "LR-ASPP (MobileNet-V3-Large)"),
    ("unet_tu-convnext_tiny", "UNet (convnext_tiny)"),
    ("fcn_tu-tf_efficientnet_lite0", "FCN (EfficientNet-Lite0)"),
    ("my_custom_net", "my_custom_net"),
])
def test_display_name(name, expected):
    assert report.display_name(name) == expected
    assert report.display_name({"model": name}) == expected


def test_same_architecture_twice_gets_folder_names():
    a = make_results("unet_resnet18", checkpoint="runs/scratch")
    b = make_results("unet_resnet18", checkpoint="runs/finetune/")
    assert report.model_labels([a, b]) == ["UNet (ResNet-18) [scratch]", "UNet (ResNet-18) [finetune]"]


def test_model_colors_do_not_depend_on_order():
    assert report.model_colors(["b", "a", "c"]) == report.model_colors(["c", "a", "b"])
    assert len(set(report.model_colors(["a", "b", "c"]).values())) == 3


# --- reading ----------------------------------------------------------------------------------------------

def test_load_results_rejects_unknown_format_by_name(tmp_path):
    path = write(tmp_path, {**make_results("fcn_resnet18"), "format": "x"})
    with pytest.raises(UserError, match=r"unknown results format 'x' in .*results.json; expected segcompare-results/1"):
        report.load_results(path)


@pytest.mark.parametrize("content, message", [(None, "no results file"), ("{not json", "is not valid JSON")])
def test_load_results_missing_or_broken_file(tmp_path, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message) as e:
        report.load_results(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_find_results_file_folder_and_folder_of_folders(tmp_path):
    a = write(tmp_path / "ckpts", make_results("fcn_resnet18"))
    b = write(tmp_path / "ckpts", make_results("unet_resnet18"))
    other = write(tmp_path, make_results("pspnet_resnet18"), folder="x", name="val.json")
    assert report.find_results([tmp_path / "ckpts"]) == [a, b]
    assert report.find_results([a.parent, other, a]) == [a, other]  # duplicates dropped
    with pytest.raises(UserError, match="no such file or folder"):
        report.find_results([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no results.json in"):
        report.find_results([tmp_path / "empty"])


@pytest.mark.parametrize("change, what", [
    ({"dataset": "synthetic-pets"}, "different datasets"),
    ({"classes": ["road", "sidewalk", "truck"]}, "different class lists"),
    ({"split": "val"}, "different splits"),
])
def test_incomparable_results_refused(change, what):
    a, b = make_results("fcn_resnet18"), make_results("unet_resnet18", **change)
    with pytest.raises(UserError, match=f"cannot compare FCN \\(ResNet-18\\) and UNet \\(ResNet-18\\).*{what}"):
        report.check_comparable([a, b])


def test_different_test_images_refused():
    a, b = make_results("fcn_resnet18", n=12), make_results("unet_resnet18", n=6)
    with pytest.raises(UserError, match="different images"):
        report.check_comparable([a, b])


def test_read_history_skips_broken_last_line_and_repeats(tmp_path):
    lines = [{"epoch": 1, "train_loss": 1.0, "val_miou": 0.3}, {"epoch": 2, "train_loss": 0.8, "val_miou": 0.4},
             {"epoch": 2, "train_loss": 0.7, "val_miou": 0.45}]  # epoch 2 again after a resume
    (tmp_path / "history.jsonl").write_text("\n".join(map(json.dumps, lines)) + '\n{"epoch": 3, "train_lo')
    hist = report.read_history(tmp_path)
    assert [h["epoch"] for h in hist] == [1, 2] and hist[1]["train_loss"] == 0.7
    assert report.read_history(tmp_path / "missing") == []
    (tmp_path / "history.jsonl").write_text('{"epoch": 1}\nbroken\n{"epoch": 3}\n')
    with pytest.raises(UserError, match="line 2 is not JSON"):
        report.read_history(tmp_path)


# --- table ------------------------------------------------------------------------------------------------

def test_leaderboard_order_and_values():
    results = [make_results("fcn_resnet18", 0.6, 1, latency=20.0), make_results("segformer_b0", 0.9, 2, latency=55.56),
               make_results("unet_resnet18", 0.75, 3)]
    df = report.leaderboard(results)
    assert list(df["Model"]) == ["SegFormer-B0", "UNet (ResNet-18)", "FCN (ResNet-18)"]
    best = results[1]
    assert df.loc[0, "mIoU (%)"] == round(100 * best["miou"], 1)
    assert df.loc[0, "Pixel acc. (%)"] == round(100 * best["pixel_accuracy"], 1)
    assert df.loc[0, "Boundary IoU (%)"] == round(100 * best["boundary_iou"], 1)
    assert df.loc[0, "Latency p50 (ms)"] == 55.6
    assert df.loc[0, "Params (M)"] == 2.5 and df.loc[0, "Size (MB)"] == 9.6
    assert np.isnan(df.loc[1, "Latency p50 (ms)"])
    assert "Robust mIoU (%)" not in df.columns
    md = report.leaderboard_markdown(df)
    assert md.splitlines()[0].startswith("| Model | mIoU (%) |")
    assert "| UNet (ResNet-18) |" in md and "| – |" in md and len(md.splitlines()) == 5


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 2, 1, 0), (2, 0, 3, 1)])
def test_leaderboard_order_is_formats_rank_key(order):
    """One ordering rule: the table lists models as `best_first` does (ties on mIoU: faster first)."""
    same = make_results("unet_resnet18", 0.75, 3)
    pool = [make_results("fcn_resnet18", 0.6, 1, latency=20.0), {**same, "latency_ms": {"device": "cpu", "p50": 9.0}},
            {**same, "model": "pspnet_resnet18", "checkpoint": "runs/psp", "latency_ms": {"device": "cpu", "p50": 3.0}},
            make_results("segformer_b0", 0.9, 2, miou=None)]
    results = [pool[i] for i in order]
    typed = figs.typed(results)
    expected = [report.display_name(r) for r in best_first(typed)]
    assert list(report.leaderboard(results)["Model"]) == expected
    assert expected[:2] == ["PSPNet (ResNet-18)", "UNet (ResNet-18)"] and expected[-1] == "SegFormer-B0"
    assert report.leaderboard(typed).equals(report.leaderboard(results))  # a dict is typed on the way in


def test_leaderboard_robustness_column_is_mean_over_corruptions():
    rob = {"blur": {"1": 0.5, "2": 0.4, "3": 0.3}, "fog": {"1": 0.6, "2": None, "3": 0.2}}
    df = report.leaderboard([make_results("fcn_resnet18", robustness=rob), make_results("unet_resnet18")])
    row = df.set_index("Model")["Robust mIoU (%)"]
    assert row["FCN (ResNet-18)"] == 40.0 and np.isnan(row["UNet (ResNet-18)"])


# --- figures ----------------------------------------------------------------------------------------------

def test_confusion_figure_rows_sum_to_one_and_hover_has_counts():
    res = make_results("fcn_resnet18", confusion_matrix=KNOWN_CM)
    fig = report.confusion_figure(res)
    heat = fig.data[0]
    z = np.array(heat.z, dtype=float)
    np.testing.assert_allclose(z.sum(1), 1.0)
    assert z[1, 0] == pytest.approx(0.12)
    assert np.array(heat.customdata).tolist() == KNOWN_CM
    assert "%{customdata" in heat.hovertemplate
    assert list(heat.x) == CLASSES and list(heat.y) == CLASSES
    title = fig.layout.title.text.replace("<br>", " ")  # wrapped to fit half-width plots
    assert title == "Where does FCN (ResNet-18) go wrong? (rows: true class, columns: predicted)"
    counts = report.confusion_figure(res, normalize=False).data[0]
    assert np.array(counts.z).tolist() == KNOWN_CM


def test_confusion_figure_absent_class_row_is_blank():
    res = make_results("fcn_resnet18", confusion_matrix=[[5, 1, 0], [0, 0, 0], [0, 2, 8]])
    z = report.confusion_figure(res).data[0].z
    assert all(v is None for v in z[1]) and sum(z[0]) == pytest.approx(1.0)


def test_pareto_front_on_hand_example():
    # (latency, accuracy): a fast+weak, b slow+strong, c dominated by a (slower and worse), d dominated by b
    results = [make_results("fcn_resnet18", latency=10.0, miou=0.50), make_results("unet_resnet18", latency=40.0,
               miou=0.70), make_results("pspnet_resnet18", latency=15.0, miou=0.45),
               make_results("segformer_b0", latency=40.0, miou=0.65), make_results("fpn_resnet18", miou=0.99)]
    assert report.pareto_front(results) == ["FCN (ResNet-18)", "UNet (ResNet-18)"]
    fig = report.pareto_figure(results)
    line = fig.data[0]
    assert list(line.x) == [10.0, 40.0] and list(line.y) == [50.0, 70.0]
    stars = {t.name for t in fig.data[1:] if t.marker.symbol == "star"}
    assert stars == {"FCN (ResNet-18)", "UNet (ResNet-18)"}
    assert len(fig.data) == 5  # the model without latency is not plotted


def test_comparison_figures_keep_one_colour_per_model():
    results = [make_results("fcn_resnet18", latency=10.0), make_results("segformer_b0", 0.9, 1, latency=30.0)]
    colors = report.model_colors(report.model_labels(results))
    bars = report.per_class_iou_figure(results)
    assert {t.name: t.marker.color for t in bars.data} == colors
    assert list(bars.data[1].y) == pytest.approx([100 * v for v in results[1]["per_class_iou"]])
    boxes = report.per_image_figure(results)
    assert {t.name: t.marker.color for t in boxes.data} == colors
    assert len(boxes.data[0].y) == 12 and boxes.data[0].text[0] == "img000"


def test_robustness_figure_mean_one_and_all():
    rob = {"blur": {"1": 0.5, "2": 0.4, "3": 0.3}, "fog": {"1": 0.7, "2": 0.6, "3": 0.1}}
    res = make_results("fcn_resnet18", robustness=rob, miou=0.8)
    mean = report.robustness_figure([res, make_results("unet_resnet18")]).data
    assert len(mean) == 1 and list(mean[0].x) == [0, 1, 2, 3]
    assert list(mean[0].y) == pytest.approx([80, 60, 50, 20])
    assert list(report.robustness_figure([res], "fog").data[0].y) == pytest.approx([80, 70, 60, 10])
    assert len(report.robustness_figure([res], "all").data) == 2
    with pytest.raises(UserError, match="unknown corruption 'snow'; results have: blur, fog"):
        report.robustness_figure([res], "snow")
    empty = report.robustness_figure([make_results("unet_resnet18")])
    assert not empty.data and "--robustness" in empty.layout.annotations[0].text


def test_roc_and_pr_figures_one_class_and_mean():
    roc = {"road": {"fpr": [0, 0.1, 1], "tpr": [0, 0.9, 1], "auc": 0.9},
           "sidewalk": {"fpr": [0, 0.5, 1], "tpr": [0, 0.5, 1], "auc": 0.5}, "car": {"fpr": [], "tpr": [], "auc": None}}
    pr = {"road": {"precision": [1, 0.8], "recall": [0, 1], "ap": 0.8}, "sidewalk": {"precision": [1, 0.4],
          "recall": [0, 1], "ap": 0.6}, "car": {"precision": [], "recall": [], "ap": None}}
    res = make_results("fcn_resnet18", roc=roc, pr=pr)
    one = report.roc_figure([res], "road").data
    assert one[0].name == "random guess" and list(one[1].y) == [0, 0.9, 1] and "AUC 0.900" in one[1].name
    mean = report.roc_figure([res]).data[1]
    assert "AUC 0.700" in mean.name and mean.y[-1] == pytest.approx(1.0)
    assert mean.y[50] == pytest.approx((0.9 + 0.1 * (0.4 / 0.9) + 0.5) / 2)  # tpr at fpr 0.5, averaged
    assert "AP 0.700" in report.pr_figure([res]).data[0].name
    with pytest.raises(UserError, match="unknown class 'bus'; valid: road, sidewalk, car"):
        report.pr_figure([res], "bus")


def test_training_figure_from_histories():
    hist = {"FCN (ResNet-18)": [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "val_miou": 0.3},
                                {"epoch": 2, "train_loss": 0.5, "val_loss": 0.9, "val_miou": 0.5}]}
    fig = report.training_figure(hist)
    assert [(t.name, t.showlegend, t.line.dash) for t in fig.data] == [
        ("FCN (ResNet-18)", True, "solid"), ("FCN (ResNet-18)", False, "dash"), ("FCN (ResNet-18)", False, "solid")]
    assert list(fig.data[1].y) == [1.1, 0.9] and list(fig.data[2].y) == [30.0, 50.0]
    assert fig.data[2].xaxis == "x2"  # mIoU in the right-hand panel
    assert not report.training_figure({"x": []}).data


# --- figure styling: dark mode, wrapping, clipping, explained terms ----------------------------------------

def styled_figures() -> dict:
    """Every figure builder on two models with every optional field, plus an empty figure."""
    roc = {c: {"fpr": [0, 0.2, 1], "tpr": [0, 0.8, 1], "auc": 0.8} for c in CLASSES}
    pr = {c: {"precision": [1, 0.6], "recall": [0, 1], "ap": 0.7} for c in CLASSES}
    rob = {"gaussian_noise": {"1": 0.6, "2": 0.5, "3": 0.4}, "motion_blur": {"1": 0.7, "2": 0.6, "3": 0.3}}
    results = [make_results("deeplabv3plus_tu-tf_efficientnet_lite0", latency=12.0, robustness=rob, roc=roc, pr=pr),
               make_results("unetplusplus_efficientnet-b0", 0.9, 1, latency=250.0, robustness=rob, roc=roc, pr=pr)]
    hist = {"FCN (ResNet-18)": [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "val_miou": 0.3}]}
    return {"confusion": report.confusion_figure(results[0]), "per_class": report.per_class_iou_figure(results),
            "pareto": report.pareto_figure(results), "robustness": report.robustness_figure(results),
            "robustness_all": report.robustness_figure(results, "all"), "training": report.training_figure(hist),
            "roc": report.roc_figure(results), "pr": report.pr_figure(results, "sidewalk"),
            "per_image": report.per_image_figure(results), "empty": report.pareto_figure([make_results("x")])}


@pytest.fixture(scope="module")
def figures():
    return styled_figures()


def setting(fig, *path):
    """A layout value as plotly will use it: the figure's own, else its template's."""
    for layout in (fig.layout, fig.layout.template.layout):
        value = layout
        for key in path:
            value = value[key]
        if value is not None:
            return value
    return None


@pytest.mark.parametrize("name", list(styled_figures()))
def test_figures_are_transparent_with_grey_ink(figures, name):
    # gr.Plot shows figures as given, on a white page or a near-black dark-mode one
    fig = figures[name]
    assert setting(fig, "paper_bgcolor") == setting(fig, "plot_bgcolor") == style.CLEAR
    assert setting(fig, "font", "color") == setting(fig, "title", "font", "color") == style.INK
    assert setting(fig, "xaxis", "gridcolor") == setting(fig, "yaxis", "gridcolor") == style.GRID
    for note in fig.layout.annotations:  # subplot titles and "no data" messages: grey or inheriting it
        assert note.font.color in (None, style.INK)
    for trace in fig.data:  # no near-black or near-white lines that vanish on one of the two pages
        line = getattr(trace, "line", None)
        assert line is None or line.color not in ("#333", "#bbb", "#999", "white", "black")


@pytest.mark.parametrize("name", list(styled_figures()))
def test_titles_wrap_to_half_width_and_get_room(figures, name):
    layout = figures[name].layout
    lines = layout.title.text.split("<br>")
    longest_word = max(len(w) for w in layout.title.text.replace("<br>", " ").split())
    assert all(len(line) <= max(style.TITLE_CHARS, longest_word) for line in lines), lines
    sub = layout.title.subtitle.text.split("<br>") if layout.title.subtitle.text else []
    assert layout.margin.t >= 21 * len(lines) + 16 * len(sub)  # ~21 px a title line, ~16 a subtitle line


@pytest.mark.parametrize("text", ["short", "How well does each model pick out all classes (mean)? ROC curve, higher "
                                  "and further left is better", "a " * 80 + "unbreakable" * 6])
def test_fit_title_keeps_every_word_and_is_idempotent(text):
    fig = style.fit_title(report.per_class_iou_figure([]).update_layout(title_text=text), width=30)
    once = fig.layout.title.text
    assert once.replace("<br>", " ").split() == text.split()
    assert all(len(line) <= 30 or " " not in line for line in once.split("<br>"))
    assert style.fit_title(fig, width=30).layout.title.text == once


@pytest.mark.parametrize("latencies", [[12.0, 250.0, 30.0, 31.0], [10.0, 11.0], [5.0]])
def test_pareto_names_stay_inside_the_figure(latencies):
    results = [make_results(m, 0.6 + 0.1 * i, i, latency=lat) for i, (m, lat) in
               enumerate(zip(["fcn_resnet18", "unet_resnet18", "pspnet_resnet18", "fpn_resnet18"], latencies))]
    fig = report.pareto_figure(results)
    points = sorted((t for t in fig.data if t.mode == "markers+text"), key=lambda t: t.x[0])
    assert len(points) == len(latencies) and all(t.cliponaxis is False for t in points)
    ys = [t.y[0] for t in points]
    if len(points) > 1:  # names at the left and right edges point inwards
        assert points[0].textposition.endswith("right") and points[-1].textposition.endswith("left")
    at = np.log10 if fig.layout.xaxis.type == "log" else (lambda v: v)
    xs = [at(t.x[0]) for t in points]
    for i in range(len(points)):  # a name goes away from its nearest neighbour in speed: above if higher
        near = min((j for j in range(len(points)) if j != i), key=lambda j: abs(xs[j] - xs[i]), default=i)
        assert points[i].textposition.split()[0] == ("top" if ys[i] >= ys[near] else "bottom")
    if len(points) > 1:  # so two models of similar speed put their names on opposite sides
        a, b = min(((i, i + 1) for i in range(len(points) - 1)), key=lambda p: xs[p[1]] - xs[p[0]])
        assert points[a].textposition.split()[0] != points[b].textposition.split()[0]
    y_lo, y_hi = fig.layout.yaxis.range
    assert y_lo <= min(ys) - 4 and y_hi >= max(ys) + 4  # a line of text fits above and below every point
    x_lo, x_hi = fig.layout.xaxis.range
    to_axis = np.log10 if fig.layout.xaxis.type == "log" else (lambda v: v)
    assert x_lo < to_axis(min(latencies)) and x_hi > to_axis(max(latencies))


def test_mean_robustness_is_labelled_as_corruptions_not_classes(figures):
    title = figures["robustness"].layout.title.text.replace("<br>", " ")
    assert figs.MEAN_OF_CORRUPTIONS in title and "classes" not in title
    assert "classes" in figs.MEAN_OF_CLASSES and "corruptions" not in figs.MEAN_OF_CLASSES


@pytest.mark.parametrize("name, words", [("roc", ["AUC", "area under the curve", "0.5"]),
                                         ("pr", ["AP", "average precision", "area under"]),
                                         ("pareto", ["p50", "median"])])
def test_metric_abbreviations_are_explained_in_the_figure(figures, name, words):
    layout = figures[name].layout
    shown = " ".join(str(t) for t in (layout.title.subtitle.text, layout.xaxis.title.text)).replace("<br>", " ")
    for word in words:
        assert word in shown, (word, shown)


# --- sentences --------------------------------------------------------------------------------------------

def test_top_confusions_wording_and_percentages():
    res = make_results("fcn_resnet18", confusion_matrix=KNOWN_CM)
    assert report.top_confusions(res) == ["confuses sidewalk with road on 12% of sidewalk pixels",
                                          "confuses road with sidewalk on 10% of road pixels",
                                          "confuses sidewalk with car on 3.0% of sidewalk pixels"]  # not car->road 0.5%
    assert report.top_confusions(res, k=1) == ["confuses sidewalk with road on 12% of sidewalk pixels"]
    assert len(report.top_confusions(res, min_share=0.001)) == 4


def test_verdict_lines_are_sentences_best_first():
    good, bad = make_results("segformer_b0", 0.95, 1, n=30), make_results("fcn_resnet18", 0.5, 2, n=30)
    lines = report.verdict_lines([bad, good], n_boot=300)
    assert len(lines) == 1
    assert lines[0].startswith("SegFormer-B0 is better than FCN (ResNet-18) by ") and lines[0].endswith(".")
    assert report.verdict_lines([good]) == []
    no_cms = {**bad, "per_image": {**bad["per_image"], "confusion": []}}
    assert "FCN (ResNet-18) lack per-image" in report.verdict_lines([good, no_cms])[0]


def test_headline_is_the_recommendation():
    results = [make_results("fcn_resnet18", 0.6, 1, latency=20.2), make_results("segformer_b0", 0.9, 2, latency=44.6)]
    miou = 100 * results[1]["miou"]
    assert report.headline(results, n_boot=200) == (f"Use SegFormer-B0: the most accurate of the 2 models compared, "
                                                    f"{miou:.1f}% mIoU, with the cleanest edges.")


# --- the report and the command ---------------------------------------------------------------------------

@pytest.fixture
def runs(tmp_path):
    rob = {"blur": {"1": 0.5, "2": 0.4, "3": 0.3}}
    a = write(tmp_path / "runs", make_results("fcn_resnet18", 0.6, 1, latency=20.0, robustness=rob))
    write(tmp_path / "runs", make_results("segformer_b0", 0.9, 2, latency=45.0, robustness=rob))
    (a.parent / "history.jsonl").write_text('{"epoch": 1, "train_loss": 1.2, "val_miou": 0.3}\n'
                                            '{"epoch": 2, "train_loss": 0.9, "val_miou": 0.4}\n')
    return tmp_path / "runs"


def test_write_report_files_and_offline_html(runs, tmp_path):
    path = report.write_report([runs], tmp_path / "out", n_boot=200)
    out = tmp_path / "out"
    assert path == out / "report.html"
    for name in ("leaderboard.csv", "leaderboard.md", "figures/pareto.html", "figures/per_class_iou.html",
                 "figures/confusion_fcn_resnet18.html", "figures/training.html", "figures/robustness.html",
                 "figures/plotly.min.js"):
        assert (out / name).is_file(), name
    page = path.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", page) and not re.search(r"<link[^>]*href=[\"']?https?:", page)
    assert page.count("Plotly.newPlot") >= 6 and page.count("plotly.js v") == 1  # library inlined once
    outside_scripts = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    assert "cdn.plot.ly" not in outside_scripts and "https://" not in outside_scripts
    verdict = recommend([report.load_results(p) for p in report.find_results([runs])], n_boot=200)
    assert f"<div class='headline'>{to_html(verdict.markdown)}</div>" in page  # the app's verdict, word for word
    assert "<p><b>Use SegFormer-B0:" in page and "What the numbers mean" in page
    assert "is better than" in page or "No clear difference" in page
    assert "Training curves" in page and "confuses" in page and "synthetic-streets" in page
    assert "2026-11-20" in page
    csv = (out / "leaderboard.csv").read_text().splitlines()
    assert csv[0].startswith("Model,mIoU (%)") and csv[1].startswith("SegFormer-B0,")


def test_write_report_one_bare_model_and_stale_figures(tmp_path):
    bare = {k: v for k, v in make_results("fcn_resnet18").items() if k not in ("params", "size_mb", "boundary_iou")}
    path = write(tmp_path, bare)
    (tmp_path / "out" / "figures").mkdir(parents=True)
    (tmp_path / "out" / "figures" / "confusion_old_model.html").write_text("stale")
    page = report.write_report(path, tmp_path / "out").read_text()
    assert "<p><b>Use FCN (ResNet-18): the only model, " in page and "ms per image" not in page
    assert "No latency measured" in page and "Is the difference real?" not in page
    assert not (tmp_path / "out" / "figures" / "confusion_old_model.html").exists()
    assert "| – |" in (tmp_path / "out" / "leaderboard.md").read_text()


def test_cli_report(runs, tmp_path, capsys):
    assert main(["report", "--results", str(runs), "--out", str(tmp_path / "o"), "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "| SegFormer-B0 |" in out and f"report: {tmp_path / 'o' / 'report.html'}" in out


def test_cli_report_errors(runs, tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == f"error: no such file or folder: {tmp_path / 'missing'}"
    bad = write(tmp_path, {**make_results("unet_resnet18"), "format": "segcompare-results/9"}, folder="bad")
    assert main(["report", "--results", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "unknown results format 'segcompare-results/9'" in capsys.readouterr().err
    other = write(tmp_path, make_results("unet_resnet18", dataset="synthetic-pets"), folder="other")
    assert main(["report", "--results", str(runs), str(other), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "cannot compare" in err and "different datasets" in err and len(err.strip().splitlines()) == 1


def test_published_figures_stand_beside_the_measured_ones(tmp_path):
    """`published:` of an experiment config reaches results.json as published_miou; the table shows it."""
    with_fig = make_results("fcn_resnet50", accuracy=0.9, seed=1, published_miou=0.6956)
    without = make_results("unet_resnet34", accuracy=0.7, seed=2)
    df = report.leaderboard([with_fig, without])
    assert list(df.columns[:3]) == ["Model", "mIoU (%)", "Published mIoU (%)"]
    assert df["Published mIoU (%)"].tolist()[0] == pytest.approx(69.56) and np.isnan(df["Published mIoU (%)"][1])
    assert "| 69.56 |" in report.leaderboard_markdown(df) and "| – |" in report.leaderboard_markdown(df)
    assert "Published mIoU (%)" not in report.leaderboard([without]).columns  # no figures, no empty column
    paths = [write(tmp_path, r) for r in (with_fig, without)]
    report.write_report(paths, tmp_path / "out")
    assert "Published mIoU (%)" in (tmp_path / "out" / "report.html").read_text()
