"""Reading weight files: a checkpoint's safetensors, and initialising a model from another one's weights.

Below both `checkpoint` (loading a whole checkpoint) and `models` (`--pretrained PATH` while building), so
neither imports the other for it. Never unpickles: `.pth` files are read with `weights_only=True`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UserError
from .formats.constants import WEIGHTS_FILE

if TYPE_CHECKING:
    import torch

WEIGHTS = WEIGHTS_FILE


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
