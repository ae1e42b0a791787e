"""Model names read from files: plain registry names only, and models once refused stay refused.

A checkpoint's `name` decides what code builds the network, so it must not reach outside the zoo: timm
accepts `hf-hub:org/repo` (a remote config picks the architecture) and `local-dir:/path` as model names,
so a name with `:` or `/` is refused before any library sees it. A checkpoint refused while loading
(e.g. a 480 M-parameter encoder under weights that do not fit it) is remembered by its files' identity,
so the app does not pay the build again on every Compare.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from .base import FormatError, show

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,99}")  # every zoo name; no ':' or '/' (remote/local sources)
_refused: dict[tuple, str] = {}
_lock = threading.Lock()


def check_model_name(name, source: str = "config", registry: bool = False) -> str:
    """The name if it is a plain model name (and, with `registry`, one the zoo can build)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name.lower()):
        raise FormatError(f"{source}: unknown model {show(name)}: a model name is a registry name such as "
                          "unet_resnet34 (letters, digits, _ . -; no ':' or '/' sources); see `segcompare models`")
    if registry:
        from ..zoo import resolve

        encoder = resolve(name).encoder  # unknown -> one line listing the valid names
        if encoder.startswith("tu-"):
            import timm

            if not timm.is_model(encoder[3:]):
                raise FormatError(f"{source}: timm has no encoder {encoder[3:]!r} (model {name!r}); see "
                                  "timm.list_models()")
    return name


def _identity(directory: Path) -> tuple:
    """The files a load reads: a changed file (a fixed checkpoint) is tried again."""
    out = [str(directory.resolve())]
    for name in ("config.json", "model.safetensors"):
        try:
            st = (directory / name).stat()
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


def refused(directory: str | Path) -> None:
    """Raise the remembered refusal of this checkpoint, if it was refused before and has not changed."""
    with _lock:
        message = _refused.get(_identity(Path(directory)))
    if message is not None:
        raise FormatError(f"{message} (refused before; fix the checkpoint files to try again)")


def remember_refusal(directory: str | Path, message: str) -> None:
    with _lock:
        if len(_refused) > 1000:  # bounded: a long-running app sees few distinct bad checkpoints
            _refused.clear()
        _refused[_identity(Path(directory))] = message
