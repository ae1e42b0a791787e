"""The results.json contract (Contract 4 of DESIGN.md): its format id and the check every reader runs.

Kept free of torch: the app reads results files to draw its page before any model (or torch) is loaded.
"""

from __future__ import annotations

from .errors import UserError

FORMAT = "segcompare-results/1"
REQUIRED = ("model", "dataset", "split", "classes", "confusion_matrix", "miou", "per_image")


def check_results(results, source: str = "results") -> dict:
    """Refuse anything that is not a segcompare results dict of a known format (UserError naming it)."""
    if not isinstance(results, dict):
        raise UserError(f"{source} is not a results object ({type(results).__name__}); expected {FORMAT}")
    fmt = results.get("format")
    if fmt != FORMAT:
        raise UserError(f"unknown results format {fmt!r} in {source}; expected {FORMAT}")
    missing = [k for k in REQUIRED if k not in results]
    if missing:
        raise UserError(f"{source} lacks {', '.join(missing)}; re-run `segcompare evaluate`")
    return results
