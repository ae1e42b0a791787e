"""Training: overfitting per library, kill + resume reproducibility, 2-process CPU run, NaN stop, config errors."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from segcompare.cli import main
from segcompare.errors import UserError
from segcompare.losses import build_loss
from segcompare.models import build_model
from segcompare.optim import build_optimizer, lr_multiplier
from segcompare.train import Diverged, TrainConfig, fit
from segcompare.train_state import find_last, join_state, read_last, split_state

TINY = dict(dataset="synthetic-pets", size=(32, 32), batch_size=2, epochs=2, workers=0, device="cpu",
            dataset_options={"length": 4}, progress=False)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "segcompare", "train", *map(str, args)]


TINY_ARGS = ["--model", "fcn_resnet18", "--dataset", "synthetic-pets", "--dataset-option", "length=4",
             "--size", 32, 32, "--batch-size", 2, "--epochs", 3, "--workers", 0, "--device", "cpu",
             "--no-progress", "--seed", 3]


def weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


# --- learning ---------------------------------------------------------------------------------------------
def square_batch(n: int, s: int):
    """Images whose colour (plus noise) gives the class: a square of class 1, a bar of class 2, a row of 255."""
    g = torch.Generator().manual_seed(0)
    y = torch.zeros(n, s, s, dtype=torch.long)
    for i in range(n):
        a, b = (torch.randint(1, 4, (2,), generator=g) * s // 8).tolist()
        y[i, a:a + s // 2, b:b + s // 2] = 1
        y[i, s - s // 4:, : s // 2] = 2
    y[:, 0, :] = 255
    palette = torch.tensor([[-1.0, 0.0, 1.0], [1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
    x = palette[y.clamp(max=2)].permute(0, 3, 1, 2) + 0.3 * torch.randn(n, 3, s, s, generator=g)
    return x, y


@pytest.mark.parametrize("name", ["fcn_resnet18", "unet_resnet18", "segformer_b0"])
def test_overfits_one_batch(name):
    torch.manual_seed(0)
    x, y = square_batch(2, 64)
    model = build_model(name, 3).train()
    loss_fn = build_loss("ce")
    opt = build_optimizer("adamw", model, lr=1e-3, weight_decay=0.0)
    first = None
    for _ in range(60):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
        if loss.item() < first / 5:
            break
    assert loss.item() < first / 5, f"{name}: loss {first:.3f} -> {loss.item():.3f}"


def test_fit_writes_checkpoint_history_and_config(tmp_path):
    from segcompare.checkpoint import load_model, read_config
    from segcompare.formats import EpochRecord

    out = fit(TrainConfig(model="unet_resnet18", out=str(tmp_path / "run"), scheduler="onecycle", **TINY))
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2]
    for h in history:
        assert list(h) == list(EpochRecord.__dataclass_fields__)  # the keys of every committed history
        assert 0 <= h["val_miou"] <= 1 and math.isfinite(h["train_loss"])
    # the summary went into config.json through CheckpointConfig without moving a key
    assert list(json.loads((out / "config.json").read_text())) == list(read_config(out / "last"))
    model, config = load_model(out)
    assert config["classes"] == ["background", "pet", "boundary"] and config["input_size"] == [32, 32]
    summary = config["train"]["summary"]
    best = max(history, key=lambda h: h["val_miou"])
    assert summary["best_epoch"] == best["epoch"] and summary["best_val_miou"] == best["val_miou"]
    assert summary["epochs_run"] == 2 and summary["finished"] and summary["images_per_s"] > 0
    assert config["train"]["lr"] == 1e-3 and config["train"]["pretrained"] == "none"
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["scheduler"] == "onecycle" and saved["size"] == [32, 32]
    assert find_last(out) == out / "last" and read_last(out / "last")[0]["epoch"] == 2


def test_validation_every_k_and_early_stop(tmp_path, monkeypatch):
    import segcompare.train as T

    scores = iter([0.5, 0.4, 0.3, 0.2])  # never better than the first validation
    monkeypatch.setattr(T, "validate", lambda run: {"val_loss": 1.0, "val_miou": next(scores)})
    cfg = TrainConfig(model="fcn_resnet18", out=str(tmp_path / "r"), **{**TINY, "epochs": 10},
                      val_every=2, patience=2)
    out = fit(cfg)
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["val_miou"] is not None for h in history] == [False, True, False, True, False, True]
    summary = json.loads((out / "config.json").read_text())["train"]["summary"]
    assert summary["best_epoch"] == 2 and summary["epochs_run"] == 6 and "early stop" in summary["stopped"]


# --- resume -----------------------------------------------------------------------------------------------
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(cli(*TINY_ARGS, "--out", full), check=True, env=ENV, capture_output=True)
    proc = subprocess.Popen(cli(*TINY_ARGS, "--out", killed), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "last" / "state.json").exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = json.loads((find_last(killed) / "state.json").read_text())
    assert state["epoch"] < 3, "killed too late to test resuming"
    done = subprocess.run(cli("--out", killed, "--resume", "--no-progress"), env=ENV, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    a, b = weights(full / "last"), weights(killed / "last")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    hist_a = [json.loads(x) for x in (full / "history.jsonl").read_text().splitlines()]
    hist_b = [json.loads(x) for x in (killed / "history.jsonl").read_text().splitlines()]
    assert [h["train_loss"] for h in hist_a] == [h["train_loss"] for h in hist_b]
    assert len(hist_b) == 3


def test_resume_with_default_workers_gives_the_same_weights(tmp_path):
    """Default DataLoader workers (persistent, augmenting) and dropout (fcn's head): a run stopped after
    epoch 2 and resumed in the same process ends with the weights of an uninterrupted run."""
    opts = {**TINY, "workers": None, "epochs": 4, "val_every": 1, "scheduler": "exponential", "seed": 3}
    full = fit(TrainConfig(model="fcn_resnet18", out=str(tmp_path / "full"), **opts))
    part = fit(TrainConfig(model="fcn_resnet18", out=str(tmp_path / "part"), **{**opts, "max_steps": 4}))
    assert read_last(find_last(part))[0]["epoch"] == 2
    resumed = fit(TrainConfig(model="fcn_resnet18", out=str(part), resume=True, **opts))
    a, b = weights(full / "last"), weights(resumed / "last")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_interrupted_swap_falls_back_to_previous_state(tmp_path):
    out = fit(TrainConfig(model="fcn_resnet18", out=str(tmp_path / "r"), **{**TINY, "epochs": 1}))
    (out / "last").rename(out / ".last.old")  # killed between the two renames of the swap
    assert find_last(out) == out / ".last.old"
    resumed = fit(TrainConfig(model="fcn_resnet18", out=str(out), resume=True, **{**TINY, "epochs": 2}))
    assert read_last(find_last(resumed))[0]["epoch"] == 2


def test_optimizer_state_round_trips_without_pickle():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, amsgrad=True)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    tensors, meta = split_state(opt.state_dict())
    json.dumps(meta)  # everything but tensors is JSON
    back = join_state(tensors, json.loads(json.dumps(meta)))
    opt2 = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=0.5, amsgrad=True)
    opt2.load_state_dict(back)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 0.1
    for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"):
        assert torch.equal(s1["state"][0][k], s2["state"][0][k])


# --- multi-process ------------------------------------------------------------------------------------------
def test_two_process_cpu_run_under_accelerate_launch(tmp_path):
    launcher = os.path.join(os.path.dirname(sys.executable), "accelerate")
    cmd = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision",
           "no", "--dynamo_backend", "no", "--main_process_port", "29533", "-m", "segcompare", "train",
           "--model", "fcn_resnet18", "--dataset", "synthetic-pets", "--dataset-option", "length=4", "--size", "32",
           "32", "--batch-size", "2", "--epochs", "1", "--workers", "0", "--out", tmp_path / "ddp", "--no-progress"]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "x2" in done.stderr  # the run line names both processes
    history = [json.loads(x) for x in (tmp_path / "ddp" / "history.jsonl").read_text().splitlines()]
    assert len(history) == 1 and history[0]["images"] == 4 and history[0]["val_miou"] is not None
    assert (tmp_path / "ddp" / "model.safetensors").is_file()


# --- failures -------------------------------------------------------------------------------------------------
def test_nan_loss_stops_and_keeps_last_good_state(tmp_path, monkeypatch):
    import segcompare.train_setup as S

    real = S.build_loss_for

    class NanAfter(torch.nn.Module):
        def __init__(self, inner, good_calls):
            super().__init__()
            self.inner, self.calls, self.good = inner, 0, good_calls

        def forward(self, logits, target):
            self.calls += 1
            loss = self.inner(logits, target)
            return loss * float("nan") if self.calls > self.good else loss

    # epoch 1: 2 train steps + 2 val batches; the NaN starts in epoch 2
    monkeypatch.setattr(S, "build_loss_for", lambda *a: NanAfter(real(*a), 4))
    out = tmp_path / "nan"
    with pytest.raises(Diverged, match=r"loss became nan in epoch 2.*after epoch 1\) is kept"):
        fit(TrainConfig(model="fcn_resnet18", out=str(out), **TINY))
    state, _, _ = read_last(find_last(out))
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in weights(out / "last").values() if t.is_floating_point())
    assert len((out / "history.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize("change, message", [
    ({"batch_size": 0}, "batch-size must be a whole number >= 1"),
    ({"loss": "cross"}, "unknown loss 'cross'"),
    ({"loss": "ce+dise"}, "unknown loss 'dise'"),
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
    ({"scheduler": "step"}, "unknown scheduler 'step'"),
    ({"strategy": "frozen", "pretrained": "none"}, "--strategy frozen needs pretrained weights"),
    ({"strategy": "scratch", "pretrained": "imagenet"}, "--strategy scratch trains without pretrained"),
    ({"model": "unet_resnet999"}, "unknown smp encoder 'resnet999'"),
    ({"mixed_precision": "fp8"}, "unknown mixed precision 'fp8'"),
    ({"mixed_precision": "fp16"}, "fp16 needs a CUDA GPU"),
    ({"resume": True}, "nothing to resume in"),
    ({"epochs": 0}, "epochs must be"),
    ({"log": ["neptune"]}, "unknown logger 'neptune'"),
    ({"augment": "strong"}, "unknown augmentation 'strong'"),
    ({"augment": 3}, "augment must be true, false or a recipe name"),
])
def test_impossible_configs_fail_before_training(tmp_path, monkeypatch, change, message):
    import segcompare.train as T

    if change.get("mixed_precision") == "fp16":
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(T, "_loop", lambda *a: pytest.fail("training started"))
    cfg = TrainConfig(**{"model": "fcn_resnet18", "out": str(tmp_path / "r"), **TINY, **change})
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("+", r"\+")) as e:
        fit(cfg)
    assert "\n" not in str(e.value)


def test_batchnorm_with_one_value_is_a_user_error(tmp_path):
    cfg = TrainConfig(model="unet_resnet18", out=str(tmp_path / "r"), **{**TINY, "batch_size": 1})
    with pytest.raises(UserError, match="use --batch-size 2 or more, or a larger --size"):
        fit(cfg)


def test_resume_with_other_classes_fails_before_training(tmp_path, monkeypatch):
    import segcompare.train as T

    out = fit(TrainConfig(model="fcn_resnet18", out=str(tmp_path / "r"), **{**TINY, "epochs": 1}))
    monkeypatch.setattr(T, "_loop", lambda *a: pytest.fail("training started"))
    cfg = TrainConfig(model="fcn_resnet18", out=str(out), resume=True,
                      **{**TINY, "dataset": "synthetic-streets"})
    with pytest.raises(UserError, match="has 3 classes but synthetic-streets has 8"):
        fit(cfg)
    with pytest.raises(UserError, match="already holds a training run"):
        fit(TrainConfig(model="fcn_resnet18", out=str(out), **TINY))


def test_cli_errors_exit_2_without_traceback(tmp_path, capsys):
    code = main(["train", "--model", "fcn_resnet18", "--dataset", "synthetic-pets", "--out", str(tmp_path),
                 "--optimizer", "lion"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: unknown optimizer 'lion'") and "Traceback" not in err
    assert main(["train", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert capsys.readouterr().err.startswith("error: nothing to resume in")


@pytest.mark.parametrize("flags, augment", [([], True), (["--augment", "light"], "light"), (["--no-augment"], False)])
def test_augment_flags(flags, augment):
    from segcompare.cli import build_parser
    from segcompare.commands.train import config_from_args

    args = build_parser().parse_args(["train", "--model", "fcn_resnet18", "--out", "x", *flags])
    assert config_from_args(args).augment == augment


def test_read_only_output_is_a_user_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(UserError, match="cannot write to --out"):
        fit(TrainConfig(model="fcn_resnet18", out=str(ro / "run"), **TINY))


# --- schedules ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("total, warmup", [(100, 0.3), (101, None), (7, 0.25), (2, 0.3), (50, 10), (1000, 0.1)])
def test_onecycle_is_torchs_onecycle_lr(total, warmup):
    """Every step's learning rate equals torch.optim.lr_scheduler.OneCycleLR's (cosine, no momentum cycling)."""
    max_lr = 3e-4
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=max_lr)
    pct = 0.3 if warmup is None else (warmup if warmup < 1 else warmup / total)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=pct,
                                              anneal_strategy="cos", cycle_momentum=False)
    ours = lr_multiplier("onecycle", total_steps=total, steps_per_epoch=10, warmup=warmup)
    for step in range(total):
        assert max_lr * ours(step) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-15), step
        opt.step()
        ref.step()


def test_schedules_by_hand():
    one = lr_multiplier("onecycle", total_steps=101, steps_per_epoch=10)  # OneCycleLR: peak at 0.3 * 101 - 1
    assert one(0) == pytest.approx(1 / 25) and one(29.3) == pytest.approx(1.0)
    assert one(100) == pytest.approx(1 / 25e4) and one(64.65) == pytest.approx((1 + 1 / 25e4) / 2)
    exp = lr_multiplier("exponential", total_steps=100, steps_per_epoch=10, gamma=0.5)
    assert [exp(s) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    cos = lr_multiplier("cosine", total_steps=100, steps_per_epoch=10, warmup=0.1)
    assert cos(0) == pytest.approx(1 / 11) and cos(10) == pytest.approx(1.0) and cos(55) == pytest.approx(0.5)
    poly = lr_multiplier("poly", total_steps=100, steps_per_epoch=10, warmup=0)
    assert poly(50) == pytest.approx(0.5**0.9) and poly(100) == 0.0
    assert lr_multiplier("none", 100, 10)(77) == 1.0


def test_weight_decay_skips_biases_and_norms():
    model = build_model("fcn_resnet18", 3)
    opt = build_optimizer("adamw", model, lr=1e-3, weight_decay=0.05)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    frozen = build_optimizer("sgd", build_model("fcn_resnet18", 3).freeze_encoder(), lr=0.01)
    n = sum(p.numel() for g in frozen.param_groups for p in g["params"])
    assert 0 < n < build_model("fcn_resnet18", 3).num_params() // 10


# --- options ------------------------------------------------------------------------------------------------
def test_bf16_channels_last_and_grad_accumulation(tmp_path):
    cfg = TrainConfig(model="unet_resnet18", out=str(tmp_path / "r"), mixed_precision="bf16", channels_last=True,
                      grad_accum=2, grad_clip=1.0, **{**TINY, "batch_size": 1, "epochs": 1, "size": (64, 64)})
    out = fit(cfg)
    (row,) = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    assert row["step"] == 2 and row["images"] == 4  # 4 batches of 1, one optimizer step per 2 batches
    assert math.isfinite(row["train_loss"]) and row["val_miou"] is not None
    assert all(t.dtype != torch.bfloat16 for t in weights(out).values())  # weights stay fp32


def test_max_steps_caps_the_run(tmp_path):
    out = fit(TrainConfig(model="fcn_resnet18", out=str(tmp_path / "r"), max_steps=3, **{**TINY, "epochs": 5}))
    history = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [2, 3]  # 2 steps per epoch; the 2nd epoch stops after one
    assert history[-1]["val_miou"] is not None  # the last epoch is always validated


def test_missing_tracker_is_a_clear_error(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "wandb" else real(n, *a))
    with pytest.raises(UserError, match="--log wandb needs the wandb package: pip install wandb"):
        fit(TrainConfig(model="fcn_resnet18", out=str(tmp_path / "r"), log=["wandb"], **TINY))


def test_tensorboard_logging(tmp_path):
    import tensorboard  # noqa: F401  a dev requirement: missing, the test fails

    out = fit(TrainConfig(model="fcn_resnet18", out=str(tmp_path / "r"), log=["tensorboard"],
                          **{**TINY, "epochs": 1}))
    assert list((out / "logs").rglob("events.out.tfevents.*"))
