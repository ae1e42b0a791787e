"""Load on the app: N concurrent clients sending Compare requests through the HTTP API (gradio_client).

    python benchmarks/bench_load.py [--clients 8] [--requests 10] [--duration 300] [--burst 30]
                                    [--url http://127.0.0.1:7860/ | --checkpoints DIR ...] [--task NAME]

Without --url it starts `python app.py` (./checkpoints, else two random-weight demo-sized models) on a free
loopback port. Each client is its own session: it sends `--requests` Compares, one after the other, each with
a picture nobody sent before (so the prediction cache cannot answer), and checks its answer: one overlay per
model at the picture's size, and `/compare_details` showing exactly its own picture (sessions never mix).
Loops are bounded by count and by `--duration`. Then a burst of `--burst` simultaneous requests shows what
the queue does when it is full. Prints p50/p95 latency, throughput, errors and the largest queue seen.
`drive()` is also what tests/test_load.py runs (4 clients x 3 requests).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)  # one /compare each, submit -> result
    errors: list[str] = field(default_factory=list)
    max_queue: int = 0  # largest queue size any client was told while waiting
    max_rank: int = 0  # furthest back in the queue any request was
    wall_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def answered(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        return float(np.percentile(self.latencies_ms, q))

    def summary(self) -> str:
        rate = self.answered / self.wall_s if self.wall_s else float("nan")
        return (f"{self.answered} answered, {len(self.errors)} errors in {self.wall_s:.1f} s: p50 "
                f"{self.percentile(50):.0f} ms, p95 {self.percentile(95):.0f} ms, max "
                f"{max(self.latencies_ms or [0]):.0f} ms, throughput {rate:.2f} req/s, largest queue seen "
                f"{self.max_queue} (furthest rank {self.max_rank})")


def pictures(folder: Path, clients: int, requests: int, seed: int = 0) -> list[list[Path]]:
    """A new picture per request; its size names the client and the request, so a mixed-up answer shows."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for c in range(clients):
        row = []
        for r in range(requests):
            h, w = 48 + 4 * r, 64 + 8 * c
            img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
            row.append(folder / f"client{c}_request{r}.png")
            Image.fromarray(img).save(row[-1])
        out.append(row)
    return out


def check_answer(upload: Path, gallery, table, reference, labels: list[str], pixels: bool) -> str | None:
    """None if this answer belongs to this upload and has every model, else what is wrong."""
    if len(gallery) != len(labels) or [row[0] for row in table["data"]] != labels:
        return f"{upload.name}: {len(gallery)} overlays / table {[row[0] for row in table['data']]}"
    if not all(g["caption"].startswith(lab) for g, lab in zip(gallery, labels)):
        return f"{upload.name}: captions {[g['caption'] for g in gallery]}"
    if pixels:
        sent = np.asarray(Image.open(upload).convert("RGB"))
        size = sent.shape[1], sent.shape[0]
        if any(Image.open(g["image"]).size != size for g in gallery):
            return f"{upload.name}: overlay sizes {[Image.open(g['image']).size for g in gallery]} != {size}"
        shown = np.asarray(Image.open(reference[0]["image"]).convert("RGB"))
        # the photo comes back as JPEG (quality 90: a few levels off on these noise pictures); another
        # client's picture is off by tens of levels on average
        if shown.shape != sent.shape or np.abs(shown.astype(np.int16) - sent).mean() > 8:
            return f"{upload.name}: /compare_details shows another picture ({shown.shape})"
    return None


def client_loop(url: str, task: str, uploads: list[Path], labels: list[str], deadline: float, result: LoadResult,
                pixels: bool) -> None:
    """One session: its requests one after the other, until done or the deadline (bounded both ways)."""
    from gradio_client import Client, handle_file

    try:
        client = Client(url, verbose=False, download_files=pixels)
    except Exception as e:  # noqa: BLE001 - a load test reports every failure
        with result.lock:
            result.errors.append(f"connect: {type(e).__name__}: {e}")
        return
    for upload in uploads:
        if time.monotonic() >= deadline:
            break
        t = time.perf_counter()
        try:
            job = client.submit(handle_file(str(upload)), task, api_name="/compare")
            while not job.done() and time.monotonic() < deadline:
                status = job.status()
                with result.lock:
                    result.max_queue = max(result.max_queue, status.queue_size or 0)
                    if status.rank is not None:  # 0 = next in line
                        result.max_rank = max(result.max_rank, status.rank + 1)
                time.sleep(0.02)
            gallery, table = job.result(timeout=max(1.0, deadline - time.monotonic()))
            ms = (time.perf_counter() - t) * 1000
            reference, _, _ = client.predict(api_name="/compare_details")
            problem = check_answer(upload, gallery, table, reference, labels, pixels)
        except Exception as e:  # noqa: BLE001
            problem = f"{upload.name}: {type(e).__name__}: {str(e)[:200]}"
        with result.lock:
            if problem:
                result.errors.append(problem)
            else:
                result.latencies_ms.append(ms)


