"""compare: experiment YAML parsing, train + evaluate + report end to end, --skip-existing, --only, configs/."""

import json
from pathlib import Path

import pytest

from segcompare.cli import main
from segcompare.compare import compare
from segcompare.config import load_experiment, replace_root
from segcompare.errors import UserError
from segcompare.train_config import TrainConfig, resolve_config

REPO = Path(__file__).resolve().parents[1]

TINY_YAML = """
name: tiny
dataset: synthetic-pets
dataset_options: {{length: 4}}
output: {out}/ckpt
train: {{size: [32, 32], epochs: 1, batch_size: 2, workers: 0, progress: false, scheduler: onecycle}}
models:
  - fcn_resnet18
  - {{name: fcn-dice, model: fcn_resnet18, loss: ce+dice, lr: 5.0e-4}}
evaluate: {{split: test, max_images: 4, latency: false, boundary_px: 1, batch_size: 2, fp16_weights: true}}
report: {out}/report
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text.format(out=tmp_path))
    return path


def test_compare_trains_evaluates_and_reports(tmp_path, capsys):
    path = write(tmp_path, TINY_YAML)
    paths = compare(path, device="cpu")
    ckpt = tmp_path / "ckpt"
    assert paths == [ckpt / "fcn_resnet18" / "results.json", ckpt / "fcn-dice" / "results.json"]
    for p in paths:
        res = json.loads(p.read_text())
        assert res["format"] == "segcompare-results/1" and res["num_images"] == 4 and res["split"] == "test"
        config = json.loads((p.parent / "config.json").read_text())
        assert config["train"]["summary"]["finished"] and config["train"]["epochs"] == 1
    dice = json.loads((tmp_path / "ckpt" / "fcn-dice" / "config.json").read_text())["train"]
    assert dice["loss"] == "ce+dice" and dice["lr"] == 5e-4 and dice["scheduler"] == "onecycle"
    report = tmp_path / "report"
    assert (report / "leaderboard.csv").is_file()
    assert "fcn-dice" in (report / "leaderboard.csv").read_text()  # two runs of one model keep their names

    # --skip-existing: nothing is retrained or re-evaluated
    stamps = {p: (p.parent / "model.safetensors").stat().st_mtime_ns for p in paths}
    capsys.readouterr()
    assert main(["compare", "--config", str(path), "--skip-existing", "--device", "cpu", "--no-report"]) == 0
    assert "results exist, skipped" in capsys.readouterr().err
    assert stamps == {p: (p.parent / "model.safetensors").stat().st_mtime_ns for p in paths}


def test_fp16_weights_are_kept_only_when_miou_holds(tmp_path):
    path = write(tmp_path, TINY_YAML)
    compare(path, only=["fcn-dice"], device="cpu", report=False)
    run = tmp_path / "ckpt" / "fcn-dice"
    config = json.loads((run / "config.json").read_text())
    res = json.loads((run / "results.json").read_text())
    if config["dtype"] == "float16":  # within 0.1 point: re-saved as half, and the results say so
        assert res["weights_dtype"] == "float16"
    else:
        assert "weights_dtype" not in res
    assert not (tmp_path / "ckpt" / "fcn_resnet18").exists()  # --only ran one run


def test_interrupted_run_is_resumed_with_skip_existing(tmp_path):
    from segcompare.train import fit

    path = write(tmp_path, TINY_YAML.replace("epochs: 1", "epochs: 2"))
    exp = load_experiment(path)
    run = exp.runs[0]
    cfg = {**exp.train, **run.options, "dataset": exp.dataset, "out": str(exp.run_dir(run)), "epochs": 1,
           "dataset_options": exp.dataset_options}
    fit(TrainConfig.from_dict(cfg))  # as if stopped after epoch 1 of 2: summary says finished for 1 epoch
    config = json.loads((exp.run_dir(run) / "config.json").read_text())
    config["train"]["summary"]["finished"] = False
    (exp.run_dir(run) / "config.json").write_text(json.dumps(config))
    compare(path, only=["fcn_resnet18"], skip_existing=True, device="cpu", report=False)
    history = (exp.run_dir(run) / "history.jsonl").read_text().splitlines()
    assert [json.loads(h)["epoch"] for h in history] == [1, 2]


@pytest.mark.parametrize("text, message", [
    ("dataset: synthetic-pets\nmodels: [fcn_resnet18]\nepochs: 3\n", "unknown key 'epochs'"),
    ("dataset: synthetic-pets\nmodels: [fcn_resnet18]\ntrain: {epoch: 3}\n", "unknown training option 'epoch'"),
    ("dataset: synthetic-pets\nmodels: [fcn_resnet18, fcn_resnet18]\n", "two runs are named 'fcn_resnet18'"),
    ("dataset: synthetic-pets\n", "has no `models:` list"),
    ("models: [fcn_resnet18]\n", "has no `dataset:`"),
    ("dataset: synthetic-pets\nmodels: [{lr: 1}]\n", "needs `model:`"),
    ("dataset: synthetic-pets\nmodels: [fcn_resnet18]\nevaluate: {splt: val}\n", "unknown key 'splt'"),
    ("dataset: synthetic-pets\nmodels: [fcn_resnet18]\ntrain: {out: x}\n", "cannot be set under train"),
    ("dataset: [oops\n", "is not valid YAML"),
])
def test_bad_experiment_configs(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as e:
        load_experiment(path)
    assert "\n" not in str(e.value)


def test_only_names_an_unknown_run(tmp_path, capsys):
    path = write(tmp_path, TINY_YAML)
    assert main(["compare", "--config", str(path), "--only", "segformer_b9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown run 'segformer_b9'") and "Traceback" not in err


def test_dataset_root_override(tmp_path, monkeypatch):
    assert replace_root("oxford-pet:data/oxford-pet", "/mnt/pets") == "oxford-pet:/mnt/pets"
    assert replace_root("synthetic-pets", "/mnt/x") == "synthetic-pets"
    path = tmp_path / "e.yaml"
    path.write_text("dataset: folder:data/x\nmodels: [unet_resnet18]\n")
    assert load_experiment(path).dataset == "folder:data/x"
    assert load_experiment(path, dataset_root="/d").dataset == "folder:/d"
    monkeypatch.setenv("SEGCOMPARE_DATASET_ROOT", "/env")
    exp = load_experiment(path)
    assert exp.dataset == "folder:/env" and exp.output == "checkpoints/e" and exp.report == "reports/e"


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    exp = load_experiment(path)
    for run in exp.runs:
        options = {**exp.train, **run.options, "dataset": exp.dataset, "out": str(exp.run_dir(run))}
        resolve_config(TrainConfig.from_dict(options))  # names, strategies, schedules all check out


def test_a_failed_run_does_not_lose_the_finished_ones(tmp_path):
    text = TINY_YAML.replace("  - fcn_resnet18\n", "  - {{name: broken, model: fcn_resnet18, strategy: finetune, "
                             "pretrained: {out}/missing.safetensors}}\n")
    path = write(tmp_path, text)
    with pytest.raises(UserError, match=r"1 of 2 runs failed: broken \(pretrained weights .*not found") as e:
        compare(path, device="cpu")
    assert "reported in" in str(e.value) and "\n" not in str(e.value)
    assert json.loads((tmp_path / "ckpt" / "fcn-dice" / "results.json").read_text())["num_images"] == 4
    rows = (tmp_path / "report" / "leaderboard.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("FCN (ResNet-18),")  # the finished run alone


def test_dataset_options_reach_evaluation(tmp_path):
    """cityscapes-8 with {void: ignore} trains on 7 classes; evaluation must score on the same 7."""
    from test_datasets import make_cityscapes

    root = make_cityscapes(tmp_path / "cs")
    path = tmp_path / "cs8.yaml"
    path.write_text(f"dataset: cityscapes-8:{root}\ndataset_options: {{void: ignore}}\noutput: {tmp_path}/ckpt\n"
                    "train: {size: [32, 32], epochs: 1, batch_size: 2, workers: 0, progress: false}\n"
                    "models: [fcn_resnet18]\nevaluate: {latency: false, boundary_px: 1}\n"
                    f"published: {{fcn_resnet18: 50.5}}\nreport: {tmp_path}/report\n")
    [results] = compare(path, device="cpu", max_steps=1)
    res = json.loads(results.read_text())
    assert len(res["classes"]) == 7 and "void" not in res["classes"]
    assert res["published_miou"] == pytest.approx(0.505)
    assert main(["evaluate", "--checkpoint", str(results.parent), "--dataset", f"cityscapes-8:{root}", "--no-latency",
                 "--out", str(tmp_path / "again.json")]) == 0  # the options travel with the checkpoint
    assert json.loads((tmp_path / "again.json").read_text())["classes"] == res["classes"]


def test_published_names_must_be_runs(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("dataset: synthetic-pets\nmodels: [fcn_resnet18]\npublished: {fcn_resnet81: 70}\n")
    with pytest.raises(UserError, match="unknown run 'fcn_resnet81'. Did you mean fcn_resnet18"):
        load_experiment(path)
    path.write_text("dataset: synthetic-pets\nmodels: [fcn_resnet18]\npublished: {fcn_resnet18: 0.7e3}\n")
    with pytest.raises(UserError, match=r"mIoU in % \(0-100\)"):
        load_experiment(path)


@pytest.mark.parametrize("delta, halved", [(0.0, True), (0.01, False)])
def test_fp16_resave_replaces_weights_and_config_together(tmp_path, monkeypatch, delta, halved):
    """maybe_fp16 keeps fp16 weights only when mIoU moves < 0.1 point, and then swaps weights and config in one
    atomic write (both or neither), as save_checkpoint does."""
    from segcompare import evaluation, files
    from segcompare.checkpoint import read_config, save_checkpoint
    from segcompare.compare import maybe_fp16
    from segcompare.models import build_model

    run = save_checkpoint(build_model("fcn_resnet18", 3), tmp_path / "run", {"classes": ["a", "b", "c"]})
    before = {n: (run / n).read_bytes() for n in ("model.safetensors", "config.json")}
    monkeypatch.setattr(evaluation, "evaluate", lambda *a, **k: {"miou": 0.5 + delta})
    writes = []
    real = files.atomic_write_files
    monkeypatch.setattr(files, "atomic_write_files", lambda contents: (writes.append(sorted(contents)), real(contents)))
    kept = maybe_fp16(run, "synthetic-pets", {"miou": 0.5}, "cpu", {})
    assert (kept.get("weights_dtype") == "float16") == halved
    assert (read_config(run)["dtype"] == "float16") == halved
    changed = {n for n, data in before.items() if (run / n).read_bytes() != data}
    assert changed == ({"model.safetensors", "config.json"} if halved else set())
    swaps = [w for w in writes if w == [run / "config.json", run / "model.safetensors"]]
    assert len(swaps) == (1 if halved else 0)
