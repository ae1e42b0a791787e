"""Atomic writes and the sweeping of what killed writes leave behind, on temp folders."""

from __future__ import annotations

import os
import time

import pytest

from segcompare.files import STALE_TEMP_S, atomic_write_bytes, atomic_write_files, atomic_write_json, remove_older
from segcompare.train_state import write_last


def age(path, seconds: float) -> None:
    os.utime(path, (time.time() - seconds, time.time() - seconds), follow_symlinks=False)


def test_atomic_write_replaces_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "model.safetensors"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and os.listdir(tmp_path) == ["model.safetensors"]
    atomic_write_json(tmp_path / "config.json", {"a": 1})
    assert (tmp_path / "config.json").read_text() == '{\n "a": 1\n}\n'
    with pytest.raises(ValueError):  # NaN is not JSON: nothing written, no temp left
        atomic_write_json(tmp_path / "bad.json", {"x": float("nan")})
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]


def test_files_written_together_change_together_or_not_at_all(tmp_path):
    weights, config = tmp_path / "model.safetensors", tmp_path / "config.json"
    atomic_write_files({weights: b"w1", config: b"c1"})
    with pytest.raises(TypeError):  # the second file cannot be written: the first must not change either
        atomic_write_files({weights: b"w2", config: {"not": "bytes"}})
    assert weights.read_bytes() == b"w1" and config.read_bytes() == b"c1"
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]  # no temp files left
    atomic_write_files({weights: b"w2", config: b"c2"})
    assert weights.read_bytes() == b"w2" and config.read_bytes() == b"c2"


def test_a_later_write_sweeps_a_killed_writes_leftover_but_not_a_write_under_way(tmp_path):
    killed = tmp_path / ".model.safetensors.abc123.tmp"   # what a SIGKILL mid-write leaves
    running = tmp_path / ".model.safetensors.def456.tmp"  # another writer, right now
    other = tmp_path / ".config.json.old999.tmp"         # another file's leftover: its own write sweeps it
    for p in (killed, running, other):
        p.write_bytes(b"partial")
    age(killed, STALE_TEMP_S + 60)
    age(other, STALE_TEMP_S + 60)
    atomic_write_bytes(tmp_path / "model.safetensors", b"weights")
    assert not killed.exists() and running.exists() and other.exists()


def test_write_last_sweeps_a_killed_runs_state_folder(tmp_path):
    import torch

    stale = tmp_path / ".last.tmp-killed"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "optimizer.safetensors").write_bytes(b"half")
    age(stale, STALE_TEMP_S + 60)
    model = torch.nn.Linear(2, 2)
    write_last(tmp_path, lambda d: atomic_write_bytes(d / "model.safetensors", b"m"),
               torch.optim.SGD(model.parameters(), lr=0.1),
               {"epoch": 1, "step": 2, "bad_validations": 0, "history": [], "scheduler": {}})
    assert not stale.exists() and (tmp_path / "last" / "state.json").is_file()


def test_remove_older_counts_what_it_removed(tmp_path):
    (tmp_path / "old.png").write_bytes(b"x")
    (tmp_path / "new.png").write_bytes(b"y")
    age(tmp_path / "old.png", 7200)
    assert remove_older(tmp_path, 3600, "*.png") == 1
    assert os.listdir(tmp_path) == ["new.png"]
    assert remove_older(tmp_path / "missing", 3600) == 0
