"""The verdict: which model to use and why, in words a manager can repeat, computed from results.json.

`recommend(results, max_latency_ms=..., cpu_only=...)` picks the most accurate model that meets the
viewer's constraint, says how it does on accuracy, speed, edges and robustness, which of its leads are real
(paired bootstrap of `stats`) and which could be luck of the test images, and names every model the
constraint rules out with the reason. The app's verdict and report.html's headline are this same text
(`to_html` renders its small Markdown subset, escaped).
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field

from . import stats
from .errors import UserError
from .figures import model_labels, typed
from .formats import Results, rank_key

CPU = "cpu"
BOLD = re.compile(r"(?<!\\)\*\*(.+?)(?<!\\)\*\*")
UNESCAPE = re.compile(r"\\([\\`*_\[\]#|!])")
# "<" and ">" stay: whoever shows the Markdown escapes HTML (the app's safe_markdown, to_html here), and a
# backslash before an escaped "&lt;" would show as text.
MD_SPECIAL = re.compile(r"([\\`*_\[\]#|!])")
# What the reader needs to read the numbers, said once where they first appear.
MIOU_NOTE = ("mIoU: how well each area the model paints matches the true one, averaged over classes; "
             "100% = perfect")
POINTS_NOTE = "a point is one percentage point of mIoU"


@dataclass
class Recommendation:
    """`model` is the recommended model's label (as on the leaderboard), None when no model qualifies."""
    model: str | None
    markdown: str
    headline: str = ""
    reasons: list[str] = field(default_factory=list)
    real: list[str] = field(default_factory=list)  # models whose gap to the pick is real (holds on resampled tests)
    luck: list[str] = field(default_factory=list)  # models whose gap to the pick could be luck of the test images
    excluded: dict[str, str] = field(default_factory=dict)  # label -> why the constraint rules it out
    constraint: str = ""
    unconstrained: str | None = None  # the pick without any constraint
    comparisons: list[dict] = field(default_factory=list)  # stats.paired_bootstrap of pick vs each candidate


@dataclass
class _Model:
    label: str  # as written in the Markdown (escaped)
    raw: str  # as on the leaderboard
    result: Results
    miou: float | None
    boundary: float | None
    robust: float | None
    latency: dict[str, float]


# --- reading results ------------------------------------------------------------------------------------

def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _models(results: list[Results]) -> list[_Model]:
    """Leaderboard order (`formats.rank_key`: best mIoU first, ties faster first)."""
    ranked = sorted(zip(results, model_labels(results)), key=lambda pair: rank_key(pair[0]))
    return [_Model(_md(lab), lab, r.labelled(_md(lab)), _number(r.miou), _number(r.boundary_iou), r.mean_robustness,
                   r.device_latencies()) for r, lab in ranked]


def _latency(m: _Model, cpu_only: bool) -> tuple[float, str] | None:
    """(ms, device) the constraint judges: the CPU latency when the model must run on CPU, else the fastest
    device measured."""
    if cpu_only:
        return (m.latency[CPU], CPU) if CPU in m.latency else None
    if not m.latency:
        return None
    dev = min(m.latency, key=m.latency.get)
    return m.latency[dev], dev


def _why_excluded(m: _Model, max_latency_ms: float | None, cpu_only: bool) -> str | None:
    if m.miou is None:
        return "no mIoU measured"
    if cpu_only and CPU not in m.latency:
        if not m.latency:
            return "no latency measured, so not known to run on CPU"
        return f"measured only on {', '.join(map(_device, sorted(m.latency)))}, not on CPU"
    if max_latency_ms is None:
        return None
    lat = _latency(m, cpu_only)
    if lat is None:
        return "no latency measured, so it cannot be held to a time budget"
    if lat[0] > max_latency_ms:
        return f"{lat[0]:.0f} ms per image on {_device(lat[1])}, over the {max_latency_ms:g} ms budget"
    return None


def _constraint(max_latency_ms: float | None, cpu_only: bool, models: list[_Model]) -> str:
    """The constraint as a verb phrase ("models that ..."), naming the device the budget is judged on."""
    if max_latency_ms is None:
        return "run on CPU" if cpu_only else ""
    devices = {lat[1] for m in models if (lat := _latency(m, cpu_only)) is not None}
    where = "on CPU" if cpu_only else f"on {_device(devices.pop())}" if len(devices) == 1 else \
        "on their fastest device measured"
    return f"{'run on CPU' if cpu_only else 'run'} within {max_latency_ms:g} ms per image" + \
        ("" if cpu_only else f" {where}")


# --- words ----------------------------------------------------------------------------------------------

def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _ordinal(i: int, word: str = "best") -> str:
    return word if i == 1 else f"{i}{'nd' if i == 2 else 'rd' if i == 3 else 'th'} {word}"


