"""The UI-free comparison service and the app's views: sessions, pictures, argument checks, escaping."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

pytest_plugins = ["conftest_app"]

from segcompare import results_views, views  # noqa: E402
from segcompare.catalog import discover  # noqa: E402
from segcompare.errors import UserError  # noqa: E402
from segcompare.session import CompareService, check_choice, check_index, check_number  # noqa: E402


@pytest.fixture
def service(project, tmp_path):
    return CompareService(discover([str(project / "checkpoints")], project / "samples"), tmp_path / "pictures",
                          upload_dir=tmp_path / "uploads")


def sample(project, task="pets", name="cat_001"):
    return str(project / "samples" / task / f"{name}.png")


def test_models_come_in_leaderboard_order(service):
    for task in service.catalog.tasks:
        mious = [m.results.miou for m in task.models]
        assert mious == sorted(mious, reverse=True)


def test_a_session_keeps_its_comparison_while_other_sessions_compare(service, project):
    mine = service.compare("me", sample(project), "pets")
    for i in range(40):  # far more than one session keeps
        service.compare(f"other-{i}", sample(project, "pets", "dog_002"), "pets")
    c = service.comparison("me", mine)
    assert c.shown.sample.name == "cat_001" and set(c.preds) == {m.key for m in c.task.models}
    with pytest.raises(UserError, match="nothing compared yet"):
        service.comparison("nobody", None)
    with pytest.raises(UserError, match="expired"):
        service.comparison("nobody", mine)  # another session cannot read mine


def test_pictures_get_random_names_and_old_ones_and_uploads_are_pruned(service, tmp_path):
    pic = np.zeros((8, 8, 3), np.uint8)
    photo = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)  # > 256 colours: a JPEG
    (a, _), (b, _), (c, _) = service.pictures([(pic, "x"), (pic, "y"), (photo, "z")])
    assert a != b and os.path.dirname(a) == str(service.picture_dir)  # same pixels, different unguessable names
    assert a.endswith(".png") and c.endswith(".jpg")
    upload = tmp_path / "uploads" / "abc123" / "photo.png"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"old upload")
    hour_ago = time.time() - 7200
    for path in (a, c, upload):
        os.utime(path, (hour_ago, hour_ago))
    assert service.prune(force=True) == 3
    assert not os.path.exists(a) and not os.path.exists(c) and os.path.exists(b) and not upload.parent.exists()


def test_first_compare_says_what_it_waits_for_before_any_model_is_loaded(project, tmp_path):
    from segcompare.checkpoint import load_model

    release, messages = threading.Event(), []

    def slow_loader(path, device):
        release.wait(60)  # a model that is still loading
        return load_model(path, device=device)

    s = CompareService(discover([str(project / "checkpoints")], project / "samples"), tmp_path, loader=slow_loader)
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(s.compare, "me", sample(project), "pets", lambda f, text: messages.append(text))
        while not messages:  # the message comes before the first model has finished loading
            time.sleep(0.01)
        assert "Loading" in messages[0] and s.predictor.loaded == []
        assert "Models ready: 0 of 3" in s.loading_status("pets")
        release.set()
        job.result()
    assert s.loading_status("pets") == ""


def test_background_loading_loads_every_model(service):
    service.start_loading().join()
    assert sorted(service.predictor.loaded) == sorted(service.predictor.names)


@pytest.mark.parametrize("call,message", [
    (lambda: check_choice("Overlay", ["Mask"], "view"), "unknown view 'Overlay'; choose one of: Mask"),
    (lambda: check_choice([1, 2], ["Mask"], "model"), "unknown model \\[1, 2\\]"),
    (lambda: check_number("abc", "opacity", 0, 1), "opacity must be a number from 0 to 1, not 'abc'"),
    (lambda: check_number(None, "opacity", 0, 1), "not None"),
    (lambda: check_number(float("nan"), "opacity", 0, 1), "not nan"),
    (lambda: check_number(2, "opacity", 0, 1), "not 2"),
    (lambda: check_index(10**9, 3, "sample index"), "from 0 to 2"),
    (lambda: check_index("1", 3, "sample index"), "whole number"),
])
def test_bad_arguments_are_one_line_errors(call, message):
    with pytest.raises(UserError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["![t](http://127.0.0.1:7999/b.png)", "[click](http://x)", "a</script>b",
                                  "<img src=x onerror=alert(1)>"])
def test_checkpoint_text_is_shown_as_text(text):
    out = views.safe_markdown(f"**{text}** is a class")
    assert "](" not in out and "<" not in out
    assert views.safe_markdown("a</script>b") == "a&lt;/script&gt;b"  # kept, not swallowed


@pytest.mark.parametrize("models,aspect,columns", [(5, 1.0, 3), (5, 1.33, 3), (4, 1.0, 4), (4, 1.33, 2), (3, 1.33, 3),
                                                   (2, 1.5, 2), (1, 1.0, 1), (6, 1.0, 3), (7, 1.0, 4)])
def test_grid_fills_rows_evenly(models, aspect, columns):
    assert views.grid_columns(models, aspect) == columns


def test_views_of_a_comparison(service, project):
    st = service.compare("me", sample(project), "pets")
    c = service.comparison("me", st)
    pet = c.task.classes.index("pet")
    shown = views.model_pictures(c, "Mask", 1.0)
    hidden = views.model_pictures(c, "Mask", 1.0, {pet})
    pet_colour = tuple(c.task.palette[pet])
    assert all(pet_colour not in {tuple(p) for p in pic.reshape(-1, 3)} for pic, _ in hidden)
    assert any(pet_colour in {tuple(p) for p in pic.reshape(-1, 3)} for pic, _ in shown)
    assert [cap.split(" — ")[0] for _, cap in shown] == [m.label for m in c.task.models]
    left, right = views.slider_pair(c, views.PHOTO, c.task.models[0].label, "Overlay", 0.0)
    assert np.array_equal(left, c.shown.image) and np.array_equal(right, c.shown.image)  # opacity 0 = photo
    table = views.score_table(c)
    assert list(table["Model"]) == [m.label for m in c.task.models] and table["Image mIoU (%)"].notna().all()
    assert "test mIoU" in views.status_text(c)  # the per-image vs test-set difference is explained


def test_per_class_table_and_confusion_cell(service):
    task = service.catalog.task("pets")
    df = results_views.per_class_table(task)
    assert list(df["Class"]) == ["Background", "Pet", "Boundary"]
    assert df[task.models[0].label].tolist() == [round(100 * v, 1) for v in task.models[0].results.per_class_iou]
    cm = results_views.confusion_table(task, task.models[0].label)
    assert np.allclose(cm.drop(columns="True class").sum(1), 100, atol=0.5)
    items, text = results_views.cell_images(task, task.models[0].label, 1, 0)
    assert "Pet labelled as Background" in text and "img_" in text


def test_concurrent_sessions_keep_their_views(server, project):
    """20 sessions compare at once, then 20 more; every first session can still change its view."""
    from gradio_client import Client, handle_file

    picture = handle_file(sample(project))
    firsts = [Client(server[0], verbose=False) for _ in range(20)]
    others = [Client(server[0], verbose=False) for _ in range(20)]
    with ThreadPoolExecutor(20) as pool:
        done = list(pool.map(lambda c: c.predict(picture, "pets", api_name="/compare"), firsts))
        list(pool.map(lambda c: c.predict(handle_file(sample(project, "pets", "dog_002")), "pets",
                                          api_name="/compare"), others))
        views_after = list(pool.map(lambda c: c.predict("Mask", 0.5, api_name="/view"), firsts))
    assert all(len(g) == 3 for g, _ in done)
    for gallery, reference, _ in views_after:
        assert len(gallery) == 3 and reference[0]["caption"] == "Test sample cat_001"
        assert all(Image.open(item["image"]).size == (80, 60) for item in gallery)
