"""Builds each library's network for an (arch, encoder) pair with the weights asked for: torchvision,
segmentation-models-pytorch (smp) and transformers (SegFormer).

A builder is `builder(arch, encoder) -> build(num_classes, pretrained) -> nn.Module`; `segcompare.models`
wraps what it returns in that library's `SegModel` adapter. Missing weights fail at once with one line that
says where to put the file (no network: no retry loop).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .errors import UserError


# ----------------------------------------------------------------------------------------------- torchvision
def _fetch_error(what: str, url: str, err: Exception) -> UserError:
    path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))
    return UserError(f"could not get {what} weights ({type(err).__name__}: {err}). Connect to the internet, "
                     f"or download {url} and put it at {path}")


def _tv_weights(enum, what: str):
    """Fetch a torchvision weights enum now so a missing file fails with a helpful message."""
    try:
        enum.get_state_dict(progress=False)
    except Exception as e:  # URLError, OSError, ... all mean "not cached and no network"
        raise _fetch_error(what, enum.url, e) from None
    return enum


def _dilate(layer: nn.Sequential, dilation: int) -> None:
    """Turn a BasicBlock ResNet stage into a dilated one (torchvision only dilates Bottlenecks)."""
    for i, block in enumerate(layer):
        for conv in (block.conv1, block.conv2):
            d = dilation // 2 if (i == 0 and conv is block.conv1) else dilation
            conv.stride, conv.dilation, conv.padding = (1, 1), (d, d), (d, d)
        if block.downsample is not None:
            block.downsample[0].stride = (1, 1)


def _tv_small_resnet(arch: str, depth: int, num_classes: int, pretrained: str) -> nn.Module:
    """FCN / DeepLabV3 on ResNet-18/34 at output stride 8 (the heads torchvision uses for ResNet-50)."""
    from torchvision import models as tvm
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3
    from torchvision.models.segmentation.fcn import FCN, FCNHead

    weights = getattr(tvm, f"ResNet{depth}_Weights").IMAGENET1K_V1 if pretrained == "imagenet" else None
    if weights is not None:
        _tv_weights(weights, f"resnet{depth} ImageNet")
    backbone = getattr(tvm, f"resnet{depth}")(weights=weights)
    _dilate(backbone.layer3, 2)
    _dilate(backbone.layer4, 4)
    backbone = IntermediateLayerGetter(backbone, {"layer4": "out"})
    if arch == "fcn":
        return FCN(backbone, FCNHead(512, num_classes), None)
    return DeepLabV3(backbone, DeepLabHead(512, num_classes), None)


def _tv_mobilenet_fcn(variant: str, num_classes: int, pretrained: str) -> nn.Module:
    """FCN head on a dilated MobileNet-V3 (output stride 16), built as torchvision builds its LR-ASPP."""
    from torchvision import models as tvm
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.segmentation.fcn import FCN, FCNHead

    title = f"MobileNet_V3_{variant.capitalize()}"
    weights = getattr(tvm, f"{title}_Weights").IMAGENET1K_V1 if pretrained == "imagenet" else None
    if weights is not None:
        _tv_weights(weights, f"mobilenet_v3_{variant} ImageNet")
    features = getattr(tvm, f"mobilenet_v3_{variant}")(weights=weights, dilated=True).features
    for m in features.modules():
        if isinstance(m, nn.BatchNorm2d):
            # torchvision's 0.01 suits ImageNet-length schedules; after a few hundred steps from scratch the
            # running statistics would still be near their initial values and eval mode would predict garbage.
            m.momentum = 0.1
    channels = features[-1].out_channels
    backbone = IntermediateLayerGetter(features, {str(len(features) - 1): "out"})
    return FCN(backbone, FCNHead(channels, num_classes), None)


def tv_builder(arch: str, backbone: str):
    def build(num_classes: int, pretrained: str) -> nn.Module:
        import torchvision.models as tvm
        from torchvision.models import segmentation as seg

        if arch == "fcn" and backbone.startswith("mobilenet_v3_"):
            if pretrained == "coco":
                raise UserError(f"no COCO weights for {arch}_{backbone}; use --pretrained imagenet or none")
            return _tv_mobilenet_fcn(backbone.rsplit("_", 1)[1], num_classes, pretrained)
        if backbone in ("resnet18", "resnet34"):
            if pretrained == "coco":
                raise UserError(f"no COCO weights for {arch}_{backbone}; use --pretrained imagenet or none")
            return _tv_small_resnet(arch, int(backbone[6:]), num_classes, pretrained)
        fn = getattr(seg, f"{arch}_{backbone}")
        if pretrained == "coco":
            enum = getattr(seg, f"{_tv_weights_name(arch)}_{_tv_backbone_title(backbone)}_Weights")
            enum = _tv_weights(enum.COCO_WITH_VOC_LABELS_V1, f"{arch}_{backbone} COCO")
            net = fn(weights=enum)
            _replace_tv_head(net, arch, num_classes)
            return net
        wb = None
        if pretrained == "imagenet":
            wb = getattr(tvm, f"{_tv_backbone_title(backbone)}_Weights").IMAGENET1K_V1
            _tv_weights(wb, f"{backbone} ImageNet")
        return fn(weights=None, weights_backbone=wb, num_classes=num_classes, aux_loss=False)

    return build


def _tv_weights_name(arch: str) -> str:
    return {"fcn": "FCN", "deeplabv3": "DeepLabV3", "lraspp": "LRASPP"}[arch]


def _tv_backbone_title(backbone: str) -> str:
    return {"resnet50": "ResNet50", "resnet101": "ResNet101",
            "mobilenet_v3_large": "MobileNet_V3_Large"}[backbone]


def _replace_tv_head(net: nn.Module, arch: str, num_classes: int) -> None:
    """COCO-pretrained heads predict 21 classes: swap the last layers for `num_classes`."""
    if arch == "lraspp":
        c = net.classifier
        c.low_classifier = nn.Conv2d(c.low_classifier.in_channels, num_classes, 1)
        c.high_classifier = nn.Conv2d(c.high_classifier.in_channels, num_classes, 1)
    else:
        last = net.classifier[-1]
        net.classifier[-1] = nn.Conv2d(last.in_channels, num_classes, 1)
    net.aux_classifier = None


# ----------------------------------------------------------------------------------------------- smp
class EncoderFCN(nn.Module):
    """torchvision's FCN head on an smp encoder's deepest map (output stride 16, like smp's DeepLabV3+)."""

    def __init__(self, encoder: str, num_classes: int, weights: str | bool | None):
        super().__init__()
        import segmentation_models_pytorch as smp
        from torchvision.models.segmentation.fcn import FCNHead

        self.encoder = smp.encoders.get_encoder(encoder, depth=5, weights=weights, output_stride=16)
        self.head = FCNHead(self.encoder.out_channels[-1], num_classes)

    def forward(self, x):
        return self.head(self.encoder(x)[-1])


def _smp_create(arch: str, encoder: str, num_classes: int, weights: str | bool | None) -> nn.Module:
    import segmentation_models_pytorch as smp

    if arch == "fcn":
        return EncoderFCN(encoder, num_classes, weights)
    return smp.create_model(arch, encoder_name=encoder, encoder_weights=weights, classes=num_classes)


def _offline_encoder(encoder: str, pretrained: str):
    """The timm name when `--pretrained imagenet` for this encoder can come from an installed package."""
    from .pretrained import offline_weights, package_file

    w = offline_weights(encoder[3:]) if encoder.startswith("tu-") else None
    return w.encoder if (w and pretrained == "imagenet" and package_file(w)) else None


def smp_builder(arch: str, encoder: str):
    def build(num_classes: int, pretrained: str) -> nn.Module:
        if pretrained == "coco":
            raise UserError("smp encoders have no COCO weights; use --pretrained imagenet or none")
        offline = _offline_encoder(encoder, pretrained)
        weights = None
        if pretrained == "imagenet" and not offline:  # smp's timm encoders take True (their tag names the weights)
            weights = True if encoder.startswith("tu-") else "imagenet"
        try:
            net = _smp_create(arch, encoder, num_classes, weights)
        except (KeyError, ValueError) as e:
            raise UserError(f"smp cannot build {arch}_{encoder}: {e}") from None
        except OSError as e:  # huggingface_hub's offline / not-found errors are OSErrors
            from huggingface_hub.constants import HF_HUB_CACHE

            from .pretrained import OFFLINE, missing_message

            if encoder[3:] in OFFLINE:
                raise UserError(missing_message(encoder[3:])) from None
            raise UserError(f"could not get ImageNet weights for smp encoder {encoder!r} "
                            f"({type(e).__name__}). Connect to the internet, or place the Hub repo "
                            f"smp-hub/{encoder}.imagenet in the Hugging Face cache {HF_HUB_CACHE}") from None
        if offline:
            from .pretrained import load_offline_imagenet

            load_offline_imagenet(offline, net.encoder.model)
        return net

    return build


# ----------------------------------------------------------------------------------------------- transformers
# MiT variants from the SegFormer paper: (hidden sizes, depths, decoder width).
MIT_CONFIGS = {
    "b0": ([32, 64, 160, 256], [2, 2, 2, 2], 256), "b1": ([64, 128, 320, 512], [2, 2, 2, 2], 256),
    "b2": ([64, 128, 320, 512], [3, 4, 6, 3], 768), "b3": ([64, 128, 320, 512], [3, 4, 18, 3], 768),
    "b4": ([64, 128, 320, 512], [3, 8, 27, 3], 768), "b5": ([64, 128, 320, 512], [3, 6, 40, 3], 768)}


def hub_unreachable(timeout: float = 2.0) -> bool:
    """True when the Hub cannot answer: offline mode, or no TCP connection within `timeout` seconds.

    Without this check an offline `from_pretrained` retries each file for 35-50 s before its error; with it, the
    cache is used (local_files_only) and a missing repo fails at once. Behind a proxy the Hub decides.
    """
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        return True
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
    except OSError:
        return True
    return False


def hf_builder(variant: str):
    def build(num_classes: int, pretrained: str) -> nn.Module:
        from transformers import SegformerConfig, SegformerForSemanticSegmentation
        from transformers.utils import logging as hf_logging

        if pretrained == "coco":
            raise UserError("SegFormer has no COCO weights here; use --pretrained imagenet or none")
        if pretrained == "imagenet":
            repo = f"nvidia/mit-{variant}"
            verbosity = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()  # the "newly initialized decode_head" warning is expected
            try:
                return SegformerForSemanticSegmentation.from_pretrained(
                    repo, num_labels=num_classes, ignore_mismatched_sizes=True, local_files_only=hub_unreachable())
            except OSError as e:
                from huggingface_hub.constants import HF_HUB_CACHE

                raise UserError(f"could not get ImageNet weights {repo} ({type(e).__name__}). Connect to the "
                                f"internet, or place the Hub repo {repo} in the Hugging Face cache "
                                f"{HF_HUB_CACHE}") from None
            finally:
                hf_logging.set_verbosity(verbosity)
        hidden, depths, decoder = MIT_CONFIGS[variant]
        cfg = SegformerConfig(hidden_sizes=hidden, depths=depths, decoder_hidden_size=decoder,
                              num_attention_heads=[1, 2, 5, 8], num_labels=num_classes)
        return SegformerForSemanticSegmentation(cfg)

    return build
