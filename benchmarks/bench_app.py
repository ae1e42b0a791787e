"""End-to-end cost of the app: startup, one Compare through the HTTP API vs raw forwards, memory.

    python benchmarks/bench_app.py [--checkpoints DIR ...] [--task NAME] [--image PATH] [--runs 5]

Starts `python app.py` as a child process and reports, in one run on the same machine:
  - seconds from process start to the page being served (HTTP 200 on /);
  - the median time of one /compare request through gradio_client (models already loaded; every run uses a
    slightly different picture so the prediction cache cannot answer) against the median of the sum of the
    raw forward passes of the same models on the same prepared input, measured in this process between
    the requests (interleaved, so both see the same machine load), and against the forwards the server timed;
    goal: end-to-end <= 1.15x the forwards;
  - the server's peak resident memory (VmHWM) with every model loaded.
Without --checkpoints it uses ./checkpoints, or else builds two random-weight demo-sized models in a temp dir.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fallback_checkpoints(tmp: Path) -> Path:
    """Two random-weight models at 256 px (the demo's size class) in tmp/checkpoints/demo/."""
    from segcompare.checkpoint import save_checkpoint
    from segcompare.models import build_model

    classes = ["background", "pet", "boundary"]
    for name in ("unet_mobilenet_v2", "segformer_b0"):
        save_checkpoint(build_model(name, len(classes)), tmp / "checkpoints" / "demo" / name,
                        {"classes": classes, "input_size": [256, 256], "dataset": "synthetic-pets"})
    return tmp / "checkpoints"


def wait_for_page(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"app exited with code {proc.returncode} before serving the page")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"page not served within {timeout:.0f} s")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def variants(image: np.ndarray, n: int, folder: Path) -> list[Path]:
    """n copies of the picture, each with one pixel changed (a new content hash, the same work)."""
    paths = []
    for i in range(n):
        v = image.copy()
        v[0, 0] = (i * 37 % 256, i * 11 % 256, 255 - i % 256)
        paths.append(folder / f"variant_{i}.png")
        Image.fromarray(v).save(paths[-1])
    return paths


class RawForwards:
    """The same models on the app's prepared input, in this process: the floor for one Compare."""

    def __init__(self, checkpoints: list[Path], image: np.ndarray):
        from segcompare.checkpoint import load_model
        from segcompare.images import fit_within
        from segcompare.inference import prepare

        shown = fit_within(image, 1024)
        self.models = [load_model(c) for c in checkpoints]
        self.inputs = [prepare(shown, cfg) for _, cfg in self.models]
        self()  # warm-up

    def __call__(self) -> float:
        """Summed forward time (ms) of every model, once."""
        total = 0.0
        with torch.inference_mode():
            for (m, _), x in zip(self.models, self.inputs):
                t = time.perf_counter()
                m(x)
                total += time.perf_counter() - t
        return total * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", nargs="*", default=None)
    ap.add_argument("--task", default=None, help="task to compare on (default: the first)")
    ap.add_argument("--image", default=None, help="picture (default: the task's first sample, else random)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    torch.set_num_threads(os.cpu_count() or 1)  # as the app does
    tmp = Path(tempfile.mkdtemp(prefix="bench_app_"))

    from segcompare.catalog import discover

    sources = args.checkpoints or ([str(ROOT / "checkpoints")] if any((ROOT / "checkpoints").glob("*/*/config.json"))
                                   or any((ROOT / "checkpoints").glob("*/config.json"))
                                   else [str(fallback_checkpoints(tmp))])
    catalog = discover(sources, ROOT / "assets" / "samples")
    task = catalog.task(args.task)
    if args.image:
        from segcompare.images import load_image

        image = load_image(args.image)
    elif task.samples:
        from segcompare.images import load_image

        image = load_image(task.samples[0].image)
    else:
        image = np.random.default_rng(0).integers(0, 255, (384, 512, 3), dtype=np.uint8)
    pictures = variants(image, args.runs + 1, tmp)

    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--checkpoints", *sources],
                            env={**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_page(url, proc)
        startup = time.perf_counter() - t0
        from gradio_client import Client, handle_file

        client = Client(url, verbose=False, download_files=False)
        t = time.perf_counter()
        client.predict(handle_file(str(pictures[0])), task.name, api_name="/compare")  # loads every model
        first = time.perf_counter() - t
        raw = RawForwards([m.path for m in task.models], image)
        e2e, server_ms, forwards = [], [], []
        for pic in pictures[1:]:  # interleaved, so both see the same machine load
            t = time.perf_counter()
            _, table = client.predict(handle_file(str(pic)), task.name, api_name="/compare")
            e2e.append((time.perf_counter() - t) * 1000)
            server_ms.append(sum(row[1] for row in table["data"]))
            forwards.append(raw())
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    e2e_ms, srv, forward = statistics.median(e2e), statistics.median(server_ms), statistics.median(forwards)
    h, w = image.shape[:2]
    print(f"task {task.name}: {len(task.models)} models ({', '.join(m.label for m in task.models)}), "
          f"image {w}x{h}, {args.runs} runs, {torch.get_num_threads()} threads")
    print(f"startup (process start -> page served): {startup:.1f} s")
    print(f"first Compare (loads the models):       {first:.2f} s")
    print(f"Compare end-to-end via HTTP API:        {e2e_ms:.0f} ms (median)")
    print(f"sum of raw forwards (this process):     {forward:.0f} ms (median)  -> ratio {e2e_ms / forward:.2f}x "
          f"(goal <= 1.15x)")
    print(f"sum of forwards timed by the server:    {srv:.0f} ms (median)  -> ratio {e2e_ms / srv:.2f}x")
    print(f"server peak RSS, all models loaded:     {rss:.0f} MB")


if __name__ == "__main__":
    main()