def drive(url: str, task: str, uploads: list[list[Path]], labels: list[str], duration_s: float = 120,
          pixels: bool = True) -> LoadResult:
    """One thread per client (a list of uploads each), all started together; returns when all are done."""
    result = LoadResult()
    deadline = time.monotonic() + duration_s
    threads = [threading.Thread(target=client_loop, args=(url, task, u, labels, deadline, result, pixels),
                                daemon=True) for u in uploads]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=duration_s + 60)
    result.wall_s = time.perf_counter() - t
    if any(th.is_alive() for th in threads):
        result.errors.append("a client thread did not finish after the deadline")
    return result


def burst(url: str, task: str, folder: Path, n: int, timeout_s: float = 300) -> tuple[int, list[str]]:
    """n requests submitted at once from n sessions -> (answered, error messages): what a full queue does."""
    from gradio_client import Client, handle_file

    uploads = [p for row in pictures(folder, n, 1, seed=99) for p in row]
    clients = [Client(url, verbose=False, download_files=False) for _ in uploads]  # connect first, then fire
    jobs = [c.submit(handle_file(str(p)), task, api_name="/compare") for c, p in zip(clients, uploads)]
    answered, errors = 0, []
    end = time.monotonic() + timeout_s
    for job in jobs:
        try:
            job.result(timeout=max(1.0, end - time.monotonic()))
            answered += 1
        except Exception as e:  # noqa: BLE001
            errors.append(f"{type(e).__name__}: {str(e)[:120]}")
    return answered, errors


def start_app(sources: list[str]) -> tuple[str, subprocess.Popen]:
    from benchmarks.bench_app import free_port, wait_for_page

    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--checkpoints", *sources],
                            env={**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_page(url, proc)
    except BaseException:
        proc.terminate()
        raise
    return url, proc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=10, help="Compares per client")
    ap.add_argument("--duration", type=float, default=300, help="stop starting requests after this many seconds")
    ap.add_argument("--burst", type=int, default=30, help="simultaneous requests of the queue-full test (0: skip)")
    ap.add_argument("--url", default=None, help="a running app (default: start app.py)")
    ap.add_argument("--checkpoints", nargs="*", default=None)
    ap.add_argument("--task", default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    tmp = Path(tempfile.mkdtemp(prefix="bench_load_"))
    proc = None
    if args.url:
        url = args.url
    else:
        from benchmarks.bench_app import fallback_checkpoints

        local = ROOT / "checkpoints"
        sources = args.checkpoints or ([str(local)] if any(local.glob("*/*/config.json")) or any(
            local.glob("*/config.json")) else [str(fallback_checkpoints(tmp))])
        url, proc = start_app(sources)
    try:
        from gradio_client import Client

        tasks = Client(url, verbose=False).predict(api_name="/tasks")
        task = next((t for t in tasks if t["name"] == args.task), tasks[0]) if tasks else None
        if task is None:
            raise SystemExit("the app has no tasks")
        labels = [m["name"] for m in task["models"]]
        # warm-up: loads every model, so the latencies below are the steady state
        warm = drive(url, task["name"], pictures(tmp / "warm", 1, 1, seed=1), labels, args.duration)
        if warm.errors:
            raise SystemExit(f"warm-up failed: {warm.errors[0]}")
        result = drive(url, task["name"], pictures(tmp / "load", args.clients, args.requests), labels, args.duration)
        print(f"task {task['name']}: {len(labels)} models, {args.clients} clients x {args.requests} Compares")
        print(result.summary())
        for e in result.errors[:10]:
            print("  error:", e)
        if args.burst:
            t = time.perf_counter()
            answered, errors = burst(url, task["name"], tmp / "burst", args.burst)
            kinds = sorted({e.split(":")[0] + ": " + e.split(":", 1)[1].strip()[:60] for e in errors})
            print(f"burst of {args.burst} simultaneous requests: {answered} answered, {len(errors)} refused in "
                  f"{time.perf_counter() - t:.1f} s" + (f" ({'; '.join(kinds)})" if kinds else ""))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