def _device(dev: str) -> str:
    return dev.upper() if dev.lower() in ("cpu", "cuda", "gpu", "mps") else _md(dev)


def _md(text: str) -> str:
    """A name from a results file, safe inside Markdown (a model called "a*b*" stays plain text)."""
    return MD_SPECIAL.sub(r"\\\1", text)


def _rank(value: float | None, values: list[float | None], higher_better: bool = True, word: str = "best") -> str:
    """"best of 5", "3rd best of 5" (or "fastest", ...) among the models that have the measure."""
    known = [v for v in values if v is not None]
    if value is None or not known:
        return ""
    better = sum(1 for v in known if (v > value if higher_better else v < value))
    return f"{_ordinal(better + 1, word)} of {len(known)}"


def _compare(pick: _Model, others: list[_Model], n_boot: int, seed: int) -> tuple[list[dict], list[str]]:
    """Paired bootstraps of the pick against each other model; [] and a note when one lacks the per-image
    matrices the test needs."""
    lacking = [m.label for m in [pick, *others] if not m.result.image_confusion]
    if lacking:
        return [], [f"No test of which differences are real: {', '.join(lacking)} lack per-image results "
                    "(re-run `segcompare evaluate`)."]
    return [stats.paired_bootstrap(pick.result, m.result, n_boot=n_boot, seed=seed) for m in others], []


def _significance_lines(cmps: list[dict]) -> tuple[list[str], list[str], list[str]]:
    """(real, luck, sentences) from the pick's comparisons."""
    pts = lambda c: f"{100 * abs(c['diff']):.1f}"
    real = [c for c in cmps if c["significant"]]
    luck = [c for c in cmps if not c["significant"]]
    lines = []
    if real:
        ahead = [c for c in real if c["diff"] > 0]
        behind = [c for c in real if c["diff"] < 0]
        if ahead:
            lines.append("**Real differences:** ahead of " + ", ".join(f"{c['b']} by {pts(c)} points" for c in ahead)
                         + f" ({POINTS_NOTE}); not luck: these leads hold when the test is re-run on resampled "
                         "sets of the test images (95% confidence).")
        if behind:
            lines.append("**What the constraint costs:** " + "; ".join(
                f"{c['b']} is more accurate by {pts(c)} points (a real difference) but is ruled out" for c in behind)
                + ".")
    if luck:
        lines.append("**Could be luck:** the gap to " + ", ".join(f"{c['b']} ({pts(c)} points)" for c in luck)
                     + " could be luck of the test images: on another sample of images the order could flip.")
    if cmps and cmps[0]["small_sample"]:
        lines.append(f"**Caution:** only {cmps[0]['n_images']} test images (fewer than {stats.MIN_IMAGES}); "
                     "evaluate on more images before deciding.")
    return [c["b"] for c in real], [c["b"] for c in luck], lines


def _aspects(pick: _Model, pool: list[_Model], cpu_only: bool) -> list[str]:
    """Accuracy, speed, edges and robustness of the pick, each ranked among `pool` (the allowed models)."""
    lines = [f"**Accuracy:** {_pct(pick.miou)} mIoU, {_rank(pick.miou, [m.miou for m in pool])} ({MIOU_NOTE})."]
    lat = {m.label: _latency(m, cpu_only) for m in pool}
    if lat[pick.label] is not None:
        ms, dev = lat[pick.label]
        timed = {k: v for k, v in lat.items() if v is not None}
        fastest = min(timed, key=lambda k: timed[k][0])
        text = (f"**Speed:** {ms:.0f} ms per image on {_device(dev)}, "
                f"{_rank(ms, [v[0] for v in timed.values()], False, 'fastest')}")
        if fastest != pick.label:
            text += f" (the fastest, {fastest}, takes {timed[fastest][0]:.0f} ms)"
        if len({v[1] for v in timed.values()}) > 1:
            text += "; measured on different devices, so compare with care"
        lines.append(text + ".")
    else:
        lines.append("**Speed:** not measured.")
    if pick.boundary is not None:
        lines.append(f"**Edges:** boundary IoU {_pct(pick.boundary)}, "
                     f"{_rank(pick.boundary, [m.boundary for m in pool])} (the same overlap score counted only on "
                     "a thin band along object outlines: how clean the edges are).")
    if pick.robust is not None:
        kept = pick.robust / pick.miou if pick.miou else math.nan
        lines.append(f"**Robustness:** on corrupted copies of the test images (noise, blur, fog, JPEG, ...) it "
                     f"scores {_pct(pick.robust)} mIoU, keeping {100 * kept:.0f}% of its accuracy, "
                     f"{_rank(pick.robust, [m.robust for m in pool])}.")
    return lines


