"""Checkpoints (Contract 2): a folder (or Hub repo) with `config.json` + `model.safetensors`.

Loading never executes code and never unpickles: the config names a registry model, the model is built
from the zoo, and the weights come from safetensors after their names and shapes are checked.
Writes are atomic per file (`segcompare.files`), so a killed process never leaves half a file.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UserError
from .files import atomic_write_files
from .formats.checkpoint_config import FORMAT, config_bytes, read_checkpoint_config
from .formats.constants import CONFIG_FILE, IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD, WEIGHTS_FILE
from .weights import load_pretrained, read_weights

if TYPE_CHECKING:  # torch is imported where weights are touched: reading configs (the app's page) needs no torch
    import torch

CONFIG, WEIGHTS = CONFIG_FILE, WEIGHTS_FILE
__all__ = ["CONFIG", "FORMAT", "WEIGHTS", "load_model", "load_pretrained", "read_config", "read_weights", "resolve",
           "save_checkpoint"]


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
              "palette": meta.pop("palette", None), "ignore_index": meta.pop("ignore_index", IGNORE_INDEX),
              "mean": meta.pop("mean", list(IMAGENET_MEAN)), "std": meta.pop("std", list(IMAGENET_STD)),
              "input_size": meta.pop("input_size", None), "dataset": meta.pop("dataset", None),
              "params": model.num_params(), "dtype": str(dtype).replace("torch.", ""),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **meta}
    if len(config["classes"]) != model.num_classes:
        raise ValueError(f"{len(config['classes'])} class names for a {model.num_classes}-class model")
    try:
        # weights and config change together: a kill never pairs new weights with an old config
        atomic_write_files({directory / WEIGHTS: save(state, metadata={"format": "pt"}),
                            directory / CONFIG: config_bytes(config, str(directory / CONFIG))})
    except OSError as e:
        raise UserError(f"cannot write checkpoint to {directory}: {e.strerror or e}") from None
    return directory


def read_config(directory: str | Path) -> dict:
    """The checked `config.json` of a checkpoint folder as a dict (readers not yet on `CheckpointConfig`)."""
    return read_checkpoint_config(directory)


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
    """Load a checkpoint folder or Hub repo id -> (SegModel in eval mode, config dict).

    A checkpoint refused once (unchanged since) is refused again at once: see `formats.model_names`."""
    from .formats import check_model_name, refused, remember_refusal

    directory = resolve(path_or_repo_id, revision)
    refused(directory)
    try:
        config = read_config(directory)
        check_model_name(config["name"], str(directory / CONFIG), registry=True)
        model = model_from_weights(config, directory / WEIGHTS)
    except UserError as e:
        remember_refusal(directory, str(e))
        raise
    config["checkpoint"] = str(path_or_repo_id) + (f"@{revision}" if revision else "")
    config["path"] = str(directory)
    return model.to(device).eval(), config


def model_from_weights(config: dict, weights: Path):
    """The model `config` names ("name", "num_classes") with the weights of a safetensors file: the one
    "build, check, load" path of `load_model` and of resuming a training run (`last/`).

    Names and shapes are compared on a weightless (meta) copy first, so a config naming a huge encoder over
    small weights is refused before gigabytes are allocated."""
    import torch

    from .models import build_model

    header = read_header(weights)
    try:
        with torch.device("meta"):
            shell = build_model(config["name"], config["num_classes"])
    except UserError:
        raise
    except Exception:  # a library that cannot build on the meta device: the full check below still runs
        shell = None
    if shell is not None:
        check_state(shell, header, weights)
        del shell
    model = build_model(config["name"], config["num_classes"])
    state = read_weights(weights)
    check_state(model, state, weights)
    model.load_state_dict(state)  # copies (and casts fp16 storage back) into the fp32 parameters
    return model


def read_header(path: Path) -> dict[str, torch.Tensor]:
    """Weightless (meta) tensors with the names, shapes and dtypes of a safetensors file's header."""
    import torch
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise UserError(f"{path} is missing: the checkpoint has no weights; re-save or re-download it")
    try:
        with safe_open(str(path), framework="pt") as f:
            out = {}
            for k in f.keys():
                sl = f.get_slice(k)
                dtype = getattr(torch, _DTYPES.get(sl.get_dtype(), "uint8"))
                out[k] = torch.empty(sl.get_shape(), dtype=dtype, device="meta")
            return out
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UserError(f"{path} is corrupt or truncated ({str(e).splitlines()[0]}); re-save or re-download "
                        "it") from None


_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
           "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}
