"""Fixtures for the app tests (a pytest plugin: `pytest_plugins = ["conftest_app"]`).

A session-wide fake project in a temp folder: two tasks of tiny random-weight checkpoints (64 px inputs),
hand-made Contract-4 results and training histories, and test samples with ground-truth masks; plus one
running app server on a free port shared by the API and browser tests.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # app.py lives at the repo root
    sys.path.insert(0, str(ROOT))

TASKS = {
    "pets": {"dataset": "synthetic-pets", "classes": ["background", "pet", "boundary"],
             "palette": [[0, 0, 0], [230, 150, 40], [250, 250, 250]], "input_size": [64, 64],
             "models": ["unet_resnet18", "segformer_b0", "pspnet_resnet18"]},
    "streets": {"dataset": "synthetic-streets", "classes": ["road", "sidewalk", "building", "vegetation", "sky"],
                "palette": None, "input_size": [48, 96], "models": ["pspnet_resnet18", "segformer_b0"]},
}
SAMPLES = {"pets": {"cat_001": (80, 60), "dog_002": (64, 64)}, "streets": {"street_001": (96, 48)}}


def fake_results(name: str, spec: dict, seed: int) -> dict:
    """A Contract-4 results dict with plausible numbers, built with the real metric functions."""
    from segcompare.calibration import curves, reliability
    from segcompare.evaluation import metric_fields

    rng = np.random.default_rng(seed)
    k, n = len(spec["classes"]), 6
    per = np.zeros((n, k, k), np.int64)
    for i in range(n):
        diag = rng.integers(200, 900, k)
        per[i] = rng.integers(0, 60, (k, k)) + np.diag(diag)
    band = per.sum(0) // 3 + rng.integers(0, 40, (k, k))
    res = {"format": "segcompare-results/1", "model": name, "checkpoint": f"checkpoints/x/{name}",
           "dataset": spec["dataset"], "split": "test", "classes": spec["classes"], "num_images": n,
           "input_size": spec["input_size"], "boundary_px": 3}
    res.update(metric_fields(torch.from_numpy(per.sum(0)), torch.from_numpy(band), torch.from_numpy(per),
                             [f"img_{i}" for i in range(n)]))
    res["params"], res["size_mb"] = int(rng.integers(3, 15) * 1e6), float(rng.uniform(10, 60))
    res["latency_ms"] = {"device": "cpu", "batch": 1, "size": spec["input_size"], "p50": float(rng.uniform(5, 50)),
                         "p95": 60.0}
    res["robustness"] = {c: {str(s): float(res["miou"] * (1 - 0.1 * s * rng.uniform(0.5, 1.5))) for s in (1, 2, 3)}
                         for c in ("gaussian_noise", "blur", "fog")}
    labels = rng.integers(0, k, 2000)
    probs = rng.dirichlet(np.ones(k), 2000).astype(np.float32)
    probs[np.arange(2000), labels] += 0.6
    probs /= probs.sum(1, keepdims=True)
    res["roc"], res["pr"] = curves(probs, labels, spec["classes"])
    rel = reliability(probs, labels)
    res["ece"] = rel.pop("ece")
    res["created"], res["segcompare_version"] = "2026-01-01T00:00:00+00:00", "0.1.0"
    return res


def write_history(path: Path, seed: int, epochs: int = 4) -> None:
    rng = np.random.default_rng(seed)
    lines = [json.dumps({"epoch": e, "train_loss": 1.0 / e + rng.uniform(0, 0.1), "val_loss": 1.1 / e,
                         "val_miou": 0.3 + 0.1 * e, "lr": 1e-3, "seconds": 2.0}) for e in range(1, epochs + 1)]
    path.write_text("\n".join(lines) + "\n")


def make_checkpoint(directory: Path, name: str, spec: dict, seed: int, results: bool = True) -> Path:
    from helpers import write_checkpoint

    from segcompare.models import build_model

    torch.manual_seed(seed)
    model = build_model(name, len(spec["classes"]))
    meta = {"classes": spec["classes"], "palette": spec["palette"], "input_size": spec["input_size"],
            "dataset": spec["dataset"]}  # mean/std: the ImageNet defaults
    write_checkpoint(directory, model, meta=meta, dtype=torch.float16,
                     results=fake_results(name, spec, seed) if results else None)
    if results:
        write_history(directory / "history.jsonl", seed)
    return directory


def make_sample(folder: Path, name: str, size: tuple[int, int], k: int, seed: int) -> Path:
    """A blocky RGB picture whose mask has every class and a stripe of ignored pixels."""
    rng = np.random.default_rng(seed)
    w, h = size
    mask = np.zeros((h, w), np.uint8)
    for c in range(k):
        mask[:, c * w // k:(c + 1) * w // k] = c
    mask[h // 2:h // 2 + 2] = 255
    image = (rng.integers(0, 255, (k, 3))[np.minimum(mask, k - 1)] + rng.integers(0, 30, (h, w, 3))).clip(0, 255)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.astype(np.uint8)).save(folder / f"{name}.png")
    Image.fromarray(mask, mode="L").save(folder / f"{name}_mask.png")
    return folder / f"{name}.png"


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """tmp/checkpoints/<task>/<model>/ and tmp/samples/<task>/ for two tasks."""
    root = tmp_path_factory.mktemp("app_project")
    seed = 0
    for task, spec in TASKS.items():
        for name in spec["models"]:
            seed += 1
            make_checkpoint(root / "checkpoints" / task / name, name, spec, seed)
        for sample, size in SAMPLES[task].items():
            seed += 1
            make_sample(root / "samples" / task, sample, size, len(spec["classes"]), seed)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(root):
    """Launch the app on ROOT/checkpoints + ROOT/samples as `python app.py` would; yields (url, demo)."""
    import app

    demo = app.build_demo([str(root / "checkpoints")], samples_root=root / "samples")
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **app.launch_options())
    yield f"http://127.0.0.1:{port}/", demo
    demo.close()


@pytest.fixture(scope="session")
def server(project):
    """(url, demo) of one app server on the fixture project, for the whole session."""
    yield from serve(project)


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    return Client(server[0], verbose=False)
