"""The report's files written atomically, with disk errors as one line, and plotly.js checked, not trusted.

plotly's `write_html(include_plotlyjs="directory")` writes `plotly.min.js` only when the file is absent,
so one run killed by a full disk left a truncated copy that every later report kept (blank figures,
"Plotly is not defined"). Here the bundled script is compared with the file on disk and rewritten
atomically when they differ; every other report file is replaced atomically too.
"""

from __future__ import annotations

from pathlib import Path

from .errors import UserError
from .files import atomic_write_bytes

PLOTLY_JS = "plotly.min.js"


def save_text(path: str | Path, text: str) -> Path:
    """Replace `path` with `text` (UTF-8) atomically; a full or read-only disk -> one-line UserError."""
    path = Path(path)
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e} (disk full or read-only?); free some space and "
                        "run the report again") from None
    return path


def ensure_plotly_js(folder: str | Path) -> Path:
    """`folder/plotly.min.js` equal to the installed plotly's bundle (rewritten when missing or different)."""
    from plotly.offline import get_plotlyjs

    path = Path(folder) / PLOTLY_JS
    want = get_plotlyjs().encode("utf-8")
    try:
        if path.stat().st_size == len(want) and path.read_bytes() == want:
            return path
    except OSError:  # missing (or unreadable): write it
        pass
    try:
        atomic_write_bytes(path, want)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e} (disk full or read-only?); free some space and "
                        "run the report again") from None
    return path


def save_figure(fig, path: str | Path) -> Path:
    """A standalone figure page that loads plotly.min.js from its own folder (see `ensure_plotly_js`)."""
    return save_text(path, fig.to_html(include_plotlyjs="directory", full_html=True, config={"displaylogo": False}))
