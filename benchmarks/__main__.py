"""`python -m benchmarks` (= `segcompare benchmark`): every benchmark in one run -> benchmarks/results.md.

    python -m benchmarks [--quick] [--only inference app metrics train data] [--threads 2] [--out FILE]
        [--data ../shared/data] [--recipe-seeds 1]

Each benchmark runs in its own process (its own threads, memory and registries) one after the other:
inference latency per demo model (bench_inference), app overhead / cold start / memory (bench_app),
confusion-matrix accumulation and evaluation throughput (bench_metrics), fit() vs a minimal training loop
(bench_train) and, on the real photos in --data, `segcompare train` defaults vs a plain loop at the default
budget (bench_recipe: ~15 min per seed on 2 CPU cores, minutes on a GPU; skipped by --quick on a CPU),
data loading (bench_data). Every figure that a goal is judged on is a ratio of two things
measured in the same process, in turns (the machine is shared and noisy). The summary table (summary.py)
says for each goal whether it is met, or by how much it is missed, and why.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.summary import STEPS, write_md

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EVALUATE = """
import json, sys, time, torch
from pathlib import Path
from segcompare.checkpoint import read_config
from segcompare.evaluation import evaluate
torch.set_num_threads(int(sys.argv[1]))
out = {}
for ck in sorted(Path("checkpoints/pets").glob("*/config.json"))[:int(sys.argv[2])]:
    spec = read_config(ck.parent)["dataset"]
    evaluate(str(ck.parent), spec, latency=False, progress=False, max_images=4)  # warm-up
    t = time.perf_counter()
    res = evaluate(str(ck.parent), spec, latency=False, progress=False)
    out[ck.parent.name] = {"dataset": spec, "images": res["num_images"], "seconds": time.perf_counter() - t,
                           "size": res["input_size"], "miou": res["miou"]}
    print(ck.parent.name, out[ck.parent.name], flush=True)
