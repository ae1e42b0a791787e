"""Fake data shared by the tests: hand-written PNG files, complete results, checkpoint folders.

One writer each, so a format change (a results field, a checkpoint file) is made once for every test.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np


def png_bytes(width: int, height: int, depth: int = 8, color: int = 2, rows: bytes | None = None) -> bytes:
    """A PNG built by hand, so its header can say anything: `rows` are the raw (filtered) scanlines; without
    them a few zero bytes follow a header that may declare far more pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    data = zlib.compress(b"\0" * 64 if rows is None else rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def make_results(model: str, per_image_cms, classes: list[str], dataset: str = "folder:/data",
                 names: list[str] | None = None, **extra) -> dict:
    """A complete results.json dict whose every metric derives from the given per-image matrices."""
    import torch

    from segcompare.evaluation import metric_fields
    from segcompare.results import FORMAT

    cms = torch.as_tensor(np.asarray(per_image_cms), dtype=torch.int64)
    names = names or [f"img{i:03d}" for i in range(len(cms))]
    res = {"format": FORMAT, "model": model, "checkpoint": f"runs/{model}", "dataset": dataset, "split": "test",
           "classes": list(classes), "num_images": len(cms)}
    res.update(metric_fields(cms.sum(0), None, cms, names))
    return {**res, **extra}


def write_checkpoint(folder: Path, model=None, *, meta: dict | None = None, config: dict | str | None = None,
                     results: dict | str | None = None, history: list[dict] | str | None = None,
                     dtype=None) -> Path:
    """A checkpoint folder: `model` saved by save_checkpoint (with `meta`), or only a config.json (`config`, a
    dict or raw text, for refusal tests); results.json and history.jsonl beside it when given (dicts, or raw
    text for damaged files)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if model is not None:
        from segcompare.checkpoint import save_checkpoint

        save_checkpoint(model, folder, meta, dtype=dtype)
    elif config is not None:
        (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    if results is not None:
        (folder / "results.json").write_text(results if isinstance(results, str) else json.dumps(results))
    if history is not None:
        text = history if isinstance(history, str) else "".join(json.dumps(r) + "\n" for r in history)
        (folder / "history.jsonl").write_text(text)
    return folder
