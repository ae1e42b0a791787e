"""The fast inference backend: same argmax as eager fp32, clean fallbacks, export cache, Predictor wiring."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime  # noqa: F401  required (requirements.txt): a broken install fails, never skips
import onnxscript  # noqa: F401
import pytest
import torch

from segcompare import onnx_export
from segcompare.backends import Backend, agreement
from segcompare.errors import UserError
from segcompare.inference import Predictor
from segcompare.models import SegModel, build_model

ODD = (1, 3, 67, 93)  # not a multiple of any stride: exercises the padding and cropping around the graph


class Tiny(SegModel):
    """A 1x1-conv 'segmenter' with a stride, so exports take seconds, not tens of seconds."""

    library = "test"
    stride = 8

    def __init__(self, seed: int = 0):
        torch.manual_seed(seed)
        super().__init__("tiny", 3, torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                                        torch.nn.Conv2d(8, 3, 1)))

    def _logits(self, x):
        return self.net(x)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


def demo_model(name: str):
    torch.manual_seed(0)  # the same weights in every test, so the export cache can be shared
    return build_model(name, 3).eval()


def eager(model, x):
    with torch.inference_mode():
        return model(x)


def run(backend, x):
    with torch.inference_mode():
        return backend(x)


@pytest.mark.parametrize("name", ["fcn_mobilenet_v3_small", "unet_tu-mobilenetv3_small_100"])
def test_demo_architectures_agree_with_eager_at_an_odd_size(name, cache):
    model = demo_model(name)
    b = Backend(model, cache_dir=cache, background=False)
    assert b.prepare(ODD) == "onnx", b.reasons
    x = torch.randn(*ODD, generator=torch.Generator().manual_seed(1))  # not the probe it was checked on
    out, ref = run(b, x), eager(model, x)
    assert out.shape == ref.shape == (1, 3, 67, 93)
    assert agreement(out, ref) >= 0.999
    torch.testing.assert_close(out, ref, atol=1e-3, rtol=1e-3)


def test_exports_are_cached_per_weights(cache, monkeypatch):
    model = demo_model("fcn_mobilenet_v3_small")
    Backend(model, cache_dir=cache, background=False).prepare(ODD)  # exported here or by the test above
    calls = []
    monkeypatch.setattr(onnx_export, "export_onnx", lambda *a, **k: calls.append(a))
    again = Backend(model, cache_dir=cache, background=False)
    assert again.prepare((1, 3, 70, 50)) == "onnx" and calls == []  # same weights: read from the cache
    other = Tiny()
    Backend(other, cache_dir=cache, background=False).prepare(ODD)
    assert calls and all(c[0].name == "tiny" for c in calls)  # other weights: a new export


def test_failed_export_falls_back_to_eager_results_and_is_remembered(tmp_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("forced failure")

    monkeypatch.setattr(onnx_export, "export_onnx", broken)
    model = Tiny()
    b = Backend(model, cache_dir=tmp_path, background=False)
    x = torch.randn(*ODD)
    with caplog.at_level(logging.INFO, logger="segcompare.backends"):
        assert b.prepare(ODD) in ("channels_last", "eager")
    assert "forced failure" in b.reasons["onnx dynamic"] and "forced failure" in caplog.text
    torch.testing.assert_close(run(b, x), eager(model, x), atol=1e-5, rtol=1e-5)
    assert list(tmp_path.glob("*/dynamic.failed"))  # a later process does not try again
    monkeypatch.setattr(onnx_export, "export_onnx", lambda *a, **k: pytest.fail("export retried"))
    assert Backend(model, cache_dir=tmp_path, background=False).prepare(ODD) in ("channels_last", "eager")


def test_a_wrong_dynamic_graph_is_rejected_for_a_static_export(tmp_path, monkeypatch):
    real = onnx_export.export_onnx
    targets = []

    def wrong_dynamic(model, path, hw, dynamic=True):
        targets.append("dynamic" if dynamic else "static")
        return real(Tiny(seed=1) if dynamic else model, path, hw, dynamic)  # other weights: other answers

    monkeypatch.setattr(onnx_export, "export_onnx", wrong_dynamic)
    model = Tiny()
    b = Backend(model, cache_dir=tmp_path, background=False)
    assert b.prepare(ODD) == "onnx" and targets == ["dynamic", "static"]
    assert any("agreement" in why for key, why in b.reasons.items() if "dynamic" in key)
    x = torch.randn(*ODD)
    torch.testing.assert_close(run(b, x), eager(model, x), atol=1e-4, rtol=1e-4)


def test_background_export_serves_eager_until_ready(tmp_path):
    model = Tiny()
    b = Backend(model, cache_dir=tmp_path, background=True)
    x = torch.randn(*ODD)
    torch.testing.assert_close(run(b, x), eager(model, x), atol=1e-5, rtol=1e-5)
    assert b.wait_exports(timeout=3600)  # the export thread signals when it is done (the timeout only guards a hang)
    assert isinstance(b._targets["dynamic"], type(tmp_path)), b._targets
    run(b, x)
    assert b.kind(ODD) == "onnx"


def test_zoo_models_export_in_a_child_process(tmp_path):
    model = demo_model("fcn_mobilenet_v3_small")
    with torch.no_grad():
        model.net.classifier[-1].bias.add_(0.01)  # other weights than the other tests: a fresh export
    b = Backend(model, cache_dir=tmp_path, background=True)
    x = torch.randn(*ODD)
    run(b, x)
    assert b.kind(ODD) is None  # not settled while the export runs
    assert b.wait_exports(timeout=3600)  # the export thread signals when it is done (the timeout only guards a hang)
    assert isinstance(b._targets["dynamic"], type(tmp_path)), b.reasons
    out = run(b, x)
    assert b.kind(ODD) == "onnx" and agreement(out, eager(model, x)) >= 0.999


def test_eager_mode_and_bad_mode():
    model = Tiny()
    x = torch.randn(*ODD)
    assert torch.equal(run(Backend(model, mode="eager"), x), eager(model, x))
    with pytest.raises(UserError, match="unknown inference backend 'tensorrt'"):
        Backend(model, mode="tensorrt")


def test_predictor_runs_zoo_models_through_the_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGCOMPARE_CACHE", str(tmp_path))
    monkeypatch.setattr(onnx_export, "export_onnx", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no")))
    model = Tiny()
    fast = Predictor({"m": "x"}, loader=lambda path, device: (model, {"input_size": [32, 32]}))
    slow = Predictor({"m": "x"}, loader=lambda path, device: (model, {"input_size": [32, 32]}), backend="eager")
    image = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    a, b = fast.predict(image)["m"], slow.predict(image)["m"]
    assert (a.mask == b.mask).mean() >= 0.999
    assert "m" in fast.backend_kinds() and slow.backend_kinds()["m"]["kinds"] == {}
    with pytest.raises(UserError, match="unknown inference backend"):
        Predictor({}, backend="fast")
