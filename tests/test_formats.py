"""The typed formats: CheckpointConfig, Results and History read, validate and write; the committed
checkpoints and results still load and round-trip unchanged, byte for byte where training writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import make_results, write_checkpoint

from segcompare.errors import FormatError, UserError
from segcompare.formats import (
    CheckpointConfig,
    EpochRecord,
    History,
    Results,
    best_first,
    read_checkpoint_config,
    read_results_file,
    read_state_json,
    read_train_config,
    write_state_json,
    write_train_config,
)

REPO = Path(__file__).resolve().parents[1]
COMMITTED = sorted(p.parent for p in (REPO / "checkpoints").rglob("config.json"))
CLASSES = ["bg", "cat", "dog"]


def test_there_are_committed_checkpoints():
    assert len(COMMITTED) >= 2


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_checkpoint_files_load_and_round_trip(folder):
    raw = json.loads((folder / "config.json").read_text())
    config = CheckpointConfig.read(folder)
    assert config.to_dict() == raw
    assert config.num_classes == len(config.classes)
    if (folder / "results.json").is_file():
        results = Results.read(folder)
        assert results.to_dict() == json.loads((folder / "results.json").read_text())
        assert results.classes == config.classes
    history = History.read(folder)
    assert all(isinstance(row, dict) for row in history)


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_training_files_are_what_the_writers_write(folder, tmp_path):
    """config.json, history.jsonl and train_config.json of the committed runs are byte for byte what the
    typed writers produce from them, and every history row has the keys of `EpochRecord`, in order."""
    config = CheckpointConfig.read(folder)
    config.write(tmp_path)
    assert (tmp_path / "config.json").read_bytes() == (folder / "config.json").read_bytes()
    history = History.read(folder)
    assert len(history) >= 1
    History(history.rows).write(tmp_path)
    assert (tmp_path / "history.jsonl").read_bytes() == (folder / "history.jsonl").read_bytes()
    keys = list(EpochRecord.__dataclass_fields__)
    assert all(list(row) == keys for row in history)
    assert EpochRecord(**history.rows[-1]).to_dict() == history.rows[-1]
    write_train_config(tmp_path, read_train_config(folder))
    assert (tmp_path / "train_config.json").read_bytes() == (folder / "train_config.json").read_bytes()


def test_checkpoint_config_keeps_the_key_order_of_the_file(tmp_path):
    keys = ["format", "num_classes", "provenance", "name", "classes"]  # not the order of the dataclass
    data = {"format": "segcompare/1", "num_classes": 3, "provenance": {"data": "x"}, "name": "fcn_resnet18",
            "classes": CLASSES}
    folder = write_checkpoint(tmp_path / "c", config={k: data[k] for k in keys})
    config = CheckpointConfig.read(folder)
    config.train = {"epochs": 1}
    config.write(folder)
    written = list(json.loads((folder / "config.json").read_text()))
    assert written[:len(keys)] == keys and "train" in written  # defaults (mean, std, ...) and new keys after


@pytest.mark.parametrize("field", ["train_loss", "lr", "val_miou"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_epoch_record_refuses_what_history_readers_refuse(field, bad):
    record = EpochRecord(epoch=1, train_loss=0.5, val_loss=None, val_miou=None, lr=1e-3, seconds=1.0,
                         train_seconds=0.9, train_cpu_seconds=0.8, images=4, step=2)
    setattr(record, field, bad)
    with pytest.raises(FormatError, match=field):
        record.to_dict()


def good_state() -> dict:
    return {"epoch": 1, "step": 2, "best_miou": 0.5, "best_epoch": 1, "bad_validations": 0,
            "history": [{"epoch": 1, "train_loss": 0.5}], "scheduler": {"last_epoch": 2}, "config": {"lr": 0.1},
            "rng": {"numpy": ["MT19937", [1, 2], 0, 0, 0.0], "python": [3, [1, 2], None]}}


@pytest.mark.parametrize("key, bad", [("epoch", -1), ("history", {}), ("rng", {"numpy": []}), ("scheduler", None)])
def test_state_json_writer_refuses_what_its_reader_refuses(tmp_path, key, bad):
    write_state_json(tmp_path, good_state())
    before = (tmp_path / "state.json").read_bytes()
    assert read_state_json(tmp_path) == good_state()
    with pytest.raises(FormatError, match=key):
        write_state_json(tmp_path, {**good_state(), key: bad})
    assert (tmp_path / "state.json").read_bytes() == before


@pytest.mark.parametrize("options", [[], "lr", None])
def test_train_config_writer_refuses_what_its_reader_refuses(tmp_path, options):
    with pytest.raises(FormatError, match="mapping of training options"):
        write_train_config(tmp_path, options)
    assert not (tmp_path / "train_config.json").exists()


def test_checkpoint_config_write_is_checked_and_keeps_the_old_file(tmp_path):
    folder = write_checkpoint(tmp_path / "c", config={"format": "segcompare/1", "name": "fcn_resnet18",
                                                      "num_classes": 3, "classes": CLASSES})
    config = CheckpointConfig.read(folder)
    config.provenance = {"data": "made up"}
    config.write(folder)
    assert read_checkpoint_config(folder)["provenance"] == {"data": "made up"}
    before = (folder / "config.json").read_bytes()
    config.classes = ["bg"]  # no longer num_classes names: refused before anything is written
    with pytest.raises(FormatError, match="num_classes is 3 but classes lists 1"):
        config.write(folder)
    assert (folder / "config.json").read_bytes() == before


def test_results_round_trip_keeps_unknown_keys(tmp_path):
    res = make_results("unet", [[[5, 1, 0], [0, 4, 1], [0, 0, 3]]], CLASSES, future_field={"x": 1})
    typed = Results.from_dict(res)
    assert typed.model == "unet" and typed.extra["future_field"] == {"x": 1}
    path = typed.write(tmp_path / "results.json")
    assert read_results_file(path) == json.loads(path.read_text())
    assert Results.read(path).to_dict() == typed.to_dict()


@pytest.mark.parametrize("change, match", [
    ({"format": "segcompare-results/9"}, "unknown results format"),
    ({"classes": "bg"}, "classes must be a non-empty list"),
    ({"miou": "high"}, "miou must be a finite number"),
])
def test_results_from_dict_refuses_a_bad_field(change, match):
    res = make_results("unet", [[[5, 1, 0], [0, 4, 1], [0, 0, 3]]], CLASSES)
    with pytest.raises(UserError, match=match):
        Results.from_dict({**res, **change})


@pytest.mark.parametrize("text, epochs", [
    ('{"epoch": 1, "val_miou": 0.2}\n{"epoch": 2, "val_miou": 0.3}\n', [1, 2]),
    ('{"epoch": 1, "val_miou": 0.2}\n{"epoch": 2, "val_m', [1]),  # killed mid-write: the last line is skipped
    ('{"epoch": 1}\n{"epoch": 2}\n{"epoch": 2, "val_miou": 0.5}\n', [1, 2]),  # resumed: the last record wins
    ("", []),
])
def test_history_reader_has_one_tolerance(tmp_path, text, epochs):
    (tmp_path / "history.jsonl").write_text(text)
    assert [row["epoch"] for row in History.read(tmp_path)] == epochs


def test_history_refuses_a_broken_line_before_the_last(tmp_path):
    (tmp_path / "history.jsonl").write_text('{"epoch": 1\n{"epoch": 2}\n')
    with pytest.raises(FormatError, match="line 1 is not JSON"):
        History.read(tmp_path)


def test_history_write_then_read(tmp_path):
    rows = [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25}]
    History(rows).write(tmp_path / "history.jsonl")
    assert History.read(tmp_path).rows == rows


def _scored(model: str, miou: float | None, p50: float | None = None) -> Results:
    res = Results.from_dict(make_results(model, [[[5, 1, 0], [0, 4, 1], [0, 0, 3]]], CLASSES))
    res.miou, res.latency_ms = miou, {} if p50 is None else {"device": "cpu", "p50": p50}
    return res


def test_best_first_orders_by_miou_then_latency():
    fast, slow, best = _scored("fast", 0.5, 10.0), _scored("slow", 0.5, 20.0), _scored("best", 0.7)
    unscored = _scored("none", None)
    assert [r.model for r in best_first([unscored, slow, fast, best])] == ["best", "fast", "slow", "none"]
    assert [r.model for r in best_first([slow, fast])] == ["fast", "slow"]  # whatever order they came in


@pytest.mark.parametrize("latency, p50, devices", [
    ({"device": "cuda", "p50": 3}, 3, {"cuda": 3.0}),
    ({"p50": 12.5}, 12.5, {"cpu": 12.5}),  # no device named: the CPU
    ({"device": "cpu", "p50": None}, None, {}),
    ({"device": "cpu", "p50": "fast"}, None, {}),  # not a number: not a latency
])
def test_results_latency_accessors(latency, p50, devices):
    res = Results.from_dict(make_results("unet", [[[5, 1, 0], [0, 4, 1], [0, 0, 3]]], CLASSES, latency_ms=latency))
    assert res.latency_p50 == p50 and res.device_latencies() == devices


@pytest.mark.parametrize("robustness, mean", [
    ({"noise": {"1": 0.5, "2": 0.25}, "blur": {"1": 0.75, "2": None}}, 0.5),
    ({}, None),
])
def test_results_mean_robustness_skips_unmeasured(robustness, mean):
    res = Results.from_dict(make_results("unet", [[[5, 1, 0], [0, 4, 1], [0, 0, 3]]], CLASSES,
                                         robustness=robustness))
    assert res.mean_robustness == mean


def test_results_labelled_is_a_copy():
    res = Results.from_dict(make_results("unet", [[[5, 1, 0], [0, 4, 1], [0, 0, 3]]], CLASSES))
    other = res.labelled("UNet [a]")
    assert (other.name, res.name, res.label) == ("UNet [a]", "unet", None)


@pytest.mark.parametrize("kind, change, match", [
    (CheckpointConfig, {"num_classes": 0}, "num_classes"),
    (Results, {"input_size": [0, 256]}, "input_size must be a list of positive pixel counts"),
    (Results, {"published_miou": "best"}, "published_miou must be a finite number"),
])
def test_typed_from_dict_runs_the_formats_one_check(kind, change, match):
    good = ({"format": "segcompare/1", "name": "fcn_resnet18", "num_classes": 3, "classes": CLASSES}
            if kind is CheckpointConfig else make_results("unet", [[[5, 1, 0], [0, 4, 1], [0, 0, 3]]], CLASSES))
    assert isinstance(kind.from_dict(good), kind)
    with pytest.raises(FormatError, match=match):
        kind.from_dict({**good, **change})