Path(sys.argv[3]).write_text(json.dumps(out))
"""


def stream(cmd: list[str], timeout: float, env: dict | None = None) -> tuple[int, str]:
    """Run a benchmark, echo its output as it comes, return (exit code, output)."""
    print(f"\n$ {' '.join(cmd)}", flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    watchdog = threading.Timer(timeout, proc.kill)  # a stuck benchmark must not stall the suite
    watchdog.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if not line.startswith("[torch.onnx]"):
                print(line, end="", flush=True)
    finally:
        watchdog.cancel()
    code = proc.wait()
    if code == -9:
        lines.append(f"\n(killed after {timeout:.0f} s)\n")
    return code, "".join(lines)


def step_inference(a, tmp: Path) -> dict:
    out = tmp / "inference.json"
    args = ["--threads", str(a.threads), "--runs", "6" if a.quick else "10", "--json", str(out)]
    if a.quick:
        args += ["--compile", "none"]
    code, text = stream([sys.executable, "-m", "benchmarks.bench_inference", *args], 480)
    return json.loads(out.read_text()) if out.is_file() else {"error": tail(text)}


def step_app(a, tmp: Path) -> dict:
    code, text = stream([sys.executable, str(HERE / "bench_app.py"), "--runs", "3" if a.quick else "5"], 300)
    pats = {"startup_s": r"startup .*?:\s+([\d.]+) s", "first_compare_s": r"first Compare .*?:\s+([\d.]+) s",
            "e2e_ms": r"Compare end-to-end .*?:\s+([\d.]+) ms", "raw_ms": r"sum of raw forwards .*?:\s+([\d.]+) ms",
            "raw_ratio": r"sum of raw forwards .*?ratio ([\d.]+)x",
            "server_ms": r"timed by the server:\s+([\d.]+) ms",
            "server_ratio": r"timed by the server:.*?ratio ([\d.]+)x",
            "client_ms": r"via gradio_client:\s+([\d.]+) ms",
            "rss_mb": r"peak RSS, the task's models:\s+([\d.]+) MB",
            "rss_all_mb": r"peak RSS, all \d+ models loaded:\s+([\d.]+) MB"}
    found = {k: float(m.group(1)) for k, p in pats.items() if (m := re.search(p, text))}
    per_size = (r"^photo (\d+) px \((\S+)\): Compare via HTTP API ([\d.]+) ms, raw eager forwards ([\d.]+) ms "
                r"-> ratio ([\d.]+)x \(goal <= ([\d.]+)x\)")
    found["sizes"] = {int(m.group(1)): {"size": m.group(2), "e2e_ms": float(m.group(3)), "raw_ms": float(m.group(4)),
                                        "ratio": float(m.group(5)), "goal": float(m.group(6))}
                      for m in re.finditer(per_size, text, re.M)}
    task = re.search(r"^task (.*)$", text, re.M)
    found["task"] = task.group(1) if task else ""
    return found if "e2e_ms" in found else {"error": tail(text)}


def step_metrics(a, tmp: Path) -> dict:
    args = ["--threads", str(a.threads), "--repeat", "10" if a.quick else "30",
            "--models", "unet_tu-mobilenetv3_small_100", "segformer_b0", "--images", "8" if a.quick else "16"]
    code, text = stream([sys.executable, str(HERE / "bench_metrics.py"), *args], 240)
    start = re.search(r"^\{$", text, re.M)  # the report is the last thing printed, one JSON object
    try:
        return json.loads(text[start.start():]) if start else {"error": tail(text)}
    except json.JSONDecodeError:
        return {"error": tail(text)}


def step_evaluate(a, tmp: Path) -> dict:
    """evaluate() of demo checkpoints on their full test split (the data set must be where the checkpoint says)."""
    out = tmp / "evaluate.json"
    code, text = stream([sys.executable, "-c", EVALUATE, str(a.threads), "2" if a.quick else "5", str(out)], 240)
    result = json.loads(out.read_text()) if out.is_file() else {}
    return result or {"error": "no demo checkpoints in checkpoints/pets" if code == 0 else tail(text)}


def step_train(a, tmp: Path) -> dict:
    script = HERE / "bench_train.py"
    if not script.is_file():
        return {"error": "benchmarks/bench_train.py is not there yet"}
    out = tmp / "train.json"
    args = ["--threads", str(a.threads), "--model", "unet_tu-mobilenetv3_small_100", "--size", "128", "128",
            "--images", "32" if a.quick else "64", "--epochs", "3", "--json", str(out)]
    code, text = stream([sys.executable, str(script), *args], 300)
    result = json.loads(out.read_text()) if out.is_file() else {"error": tail(text)}
    result["recipe"] = step_recipe(a, tmp)
    return result


def step_recipe(a, tmp: Path) -> dict:
    """`segcompare train` defaults vs a plain loop on the real photos in --data (bench_recipe, default budget)."""
    import torch

    data = Path(a.data)
    if not (data / "camvid").is_dir() or not (data / "oxford-pet").is_dir():
        return {"error": f"no real data: {data} has no camvid/ and oxford-pet/ (pass --data FOLDER)"}
    if a.quick and not torch.cuda.is_available():
        return {"error": "skipped by --quick on a CPU (about 15 min per seed on 2 cores)"}
    out = tmp / "recipe.json"
    args = ["--data", str(data), "--recipes", "default", "--seeds", str(a.recipe_seeds), "--threads", str(a.threads),
            "--json", str(out)]
    code, text = stream([sys.executable, str(HERE / "bench_recipe.py"), *args], 5400 * a.recipe_seeds)
    return json.loads(out.read_text()) if out.is_file() else {"error": tail(text)}


def step_data(a, tmp: Path) -> dict:
    out = tmp / "data.json"
    n, passes = ("300", "2") if a.quick else ("700", "3")
    code_text = (f"import json; from benchmarks.bench_data import main; "
                 f"open({str(out)!r}, 'w').write(json.dumps(main(['--images', '{n}', '--passes', '{passes}'])))")
    code, text = stream([sys.executable, "-c", code_text], 240)
    return json.loads(out.read_text()) if out.is_file() else {"error": tail(text)}


def tail(text: str, n: int = 600) -> str:
    return " ".join(text[-n:].split())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions, no torch.compile (about half the time)")
    p.add_argument("--only", nargs="+", choices=STEPS, default=STEPS)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--out", default=str(HERE / "results.md"))
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                   help="real photos for the training-defaults goal: a folder with camvid/ and oxford-pet/")
    p.add_argument("--recipe-seeds", type=int, default=1, help="training runs per side for that goal (mean)")
    a = p.parse_args(argv)
    t0 = time.time()
    results = {}
    with tempfile.TemporaryDirectory(prefix="segcompare-bench-") as tmp:
        for step in STEPS:
            if step in a.only:
                t, load = time.time(), os.getloadavg()[0]
                results[step] = globals()[f"step_{step}"](a, Path(tmp))
                results.setdefault("steps", {})[step] = {"seconds": round(time.time() - t),
                                                         "load": [round(load, 1), round(os.getloadavg()[0], 1)]}
    text = write_md(results, Path(a.out), time.time() - t0, a)
    print("\n" + text)
    print(f"wrote {a.out} in {(time.time() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
