"""The model zoo (Contract 1): one name -> one `SegModel`, over torchvision, smp and transformers.

Every model maps normalised float[B,3,H,W] to logits float[B,K,H,W] at the input's H and W, for any H, W.
Each library gets one adapter (a `SegModel` subclass) that hides its quirks: torchvision's `['out']` dict,
smp's divisible-input requirement (pad to the stride, crop back), SegFormer's 1/4-resolution logits; the
networks themselves are built by `segcompare.model_libraries`.
Names are lowercase `arch_backbone`: `fcn_resnet50`, `unet_resnet34`, `segformer_b0`, ...; which names exist
and what each model is (`model_facts`) live in `segcompare.zoo`; this module builds them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError
from .model_libraries import hf_builder, smp_builder, tv_builder
from .registry import Registry
from .zoo import ARCHITECTURES, ModelFacts, list_models, model_facts, resolve

__all__ = ["SegModel", "build_model", "list_models", "model_info", "model_facts", "ModelFacts", "LIBRARIES"]

PRETRAINED_CHOICES = ("none", "imagenet", "coco", "PATH")


class SegModel(nn.Module):
    """Common face of every model; subclasses implement `_logits` for one library."""

    library = ""
    encoder_attr = ""  # the attribute of `net` that is the encoder (what --strategy frozen freezes)
    stride = 1  # inputs are padded to a multiple of this and cropped back
    min_size = 0  # ... and at least to this size (decoders that pool the deepest map several times)

    def __init__(self, name: str, num_classes: int, net: nn.Module):
        super().__init__()
        self.name, self.num_classes, self.net = name, num_classes, net
        self.frozen = False

    @property
    def encoder(self) -> nn.Module:
        if not self.encoder_attr:
            raise NotImplementedError(f"{type(self).__name__} names no encoder_attr")
        return getattr(self.net, self.encoder_attr)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = max(-h % self.stride, self.min_size - h), max(-w % self.stride, self.min_size - w)
        ph, pw = ph + -(h + ph) % self.stride, pw + -(w + pw) % self.stride
        if ph or pw:  # zero = the mean colour after normalisation
            x = F.pad(x, (0, pw, 0, ph))
        out = self._logits(x)
        if out.shape[-2:] != x.shape[-2:]:
            out = F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return out[..., :h, :w]

    def freeze_encoder(self) -> SegModel:
        """The reference experiments' "frozen encoder": no gradients, BatchNorm statistics kept."""
        self.frozen = True
        self.encoder.requires_grad_(False)
        self.encoder.eval()
        return self

    def train(self, mode: bool = True) -> SegModel:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def size_mb(self) -> float:
        return sum(t.numel() * t.element_size() for t in self.state_dict().values()) / 2**20


# ----------------------------------------------------------------------------------------------- adapters
class TorchvisionSeg(SegModel):
    library, encoder_attr = "torchvision", "backbone"

    def _logits(self, x):
        return self.net(x)["out"]


class SmpSeg(SegModel):
    library, encoder_attr, stride = "smp", "encoder", 32

    def _logits(self, x):
        return self.net(x)


class HFSegformer(SegModel):
    library, encoder_attr, stride = "transformers", "segformer", 32

    def _logits(self, x):
        return self.net(pixel_values=x).logits  # 1/4 resolution; forward() upsamples


# ----------------------------------------------------------------------------------------------- zoo
@dataclass(frozen=True)
class Library:
    """One adapter per library: the `SegModel` subclass and `builder(arch, encoder) -> build(k, pretrained)`."""

    adapter: type[SegModel]
    builder: Callable[[str, str], Callable[[int, str], nn.Module]]


LIBRARIES: Registry[Library] = Registry("library")
LIBRARIES.add("torchvision", Library(TorchvisionSeg, tv_builder))
LIBRARIES.add("smp", Library(SmpSeg, smp_builder))
LIBRARIES.add("transformers", Library(HFSegformer, lambda arch, encoder: hf_builder(encoder.removeprefix("mit_"))))


def model_info(name: str) -> dict:
    """{"name", "library", "arch", "encoder"} of a model name (see `segcompare.zoo.resolve`)."""
    return asdict(resolve(name))


def _offline_table() -> dict:
    from .pretrained import OFFLINE

    return OFFLINE


def build_model(name: str, num_classes: int, pretrained: str = "none", frozen: bool = False) -> SegModel:
    """Build a model by registry name. `pretrained`: none | imagenet | coco (torchvision) | PATH."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise UserError(f"num_classes must be a positive integer, got {num_classes!r}")
    spec = resolve(name)
    pretrained = str(pretrained or "none")
    path = None
    if pretrained not in ("none", "imagenet", "coco"):
        path, pretrained = pretrained, "none"
        if not os.path.exists(path):
            raise UserError(f"pretrained weights {path!r} not found; use none, imagenet, coco or an existing "
                            "checkpoint folder / .safetensors file")
    library = LIBRARIES.get(spec.library)
    model = library.adapter(spec.name, num_classes, library.builder(spec.arch, spec.encoder)(num_classes, pretrained))
    model.min_size = ARCHITECTURES.get(spec.arch).min_size if spec.library == "smp" else 0
    if path is not None and path.endswith(".pth") and spec.encoder[3:] in _offline_table():
        from .pretrained import load_offline_imagenet  # an EfficientNet-PyTorch file for the encoder

        load_offline_imagenet(spec.encoder[3:], model.encoder.model, Path(path))
    elif path is not None:
        from .weights import load_pretrained

        load_pretrained(model, path)
    if frozen:
        if pretrained == "none" and path is None:
            raise UserError(f"a frozen encoder needs pretrained weights: add --pretrained imagenet (or a PATH) "
                            f"for {spec.name}, or use --strategy finetune/scratch")
        model.freeze_encoder()
    return model
