"""End-to-end cost of the app: startup, one Compare through the HTTP API vs raw forwards, memory.

    python benchmarks/bench_app.py [--checkpoints DIR ...] [--task NAME] [--image PATH] [--sizes 512 1024]
                                   [--runs 5] [--json FILE]

Starts `python app.py` as a child process and reports, in one run on the same machine:
  - seconds from process start to the page being served (HTTP 200 on /);
  - per photo size (the task's first test photo, a real one, resized so its long side is 512 and 1024 px:
    what users upload), the median time of one warmed-up Compare through the HTTP API (models loaded, the
    server's background ONNX exports finished and the server idle; every run uses a slightly different
    picture so the prediction cache cannot answer): upload + POST /gradio_api/call/compare + reading the
    event stream to its end, on one keep-alive connection (what `curl` or any HTTP library does);
  - against it, the median of the sum of the raw forward passes of the same models: each checkpoint's PyTorch
    module, `model(x)` in eager fp32, on the input the app prepares (the model's own input size), measured in
    this process between the requests while the server is idle (interleaved, so both see the same machine
    load); goals: <= 1.0x at 512 px, <= 2.0x at 1024 px (issue 21);
  - the sum of the forwards the server timed (its own backend: ONNX Runtime, models side by side), to show
    what the request costs beyond the models, and the same Compare through gradio_client (whose event-stream
    reader sleeps 50 ms whenever no message is waiting);
  - the server's peak resident memory (VmHWM) with the task's models loaded, then with every task's.
Without --checkpoints it uses ./checkpoints, or else builds two random-weight demo-sized models in a temp dir.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
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


def process_tree(pid: int) -> dict[int, int]:
    """{pid: CPU ticks so far} for a process and its living descendants (the server and its export children)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
        ticks[int(stat.parent.name)] = int(fields[11]) + int(fields[12])
    tree, todo = {pid}, [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(kids)
        todo += kids
    return {p: ticks.get(p, 0) for p in tree}


def tree_cpu_s(pid: int) -> float:
    return sum(process_tree(pid).values()) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen) -> None:
    """End the server and the export processes it started (they would outlive it, working for nobody)."""
    children = [p for p in process_tree(proc.pid) if p != proc.pid]
    proc.terminate()
    proc.wait(timeout=30)
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def wait_idle(pid: int, timeout: float = 600, quiet: float = 0.05) -> float:
    """Wait until the server (with its export processes) uses < `quiet` of a core over 2 s; seconds waited."""
    t0 = time.time()
    last = tree_cpu_s(pid)
    while time.time() - t0 < timeout:
        time.sleep(2)  # a CPU-time window, not a wait for an event we could be told of: exports report nothing
        now = tree_cpu_s(pid)
        if now - last < 2 * quiet:
            return time.time() - t0
        last = now
    raise SystemExit(f"the server kept working for {timeout:.0f} s after its warm-up (background exports?)")


