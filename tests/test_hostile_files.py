"""Hostile and damaged files (issue 17, items 1, 3, 4, 5, 6, 9, 12): every file segcompare reads goes
through `segcompare.formats`, so each probe below is refused with one line (a `FormatError`, exit 2 in the
CLI), and the app's discovery lists a bad checkpoint with its reason instead of failing to start.

Each family is parametrized over its probes; checkpoints here are config files plus tiny safetensors
written with numpy, so most tests need no model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import png_bytes, write_checkpoint
from PIL import Image

from segcompare.catalog import discover
from segcompare.checkpoint import read_config
from segcompare.cli import main
from segcompare.errors import FormatError, UserError
from segcompare.formats import check_model_name, check_recipe, loads_yaml

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["background", "pet", "boundary"]
RESULTS_FORMAT = "segcompare-results/1"
DEEP = "[" * 100_000 + "]" * 100_000  # RecursionError in json.loads before the formats layer


def good_config(name="fcn_mobilenet_v3_small") -> dict:
    return {"format": "segcompare/1", "name": name, "library": "torchvision", "num_classes": 3,
            "classes": list(CLASSES), "palette": [[0, 0, 0], [255, 0, 0], [0, 255, 0]], "ignore_index": 255,
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "input_size": [64, 64],
            "dataset": "synthetic-pets", "params": 1000, "train": {"epochs": 1}}


def good_results(model="fcn_mobilenet_v3_small") -> dict:
    return {"format": RESULTS_FORMAT, "model": model, "dataset": "synthetic-pets", "split": "test",
            "classes": list(CLASSES), "confusion_matrix": [[5, 1, 0], [1, 5, 0], [0, 0, 3]], "miou": 0.6,
            "per_image": {"names": ["a", "b"]}, "robustness": {"blur": {"1": 0.5, "2": None}}}


def with_field(**change):
    config = good_config()
    config.update(change)
    return json.dumps(config)


# --- item 1 and 12: malformed checkpoint configs ----------------------------------------------------------
BAD_CONFIGS = {
    "classes_nested_lists": with_field(classes=[["a"], ["b"], ["c"]]),
    "ignore_index_null": with_field(ignore_index=None),
    "ignore_index_string": with_field(ignore_index="abc"),
    "palette_string": with_field(palette="abc"),
    "palette_pairs": with_field(palette=[[1, 2]]),
    "palette_huge_value": with_field(palette=[[1e30, 0, 0]]),
    "std_zeros": with_field(std=[0, 0, 0]),
    "mean_not_numbers": with_field(mean=["a", 0, 0]),
    "num_classes_string": with_field(num_classes="3"),
    "name_hf_hub": with_field(name="pspnet_tu-hf-hub:evil/model"),
    "name_local_dir": with_field(name="unet_tu-local-dir:/etc"),
    "name_list": with_field(name=["unet_resnet34"]),
    "dataset_mapping": with_field(dataset={"a": 1}),
    "deeply_nested": with_field(train=json.loads("[" * 40 + "]" * 40)),
    "recursion_bomb": with_field(train=0).replace('"train": 0', f'"train": {DEEP}'),
    "not_json": "{not json",
    "a_list": "[1, 2, 3]",
    "huge_file": with_field(classes=list(CLASSES)) + " " * (3 * 1024 * 1024),
}


@pytest.mark.parametrize("probe", list(BAD_CONFIGS))
def test_bad_checkpoint_config_is_one_line_format_error(tmp_path, probe):
    folder = write_checkpoint(tmp_path / "bad", config=BAD_CONFIGS[probe])
    with pytest.raises(FormatError) as e:
        read_config(folder)
    assert "\n" not in str(e.value) and str(folder / "config.json") in str(e.value)


def test_good_config_passes(tmp_path):
    assert read_config(write_checkpoint(tmp_path / "good", config=good_config()))["classes"] == CLASSES


BAD_RESULTS = {
    "model_number": {**good_results(), "model": 123},
    "robustness_number": {**good_results(), "robustness": 5},
    "classes_nested": {**good_results(), "classes": [["a"], ["b"], ["c"]]},
    "confusion_wrong_shape": {**good_results(), "confusion_matrix": [[1, 2]]},
    "miou_string": {**good_results(), "miou": "high"},
    "deeply_nested": json.dumps({**good_results(), "per_image": 0}).replace('"per_image": 0',
                                                                            f'"per_image": {DEEP}'),
}
BAD_HISTORY = {
    "deeply_nested": DEEP + "\n" + json.dumps({"epoch": 2}) + "\n",
    "line_not_an_object": "[1, 2]\n" + json.dumps({"epoch": 2}) + "\n",
    "epoch_string": json.dumps({"epoch": "one"}) + "\n" + json.dumps({"epoch": 2}) + "\n",
    "loss_mapping": json.dumps({"epoch": 1, "train_loss": {"a": 1}}) + "\n" + json.dumps({"epoch": 2}) + "\n",
}
PROBES = ([("config", k) for k in BAD_CONFIGS] + [("results", k) for k in BAD_RESULTS]
          + [("history", k) for k in BAD_HISTORY])


def bad_checkpoint(folder: Path, kind: str, probe: str) -> Path:
    if kind == "config":
        return write_checkpoint(folder, config=BAD_CONFIGS[probe])
    if kind == "results":
        return write_checkpoint(folder, config=good_config(), results=BAD_RESULTS[probe])
    return write_checkpoint(folder, config=good_config(), results=good_results(), history=BAD_HISTORY[probe])


@pytest.mark.parametrize("kind, probe", PROBES)
def test_discovery_lists_a_bad_checkpoint_with_its_reason(tmp_path, kind, probe):
    """What the app runs at start-up: the good checkpoint is shown, the bad one listed with its reason."""
    write_checkpoint(tmp_path / "pets" / "good", config=good_config(), results=good_results(),
                     history=json.dumps({"epoch": 1, "train_loss": 0.5}) + "\n")
    bad = bad_checkpoint(tmp_path / "pets" / "bad", kind, probe)
    catalog = discover([str(tmp_path)])
    assert [m.path.name for t in catalog.tasks for m in t.models] == ["good"]
    assert len(catalog.problems) == 1 and str(bad) in catalog.problems[0]
    assert "\n" not in catalog.problems[0]


# --- item 1: the same from a Hub repo (the local Hub stand-in) --------------------------------------------
@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    from hub_server import FakeHub
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.mark.parametrize("kind, probe", [("config", "classes_nested_lists"), ("config", "name_hf_hub"),
                                         ("config", "recursion_bomb"), ("results", "model_number"),
                                         ("history", "deeply_nested")])
def test_discovery_lists_a_bad_hub_checkpoint(tmp_path, fake_hub, kind, probe):
    from hub_server import Repo

    folder = bad_checkpoint(tmp_path / "upload", kind, probe)
    (folder / "model.safetensors").write_bytes(safetensors_bytes({"w": np.zeros(1, np.float32)}))
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    fake_hub.repos[("model", "evil/ckpt")] = Repo("model", branches={"main": ("b" * 40, files)})
    write_checkpoint(tmp_path / "local" / "good", config=good_config(), results=good_results())
    catalog = discover([str(tmp_path / "local"), "evil/ckpt"])
    assert [m.path.name for t in catalog.tasks for m in t.models] == ["good"]
    assert len(catalog.problems) == 1 and "\n" not in catalog.problems[0], catalog.problems


# --- item 6: results given to `report`, classes.json -----------------------------------------------------
@pytest.mark.parametrize("probe", list(BAD_RESULTS))
def test_report_on_malformed_results_exits_2_with_one_line(tmp_path, capsys, probe):
    path = tmp_path / "r" / "results.json"
    path.parent.mkdir()
    data = BAD_RESULTS[probe]
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    assert main(["report", "--results", str(path), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize("classes_json", [DEEP, '{"classes": ' + DEEP + "}", "[1]", '{"classes": [["a"]]}',
                                          '{"classes": ["a", "b"], "ignore_index": "x"}'])
def test_classes_json_is_one_line_error(tmp_path, classes_json):
    from segcompare.data.folder import read_classes_json

    (tmp_path / "classes.json").write_text(classes_json)
    with pytest.raises(FormatError):
        read_classes_json(tmp_path / "classes.json")


# --- item 3: model names from files ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["pspnet_tu-hf-hub:evil/model", "unet_tu-local-dir:/etc", "unet_tu-timm/x",
                                  "../unet", "", 7, None, "a" * 300])
def test_model_names_with_remote_or_local_sources_are_refused(name):
    with pytest.raises(FormatError):
        check_model_name(name, "config.json")


@pytest.mark.parametrize("name", ["fcn_mobilenet_v3_small", "unet_tu-mobilenetv3_small_100", "segformer_b0"])
def test_zoo_names_pass(name):
    assert check_model_name(name, "config.json", registry=True) == name


def safetensors_bytes(tensors: dict) -> bytes:
    from safetensors.numpy import save

    return save(tensors)


def test_a_refused_checkpoint_is_remembered_not_rebuilt(tmp_path, monkeypatch):
    """Weights that do not fit the named model: refused once (built weightless only), then at once."""
    import segcompare.models as models
    from segcompare.checkpoint import load_model

    folder = write_checkpoint(tmp_path / "ckpt", config=good_config())
    (folder / "model.safetensors").write_bytes(safetensors_bytes({"w": np.zeros(4, np.float32)}))
    builds, real = [], models.build_model
    monkeypatch.setattr(models, "build_model", lambda *a, **k: builds.append(a) or real(*a, **k))
    with pytest.raises(UserError, match="does not match"):
        load_model(folder)
    assert len(builds) == 1  # the weightless (meta) build only: the full model was never allocated
    with pytest.raises(UserError, match="refused before"):
        load_model(folder)
    assert len(builds) == 1
    (folder / "config.json").write_text(json.dumps({**good_config(), "params": 2}))  # changed: tried again
    with pytest.raises(UserError, match="does not match"):
        load_model(folder)


# --- item 4: one run per --out ---------------------------------------------------------------------------------
@pytest.fixture
def held_out(tmp_path):
    """An --out folder whose lock another process holds (until the test ends)."""
    out = tmp_path / "run"
    code = ("import sys; from segcompare.locks import lock_folder; lock = lock_folder(sys.argv[1], 'train'); "
            "print('held', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "held"  # waits for the event, not a fixed time
    yield out
    proc.stdin.close()
    proc.wait()


@pytest.mark.parametrize("extra", [[], ["--resume"], ["--overwrite"]])
def test_a_second_run_on_a_held_out_folder_is_one_line_exit_2(held_out, capsys, extra):
    args = ["train", "--model", "fcn_mobilenet_v3_small", "--dataset", "synthetic-pets", "--out", str(held_out),
            "--max-steps", "2", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "in use by segcompare train (pid" in err and "\n" not in err
    assert not (held_out / "config.json").exists()


def test_the_lock_is_free_again_after_the_holder_ends(tmp_path):
    from segcompare.locks import lock_folder

    with lock_folder(tmp_path / "out", "report"):
        pass
    code = "import sys; from segcompare.locks import lock_folder; lock_folder(sys.argv[1], 'train'); print('ok')"
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


# --- item 12: --resume with a changed recipe ------------------------------------------------------------------
SAVED = {"model": "fcn_mobilenet_v3_small", "dataset": "synthetic-pets", "out": "", "lr": 0.001,
         "weight_decay": 0.01, "optimizer": "adamw", "scheduler": "cosine", "loss": "ce", "strategy": "finetune",
         "pretrained": "imagenet", "size": [32, 32], "batch_size": 2, "epochs": 1}


def saved_run(out: Path) -> Path:
    last = out / "last"
    last.mkdir(parents=True)
    (out / "train_config.json").write_text(json.dumps({**SAVED, "out": str(out)}))
    (last / "state.json").write_text("{}")
    (last / "optimizer.safetensors").write_bytes(safetensors_bytes({"x": np.zeros(1, np.float32)}))
    return out


@pytest.mark.parametrize("flags", [["--lr", "0.5"], ["--loss", "dice"], ["--size", "64", "64"],
                                   ["--scheduler", "poly"], ["--optimizer", "sgd"], ["--strategy", "frozen"]])
def test_resume_with_a_changed_recipe_is_refused(tmp_path, capsys, flags):
    out = saved_run(tmp_path / "run")
    assert main(["train", "--out", str(out), "--resume", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert "changed recipe" in err and "--allow-changed-recipe" in err and "\n" not in err


def test_changed_recipe_allowed_when_asked():
    check_recipe(SAVED, {**SAVED, "lr": 0.5}, allow=True, source="train_config.json")
    check_recipe(SAVED, {**SAVED, "epochs": 9, "size": (32, 32)}, allow=False, source="train_config.json")
    with pytest.raises(FormatError, match="lr 0.001 -> 0.5"):
        check_recipe(SAVED, {**SAVED, "lr": 0.5}, allow=False, source="train_config.json")


# --- item 6: garbage training state on --resume ------------------------------------------------------------
GOOD_STATE = {"epoch": 1, "step": 2, "best_miou": 0.5, "best_epoch": 1, "bad_validations": 0,
              "history": [{"epoch": 1, "train_loss": 0.3}], "scheduler": {}, "config": {},
              "rng": {"numpy": ["MT19937", [0] * 624, 0, 0, 0.0], "python": [3, [0] * 625, None]}}
BAD_STATES = {"a_list": [1, 2], "epoch_string": {**GOOD_STATE, "epoch": "1"},
              "epoch_negative": {**GOOD_STATE, "epoch": -1}, "no_history": {k: v for k, v in GOOD_STATE.items()
                                                                            if k != "history"},
              "history_rows_not_objects": {**GOOD_STATE, "history": [1]}, "deep": DEEP}


def write_last(last: Path, state, optimizer: bytes | None = None) -> Path:
    last.mkdir(parents=True)
    (last / "state.json").write_text(state if isinstance(state, str) else json.dumps(state))
    (last / "optimizer.json").write_text(json.dumps({"__dict__": [["state", {"__dict__": []}]]}))
    opt = safetensors_bytes({"s.x": np.zeros(8, np.float32)})
    (last / "optimizer.safetensors").write_bytes(opt if optimizer is None else optimizer)
    (last / "rng.safetensors").write_bytes(safetensors_bytes({"torch": np.zeros(8, np.uint8)}))
    return last


@pytest.mark.parametrize("probe", [*BAD_STATES, "truncated_optimizer"])
def test_garbage_training_state_is_one_line(tmp_path, probe):
    from segcompare.train_state import read_last

    if probe == "truncated_optimizer":
        last = write_last(tmp_path / "last", GOOD_STATE, safetensors_bytes({"s.x": np.zeros(64, np.float32)})[:-40])
    else:
        last = write_last(tmp_path / "last", BAD_STATES[probe])
    with pytest.raises(UserError) as e:
        read_last(last)
    assert "\n" not in str(e.value) and "fresh --out" in str(e.value)


def test_good_training_state_reads(tmp_path):
    from segcompare.train_state import read_last

    state, opt, rng = read_last(write_last(tmp_path / "last", GOOD_STATE))
    assert state["epoch"] == 1 and "torch" in rng


@pytest.mark.parametrize("content", ["[1, 2]", DEEP, "{not json"])
def test_garbage_train_config_on_resume_is_exit_2(tmp_path, capsys, content):
    out = saved_run(tmp_path / "run")
    (out / "train_config.json").write_text(content)
    assert main(["train", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


# --- items 6 and 9: experiment YAML ---------------------------------------------------------------------------
def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


MODELS = "models: [fcn_mobilenet_v3_small]\n"
BAD_YAML = {
    "alias_expansion": billion_laughs().encode(),
    "deep_nesting": ("dataset: x\ntrain: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
    "not_utf8": b"name: caf\xe9\ndataset: synthetic-pets\n" + MODELS.encode(),
    "dataset_options_list": ("dataset: synthetic-pets\ndataset_options: [1, 2]\n" + MODELS).encode(),
    "report_mapping": ("dataset: synthetic-pets\nreport: {a: 1}\n" + MODELS).encode(),
    "output_list": ("dataset: synthetic-pets\noutput: [1]\n" + MODELS).encode(),
    "augment_string": ('dataset: synthetic-pets\ntrain: {augment: "no"}\n' + MODELS).encode(),
    "lr_infinite": ("dataset: synthetic-pets\ntrain: {lr: .inf}\n" + MODELS).encode(),
    "lr_nan": ("dataset: synthetic-pets\ntrain: {lr: .nan}\n" + MODELS).encode(),
    "size_huge": ("dataset: synthetic-pets\ntrain: {size: [100000, 100000]}\n" + MODELS).encode(),
    "epochs_string": ("dataset: synthetic-pets\ntrain: {epochs: many}\n" + MODELS).encode(),
}


@pytest.mark.parametrize("probe", list(BAD_YAML))
def test_bad_experiment_yaml_is_refused_before_training(tmp_path, capsys, monkeypatch, probe):
    import segcompare.compare as compare

    path = tmp_path / "exp.yaml"
    path.write_bytes(BAD_YAML[probe])
    monkeypatch.setattr(compare, "train_run", lambda *a, **k: pytest.fail("training started"))
    assert main(["compare", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert not (tmp_path / "[1]").exists()


def test_yaml_aliases_within_limits_still_work():
    data = loads_yaml("base: &b {size: [32, 32], epochs: 2}\ntrain: *b\n", "exp.yaml")
    assert data["train"] == {"size": [32, 32], "epochs": 2}


# --- item 5: full disk in `report` ----------------------------------------------------------------------------
def test_truncated_plotly_js_is_replaced(tmp_path):
    from plotly.offline import get_plotlyjs

    from segcompare.report_assets import ensure_plotly_js

    (tmp_path / "plotly.min.js").write_text(get_plotlyjs()[:1000])  # what a full disk left behind
    path = ensure_plotly_js(tmp_path)
    assert path.read_text() == get_plotlyjs()


def test_full_disk_in_report_is_one_line_and_keeps_no_truncated_asset(tmp_path, capsys, monkeypatch):
    import errno

    from test_report import make_results

    res = tmp_path / "m" / "results.json"
    res.parent.mkdir()
    res.write_text(json.dumps(make_results("fcn_mobilenet_v3_small")))
    real = os.fsync

    def full(fd):  # the disk fills up while plotly.min.js is being written (its data never lands)
        if ".plotly.min.js." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(os, "fsync", full)
    assert main(["report", "--results", str(res), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err.strip()
    assert "No space left on device" in err and "\n" not in err
    assert not (tmp_path / "rep" / "figures" / "plotly.min.js").exists()
    assert not [p for p in (tmp_path / "rep" / "figures").iterdir() if p.name.startswith(".")]  # no temp left
    monkeypatch.setattr(os, "fsync", real)
    assert main(["report", "--results", str(res), "--out", str(tmp_path / "rep")]) == 0
    from plotly.offline import get_plotlyjs

    assert (tmp_path / "rep" / "figures" / "plotly.min.js").read_text() == get_plotlyjs()


# --- items 6 and 12: dataset images and masks -------------------------------------------------------------------
def folder_dataset(root: Path, image: bytes | None = None, mask: Image.Image | None = None, mask_format="PNG"):
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "masks").mkdir(parents=True)
    (root / "classes.json").write_text(json.dumps({"classes": CLASSES}))
    if image is None:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "train" / "images" / "a.png")
    else:
        (root / "train" / "images" / "a.png").write_bytes(image)
    (mask or Image.fromarray(np.zeros((8, 8), np.uint8))).save(root / "train" / "masks" / "a.png", format=mask_format)
    return root


@pytest.mark.parametrize("side", [10_000, 30_000])
def test_dataset_image_declaring_huge_dimensions_is_refused(tmp_path, side):
    from segcompare.data import get_dataset

    root = folder_dataset(tmp_path / "data", image=png_bytes(side, side))
    ds = get_dataset(f"folder:{root}", "train")
    with pytest.raises(UserError, match="a.png"):
        ds.load(0)


@pytest.mark.parametrize("values", [np.full((8, 8), 1.7, np.float32), np.full((8, 8), 1.0, np.float32)])
def test_float_tiff_mask_named_png_is_refused(tmp_path, values):
    from segcompare.data import get_dataset

    root = folder_dataset(tmp_path / "data", mask=Image.fromarray(values, mode="F"), mask_format="TIFF")
    ds = get_dataset(f"folder:{root}", "train")
    with pytest.raises(FormatError, match="float32"):
        ds.load(0)
