"""The summary of `python -m benchmarks`: each goal's verdict and the tables of benchmarks/results.md.

`write_md(results, path, seconds, args)` turns the steps' figures (one dict per step, as `__main__` collects
them) into the markdown file; every other function here is a pure function of those figures.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def verdict(value: float | None, goal: float, higher_is_better: bool = True) -> str:
    if value is None:
        return "not measured"
    ok = value >= goal if higher_is_better else value <= goal
    if ok:
        return "met"
    miss = (goal - value) / goal if higher_is_better else (value - goal) / goal
    return f"missed by {100 * miss:.0f}%"


def goals(r: dict) -> list[list[str]]:
    rows = []
    app = r.get("app", {})
    srv, raw = app.get("server_ratio"), app.get("raw_ratio")
    for side, x in sorted(app.get("sizes", {}).items()):  # issue 21: real photos as users upload them
        rows.append([f"app: Compare on a real {side}-px photo through the HTTP API / the models' raw eager forwards",
                     f"<= {x['goal']:.1f}x", f"{x['ratio']:.2f}x ({x['e2e_ms']:.0f} ms vs {x['raw_ms']:.0f} ms, photo "
                     f"{x['size']})", verdict(x["ratio"], x["goal"], higher_is_better=False), app_why(app)])
    rows.append(["app: Compare through the HTTP API / sum of the models' raw (eager PyTorch) forwards", "<= 1.15x",
                 f"{raw:.2f}x ({app['e2e_ms']:.0f} ms vs {app['raw_ms']:.0f} ms); {srv:.2f}x the forwards the server "
                 "timed on its own backend" if srv and raw else app.get("error", "-")[:200],
                 verdict(raw, 1.15, higher_is_better=False), app_why(app)])
    start = app.get("startup_s")
    rows.append(["app: page served after process start, demo checkpoints", "< 3 s",
                 f"{start:.1f} s" if start else app.get("error", "-")[:200],
                 verdict(start, 3.0, higher_is_better=False),
                 "torch is imported after the page is up; Gradio's own import is ~2 s of it" if start else ""])
    inf = [x for x in r.get("inference", {}).get("rows", []) if x.get("default") and x["size"] == "512x512"]
    if inf:
        worst = min(inf, key=lambda x: x["speedup"])
        equal = all(x["agreement_pct"] >= 99.9 for x in inf)
        measured = ", ".join(f"{x['model'].split('_')[0]} {x['speedup']:.2f}x" for x in inf)
        slow = [x for x in inf if x["speedup"] < 1.3]
        why = ("; ".join(f"{x['model']}: {x['variant']} {x['speedup']:.2f}x; " + others(r, x) + KNOWN.get(
            x["model"].split(" ")[0], "") for x in slow)
               if slow else "ONNX Runtime fuses conv+BN+activation and runs depthwise convolutions faster")
        rows.append(["default inference backend vs eager fp32, CPU, 512x512, equal predictions", ">= 1.3x, >= 99.9%",
                     f"{measured}; argmax agreement >= {min(x['agreement_pct'] for x in inf):.3f}%",
                     verdict(worst["speedup"], 1.3) if equal else "predictions differ", why])
    else:
        rows.append(["default inference backend vs eager fp32 at 512x512", ">= 1.3x", "-", "not measured",
                     r.get("inference", {}).get("error", "")[:200]])
    tr = r.get("train", {})
    fp32 = next((x for x in tr.get("rows", []) if x["mode"] == "fp32"), None)
    rows.append(["training: fit() vs a minimal PyTorch loop", ">= 0.95x",
                 f"{fp32['ratio']:.3f}x ({fp32['fit_img_s']:.1f} vs {fp32['hand_img_s']:.1f} img/s, {tr['model']})"
                 if fp32 else tr.get("error", "-")[:200], verdict(fp32 and fp32["ratio"], 0.95),
                 "fit() adds Accelerate, the LR schedule, progress bar and periodic loss syncs" if fp32 else ""])
    rows += recipe_goals(tr.get("recipe", {}))
    acc = r.get("metrics", {}).get("accumulation", {})
    ours = acc.get("ours_ConfusionMatrix.update")
    rows.append(["confusion matrix accumulation vs bare torch.bincount", ">= 0.9x",
                 f"{ours['speed_vs_bare']:.2f}x ({ours['mpix_per_s']} Mpix/s, with ignore handling)"
                 if ours else r.get("metrics", {}).get("error", "-")[:200],
                 verdict(ours and ours["speed_vs_bare"], 0.9),
                 "one bincount; ignored pixels go to a spare bin instead of a boolean-mask compaction" if ours else ""])
    return rows + quality_rows()


def recipe_goals(rec: dict) -> list[list[str]]:
    """Issue 15: `segcompare train` defaults vs a plain PyTorch loop, per real dataset, at the default epochs."""
    gpu = rec.get("device", "cpu") != "cpu"
    speed_goal = 0.95 if gpu else 0.9
    target = f">= 1.0x test mIoU, >= {speed_goal}x img/s"
    defaults = [x for x in rec.get("summary", []) if x["recipe"].startswith("default")]
    if not defaults:
        return [["training defaults vs a plain loop on real photos (test mIoU, images/s)", target, "-", "not measured",
                 rec.get("error", "")[:200]]]
    rows = []
    for x in defaults:
        plain = next(p for p in rec["summary"] if p["dataset"] == x["dataset"] and p["recipe"] == "plain loop")
        miou_ok, speed_ok = verdict(x["miou_ratio"], 1.0), verdict(x["speed_ratio"], speed_goal)
        util = f"; GPU util {x['gpu_util']:.0f}% vs {plain['gpu_util']:.0f}%" if x.get("gpu_util") else ""
        rows.append([f"training defaults vs a plain loop, {x['dataset']} ({rec['model']}, {rec['epochs']} epochs, "
                     f"{rec['device']})", target,
                     f"mIoU {x['miou_ratio']:.2f}x ({x['test_miou']:.3f} vs {plain['test_miou']:.3f}), "
                     f"{x['speed_ratio']:.2f}x img/s ({x['img_s']:.1f} vs {plain['img_s']:.1f}){util}; "
                     f"mean of {x['seeds']} seed(s)",
                     "met" if miou_ok == speed_ok == "met" else f"mIoU {miou_ok}, speed {speed_ok}",
                     f"{x['recipe']}; plain loop: AdamW 1e-3 constant, flips, CE, data pre-decoded in memory, last "
                     "weights; defaults: best-validation checkpoint"])
    return rows


# Issue 14's bar for the shipped models, on real photos they never saw (the tasks' test splits).
QUALITY_BARS = {"pets": 0.70, "streets": 0.55}


def quality_rows() -> list[list[str]]:
    """The committed demo models' test mIoU, as recorded by `segcompare compare` (no data set needed here)."""
    rows = []
    for task, bar in QUALITY_BARS.items():
        from segcompare.formats.results import read_results_file

        results = [read_results_file(p) for p in sorted((ROOT / "checkpoints" / task).glob("*/results.json"))]
        if not results:
            rows.append([f"quality: best {task} model, test mIoU", f">= {bar:.0%}", "-", "not measured",
                         f"no checkpoints in checkpoints/{task}"])
            continue
        best = max(results, key=lambda r: r["miou"])
        rows.append([f"quality: best {task} model, test mIoU on real photos it never saw", f">= {bar:.0%}",
                     f"{100 * best['miou']:.1f}% ({best['model']}, {best['num_images']} {best['split']} images)",
                     verdict(best["miou"], bar), f"`segcompare compare --config configs/demo-{task}.yaml`"])
    return rows


