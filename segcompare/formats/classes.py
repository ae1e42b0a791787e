"""A folder dataset's `classes.json`: {"classes": [...], "ignore_index": 255, "palette": [[r, g, b], ...]}."""

from __future__ import annotations

from .base import FormatError, is_int


def check_classes_json(meta, source: str, ignore_default: int = 255) -> dict:
    """-> {"classes", "ignore_index", "palette" (None when absent)}; masks are 8-bit, so at most 255 classes."""
    classes = meta.get("classes") if isinstance(meta, dict) else None
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) and c for c in classes)):
        raise FormatError(f"{source}: \"classes\" must be a non-empty list of class names")
    if len(set(classes)) != len(classes):
        raise FormatError(f"{source}: class names must be unique")
    ignore = meta.get("ignore_index", ignore_default)
    if not (is_int(ignore) and len(classes) <= ignore <= 255) or len(classes) > 255:
        raise FormatError(f"{source}: \"ignore_index\" must be an integer from {len(classes)} to 255 "
                          f"(masks are 8-bit, at most 255 classes), got {ignore!r}")
    palette = meta.get("palette") or None
    ok = palette is None or (isinstance(palette, list) and len(palette) == len(classes) and all(
        isinstance(c, list) and len(c) == 3 and all(is_int(v) and 0 <= v <= 255 for v in c) for c in palette))
    if not ok:
        raise FormatError(f"{source}: \"palette\" must list one [r, g, b] (0-255) per class ({len(classes)})")
    return {"classes": classes, "ignore_index": ignore, "palette": palette}
