"""Every registered model: odd-size forward, backward, and an exact save -> load round trip."""

import json
from pathlib import Path

import pytest
import torch

from segcompare import build_model, list_models, load_model, save_checkpoint
from segcompare.checkpoint import CONFIG, WEIGHTS
from segcompare.cli import main
from segcompare.errors import UserError
from segcompare.figures import display_name
from segcompare.models import ModelFacts, model_facts, model_info

SIZE = (70, 90)  # odd on purpose: neither divisible by 32 nor by 8
CHECKPOINT_CONFIGS = sorted(Path(__file__).resolve().parents[1].glob("checkpoints/*/*/config.json"))


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_roundtrip(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3)
    assert model.library == model_info(name)["library"]
    x = torch.randn(2, 3, *SIZE)  # batch 2: pooled BatchNorm branches need >1 value in train mode
    logits = model.train()(x)
    assert logits.shape == (2, 3, *SIZE)
    logits.float().logsumexp(1).mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())

    model.eval()
    with torch.no_grad():
        expected = model(x[:1])
    save_checkpoint(model, tmp_path / "ckpt", {"classes": ["a", "b", "c"]})
    loaded, config = load_model(tmp_path / "ckpt")
    assert config["name"] == name and config["classes"] == ["a", "b", "c"]
    with torch.no_grad():
        assert torch.equal(loaded(x[:1]), expected)


def test_params_and_size_are_reported():
    model = build_model("unet_resnet18", 2)
    assert 14e6 < model.num_params() < 15e6
    assert model.size_mb() == pytest.approx(model.num_params() * 4 / 2**20, rel=0.01)


@pytest.mark.parametrize("name", ["unet_resnet18", "fcn_resnet18", "segformer_b0"])
def test_frozen_encoder_keeps_batchnorm_statistics(name, tmp_path):
    ckpt = save_checkpoint(build_model(name, 2), tmp_path / "init")
    model = build_model(name, 2, pretrained=str(ckpt), frozen=True).train()
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert any(p.requires_grad for n, p in model.named_parameters() if not n.startswith(_enc_prefix(model)))
    bns = [m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in bns]
    model(torch.randn(2, 3, 64, 64))
    assert all(not m.training for m in bns)
    assert all(torch.equal(a, m.running_mean) for a, m in zip(before, bns))


def _enc_prefix(model):
    enc = model.encoder
    return next(n for n, m in model.named_modules() if m is enc) + "."