def photo_at(image: np.ndarray, side: int) -> np.ndarray:
    """The photo resized (bilinear) so that its long side is `side` pixels, as a phone photo a user uploads."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    return np.asarray(Image.fromarray(image).resize((round(w * scale), round(h * scale)), Image.BILINEAR))


def variants(image: np.ndarray, n: int, folder: Path) -> list[Path]:
    """n copies of the photo as JPEG files (what phones upload), each with one pixel changed (a new content
    hash, the same work)."""
    paths = []
    for i in range(n):
        v = image.copy()
        v[:8, :8] = (i * 37 % 256, i * 11 % 256, 255 - i % 256)
        paths.append(folder / f"variant_{image.shape[1]}_{i}.jpg")
        Image.fromarray(v).save(paths[-1], quality=95)
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
        kind = "jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "png"
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
                f"Content-Type: image/{kind}\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        return self._json("POST", "/gradio_api/upload", body, f"multipart/form-data; boundary={boundary}")[0]

    def compare(self, picture: Path, task: str) -> list:
        """/compare as the page calls it (image, task, view, opacity, hidden classes) -> (gallery, table)."""
        image = {"path": self.upload(picture), "meta": {"_type": "gradio.FileData"}}
        body = json.dumps({"data": [image, task, "Overlay", 0.55, []]}).encode()
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


def measure(api: HttpApi, raw: RawForwards, pictures: list[Path], task) -> dict:
    """Compares through the HTTP API and raw forwards in turns (the server is idle during the forwards)."""
    e2e, server_ms, forwards = [], [], []
    for picture in pictures:
        t = time.perf_counter()
        gallery, table = api.compare(picture, task.name)[:2]
        e2e.append((time.perf_counter() - t) * 1000)
        if len(gallery) != len(task.models) or len(table["data"]) != len(task.models):
            raise SystemExit(f"/compare returned {len(gallery)} pictures for {len(task.models)} models")
        server_ms.append(sum(row[1] for row in table["data"]))
        forwards.append(raw())
    e2e_ms, forward = statistics.median(e2e), statistics.median(forwards)
    return {"e2e_ms": e2e_ms, "raw_ms": forward, "server_ms": statistics.median(server_ms),
            "ratio": e2e_ms / forward, "runs_ms": [round(x) for x in e2e]}


def setup(args, tmp: Path):
    """(sources, catalog, task, photo): the checkpoints and the real photo to compare on."""
    from segcompare.catalog import discover
    from segcompare.images import load_image

    sources = args.checkpoints or ([str(ROOT / "checkpoints")] if any((ROOT / "checkpoints").glob("*/*/config.json"))
                                   or any((ROOT / "checkpoints").glob("*/config.json"))
                                   else [str(fallback_checkpoints(tmp))])
    catalog = discover(sources, ROOT / "assets" / "samples")
    task = catalog.task(args.task)
    if args.image or task.samples:
        image = load_image(args.image or task.samples[0].image)
    else:
        image = np.random.default_rng(0).integers(0, 255, (384, 512, 3), dtype=np.uint8)
    return sources, catalog, task, image


def export_first(task, photos: dict) -> float:
    """Export (here, synchronously) the ONNX graphs the server will want for these photos into its cache, so
    the server finds them on disk instead of exporting in the background while it is measured; seconds."""
    from segcompare.backends import Backend
    from segcompare.checkpoint import load_model
    from segcompare.images import fit_within
    from segcompare.inference import model_input_size

    t = time.perf_counter()
    for m in task.models:
        model, config = load_model(m.path)
        backend = Backend(model, "auto", background=False)
        for photo in photos.values():
            shape = model_input_size(fit_within(photo, 1024).shape[:2], config.get("input_size"))
            backend.prepare((1, 3, *shape))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", nargs="*", default=None)
    ap.add_argument("--task", default="streets", help="task to compare on (default: streets, else the first)")
    ap.add_argument("--image", default=None, help="photo (default: the task's first test photo, else random)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024], help="long sides of the photo (px)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    torch.set_num_threads(os.cpu_count() or 1)  # as the app does
    tmp = Path(tempfile.mkdtemp(prefix="bench_app_"))
    sources, catalog, task, image = setup(args, tmp)
    if args.task not in [t.name for t in catalog.tasks]:
        task = catalog.task(None)
    photos = {side: photo_at(image, side) for side in args.sizes}
    pictures = {side: variants(photo, 2 * args.runs + 3, tmp) for side, photo in photos.items()}
    exported = export_first(task, photos)

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
        client.predict(handle_file(str(pictures[args.sizes[0]][0])), task.name, api_name="/compare")  # loads models
        first = time.perf_counter() - t
        api = HttpApi(port)
        waited = 0.0
        for _ in range(4):  # every size, until a round starts no background work (exports, checks per shape)
            for side in args.sizes:
                api.compare(pictures[side][1], task.name)
            idle = wait_idle(proc.pid)
            waited += idle
            if idle < 3:
                break
        raws = {side: RawForwards([m.path for m in task.models], photo) for side, photo in photos.items()}
        results = {}
        for side in args.sizes:
            api.compare(pictures[side][2], task.name)  # warm after the exports: sessions opened, files cached
            results[side] = measure(api, raws[side], pictures[side][3:3 + args.runs], task)
        via_client = []
        for picture in pictures[args.sizes[0]][3 + args.runs:]:
            t = time.perf_counter()
            client.predict(handle_file(str(picture)), task.name, api_name="/compare")
            via_client.append((time.perf_counter() - t) * 1000)
        rss = peak_rss_mb(proc.pid)
        for other in [t for t in catalog.tasks if t.name != task.name]:  # then every task's models: the whole demo
            picture = other.samples[0].image if other.samples else pictures[args.sizes[0]][0]
            client.predict(handle_file(str(picture)), other.name, api_name="/compare")
        rss_all = peak_rss_mb(proc.pid)
    finally:
        stop(proc)
    report(args, task, catalog, photos, results,
           {"startup_s": startup, "first_compare_s": first, "idle_wait_s": waited, "export_s": exported,
            "client_ms": statistics.median(via_client), "rss_mb": rss, "rss_all_mb": rss_all})


GOALS = {512: 1.0, 1024: 2.0}  # issue 21: the request no slower than the models alone at 512 px


def report(args, task, catalog, photos: dict, results: dict, other: dict) -> None:
    """Print the figures (benchmarks/__main__.py reads these lines) and write them as JSON when asked."""
    base = results[args.sizes[0]]
    print(f"task {task.name}: {len(task.models)} models ({', '.join(m.label for m in task.models)}), "
          f"photo {'/'.join(f'{p.shape[1]}x{p.shape[0]}' for p in photos.values())}, {args.runs} runs, "
          f"{torch.get_num_threads()} threads; ONNX exports done first ({other['export_s']:.0f} s), server idle "
          f"after {other['idle_wait_s']:.0f} s of warm-up work")
    print(f"startup (process start -> page served): {other['startup_s']:.1f} s")
    print(f"first Compare (loads the models):       {other['first_compare_s']:.2f} s")
    print(f"Compare end-to-end via HTTP API:        {base['e2e_ms']:.0f} ms (median, {args.sizes[0]} px)")
    print(f"same via gradio_client:                 {other['client_ms']:.0f} ms (median; its reader polls every 50 ms)")
    print(f"sum of raw forwards (this process):     {base['raw_ms']:.0f} ms (median)  -> ratio "
          f"{base['e2e_ms'] / base['raw_ms']:.2f}x (goal <= {GOALS.get(args.sizes[0], 1.0):.1f}x)")
    print(f"sum of forwards timed by the server:    {base['server_ms']:.0f} ms (median)  -> ratio "
          f"{base['e2e_ms'] / base['server_ms']:.2f}x ({base['e2e_ms'] - base['server_ms']:.0f} ms beyond them)")
    for side, r in results.items():
        h, w = photos[side].shape[:2]
        print(f"photo {side} px ({w}x{h}): Compare via HTTP API {r['e2e_ms']:.0f} ms, raw eager forwards "
              f"{r['raw_ms']:.0f} ms -> ratio {r['ratio']:.2f}x (goal <= {GOALS.get(side, 2.0):.1f}x); "
              f"server-timed forwards {r['server_ms']:.0f} ms; runs {r['runs_ms']}")
    print(f"server peak RSS, the task's models:     {other['rss_mb']:.0f} MB")
    print(f"server peak RSS, all {sum(len(t.models) for t in catalog.tasks)} models loaded:  "
          f"{other['rss_all_mb']:.0f} MB ({len(catalog.tasks)} tasks)")
    if args.json:
        Path(args.json).write_text(json.dumps({"task": task.name, "sizes": {str(k): v for k, v in results.items()},
                                               **other}, indent=1))


if __name__ == "__main__":
    main()