KNOWN = {"fcn_mobilenet_v3_small": " torchvision's FCN runs a dilated MobileNet-V3 (output stride 16); ONNX Runtime "
                                   "appears to have no fast kernel for its dilated depthwise convolutions, and the "
                                   "model is so small at 512 px (~17 ms) that fixed per-op costs dominate"}


def others(r: dict, row: dict) -> str:
    """The other variants' speed-ups for the same model and size."""
    same = [x for x in r["inference"]["rows"] if x["model"] == row["model"] and x["size"] == row["size"]
            and "speedup" in x and x is not row and x["variant"] != "eager fp32"]
    return ", ".join(f"{x['variant']} {x['speedup']:.2f}x" for x in same) + "."


def app_why(app: dict) -> str:
    if "e2e_ms" not in app:
        return ""
    return (f"the server runs the models on ONNX Runtime, two at a time ({app['server_ms']:.0f} ms of forwards, "
            "summed: more than the request's own time, as two run at once); around them the request itself (upload, "
            "Gradio's queue and event stream, decode, a class map per model at display size without upsampling "
            "every logit, one JPEG overlay per model). Through gradio_client the same call takes "
            f"{app.get('client_ms', float('nan')):.0f} ms: its event-stream reader sleeps 50 ms between polls")


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def inference_md(inf: dict) -> str:
    rows = [[x["model"], x["size"], x["variant"], x.get("p50_ms", ""), x.get("p95_ms", ""),
             f"{x['speedup']:.2f}x" if "speedup" in x else "", x.get("max_logit_diff", ""),
             x.get("agreement_pct", ""), x.get("miou_vs_eager", ""), x.get("note", "")] for x in inf.get("rows", [])]
    return md_table(["model", "size", "variant", "p50 ms", "p95 ms", "speed vs eager", "max abs logit diff",
                     "argmax agreement %", "mIoU vs eager %", "note"], rows)


