"""Data-loading throughput: images/s of the folder dataset (first and cached passes) and of the generators.

    python benchmarks/bench_data.py [--images 700] [--size 192 256] [--batch-size 8] [--passes 3]

Writes ~700 photo-like 240x180 JPEGs with masks in the folder layout under a temporary folder, then times
full passes through `make_loader` with the app's defaults (cache="auto", default workers). The goal is at
least 500 images/s once the cache is filled, on a 2-core CPU. Prints a table and returns the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import default_collate

from segcompare.data import get_dataset, list_datasets
from segcompare.data.loader import default_workers, make_loader, set_epoch

GOAL = 500.0


def smooth_image(rng, h=180, w=240) -> tuple[np.ndarray, np.ndarray]:
    """Low-frequency colour fields plus grain (JPEG-compressible like a photo) and a 3-class mask from them."""
    coarse = rng.integers(0, 256, (h // 30 + 2, w // 30 + 2, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.int16)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    mask = np.digitize(img[..., 0], [100, 170]).astype(np.uint8)
    return img, mask


def write_tree(root: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "classes.json").write_text(json.dumps({"classes": ["background", "thing", "stuff"]}))
    for split in ("train", "val", "test"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
    for i in range(n):
        img, mask = smooth_image(rng)
        Image.fromarray(img).save(root / "train" / "images" / f"img{i:04d}.jpg", quality=90)
        Image.fromarray(mask).save(root / "train" / "masks" / f"img{i:04d}.png")
    return root


def cpu_ms_per_image(ds, batch_size: int) -> float:
    """CPU time of one worker's work per image (item + collate, torch single-threaded as in a worker).

    Wall-clock figures depend on what else runs on the machine; this one does not, and 2 / it is what two
    free cores can deliver.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0, n = time.process_time(), len(ds)
        for start in range(0, n, batch_size):
            default_collate([ds[i] for i in range(start, min(n, start + batch_size))])
        return (time.process_time() - t0) / n * 1e3
    finally:
        torch.set_num_threads(threads)


def time_pass(loader) -> tuple[float, int]:
    t0, n = time.perf_counter(), 0
    for images, _ in loader:
        n += images.shape[0]
    return time.perf_counter() - t0, n


def bench_spec(spec: str, size, batch_size: int, passes: int, augment: bool, cache="auto", workers=None) -> dict:
    options = {"cache": cache} if ":" in spec else {}
    ds = get_dataset(spec, "train", size=size, augment=augment, **options)
    workers = default_workers(ds) if workers is None else workers
    t0 = time.perf_counter()
    loader = make_loader(ds, batch_size, shuffle=True, workers=workers)  # fills the cache: in the first pass
    n = time_pass(loader)[1]
    first_total = time.perf_counter() - t0
    later = []
    for epoch in range(1, passes):
        set_epoch(loader, epoch)  # the next pass augments as that epoch
        later.append(time_pass(loader)[0])
    cpu_ms = cpu_ms_per_image(ds, batch_size)
    return {"spec": spec.split(":")[0], "augment": augment, "images": n, "cached": getattr(ds, "cached", None),
            "workers": workers, "first_pass_ips": n / first_total,
            "later_pass_ips": n / min(later) if later else None, "cpu_ms_per_image": cpu_ms,
            "two_core_ips": 2000 / cpu_ms}


def run(n_images=700, size=(192, 256), batch_size=8, passes=3) -> dict:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        root = write_tree(Path(tmp), n_images)
        print(f"wrote {n_images} JPEGs (240x180) in {time.perf_counter() - t0:.1f}s")
        spec = f"folder:{root}"
        for augment in (False, True):
            results.append(bench_spec(spec, size, batch_size, passes, augment))
        # The alternatives to the defaults, for comparison: other worker counts, no cache.
        results.append(bench_spec(spec, size, batch_size, passes, False, workers=0) | {"spec": "folder, 0 workers"})
        results.append(bench_spec(spec, size, batch_size, 2, False, cache=False) | {"spec": "folder, no cache"})
    for name in list_datasets():
        if name.startswith("synthetic"):
            for augment in (False, True):
                results.append(bench_spec(name, size, batch_size, 2, augment))
    print_table(results, size, batch_size)
    return {"size": list(size), "batch_size": batch_size, "goal_ips": GOAL, "results": results}


def print_table(results: list[dict], size, batch_size) -> None:
    print(f"\nimages/s through make_loader, size {size[0]}x{size[1]}, batch {batch_size}")
    print(f"{'dataset':<20} {'augment':>7} {'cached':>6} {'workers':>7} {'first pass':>11} {'later passes':>13}"
          f" {'CPU ms/img':>10} {'2 free cores':>13}")
    for r in results:
        later = f"{r['later_pass_ips']:.0f}" if r["later_pass_ips"] else "-"
        print(f"{r['spec']:<20} {str(r['augment']):>7} {str(r['cached']):>6} {r['workers']:>7} "
              f"{r['first_pass_ips']:>11.0f} {later:>13} {r['cpu_ms_per_image']:>10.2f} {r['two_core_ips']:>13.0f}")
    folder = [r for r in results if r["spec"] == "folder" and r["later_pass_ips"]]
    worst = min(r["later_pass_ips"] for r in folder)
    capacity = min(r["two_core_ips"] for r in folder)
    print(f"\nfolder, cached passes (goal {GOAL:.0f} images/s): measured worst {worst:.0f} "
          f"({'met' if worst >= GOAL else 'NOT met'} under this machine's load, {load()}); "
          f"from CPU time, 2 free cores give {capacity:.0f} ({'met' if capacity >= GOAL else 'NOT met'})")


def load() -> str:
    try:
        return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:
        return "load unknown"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=700)
    p.add_argument("--size", type=int, nargs=2, default=(192, 256), metavar=("H", "W"))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--passes", type=int, default=3)
    a = p.parse_args(argv)
    return run(a.images, tuple(a.size), a.batch_size, a.passes)


if __name__ == "__main__":
    main()
