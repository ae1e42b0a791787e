"""The results.json contract (Contract 4 of DESIGN.md): its format id, the check every reader runs, and
how several results get distinct names.

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
    from .formats import check_results_fields

    return check_results_fields(results, source)


def unique_labels(labels: list[str], results: list[dict]) -> list[str]:
    """`labels` (one per result) made distinct: a repeated label gets its checkpoint folder's name, and
    labels still equal after that (same folder name) are numbered."""
    out = []
    for r, lab in zip(results, labels):
        if labels.count(lab) > 1:
            tail = str(r.get("checkpoint") or "").rstrip("/").rsplit("/", 1)[-1]
            lab = f"{lab} [{tail}]" if tail else lab
        out.append(lab)
    seen: dict[str, int] = {}
    for i, lab in enumerate(out):
        seen[lab] = seen.get(lab, 0) + 1
        if out.count(lab) > 1:
            out[i] = f"{lab} #{seen[lab]}"
    return out
