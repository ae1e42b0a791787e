"""Where a task's models come from, in words a visitor reads before trusting a picture (issue #14).

One short HTML block per task: the training data, how many images, its credit and licence, whether the
encoders started from ImageNet weights, and the caution that photos unlike the training data give worse
answers. The facts come from the experiment's `provenance:` (recorded in every config.json and
results.json by `segcompare compare`); everything read from a checkpoint is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from .formats.results import Results

SYNTHETIC_WARNING = ("These models were trained on generated (synthetic) pictures, not photographs: "
                     "expect poor answers on real photos.")
GENERIC_CAUTION = "Pictures unlike the training data (other scenes, cameras or lighting) give worse answers."


def task_provenance(sources: Iterable[tuple[dict, Results | None]]) -> dict:
    """The first non-empty `provenance:` among a task's (config, results) pairs ({} when none has one)."""
    for config, results in sources:
        for found in ((config or {}).get("provenance"), results.provenance if results else None):
            if isinstance(found, dict) and found:
                return found
    return {}


def _encoder_words(config: dict) -> str:
    """What the encoder started from, from a checkpoint's training recipe (when no provenance says it)."""
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    pretrained = train.get("pretrained")
    if pretrained in (None, "", "none"):
        return "trained from scratch (no pretrained weights)"
    return f"encoder pretrained on {pretrained}" if isinstance(pretrained, str) else ""


def about_html(task_name: str, sources: list[tuple[dict, Results | None]], dataset: str | None = None) -> str:
    """One HTML block: training data, size, credit and licence, encoder weights, and the caution."""
    prov = task_provenance(sources)
    esc = lambda v: html.escape(str(v))  # noqa: E731 - checkpoint text is untrusted (issue #17 item 8)
    if prov.get("data"):
        data = esc(prov["data"])
    else:
        data = f"dataset <code>{esc(dataset)}</code>" if dataset else "an unnamed dataset"
    size = prov.get("train_images")
    parts = [f"<b>{esc(task_name)}</b> models were trained on {data}"
             + (f" ({esc(size)} training images)" if isinstance(size, int) and size > 0 else "") + "."]
    credit = [f"credit: {esc(prov['credit'])}" if prov.get("credit") else "",
              f"licence: {esc(prov['licence'])}" if prov.get("licence") else ""]
    if any(credit):
        url = prov.get("url")
        link = (f' (<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">source</a>)'
                if isinstance(url, str) and url.startswith(("https://", "http://")) else "")
        parts.append("Data " + ", ".join(c for c in credit if c) + link + ".")
    encoder = prov.get("encoder") or (_encoder_words(sources[0][0] or {}) if sources else "")
    if encoder:
        parts.append(f"Encoders: {esc(encoder)}.")
    synthetic = prov.get("synthetic") is True or str(dataset or "").startswith("synthetic")
    caution = SYNTHETIC_WARNING if synthetic else (prov.get("caution") or GENERIC_CAUTION)
    return (f'<div class="sc-provenance"><p>{" ".join(parts)}</p>'
            f'<p class="sc-caution">⚠ {esc(caution)}</p></div>')
