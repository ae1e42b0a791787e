"""Bounded reading of text and JSON, and the small typed field checks the format readers share."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path
from typing import ClassVar

from ..errors import FormatError

MAX_JSON_BYTES = 8 * 1024 * 1024  # a results.json with a 1000-image per-image table is < 1 MB
MAX_DEPTH = 32  # segcompare writes at most ~6 levels; a deeper file is damaged or hostile
MAX_ITEMS = 2_000_000  # values in one file (walked without recursion)
__all__ = ["FormatError", "MAX_DEPTH", "MAX_ITEMS", "MAX_JSON_BYTES", "check_depth", "loads_json", "read_json",
           "read_text"]


def show(value, limit: int = 60) -> str:
    """A bad value for a one-line message, cut short so a huge value cannot flood it."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def read_text(path: str | Path, what: str, max_bytes: int = MAX_JSON_BYTES) -> str:
    """UTF-8 text of a file that must exist and be at most `max_bytes` (checked before reading)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FormatError(f"{path} is {size / 1e6:.1f} MB; a {what} is at most {max_bytes / 1e6:.0f} MB, so "
                              "this file is damaged or not one")
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)  # the file may grow between stat and read
    except FileNotFoundError:
        raise FormatError(f"{path} is missing; expected a {what}") from None
    except IsADirectoryError:
        raise FormatError(f"{path} is a folder; expected a {what} file") from None
    except OSError as e:
        raise FormatError(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise FormatError(f"{path} is over {max_bytes / 1e6:.0f} MB; a {what} is smaller")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"{path} is not UTF-8 text (byte {e.start}); expected a {what}") from None


def parse_bounded(parse, text: str, source: str, syntax_error, describe, max_depth: int = MAX_DEPTH,
                  max_items: int = MAX_ITEMS):
    """`parse(text)` with its syntax errors (`describe(error)`) and too-deep nesting as one-line FormatErrors,
    then a walk that bounds depth and size: the one parse path of JSON and YAML files."""
    try:
        data = parse(text)
    except syntax_error as e:
        raise FormatError(f"{source} is not valid {describe(e)}") from None
    except RecursionError:
        raise FormatError(f"{source} is nested too deeply (more than {max_depth} levels)") from None
    check_depth(data, source, max_depth, max_items)
    return data


def loads_json(text: str, source: str, max_depth: int = MAX_DEPTH):
    """Parse JSON text and check its depth and size; NaN/Infinity are read as floats (callers check)."""
    return parse_bounded(json.loads, text, source, json.JSONDecodeError,
                         lambda e: f"JSON (line {e.lineno}: {e.msg})", max_depth)


def read_json(path: str | Path, what: str, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH):
    return loads_json(read_text(path, what, max_bytes), str(path), max_depth)


def check_depth(data, source: str, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> None:
    """Refuse nesting deeper than `max_depth` or more than `max_items` values, counting repeats: a YAML
    alias expands wherever it is used, so a small file can stand for an exponential tree."""
    stack, seen = [(data, 1)], 0
    while stack:
        obj, depth = stack.pop()
        seen += 1
        if seen > max_items:
            raise FormatError(f"{source} holds over {max_items} values (after expanding aliases); refusing it")
        if isinstance(obj, (dict, list, tuple)):
            if depth > max_depth:
                raise FormatError(f"{source} is nested too deeply (more than {max_depth} levels)")
            children = obj.values() if isinstance(obj, dict) else obj
            stack.extend((c, depth + 1) for c in children)


# --- typed fields ------------------------------------------------------------------------------------------
def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    return (is_int(v) or isinstance(v, float)) and math.isfinite(v)


def need(ok: bool, source: str, field: str, rule: str, value) -> None:
    if not ok:
        raise FormatError(f"{source}: {field} must be {rule}, got {show(value)}")


def need_str(d: dict, key: str, source: str, optional: bool = False, max_len: int = 500) -> None:
    v = d.get(key)
    if v is None and optional:
        return
    need(isinstance(v, str) and 0 < len(v) <= max_len, source, key, f"a string of 1 to {max_len} characters", v)


def need_number(d: dict, key: str, source: str, optional: bool = True, lo: float | None = None,
                hi: float | None = None) -> None:
    v = d.get(key)
    if v is None and optional:
        return
    rule = "a finite number" + (f" from {lo}" if lo is not None else "") + (f" to {hi}" if hi is not None else "")
    need(is_number(v) and (lo is None or v >= lo) and (hi is None or v <= hi), source, key, rule, v)


def need_dict(d: dict, key: str, source: str, optional: bool = True) -> None:
    v = d.get(key)
    if v is None and optional:
        return
    need(isinstance(v, dict), source, key, "a mapping", v)


# --- typed files -------------------------------------------------------------------------------------------
class TypedFile:
    """What the typed formats (dataclasses with `extra` and `written` fields) share: a checked dict becomes
    typed fields plus `extra` (every other key), and goes back to the same dict, keys kept as written."""

    FORMAT: ClassVar[str]
    KEEP: ClassVar[tuple[str, ...]] = ()  # fields written even when empty (a format's required keys)
    CHECK: ClassVar  # the format's check: (data, source) -> the same dict, or a FormatError naming the field

    @classmethod
    def from_dict(cls, data, source: str | None = None):
        """A dict checked by the format's one check, then typed."""
        return cls.from_checked(cls.CHECK(data, source) if source else cls.CHECK(data))

    @classmethod
    def from_checked(cls, data: dict):
        names = {f.name for f in fields(cls)} - {"extra", "written"}
        typed = {k: v for k, v in data.items() if k in names and (v is not None or k in cls.KEEP)}
        extra = {k: v for k, v in data.items() if k not in names and k != "format"}
        return cls(**typed, extra=extra, written=tuple(data))

    def to_dict(self) -> dict:
        out = {"format": self.FORMAT}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name not in ("extra", "written") and (v not in (None, {}, []) or f.name in self.written + self.KEEP):
                out[f.name] = v  # absent stays absent, null stays null
        out.update(self.extra)
        # keys in the order the file had them (new keys after): a read-modify-write changes only what changed
        order = {k: i for i, k in enumerate(("format",) + self.written)}
        return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))
