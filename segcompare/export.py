"""Export a segcompare checkpoint in another library's own format, so that its users load it their usual way.

`transformers` (SegFormer checkpoints): the folder nvidia/segformer-* users expect. `config.json` (a
SegformerConfig with id2label/label2id from the checkpoint's class names), `model.safetensors` and
`preprocessor_config.json` (a SegformerImageProcessor resizing to the checkpoint's input size with its
mean/std), plus a README.md model card. `SegformerForSemanticSegmentation.from_pretrained(folder)` and
`pipeline("image-segmentation", model=folder)` load it offline, and for an image at the checkpoint's input
size the pipeline's masks equal segcompare's prediction (both upsample the 1/4-resolution logits bilinearly).
The processor resizes every image to that fixed size (SegFormer's convention), whereas segcompare keeps the
aspect ratio, so other sizes can differ at object edges.

Formats are registered by name in `FORMATS`; an unknown one lists the valid ones.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import UserError
from .formats import IMAGENET_MEAN, IMAGENET_STD, RESULTS_FILE, Results
from .registry import Registry

FORMATS: Registry[Callable[[Path, Path], Path]] = Registry("export format")
PROCESSOR = "preprocessor_config.json"


def export(checkpoint: str | Path, out: str | Path, fmt: str = "transformers") -> Path:
    """Write `checkpoint` (a folder or Hub repo id) in format `fmt` into the folder `out`; returns `out`."""
    exporter = FORMATS.get(fmt)
    return exporter(checkpoint, Path(out))


def label_maps(classes: list) -> tuple[dict[int, str], dict[str, int]]:
    """id2label / label2id; repeated names get their index appended, so that label2id stays one-to-one."""
    names, seen = [], set()
    for i, name in enumerate(map(str, classes)):
        names.append(name if name not in seen else f"{name}_{i}")
        seen.add(names[-1])
    return dict(enumerate(names)), {n: i for i, n in enumerate(names)}


@FORMATS.register("transformers")
def export_transformers(checkpoint: str | Path, out: Path) -> Path:
    from transformers import SegformerImageProcessor

    from .checkpoint import load_model
    from .model_card import model_card
    from .models import HFSegformer

    model, config = load_model(checkpoint)
    if not isinstance(model, HFSegformer):
        raise UserError(f"{checkpoint}: only SegFormer checkpoints (segformer_b0 ... segformer_b5) export to "
                        f"transformers; this one is {config.get('name')!r} ({config.get('library')}). Push it with "
                        "`segcompare push` instead")
    net = model.net
    id2label, label2id = label_maps(config.get("classes") or [f"class_{i}" for i in range(model.num_classes)])
    net.config.id2label, net.config.label2id = id2label, label2id
    net.config.num_labels = len(id2label)
    height, width = (int(s) for s in config.get("input_size") or (512, 512))
    processor = SegformerImageProcessor(
        do_resize=True, size={"height": height, "width": width}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=list(config.get("mean") or IMAGENET_MEAN),
        image_std=list(config.get("std") or IMAGENET_STD), do_reduce_labels=False)
    try:
        out.mkdir(parents=True, exist_ok=True)
        net.save_pretrained(out, safe_serialization=True)
        processor.save_pretrained(out)
        results = _results_beside(Path(config.get("path", "")))
        card = model_card(config, results, repo_id=None, export_format="transformers")
        (out / "README.md").write_text(card)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    return out


def _results_beside(directory: Path) -> Results | None:
    """The checkpoint's own results.json for the card (checked like every results file); never via a link."""
    path = directory / RESULTS_FILE
    return Results.read(path) if path.is_file() and not path.is_symlink() else None


def exported(checkpoint: str | Path, fmt: str):
    """A context manager: the checkpoint exported in `fmt` into a temporary folder (for `push --format`)."""
    import contextlib

    @contextlib.contextmanager
    def manager():
        with tempfile.TemporaryDirectory(prefix="segcompare-export-") as tmp:
            yield export(checkpoint, Path(tmp) / "export", fmt)

    return manager()