def other_md(r: dict) -> str:
    rows = []
    app = r.get("app", {})
    if "e2e_ms" in app:
        rows += [["app cold start (process start -> page served)", f"{app['startup_s']:.1f} s", app.get("task", "")],
                 ["app first Compare (loads every model of the task)", f"{app['first_compare_s']:.2f} s", ""],
                 ["app Compare end-to-end (HTTP API, median)", f"{app['e2e_ms']:.0f} ms",
                  f"server-timed forwards {app['server_ms']:.0f} ms; eager forwards here {app['raw_ms']:.0f} ms; "
                  f"via gradio_client {app.get('client_ms', float('nan')):.0f} ms"],
                 ["app peak RSS, every model of the task loaded", f"{app['rss_mb']:.0f} MB", ""],
                 ["app peak RSS, every model of every task loaded", f"{app.get('rss_all_mb', float('nan')):.0f} MB",
                  ""]]
    ev = r.get("metrics", {}).get("evaluate", {})
    for name, t in ev.items():
        total = t["data_s"] + t["forward_s"] + t["metrics_s"]
        rows.append([f"evaluation split into data / forward / metrics, {name} (random weights), {t['images']} "
                     f"images {t['size']}px", f"{t['images'] / total:.1f} images/s",
                     f"data {t['data_s']:.2f} s, forward {t['forward_s']:.2f} s, metrics {t['metrics_s']:.2f} s "
                     f"({100 * t['metrics_share_of_forward']:.1f}% of forward)"])
    for name, e in r.get("evaluate", {}).items():
        if isinstance(e, dict) and "images" in e:
            rows.append([f"evaluation, full {e['dataset']} test split, {name}",
                         f"{e['images'] / e['seconds']:.1f} images/s",
                         f"{e['images']} images at {e['size'][0]}x{e['size'][1]}, all metrics, {e['seconds']:.1f} s"])
    acc = r.get("metrics", {}).get("accumulation", {})
    for name in ("bare_bincount", "torchvision_reference", "ours_ConfusionMatrix.update", "ours_confusion_per_image"):
        if name in acc:
            rows.append([f"confusion matrix: {name}", f"{acc[name]['mpix_per_s']} Mpix/s",
                         f"{acc[name]['speed_vs_bare']:.2f}x bare"])
    for x in r.get("train", {}).get("rows", []):
        rows.append([f"training {x['mode']}, {r['train']['model']} ({r['train']['device']})",
                     f"fit {x['fit_img_s']} img/s", f"hand loop {x['hand_img_s']} img/s -> {x['ratio']}x"
                     + (f", GPU util {x['gpu_util_mean']}%" if "gpu_util_mean" in x else "")])
    rec = r.get("train", {}).get("recipe", {})
    for x in rec.get("summary", []):
        rows.append([f"training on real photos: {x['dataset']}, {x['recipe']} ({rec['model']}, {rec['epochs']} epochs, "
                     f"batch {rec['batch']}, {rec['device']})", f"test mIoU {x['test_miou']:.3f}",
                     f"{x['img_s']:.1f} train img/s, mean of {x['seeds']} seed(s)"
                     + (f", GPU util {x['gpu_util']:.0f}%" if x.get("gpu_util") else "")])
    for x in r.get("data", {}).get("results", []):
        later = f"{x['later_pass_ips']:.0f}" if x.get("later_pass_ips") else "-"
        rows.append([f"data loading: {x['spec']}{' +augment' if x['augment'] else ''}",
                     f"{x['first_pass_ips']:.0f} / {later} images/s (first / later passes)",
                     f"{x['workers']} workers; CPU {x['cpu_ms_per_image']:.2f} ms/image -> {x['two_core_ips']:.0f} "
                     "images/s on 2 free cores"])
    for name, res in r.items():
        if isinstance(res, dict) and res.get("error"):
            rows.append([f"{name}: did not finish", "-", res["error"][:300]])
    return md_table(["measure", "value", "detail"], rows)


