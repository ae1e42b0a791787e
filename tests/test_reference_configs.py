"""The three reference configs are the published experiments: every recipe field, and an end-to-end smoke run.

The recipes are written out here once more, from the issue that cites them, so a config edit that drifts from
the published experiment fails a test instead of silently producing other numbers.
"""

from pathlib import Path

import pytest

from segcompare.config import load_experiment
from segcompare.train_config import TrainConfig, resolve_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

PETS_RUNS = {f"{m}-{s}": (m, s) for m in ("fcn_resnet50", "segformer_b0") for s in ("scratch", "finetune", "frozen")}
# config file -> (dataset prefix, recipe every run must resolve to, run name -> (model, strategy), published mIoU %)
RECIPES = {
    "pets-fcn-vs-segformer.yaml": (
        "oxford-pet", {"size": (64, 64), "optimizer": "adamw", "lr": 1e-3, "amsgrad": True, "weight_decay": 0.0,
                       "scheduler": "exponential", "gamma": 0.98, "epochs": 30, "batch_size": 64, "val_every": 2,
                       "patience": 0, "loss": "ce"},
        PETS_RUNS, {}),
    "cityscapes8-unet-vs-segformer.yaml": (
        "cityscapes-8", {"epochs": 20, "patience": 3, "val_every": 1, "strategy": "finetune"},
        {"unet_resnet50": ("unet_resnet50", "finetune"), "segformer_b3": ("segformer_b3", "finetune")}, {}),
    "bdd100k-drivable-5models.yaml": (
        "bdd100k-drivable", {"loss": "dice", "scheduler": "onecycle", "lr": 3e-4, "strategy": "finetune"},
        {m: (m, "finetune") for m in ("fcn_resnet50", "unet_resnet34", "pspnet_resnet34", "deeplabv3plus_resnet34",
                                      "segformer_b3")},
        {"fcn_resnet50": 69.56, "unet_resnet34": 65.44, "pspnet_resnet34": 75.49, "deeplabv3plus_resnet34": 73.05,
         "segformer_b3": 77.07}),
}


def resolved(exp, run) -> TrainConfig:
    options = {**exp.train, **run.options, "dataset": exp.dataset, "out": str(exp.run_dir(run))}
    return resolve_config(TrainConfig.from_dict(options))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_reference_config_is_the_published_recipe(name):
    prefix, recipe, runs, published = RECIPES[name]
    exp = load_experiment(CONFIGS / name)
    assert exp.dataset.partition(":")[0] == prefix
    assert {r.name: (r.options["model"], resolved(exp, r).strategy) for r in exp.runs} == runs
    for run in exp.runs:
        cfg = resolved(exp, run)
        assert {k: getattr(cfg, k) for k in recipe} == recipe, run.name
    assert exp.published == published
    header = "".join(line for line in (CONFIGS / name).read_text().splitlines(True) if line.startswith("#"))
    for value in published.values():
        assert f"{value:.2f}" in header  # the header cites the figures the run is compared with


def test_the_bdd_warmup_is_onecycles_30_percent():
    exp = load_experiment(CONFIGS / "bdd100k-drivable-5models.yaml")
    assert all(resolved(exp, r).warmup == 0.3 for r in exp.runs)


# --- end to end on fake official layouts ------------------------------------------------------------------
SMOKE_SIZE = [64, 64]  # the published sizes (up to 512x1024) would take minutes per step on a test CPU


@pytest.fixture(scope="module")
def weights_files(tmp_path_factory):
    """A local weights file per model (what `--pretrained PATH` fine-tunes from), so no test downloads."""
    from safetensors.torch import save_file

    from segcompare.models import build_model

    folder, made = tmp_path_factory.mktemp("weights"), {}

    def get(model: str) -> str:
        if model not in made:
            net = build_model(model, 3)
            made[model] = str(folder / f"{model}.safetensors")
            save_file({k: v.contiguous() for k, v in net.state_dict().items()}, made[model])
        return made[model]

    return get


def smoke_config(name: str, tmp_path: Path, weights_files) -> Path:
    """The reference config with a fake dataset root, tiny images and batches, local weights, files in tmp."""
    import yaml
    from test_datasets import make_bdd, make_cityscapes, make_oxford

    raw = yaml.safe_load((CONFIGS / name).read_text())
    prefix = raw["dataset"].partition(":")[0]
    maker = {"oxford-pet": make_oxford, "cityscapes-8": make_cityscapes, "bdd100k-drivable": make_bdd}[prefix]
    raw["dataset"] = f"{prefix}:{maker(tmp_path / 'data')}"
    raw["output"], raw["report"] = str(tmp_path / "ckpt"), str(tmp_path / "report")
    raw["train"].update(size=SMOKE_SIZE, batch_size=4, workers=0, progress=False)
    raw["evaluate"].update(latency=False, robustness=False)
    models = []
    for entry in raw["models"]:
        entry = {"model": entry} if isinstance(entry, str) else dict(entry)
        if entry.get("strategy", raw["train"].get("strategy", "scratch")) != "scratch":
            entry["pretrained"] = weights_files(entry["model"])
        models.append(entry)
    raw["models"] = models
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_reference_config_runs_end_to_end(name, tmp_path, weights_files):
    import json

    from segcompare.compare import compare

    path = smoke_config(name, tmp_path, weights_files)
    published = RECIPES[name][3]
    results = compare(path, device="cpu", epochs=1, max_steps=2)
    exp = load_experiment(path)
    assert [p.parent.name for p in results] == [r.name for r in exp.runs]
    for p in results:
        res, config = json.loads(p.read_text()), json.loads((p.parent / "config.json").read_text())
        assert config["train"]["summary"]["steps"] == 2
        if config["train"]["strategy"] != "scratch":  # fine-tuned from the local file, not a download
            assert config["train"]["pretrained"] == weights_files(config["name"])
        assert res.get("published_miou") == (published[p.parent.name] / 100 if published else None)
    board = (tmp_path / "report" / "leaderboard.csv").read_text()
    assert (tmp_path / "report" / "report.html").is_file()
    if published:
        assert "Published mIoU (%)" in board.splitlines()[0]
        for value in published.values():
            assert f"{value:.2f}" in (tmp_path / "report" / "leaderboard.md").read_text()