def test_fp16_storage_loads_as_fp32(tmp_path):
    model = build_model("unet_resnet18", 3).eval()
    save_checkpoint(model, tmp_path, dtype=torch.float16)
    loaded, config = load_model(tmp_path)
    assert config["dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert (tmp_path / WEIGHTS).stat().st_size < model.size_mb() * 2**20 * 0.6


def test_finetune_from_checkpoint_with_other_class_count(tmp_path):
    src = build_model("unet_resnet18", 5)
    save_checkpoint(src, tmp_path)
    model = build_model("unet_resnet18", 3, pretrained=str(tmp_path))
    assert torch.equal(model.encoder.conv1.weight, src.encoder.conv1.weight)
    assert model.net.segmentation_head[0].out_channels == 3


# ------------------------------------------------------------------------------------------- facts
@pytest.mark.parametrize("name, display, short, library, encoder", [
    ("unet_resnet34", "UNet (ResNet-34)", "UNet", "smp", "ResNet-34"),
    ("segformer_b0", "SegFormer-B0", "SegFormer-B0", "transformers", "MiT-B0"),
    ("segformer_mit_b0", "SegFormer (MiT-B0)", "SegFormer", "smp", "MiT-B0"),
    ("fcn_resnet50", "FCN (ResNet-50)", "FCN", "torchvision", "ResNet-50"),
    ("unet_tu-tf_efficientnet_lite0", "UNet (EfficientNet-Lite0)", "UNet", "smp", "EfficientNet-Lite0"),
    ("UNet_ResNext50_32x4d", "UNet (ResNeXt-50-32x4d)", "UNet", "smp", "ResNeXt-50-32x4d"),  # unlisted smp encoder
])
def test_model_facts(name, display, short, library, encoder):
    facts = model_facts(name)
    assert isinstance(facts, ModelFacts) and facts.name == name.lower()
    assert (facts.display_name, facts.short_name, facts.library, facts.encoder) == (display, short, library, encoder)
    assert facts.what_it_is and facts.pretrained_encoder.startswith("ImageNet")


@pytest.mark.parametrize("name", list_models())
def test_figures_name_every_model_as_the_registry_does(name):
    assert display_name(name) == display_name({"model": name}) == model_facts(name).display_name


def test_committed_checkpoints_resolve():
    assert CHECKPOINT_CONFIGS, "the repository's checkpoints/*/*/config.json are missing"
    for path in CHECKPOINT_CONFIGS:
        name = json.loads(path.read_text())["name"]
        facts = model_facts(name)
        assert facts.name == name and model_info(name)["library"] == facts.library
        assert facts.display_name != name and name in list_models()


# ------------------------------------------------------------------------------------------- bad input
def test_unknown_model_lists_valid_names():
    with pytest.raises(UserError, match="unknown model 'unet_resnet9000'|unknown smp encoder"):
        build_model("unet_resnet9000", 2)
    with pytest.raises(UserError, match=r"unknown model 'fcn_resnet5'.*Did you mean.*fcn_resnet50"):
        build_model("fcn_resnet5", 2)


@pytest.mark.parametrize("k", [0, -1, 2.5, "3", True])
def test_wrong_num_classes(k):
    with pytest.raises(UserError, match="num_classes must be a positive integer"):
        build_model("unet_resnet18", k)


def test_frozen_without_weights_is_refused():
    with pytest.raises(UserError, match="frozen encoder needs pretrained weights"):
        build_model("unet_resnet18", 2, frozen=True)


@pytest.fixture
def ckpt(tmp_path):
    return save_checkpoint(build_model("unet_resnet18", 2), tmp_path / "ckpt")


def test_missing_checkpoint(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_model(tmp_path / "nope")
    with pytest.raises(UserError, match="config.json is missing"):
        load_model(tmp_path)


def test_missing_weights(ckpt):
    (ckpt / WEIGHTS).unlink()
    with pytest.raises(UserError, match="model.safetensors is missing"):
        load_model(ckpt)


@pytest.mark.parametrize("damage", ["truncate", "header", "garbage"])
def test_corrupt_weights_name_the_file(ckpt, damage):
    path = ckpt / WEIGHTS
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "header":  # a header that claims a huge length
        data = (2**40).to_bytes(8, "little") + data[8:]
    else:
        data = b"not a safetensors file"
    path.write_bytes(data)
    with pytest.raises(UserError, match="model.safetensors is corrupt or truncated"):
        load_model(ckpt)


def test_tampered_header_shape_is_refused(ckpt):
    from safetensors.torch import load_file, save_file

    state = load_file(ckpt / WEIGHTS)
    key = next(k for k in state if k.endswith("segmentation_head.0.weight"))
    state[key] = torch.zeros(7, *state[key].shape[1:])
    save_file(state, ckpt / WEIGHTS)
    with pytest.raises(UserError, match="wrong shape"):
        load_model(ckpt)


@pytest.mark.parametrize("edit,match", [
    ({"name": "evil_net"}, "unknown model 'evil_net'"),
    ({"num_classes": 5}, "num_classes is 5 but classes lists 2"),
    ({"num_classes": 5, "classes": list("abcde")}, "does not match model"),
    ({"num_classes": "x"}, "num_classes must be a positive integer"),
    ({"format": "other/9"}, "has format 'other/9'"),
])
def test_bad_config(ckpt, edit, match):
    config = json.loads((ckpt / CONFIG).read_text())
    config.update(edit)
    (ckpt / CONFIG).write_text(json.dumps(config))
    with pytest.raises(UserError, match=match):
        load_model(ckpt)


def test_config_not_json(ckpt):
    (ckpt / CONFIG).write_text("{oops")
    with pytest.raises(UserError, match="not valid JSON"):
        load_model(ckpt)


# ------------------------------------------------------------------------------------------- CLI
def test_cli_models_lists_every_name(capsys):
    assert main(["models", "--no-params"]) == 0
    out = capsys.readouterr().out
    for name in list_models():
        assert name in out and model_facts(name).display_name in out


def test_cli_models_counts_params(capsys):
    assert main(["models", "fcn_resnet18", "--num-classes", "3"]) == 0
    out = capsys.readouterr().out
    params = build_model("fcn_resnet18", 3).num_params()
    assert f"{params / 1e6:.2f}M" in out and "torchvision" in out


def test_cli_user_error_is_one_line_exit_2(capsys):
    assert main(["models", "--num-classes", "3", "--library", "smp", "unet_*"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["models", "--library", "nope"])
    assert e.value.code == 2


def test_checkpoint_files_are_readable_by_others(tmp_path):
    import os

    save_checkpoint(build_model("pspnet_resnet18", 2), tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    for name in (CONFIG, WEIGHTS):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask
