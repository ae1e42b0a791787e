"""Checkpoints (Contract 2): a folder (or Hub repo) with `config.json` + `model.safetensors`.

Loading never executes code and never unpickles: the config names a registry model, the model is built
from the zoo, and the weights come from safetensors after their names and shapes are checked.
Writes are atomic per file (`segcompare.files`), so a killed process never leaves half a file.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UserError
from .files import atomic_write_files, json_bytes

if TYPE_CHECKING:  # torch is imported where weights are touched: reading configs (the app's page) needs no torch
    import torch

FORMAT = "segcompare/1"
CONFIG, WEIGHTS = "config.json", "model.safetensors"
MAX_CLASSES = 65_536
MAX_INPUT_SIDE = 4096  # inference resizes every picture to input_size: a huge one would exhaust memory


def save_checkpoint(model, directory: str | Path, meta: dict | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """Write `config.json` + `model.safetensors`; `meta` supplies classes, palette, mean, std, dataset, ...

    `dtype` (default float32) is the storage type of floating-point tensors."""
    import torch
    from safetensors.torch import save

    dtype = dtype or torch.float32
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create checkpoint folder {directory}: {e.strerror}") from None
    meta = dict(meta or {})
    state = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().clone().cpu()
             for k, v in model.state_dict().items()}
    config = {"format": FORMAT, "name": model.name, "library": model.library, "num_classes": model.num_classes,
              "classes": meta.pop("classes", [f"class_{i}" for i in range(model.num_classes)]),
              "palette": meta.pop("palette", None), "ignore_index": meta.pop("ignore_index", 255),
              "mean": meta.pop("mean", [0.485, 0.456, 0.406]), "std": meta.pop("std", [0.229, 0.224, 0.225]),
              "input_size": meta.pop("input_size", None), "dataset": meta.pop("dataset", None),
              "params": model.num_params(), "dtype": str(dtype).replace("torch.", ""),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **meta}
    if len(config["classes"]) != model.num_classes:
        raise ValueError(f"{len(config['classes'])} class names for a {model.num_classes}-class model")
    try:
        # weights and config change together: a kill never pairs new weights with an old config
        atomic_write_files({directory / WEIGHTS: save(state, metadata={"format": "pt"}),
                            directory / CONFIG: json_bytes(config)})
    except OSError as e:
        raise UserError(f"cannot write checkpoint to {directory}: {e.strerror or e}") from None
    return directory


def read_config(directory: str | Path) -> dict:
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise UserError(f"{path} is missing: a checkpoint folder needs {CONFIG} and {WEIGHTS} "
                        "(written by `segcompare train` or save_checkpoint)")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); re-save the checkpoint") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise UserError(f"{path} has format {found!r}; expected {FORMAT!r}")
    k = config.get("num_classes")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UserError(f"{path}: num_classes must be a positive integer, got {k!r}")
    if k > MAX_CLASSES:  # the head is allocated from this number before the weights are read
        raise UserError(f"{path}: num_classes {k} is implausible (at most {MAX_CLASSES}); the file was edited or "
                        "damaged")
    size = config.get("input_size")
    if size is not None and not (isinstance(size, list) and len(size) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= MAX_INPUT_SIDE for v in size)):
        raise UserError(f"{path}: input_size must be [H, W] with sides from 8 to {MAX_INPUT_SIDE}, got {size!r}")
    classes = config.get("classes")
    if classes is not None and (not isinstance(classes, list) or len(classes) != k):
        n = len(classes) if isinstance(classes, list) else type(classes).__name__
        raise UserError(f"{path}: num_classes is {k} but classes lists {n}; the file was edited or damaged")
    return config


def resolve(path_or_repo_id: str | Path, revision: str | None = None) -> Path:
    """A local checkpoint folder, or a Hub repo id resolved through huggingface_hub's cache."""
    p = Path(path_or_repo_id).expanduser()
    if p.is_dir():
        return p
    text = str(path_or_repo_id)
    looks_like_repo = text.count("/") == 1 and not text.startswith((".", "/", "~")) and not p.exists()
    if looks_like_repo:
        from .hub import resolve as hub_resolve

        return Path(hub_resolve(text, revision=revision))
    raise UserError(f"checkpoint {text!r} not found: give a folder with {CONFIG} and {WEIGHTS}, "
                    "or a Hugging Face Hub repo id like org/name")


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise UserError(f"{path} is missing: the checkpoint has no weights; re-save or re-download it")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UserError(f"{path} is corrupt or truncated ({str(e).splitlines()[0]}); re-save or re-download "
                        "it") from None


def check_state(model, state: dict, source: Path) -> None:
    """Refuse weights whose names or shapes don't match the model the config describes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    # Same shape but integer data where floats belong (or back) means a tampered or foreign file.
    kinds = [k for k in expected if k in state and k not in wrong
             and state[k].is_floating_point() != expected[k].is_floating_point()]
    if missing or extra or wrong or kinds:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} with wrong shape (e.g. {k}: {tuple(state[k].shape)} vs "
                         f"{tuple(expected[k].shape)})")
        if kinds:
            k = kinds[0]
            parts.append(f"{len(kinds)} with wrong dtype (e.g. {k}: {state[k].dtype} vs {expected[k].dtype})")
        raise UserError(f"{source} does not match model {model.name!r} with {model.num_classes} classes: "
                        + "; ".join(parts))


def load_model(path_or_repo_id: str | Path, revision: str | None = None, device: str | torch.device = "cpu"):
    """Load a checkpoint folder or Hub repo id -> (SegModel in eval mode, config dict)."""
    from .models import build_model

    directory = resolve(path_or_repo_id, revision)
    config = read_config(directory)
    model = build_model(config.get("name", "?"), config["num_classes"])
    state = read_weights(directory / WEIGHTS)
    check_state(model, state, directory / WEIGHTS)
    model.load_state_dict(state)  # copies (and casts fp16 storage back) into the fp32 parameters
    config["checkpoint"] = str(path_or_repo_id) + (f"@{revision}" if revision else "")
    config["path"] = str(directory)
    return model.to(device).eval(), config


def load_pretrained(model, path: str | Path) -> None:
    """Initialise from a segcompare checkpoint folder or a weights file (fine-tuning from PATH).

    Tensors whose name and shape match are copied (so a head with another class count stays new);
    a file that matches nothing is refused rather than silently ignored.
    """
    path = Path(path)
    if path.is_dir():
        state = read_weights(path / WEIGHTS)
    elif path.suffix == ".safetensors":
        state = read_weights(path)
    else:
        import torch

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise UserError(f"cannot read weights {path} ({type(e).__name__}); use a .safetensors file or a "
                            "checkpoint folder") from None
        state = state.get("state_dict", state) if isinstance(state, dict) else {}
    own = model.state_dict()
    # A bare encoder file (e.g. timm / torchvision backbone weights) matches our keys under a prefix.
    prefixes = [""] + sorted({k[: k.index(s) + len(s)] for k in own
                              for s in ("encoder.", "backbone.", "segformer.") if s in k})
    best: dict = {}
    for prefix in prefixes:
        candidate = {}
        for k, v in state.items():
            key = k if k in own else prefix + k
            if key in own and tuple(own[key].shape) == tuple(v.shape):
                candidate[key] = v
        if len(candidate) > len(best):
            best = candidate
    if not best:
        raise UserError(f"no tensor in {path} matches {model.name}: are these weights for this architecture?")
    model.load_state_dict(best, strict=False)
