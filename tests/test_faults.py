"""Training under faults, with real `python -m segcompare train` processes on tiny synthetic data.

tests/test_train.py kills one run once the first state exists and checks the resumed weights are identical.
Here the kills aim at the dangerous moments: SIGKILL while a checkpoint or the resumable state is being
written (the test watches the output folder and kills the moment a temp file appears) and at random points
of an epoch, several times in one run; Ctrl-C (SIGINT) in the middle of a write; a disk that fills up
(a small tmpfs); an output folder that is, or becomes, read-only (a read-only bind mount: root ignores file
modes). After each fault: every config.json parses, every safetensors file loads, history.jsonl has no gap,
no finished epoch is lost, and `--resume` finishes the run. User-caused failures end with one line and
exit code 2; Ctrl-C with exit code 130.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from segcompare.checkpoint import load_model
from segcompare.train_state import PAUSE_ENV, find_last

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TIMEOUT = 240  # seconds for any one process or wait: a hung run fails the test instead of the suite


def train_cmd(out: Path, *extra) -> list[str]:
    base = [sys.executable, "-m", "segcompare", "train", "--out", str(out), "--no-progress"]
    if "--resume" in extra:
        return base + list(map(str, extra))
    return base + ["--model", "fcn_mobilenet_v3_small", "--dataset", "synthetic-pets", "--dataset-option",
                   "length=8", "--size", "32", "32", "--batch-size", "2", "--workers", "0", "--device", "cpu",
                   "--seed", "1", *map(str, extra)]


def start(out: Path, log: Path, *extra, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(train_cmd(out, *extra), env=env or ENV, stdout=subprocess.DEVNULL,
                            stderr=log.open("w"))


def paused_in_write(tmp_path: Path, epoch: int) -> tuple[dict, Path]:
    """(env, flag): a run started with env stops inside the write of epoch `epoch`'s state (its temp folder
    written, not swapped in) and creates `flag`; it goes on once flag is removed (train_state.pause_hook)."""
    flag = tmp_path / f"paused-{epoch}"
    return {**ENV, PAUSE_ENV: f"{epoch}:{flag}"}, flag


def run(out: Path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run(train_cmd(out, *extra), env=ENV, capture_output=True, text=True, timeout=TIMEOUT)


def saved_epoch(out: Path) -> int:
    last = find_last(out)
    if last is None:
        return 0
    try:
        return json.loads((last / "state.json").read_text())["epoch"]
    except (OSError, ValueError):  # swapped away under our feet: the next poll sees the new one
        return -1


CHECKPOINT_TEMPS = (".last.tmp-", ".model.safetensors.", ".config.json.", ".history.jsonl.")


def temps(out: Path) -> set[str]:
    """Temp folders/files of checkpoint, state and history writes in `out` (a write under way, or the
    leftovers of one that was killed)."""
    try:
        names = os.listdir(out)
    except FileNotFoundError:
        return set()
    return {n for n in names if n.startswith(CHECKPOINT_TEMPS)}


def writing(out: Path, stale: frozenset = frozenset()) -> bool:
    return bool(temps(out) - stale)


def wait_for(proc: subprocess.Popen, condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert proc.poll() is None, f"the run ended (code {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def check_files(out: Path) -> dict:
    """Every checkpoint file loads; history has no gap -> {"history": rows, "state_epoch": n}."""
    configs = list(out.rglob("config.json"))
    for path in configs:
        json.loads(path.read_text())
    from safetensors.torch import load_file

    for path in out.rglob("*.safetensors"):
        load_file(str(path))
    if (out / "config.json").is_file():
        load_model(out)
    last = find_last(out)
    if last is not None:
        load_model(last)
        for name in ("state.json", "optimizer.json"):
            json.loads((last / name).read_text())
    rows = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()] \
        if (out / "history.jsonl").is_file() else []
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1)), rows
    state_epoch = saved_epoch(out)
    # history.jsonl is written just before last/: it may be one epoch ahead of the state, never behind
    assert len(rows) in (state_epoch, state_epoch + 1), (len(rows), state_epoch)
    return {"history": rows, "state_epoch": state_epoch}


def state_history(out: Path) -> list[dict]:
    last = find_last(out)
    return json.loads((last / "state.json").read_text())["history"] if last else []


def one_line_error(stderr: str, starts: str) -> None:
    lines = [x for x in stderr.strip().splitlines() if x.strip()]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert lines[-1].startswith("error: ") and starts in lines[-1], lines[-1]


# --- SIGKILL -------------------------------------------------------------------------------------------------
def test_sigkill_during_writes_and_epochs_then_resume(tmp_path):
    out, epochs = tmp_path / "run", 6
    rng = random.Random(0)
    kept: dict[int, dict] = {}  # epoch -> its history row as saved in last/ when a kill happened
    hits = []
    for cycle, moment in enumerate(["write", "epoch", "write"]):
        log = tmp_path / f"kill{cycle}.log"
        before, stale = saved_epoch(out), frozenset(temps(out))  # leftovers of the previous kill don't count
        proc = start(out, log, *(["--resume"] if cycle else ["--epochs", epochs]))
        if moment == "write":  # the instant a temp file of a checkpoint/state write shows up (once there
            # is a state to resume from: a run killed before its first state starts again, see below)
            wait_for(proc, lambda s=stale: saved_epoch(out) >= 1 and writing(out, s), "a checkpoint write")
        else:  # somewhere inside the next epoch
            wait_for(proc, lambda b=before: saved_epoch(out) > b, "a saved epoch")
            time.sleep(rng.uniform(0.0, 0.3))
        proc.kill()
        proc.wait(timeout=TIMEOUT)
        caught = writing(out, stale)  # a killed write leaves its temp file behind: this kill hit one
        hits.append((moment, caught))
        files = check_files(out)
        for row in state_history(out):
            kept.setdefault(row["epoch"], row)
        assert files["state_epoch"] < epochs, "the run finished before the kill: nothing was tested"
    assert sum(caught for _, caught in hits) >= 1, hits  # a write really was interrupted

    done = run(out, "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    final = check_files(out)
    assert [r["epoch"] for r in final["history"]] == list(range(1, epochs + 1))
    assert final["state_epoch"] == epochs
    for epoch, row in kept.items():  # epochs finished before a kill were kept, not redone
        assert final["history"][epoch - 1] == row
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["summary"]["finished"] and config["train"]["summary"]["epochs_run"] == epochs
    print("kills (moment, hit a write):", hits, "| temp leftovers after the final run:", sorted(temps(out)))


@pytest.mark.parametrize("workers", [2])  # more than one: items of an epoch come from interleaved workers
def test_sigkill_with_persistent_augmenting_workers_resumes_to_identical_weights(tmp_path, workers):
    """Augmentation on, DataLoader workers that persist across epochs: a run killed (in its epoch-2 write, so
    epoch 1 is saved) and resumed ends with the weights, bit for bit, and the losses of an uninterrupted run."""
    args = ["--epochs", 3, "--workers", workers, "--dataset-option", "length=6"]
    full = run(tmp_path / "full", *args)
    assert full.returncode == 0, full.stderr[-3000:]
    killed = tmp_path / "killed"
    env, flag = paused_in_write(tmp_path, 2)
    proc = start(killed, tmp_path / "kill.log", *args, env=env)
    wait_for(proc, flag.exists, "the write of epoch 2's state")
    assert writing(killed) and saved_epoch(killed) == 1
    proc.kill()
    proc.wait(timeout=TIMEOUT)
    done = run(killed, "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    from safetensors.torch import load_file

    a, b = (load_file(str(d / "last" / "model.safetensors")) for d in (tmp_path / "full", killed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [[r["train_loss"] for r in check_files(d)["history"]] for d in (tmp_path / "full", killed)]
    assert losses[0] == losses[1] and len(losses[0]) == 3
    assert json.loads((killed / "train_config.json").read_text())["workers"] == workers


# --- SIGINT --------------------------------------------------------------------------------------------------
def test_ctrl_c_during_a_write_exits_130_and_resumes(tmp_path):
    out, log = tmp_path / "run", tmp_path / "int.log"
    env, flag = paused_in_write(tmp_path, 2)  # epoch 1's state is saved, epoch 2's is being written
    proc = start(out, log, "--epochs", 4, env=env)
    wait_for(proc, flag.exists, "the write of epoch 2's state")
    assert writing(out) and saved_epoch(out) == 1
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=TIMEOUT)
    err = log.read_text()
    assert code == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted during epoch 2" in err and "--resume" in err
    files = check_files(out)
    assert not writing(out)  # the interrupted write cleaned up its temp files
    assert files["state_epoch"] == 1 and len(files["history"]) == 2  # history.jsonl is written before last/
    done = run(out, "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    final = check_files(out)
    assert [r["epoch"] for r in final["history"]] == [1, 2, 3, 4]
    assert final["history"][:files["state_epoch"]] == files["history"][:files["state_epoch"]]


# --- disk full and read-only ---------------------------------------------------------------------------------
def mount(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)


@pytest.fixture
def mounts():
    """Mount helper that unmounts everything it mounted (innermost first) at the end of the test."""
    done: list[Path] = []

    def do(*args, target: Path) -> None:
        r = mount(*args, target)
        if r.returncode != 0:
            pytest.skip(f"cannot mount here ({r.stderr.strip() or 'mount failed'}): needs root with "
                        "CAP_SYS_ADMIN (a container without it cannot fake a full or read-only disk)")
        done.append(target)

    yield do
    for target in reversed(done):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_disk_full_is_one_line_exit_2_and_resume_after_space_is_freed(tmp_path, mounts):
    disk = tmp_path / "disk"
    disk.mkdir()
    # one epoch of state (weights 6.7 MB as best + last, AdamW moments 13 MB) fits in 36 MB; writing the
    # next state beside the current one does not
    mounts("-t", "tmpfs", "-o", "size=36m", "tmpfs", target=disk)
    out = disk / "run"
    full = run(out, "--epochs", 4)
    assert full.returncode == 2, full.stderr[-3000:]
    one_line_error(full.stderr, "No space left on device")
    files = check_files(out)
    assert files["state_epoch"] >= 1, "the disk filled before the first state: make the tmpfs larger"
    assert not writing(out)  # the failed write removed its temp files
    mounts("-o", "remount,size=200m", "tmpfs", target=disk)
    done = run(out, "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    final = check_files(out)
    assert [r["epoch"] for r in final["history"]] == [1, 2, 3, 4]


def read_only(mounts, folder: Path) -> None:
    mounts("--bind", folder, target=folder)
    mounts("-o", "remount,ro,bind", target=folder)


def test_read_only_output_is_one_line_exit_2(tmp_path, mounts):
    parent = tmp_path / "ro"
    parent.mkdir()
    read_only(mounts, parent)
    with pytest.raises(OSError):  # root really cannot write there
        (parent / "probe").write_text("x")
    r = run(parent / "run", "--epochs", 1)
    assert r.returncode == 2, r.stderr[-3000:]
    one_line_error(r.stderr, "cannot write to --out")


def test_resume_into_a_folder_that_became_read_only(tmp_path, mounts):
    out = tmp_path / "run"
    first = run(out, "--epochs", 1)
    assert first.returncode == 0, first.stderr[-3000:]
    before = check_files(out)
    read_only(mounts, out)
    r = run(out, "--resume", "--epochs", 2)
    assert r.returncode == 2, r.stderr[-3000:]
    one_line_error(r.stderr, "cannot write")
    assert check_files(out) == before
