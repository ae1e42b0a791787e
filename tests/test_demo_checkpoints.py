"""The embedded demo (issue 8): every committed checkpoint loads, names a registry model, and its
results.json agrees with a fresh evaluation on a few test samples."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from segcompare.checkpoint import load_model, read_config
from segcompare.evaluate import check_results, evaluate
from segcompare.models import model_info

ROOT = Path(__file__).resolve().parents[1]
TASKS = {"pets": "configs/demo-pets.yaml", "streets": "configs/demo-streets.yaml"}
CHECKPOINTS = sorted(p.parent for p in ROOT.glob("checkpoints/*/*/config.json"))


def _config_models(task: str) -> list[str]:
    exp = yaml.safe_load((ROOT / TASKS[task]).read_text())
    return [m if isinstance(m, str) else m.get("name", m["model"]) for m in exp["models"]]


def test_both_tasks_with_every_configured_model_are_committed():
    for task in TASKS:
        found = sorted(p.name for p in CHECKPOINTS if p.parent.name == task)
        assert found == sorted(_config_models(task)), task


def test_checkpoints_fit_the_size_budget():
    total = sum(f.stat().st_size for d in CHECKPOINTS for f in d.iterdir() if f.is_file())
    assert total < 60e6, f"committed checkpoints take {total / 1e6:.1f} MB (budget 60 MB)"



def test_resume_state_is_not_committed():
    try:
        tracked = subprocess.run(["git", "ls-files", "checkpoints"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    assert tracked and not any("/last/" in p for p in tracked), "resume state (last/) must not be committed"


@pytest.mark.parametrize("ckpt", CHECKPOINTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_checkpoint_loads_and_results_agree_with_a_fresh_evaluation(ckpt):
    config = read_config(ckpt)
    assert model_info(config["name"])["name"] == config["name"]
    results = json.loads((ckpt / "results.json").read_text())
    check_results(results)
    assert results["robustness"] and results["latency_ms"]["p50"] > 0
    assert (ckpt / "history.jsonl").read_text().strip()

    model, config = load_model(ckpt)
    fresh = evaluate((model, config), results["dataset"], split=results["split"], max_images=4, latency=False,
                     robustness=False, progress=False)
    assert fresh["per_image"]["names"] == results["per_image"]["names"][:4]
    for new, old in zip(fresh["per_image"]["miou"], results["per_image"]["miou"][:4]):
        assert new == pytest.approx(old, abs=5e-3)


@pytest.mark.parametrize("task", TASKS)
def test_models_differ_visibly(task):
    scores = [json.loads((d / "results.json").read_text())["miou"] for d in CHECKPOINTS if d.parent.name == task]
    assert max(scores) - min(scores) > 0.03, f"{task}: the comparison has nothing to say ({scores})"


@pytest.mark.parametrize("task", TASKS)
def test_gallery_samples_have_ground_truth(task):
    images = sorted(p for p in (ROOT / "assets" / "samples" / task).glob("*.png") if not p.stem.endswith("_mask"))
    assert len(images) >= 4
    for image in images:
        assert image.with_name(f"{image.stem}_mask.png").is_file()