def gpu_md(r: dict) -> str:
    import torch

    if not torch.cuda.is_available():
        return md_table(["GPU row", "value"], [["inference cuda fp32 / bf16+channels_last", "no GPU"],
                                               ["training bf16+channels_last, GPU utilisation", "no GPU"],
                                               ["evaluation on GPU", "no GPU"]])
    return ("GPU rows are in the tables above (inference `cuda ...` variants, training `bf16+channels_last` "
            f"with utilisation); device: {torch.cuda.get_device_name()}.")


STEPS = ["inference", "app", "metrics", "evaluate", "train", "data"]  # what `python -m benchmarks` runs, in order
# goal rows by the step that measures them (a step left out by --only is "not run", not "not measured")
GOAL_STEPS = {"app:": "app", "default inference": "inference", "training": "train", "confusion": "metrics"}


def not_run(rows: list[list[str]], only: list[str]) -> list[list[str]]:
    for row in rows:
        step = next((s for prefix, s in GOAL_STEPS.items() if row[0].startswith(prefix)), None)
        if step and step not in only and row[3] == "not measured":
            row[3], row[4] = "not run", f"this run had --only {' '.join(only)}"
    return rows


def command(a) -> str:
    """The command line that made this file (the options that change what it measures)."""
    only = getattr(a, "only", None)
    return " ".join(["python -m benchmarks", *(["--quick"] if a.quick else []),
                     *(["--only", *only] if only and set(only) != set(STEPS) else []),
                     *([f"--recipe-seeds {a.recipe_seeds}"] if getattr(a, "recipe_seeds", 1) != 1 else [])])


def write_md(r: dict, path: Path, seconds: float, a) -> str:
    import torch

    head = (f"# segcompare benchmarks\n\nGenerated by `{command(a)}` on "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min: {os.cpu_count()} CPU cores, "
            f"{a.threads} torch/ONNX Runtime threads, torch {torch.__version__}, "
            f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}. "
            "Ratios are measured in one process, variants in turns; absolute times move with the machine's load "
            "(another process on the 2 cores slows torch's OpenMP forwards far more than ONNX Runtime's).\n\n"
            "Step times (load average before -> after): " + ", ".join(
                f"{k} {v['seconds']} s ({v['load'][0]} -> {v['load'][1]})" for k, v in r.get("steps", {}).items())
            + ".\n")
    rows = not_run(goals(r), getattr(a, "only", None) or STEPS)
    parts = [head, "## Goals", md_table(["goal", "target", "measured", "verdict", "why"], rows)]
    if r.get("inference", {}).get("rows"):
        parts += ["## Inference latency (batch 1)", inference_md(r["inference"])]
    text = "\n\n".join(parts + ["## App, evaluation, training, data loading", other_md(r), "## GPU", gpu_md(r)]) + "\n"
    path.write_text(text)
    return text