def _headline(pick: _Model, pool: list[_Model], constraint: str) -> str:
    strengths = []
    for name, attr in (("the cleanest edges", "boundary"), ("the best robustness to bad images", "robust")):
        vals = [getattr(m, attr) for m in pool if getattr(m, attr) is not None]
        if getattr(pick, attr) is not None and len(vals) > 1 and getattr(pick, attr) >= max(vals):
            strengths.append(name)
    if len(pool) == 1:
        why = f"the only model that can {constraint}" if constraint else "the only model"
        return f"Use {pick.label}: {why}, {_pct(pick.miou)} mIoU."
    among = f"the {len(pool)} models that {constraint}" if constraint else \
        f"the {len(pool)} models compared"
    text = f"Use {pick.label}: the most accurate of {among}, {_pct(pick.miou)} mIoU"
    return text + (", with " + " and ".join(strengths) if strengths else "") + "."


def _alternative(pick: _Model, pool: list[_Model], luck: list[str], cpu_only: bool) -> list[str]:
    """A faster model the test cannot tell apart from the pick: the choice if speed matters more."""
    mine = _latency(pick, cpu_only)
    faster = [(lat, m) for m in pool if m.label in luck and (lat := _latency(m, cpu_only)) is not None
              and mine is not None and lat[0] < mine[0]]
    if not faster:
        return []
    (ms, dev), m = min(faster, key=lambda x: x[0][0])
    return [f"**If speed matters more:** {m.label} is as accurate as far as the test images can tell (the gap could "
            f"be luck) and takes {ms:.0f} ms per image on {_device(dev)} instead of {mine[0]:.0f} ms."]


def recommend(results: list[Results | dict], *, max_latency_ms: float | None = None, cpu_only: bool = False,
              n_boot: int = 2000, seed: int = 0) -> Recommendation:
    """The model to use under the viewer's constraint (a latency budget in ms, "must run on CPU") and why."""
    if not results:
        return Recommendation(None, "**No results yet**: evaluate models to get a recommendation.",
                              "No results yet.")
    if max_latency_ms is not None and not (_number(max_latency_ms) is not None and max_latency_ms >= 0):
        raise UserError(f"latency budget {max_latency_ms!r} is not a number of milliseconds >= 0; "
                        "give one, or none for no budget")
    models = _models(typed(results))
    constraint = _constraint(max_latency_ms, cpu_only, models)
    raw = {m.label: m.raw for m in models}
    excluded = {m.label: why for m in models if (why := _why_excluded(m, max_latency_ms, cpu_only))}
    pool = [m for m in models if m.label not in excluded]
    free = next((m for m in models if m.miou is not None), None)
    out_lines = [f"{lab} ({why})" for lab, why in excluded.items()]
    excluded = {raw[lab]: why for lab, why in excluded.items()}
    if not pool:
        head = f"No model can {constraint}." if constraint else "No model has an mIoU to rank."
        md = f"**{head}**\n\n- **Ruled out:** " + "; ".join(out_lines) + "."
        timed = [(lat, m.label) for m in models if (lat := _latency(m, cpu_only)) is not None]
        if timed:
            (ms, dev), lab = min(timed)
            md += f"\n- **Closest:** the fastest model measured, {lab}, takes {ms:.0f} ms per image on {_device(dev)}."
        return Recommendation(None, md, head, excluded=excluded, constraint=constraint,
                              unconstrained=free and free.raw)
    pick = pool[0]
    cmps, notes = _compare(pick, [m for m in models if m is not pick and m.miou is not None], n_boot, seed)
    real, luck, sig_lines = _significance_lines(cmps)
    head = _headline(pick, pool, constraint)
    lines = _aspects(pick, pool, cpu_only) + sig_lines + notes + _alternative(pick, pool, luck, cpu_only)
    if excluded:
        lines.append(f"**Ruled out (cannot {constraint}):** " + "; ".join(out_lines) + "."
                     if constraint else "**Not ranked:** " + "; ".join(out_lines) + ".")
    if free is not pick:
        lines.append(f"**Without the constraint** the pick would be {free.label}.")
    md = f"**{head}**\n\n" + "\n".join(f"- {x}" for x in lines)
    cmps = [{**c, "a": raw[c["a"]], "b": raw[c["b"]]} for c in cmps]
    return Recommendation(pick.raw, md, head, reasons=lines, real=[raw[x] for x in real],
                          luck=[raw[x] for x in luck], excluded=excluded, constraint=constraint,
                          unconstrained=free.raw, comparisons=cmps)


def to_html(markdown: str) -> str:
    """The Markdown `recommend` writes (paragraphs, "- " bullets, **bold**) as HTML, every text escaped."""
    bold = lambda s: UNESCAPE.sub(r"\1", BOLD.sub(r"<b>\1</b>", html.escape(s)))
    parts, items = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("- "):
            items.append(f"<li>{bold(line[2:])}</li>")
            continue
        if items:
            parts.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line.strip():
            parts.append(f"<p>{bold(line)}</p>")
    return "".join(parts)
