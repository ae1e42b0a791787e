"""How several results get distinct display names; the results.json format itself (Contract 4 of
docs/DESIGN.md) lives in `segcompare.formats.results` and is re-exported here.

Kept free of torch: the app reads results files to draw its page before any model (or torch) is loaded.
"""

from __future__ import annotations

from .formats.results import FORMAT, REQUIRED, Results, best_first, check_results, rank_key

__all__ = ["FORMAT", "REQUIRED", "Results", "best_first", "check_results", "rank_key", "unique_labels"]


def unique_labels(labels: list[str], checkpoints: list[str | None]) -> list[str]:
    """`labels` (one per result, each from the checkpoint at `checkpoints`) made distinct: a repeated label
    gets its checkpoint folder's name, and labels still equal after that (same folder name) are numbered."""
    out = []
    for checkpoint, lab in zip(checkpoints, labels):
        if labels.count(lab) > 1:
            tail = str(checkpoint or "").rstrip("/").rsplit("/", 1)[-1]
            lab = f"{lab} [{tail}]" if tail else lab
        out.append(lab)
    seen: dict[str, int] = {}
    for i, lab in enumerate(out):
        seen[lab] = seen.get(lab, 0) + 1
        if out.count(lab) > 1:
            out[i] = f"{lab} #{seen[lab]}"
    return out
