"""End-to-end cost of the app: startup, one Compare through the HTTP API vs raw forwards, memory.

    python benchmarks/bench_app.py [--checkpoints DIR ...] [--task NAME] [--image PATH] [--runs 5]

Starts `python app.py` as a child process and reports, in one run on the same machine:
  - seconds from process start to the page being served (HTTP 200 on /);
  - the median time of one Compare through the HTTP API (models already loaded; every run uses a slightly
    different picture so the prediction cache cannot answer): upload + POST /gradio_api/call/compare + reading
    the event stream to its end, on one keep-alive connection (what `curl` or any HTTP library does), and the
    same through gradio_client (whose event-stream reader sleeps 50 ms whenever no message is waiting);
  - against it, the median of the sum of the raw forward passes of the same models: each checkpoint's PyTorch
    module, `model(x)` in eager fp32, on the input the app prepares, measured in this process between the
    requests (interleaved, so both see the same machine load); goal: HTTP end-to-end <= 1.15x that sum;
  - the sum of the forwards the server timed (its own backend: ONNX Runtime, models side by side), to show
    what the request costs beyond the models;
  - the server's peak resident memory (VmHWM) with the task's models loaded, then with every task's.
Without --checkpoints it uses ./checkpoints, or else builds two random-weight demo-sized models in a temp dir.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
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
            time.sleep(0.02)  # fine-grained: this is the cold-start figure
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


class HttpApi:
    """Gradio's HTTP API without a client library: upload, call, read the event stream (one connection)."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def _send(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None):
        """One request on the kept-alive connection, reopened once if the server closed it while idle."""
        for attempt in (1, 2):
            try:
                self.conn.request(method, url, body, headers or {})
                return self.conn.getresponse()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                self.conn.close()
                if attempt == 2:
                    raise

    def _json(self, method: str, url: str, body: bytes, content_type: str):
        r = self._send(method, url, body, {"Content-Type": content_type})
        data = r.read()
        if r.status != 200:
            raise SystemExit(f"{method} {url}: HTTP {r.status} {data[:200]!r}")
        return json.loads(data)

    def upload(self, path: Path) -> str:
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
                f"Content-Type: image/png\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        return self._json("POST", "/gradio_api/upload", body, f"multipart/form-data; boundary={boundary}")[0]

    def compare(self, picture: Path, task: str) -> list:
        """/compare as the page calls it (image, task, view, opacity) -> its outputs (gallery, table)."""
        image = {"path": self.upload(picture), "meta": {"_type": "gradio.FileData"}}
        body = json.dumps({"data": [image, task, "Overlay", 0.55]}).encode()
        event = self._json("POST", "/gradio_api/call/compare", body, "application/json")["event_id"]
        text = self._send("GET", f"/gradio_api/call/compare/{event}").read().decode()
        kind, _, data = text.rpartition("event: ")[2].partition("\ndata: ")
        if kind != "complete":
            raise SystemExit(f"/compare answered {kind!r}: {data[:300]}")
        return json.loads(data)


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
    pictures = variants(image, 2 * args.runs + 1, tmp)

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
        api = HttpApi(port)
        api.compare(pictures[0], task.name)  # warm the connection
        e2e, via_client, server_ms, forwards = [], [], [], []
        for i in range(args.runs):  # interleaved, so all see the same machine load
            t = time.perf_counter()
            gallery, table = api.compare(pictures[1 + i], task.name)[:2]
            e2e.append((time.perf_counter() - t) * 1000)
            if len(gallery) != len(task.models) or len(table["data"]) != len(task.models):
                raise SystemExit(f"/compare returned {len(gallery)} pictures for {len(task.models)} models")
            server_ms.append(sum(row[1] for row in table["data"]))
            forwards.append(raw())
            t = time.perf_counter()
            client.predict(handle_file(str(pictures[1 + args.runs + i])), task.name, api_name="/compare")
            via_client.append((time.perf_counter() - t) * 1000)
        rss = peak_rss_mb(proc.pid)
        others = [t for t in catalog.tasks if t.name != task.name]
        for other in others:  # then every other task's models too: the whole demo in memory
            picture = other.samples[0].image if other.samples else pictures[0]
            client.predict(handle_file(str(picture)), other.name, api_name="/compare")
        rss_all = peak_rss_mb(proc.pid)
        loaded = sum(len(t.models) for t in catalog.tasks)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    e2e_ms, srv, forward = statistics.median(e2e), statistics.median(server_ms), statistics.median(forwards)
    client_ms = statistics.median(via_client)
    h, w = image.shape[:2]
    print(f"task {task.name}: {len(task.models)} models ({', '.join(m.label for m in task.models)}), "
          f"image {w}x{h}, {args.runs} runs, {torch.get_num_threads()} threads")
    print(f"startup (process start -> page served): {startup:.1f} s")
    print(f"first Compare (loads the models):       {first:.2f} s")
    print(f"Compare end-to-end via HTTP API:        {e2e_ms:.0f} ms (median)")
    print(f"same via gradio_client:                 {client_ms:.0f} ms (median; its reader polls every 50 ms)")
    print(f"sum of raw forwards (this process):     {forward:.0f} ms (median)  -> ratio {e2e_ms / forward:.2f}x "
          f"(goal <= 1.15x)")
    print(f"sum of forwards timed by the server:    {srv:.0f} ms (median)  -> ratio {e2e_ms / srv:.2f}x "
          f"({e2e_ms - srv:.0f} ms beyond them)")
    print(f"server peak RSS, the task's models:     {rss:.0f} MB")
    print(f"server peak RSS, all {loaded} models loaded:  {rss_all:.0f} MB ({len(catalog.tasks)} tasks)")


if __name__ == "__main__":
    main()
