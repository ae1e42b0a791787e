"""The app through its HTTP API (Contract 6), with gradio_client against a live server on fixture checkpoints."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from helpers import png_bytes
from PIL import Image

pytest_plugins = ["conftest_app"]

from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402


def task_of(server, name):
    return server[1].segcompare.catalog.task(name)


def opened(item) -> Image.Image:
    im = Image.open(item["image"])
    im.load()
    return im


def test_tasks_lists_tasks_and_models(client):
    tasks = client.predict(api_name="/tasks")
    assert [t["name"] for t in tasks] == ["pets", "streets"]
    pets = tasks[0]
    assert pets["classes"] == ["background", "pet", "boundary"]
    assert sorted(m["model"] for m in pets["models"]) == ["pspnet_resnet18", "segformer_b0", "unet_resnet18"]
    assert {m["name"] for m in pets["models"]} == {"PSPNet (ResNet-18)", "SegFormer-B0", "UNet (ResNet-18)"}
    assert pets["samples"] == ["cat_001", "dog_002"]
    assert len(tasks[1]["palette"]) == 5  # no palette in the config: defaults fill it


@pytest.mark.parametrize("task,sample", [("pets", "cat_001"), ("streets", "street_001")])
def test_compare_a_test_sample(client, server, project, task, sample):
    t = task_of(server, task)
    path = project / "samples" / task / f"{sample}.png"
    size = Image.open(path).size
    gallery, table = client.predict(handle_file(str(path)), task, api_name="/compare")

    assert len(gallery) == len(t.models)
    for item, m in zip(gallery, t.models):
        im = opened(item)
        assert im.format in ("PNG", "JPEG") and im.size == size and im.mode in ("RGB", "P")  # masks: palette PNGs
        assert item["caption"].startswith(f"{m.label} — ") and " ms — mIoU " in item["caption"]
    assert table["headers"] == ["Model", "Inference (ms)", "Image mIoU (%)", "Test mIoU (%)"]
    assert [row[0] for row in table["data"]] == [m.label for m in t.models]
    for row, item in zip(table["data"], gallery):
        assert row[1] > 0 and 0 <= row[2] <= 100
        assert f"mIoU {row[2]:.1f}%" in item["caption"]

    reference, legend, status = client.predict(api_name="/compare_details")
    assert [r["caption"] for r in reference] == [f"Test sample {sample}", "Ground truth (the right answer)",
                                                 "Where the models disagree"]
    assert all(opened(r).size == size and opened(r).format in ("PNG", "JPEG") for r in reference)
    assert legend.count('class="sc-swatch"') >= len(t.classes)
    assert all(c.replace("_", " ").capitalize() in legend for c in t.classes)
    assert sample in status


def test_mask_view_uses_the_task_palette_and_keeps_the_model_outputs(client, project):
    path = project / "samples" / "pets" / "dog_002.png"
    first, _ = client.predict(handle_file(str(path)), "pets", api_name="/compare")
    gallery, reference, legend = client.predict("Mask", 0.5, api_name="/view")
    palette = {tuple(c) for c in [[0, 0, 0], [230, 150, 40], [250, 250, 250]]}
    for item in gallery:
        colours = {tuple(c) for c in np.asarray(opened(item).convert("RGB")).reshape(-1, 3)}
        assert colours <= palette
    # same cached predictions: the inference times in the captions do not change
    assert [g["caption"] for g in gallery] == [g["caption"] for g in first]
    overlay, _, _ = client.predict("Overlay", 0.0, api_name="/opacity")
    plain = np.asarray(Image.open(path).convert("RGB"))
    # opacity 0 = the photo (as a JPEG: ~5 levels off on average on this photo of pure noise; colour is ~100)
    assert all(np.abs(np.asarray(opened(item).convert("RGB")).astype(int) - plain).mean() < 8 for item in overlay)


def test_gallery_pictures_are_png_files_of_this_server_and_stale_ones_are_pruned(client, server, project):
    app = server[1].segcompare
    client.predict(handle_file(str(project / "samples" / "pets" / "cat_001.png")), "pets", api_name="/compare")
    shown = set(app.picture_dir.glob("*.*"))
    assert len(shown) >= len(task_of(server, "pets").models)
    stale = app.picture_dir / f"{'0' * 32}.png"
    stale.write_bytes(b"shown two hours ago")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    app._pruned -= 3600  # as if the last sweep was long ago
    client.predict("Mask", 0.5, api_name="/view")
    assert not stale.exists() and shown <= set(app.picture_dir.glob("*.*"))


def test_confidence_and_correctness_views(client, project):
    client.predict(handle_file(str(project / "samples" / "pets" / "cat_001.png")), "pets", api_name="/compare")
    _, _, legend = client.predict("Correctness", 1.0, api_name="/view")
    assert "Wrong" in legend and "Right" in legend
    _, _, legend = client.predict("Confidence", 1.0, api_name="/view")
    assert "sure" in legend


def test_any_user_image_is_downscaled_for_display(client, server, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "wide.png"
    Image.fromarray(rng.integers(0, 255, (700, 1500, 4), dtype=np.uint8), "RGBA").save(path)
    gallery, table = client.predict(handle_file(str(path)), api_name="/compare")  # task defaults to the first
    assert len(gallery) == len(task_of(server, "pets").models)
    assert {opened(g).size for g in gallery} == {(1024, 478)}
    assert all(row[2] is None for row in table["data"])  # no ground truth, no score
    assert all("mIoU" not in g["caption"] for g in gallery)
    reference, _, status = client.predict(api_name="/compare_details")
    assert [r["caption"] for r in reference] == ["Your image", "Where the models disagree"]
    assert "no right answer" in status


@pytest.mark.parametrize("bad,message", [
    ("corrupt", "not an image"),
    ("bomb", "too large"),
    ("truncated", "corrupt or truncated"),
])
def test_bad_uploads_get_a_friendly_message_and_the_app_keeps_serving(client, project, tmp_path, bad, message):
    path = tmp_path / f"{bad}.png"
    if bad == "corrupt":
        path.write_bytes(b"this is not a picture\n" * 10)
    elif bad == "bomb":
        path.write_bytes(png_bytes(60_000, 60_000))
    else:
        Image.new("RGB", (64, 64), "red").save(path)
        path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(AppError, match=message) as err:
        client.predict(handle_file(str(path)), "pets", api_name="/compare")
    assert "Traceback" not in str(err.value)
    gallery, _ = client.predict(handle_file(str(project / "samples" / "pets" / "cat_001.png")), "pets",
                                api_name="/compare")
    assert len(gallery) == 3


def test_unknown_task_names_the_valid_ones(client, project):
    with pytest.raises(AppError, match="unknown task 'cars'.*pets, streets"):
        client.predict(handle_file(str(project / "samples" / "pets" / "cat_001.png")), "cars", api_name="/compare")


def test_view_before_any_compare_changes_nothing(server):
    from gradio_client import Client

    fresh = Client(server[0], verbose=False)  # a new session: no comparison yet
    fresh.predict("Mask", 0.5, api_name="/view")  # nothing to re-render: no error either
    fresh.predict(api_name="/compare_details")


@pytest.mark.parametrize("task", ["pets", "streets"])
def test_results_endpoints(client, server, task):
    t = task_of(server, task)
    labels = [m.label for m in t.models]
    board, verdicts, per_class, pareto = client.predict(task, api_name="/leaderboard")
    assert board["headers"][:4] == ["Model", "mIoU (%)", "Pixel acc. (%)", "Boundary IoU (%)"]
    assert sorted(row[0] for row in board["data"]) == sorted(labels)
    assert {"Latency p50 (ms)", "Params (M)", "Size (MB)"} <= set(board["headers"])
    assert "Which differences are real?" in verdicts
    assert per_class["type"] == pareto["type"] == "plotly"

    cm_a, words_a, cm_b, words_b = client.predict(task, labels[0], labels[1], api_name="/confusion")
    assert cm_a["type"] == cm_b["type"] == "plotly" and labels[0] in cm_a["plot"]
    assert labels[0] in words_a and labels[1] in words_b
    _, _, cm_none, words_none = client.predict(task, labels[0], "(none)", api_name="/confusion")
    assert cm_none is None and words_none == ""

    assert all(lab in client.predict(task, api_name="/training")["plot"] for lab in labels)
    assert "severity" in client.predict(task, "average of all corruptions", api_name="/robustness")["plot"]
    roc, pr = client.predict(task, t.classes[1], api_name="/roc")
    assert "AUC" in roc["plot"] and "AP" in pr["plot"]


def test_results_of_an_unknown_task_name_the_valid_ones(client):
    with pytest.raises(AppError, match="unknown task 'cars'.*pets, streets"):
        client.predict("cars", api_name="/leaderboard")


def test_roc_rejects_an_unknown_class(client):
    with pytest.raises(AppError, match="unknown class 'zebra'"):
        client.predict("pets", "zebra", api_name="/roc")


def test_build_demo_reads_no_weights(project):
    import app

    demo = app.build_demo([str(project / "checkpoints")], samples_root=project / "samples")
    state = demo.segcompare
    assert [t.name for t in state.catalog.tasks] == ["pets", "streets"]
    assert state.predictor.loaded == []
    assert len(state.predictor.names) == 5


def test_no_checkpoints_page_says_how_to_get_them(tmp_path):
    import app

    demo = app.build_demo([str(tmp_path / "empty")], samples_root=None)
    config = str(demo.config)
    assert "No models found" in config and "segcompare" in config and "--checkpoints" in config
    assert "empty" in config  # the source that was searched
    from segcompare.errors import UserError

    with pytest.raises(UserError, match="no checkpoints found"):
        demo.segcompare.catalog.task(None)


def test_sources_from_env_and_arguments(project, monkeypatch):
    from segcompare.catalog import discover, parse_sources

    pets = project / "checkpoints" / "pets"
    monkeypatch.setenv("SEGCOMPARE_CHECKPOINTS", f"{pets / 'unet_resnet18'}, {pets / 'segformer_b0'}")
    assert parse_sources(None) == [str(pets / "unet_resnet18"), str(pets / "segformer_b0")]
    assert parse_sources("a b,c") == ["a", "b", "c"]
    assert parse_sources(["a,b", "c"]) == ["a", "b", "c"]
    # single checkpoint folders: grouped by their dataset spec
    cat = discover(None)
    assert [t.name for t in cat.tasks] == ["synthetic-pets"] and len(cat.tasks[0].models) == 2
    # a folder of checkpoint folders: still grouped by dataset
    assert [(t.name, len(t.models)) for t in discover(str(pets)).tasks] == [("synthetic-pets", 3)]
    # a folder of task folders, a checkpoint seen twice (kept once), a missing source (reported, not fatal)
    cat = discover([str(project / "checkpoints"), str(pets / "unet_resnet18"), "does/not/exist/here"])
    assert [(t.name, len(t.models)) for t in cat.tasks] == [("pets", 3), ("streets", 2)]
    assert any("does/not/exist/here" in p for p in cat.problems)


def test_switching_task_updates_the_gallery_and_the_choices(server):
    from gradio_client import Client

    c = Client(server[0], verbose=False)
    out = c.predict("streets", api_name="/switch_task")
    samples, model_a, model_b, corruption, roc_class = out[0], out[-4], out[-3], out[-2], out[-1]
    assert [s["caption"] for s in samples] == ["street_001"]
    labels = [m.label for m in task_of(server, "streets").models]
    assert model_a["value"] == labels[0] and model_b["value"] == labels[1]
    assert [c[0] for c in model_b["choices"]] == ["(none)", *labels]
    assert [c[0] for c in roc_class["choices"]] == ["mean over classes", *task_of(server, "streets").classes]
    assert corruption["value"] == "average of all corruptions"


@pytest.mark.parametrize("endpoint,args,message", [
    ("/view", ("Overlay", "abc"), "opacity must be a number"),
    ("/view", ("Overlay", None), "opacity must be a number"),
    ("/view", ("Overlay", "nan"), "opacity must be a number"),  # JSON has no NaN: the text form
    ("/view", ("Sideways", 0.5), "unknown view 'Sideways'"),
    ("/classes", ("Overlay", 0.5, ["nope"]), "unknown class 'nope'"),
    ("/pick_sample", ("pets", 10**9), "unknown sample '1000000000'"),
    ("/confusion", ("pets", ["a", "b"], "(none)"), "every argument of this endpoint is a name"),
    ("/recommendation", ("pets", "abc", False), "latency budget must be a number"),
    ("/confusion_cell", ("pets", None, 10**9, 0), "true class must be a whole number from 0 to 2"),
])
def test_every_endpoint_checks_its_arguments(client, project, endpoint, args, message):
    client.predict(handle_file(str(project / "samples" / "pets" / "cat_001.png")), "pets", api_name="/compare")
    with pytest.raises(AppError, match=message) as err:
        client.predict(*args, api_name=endpoint)
    assert "\n" not in str(err.value) and "Something went wrong" not in str(err.value)


def test_pick_sample_compares_it_and_the_verdict_names_a_model(client, server):
    gallery, table = client.predict("pets", "dog_002", api_name="/pick_sample")
    assert len(gallery) == len(task_of(server, "pets").models) and all(row[2] is not None for row in table["data"])
    verdict = client.predict("pets", 1000, False, api_name="/recommendation")
    assert task_of(server, "pets").models[0].label in verdict  # the best test mIoU is the pick without limits


def test_the_public_endpoints_are_those_docs_api_lists(client):
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "API.md").read_text()
    rows = [line.split("|")[1] for line in docs.splitlines() if re.match(r"\| `/", line)]
    listed = {name for row in rows for name in re.findall(r"`(/\w+)`", row)}
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == listed


@pytest.mark.parametrize("endpoint", ["/slider", "/slider_details"])
def test_slider_endpoints_return_the_two_chosen_pictures(client, server, project, endpoint):
    path = project / "samples" / "pets" / "cat_001.png"
    client.predict(handle_file(str(path)), "pets", api_name="/compare")
    label = task_of(server, "pets").models[0].label
    photo, model = client.predict("Overlay", 0.5, [], "Photo", label, api_name=endpoint)  # view, opacity, hidden
    original = np.asarray(Image.open(path).convert("RGB"))
    assert np.abs(np.asarray(Image.open(photo).convert("RGB")).astype(int) - original).mean() < 8  # JPEG at most
    assert Image.open(model).size == Image.open(path).size
    with pytest.raises(AppError, match="unknown slider picture 'Sideways'"):
        client.predict("Overlay", 0.5, [], "Sideways", label, api_name=endpoint)
