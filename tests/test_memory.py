"""The memory estimate: refuses a training run that cannot fit, before the first step, naming a batch that fits."""

import pytest
import torch

from segcompare import memory
from segcompare.errors import UserError
from segcompare.models import build_model
from segcompare.train import TrainConfig, fit


@pytest.fixture(scope="module")
def model():
    return build_model("fcn_resnet18", 3)


def test_activations_grow_with_the_image(model):
    small, large = memory.activation_bytes(model, (32, 32)), memory.activation_bytes(model, (64, 64))
    assert 0 < small < large and large == pytest.approx(4 * small, rel=0.2)


def test_state_counts_weights_grads_and_optimizer(model):
    n = sum(p.numel() for p in model.parameters()) * 4
    assert memory.state_bytes(model, "adamw") == 4 * n
    assert memory.state_bytes(model, "adamw", amsgrad=True) == 5 * n
    assert memory.state_bytes(model, "sgd") == 3 * n


def test_a_run_that_cannot_fit_names_the_batch_that_does(model):
    cpu = torch.device("cpu")
    state, per = memory.state_bytes(model, "adamw"), memory.activation_bytes(model, (32, 32))
    available = state + 5 * per + per // 2
    est = memory.check_fits(model, "fcn_resnet18", (32, 32), 5, "adamw", cpu, available=available)
    assert est["need"] <= available
    with pytest.raises(UserError, match=r"with batch 64 needs about .* GiB .* use --batch-size 5 \(") as e:
        memory.check_fits(model, "fcn_resnet18", (32, 32), 64, "adamw", cpu, available=available)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="even batch 1 needs"):
        memory.check_fits(model, "fcn_resnet18", (32, 32), 2, "adamw", cpu, available=state)


def test_fit_refuses_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 64 * 2**20)
    cfg = TrainConfig(model="fcn_resnet18", dataset="synthetic-pets", dataset_options={"length": 4}, size=(32, 32),
                      batch_size=2, epochs=1, workers=0, device="cpu", progress=False, out=str(tmp_path / "r"))
    with pytest.raises(UserError, match="GiB of memory are free"):
        fit(cfg)
    assert not (tmp_path / "r" / "history.jsonl").exists()
