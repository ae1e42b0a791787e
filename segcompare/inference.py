"""Live predictions for the app: load each model once (lazily), run it on any image, cache the answers.

`Predictor` maps model ids to checkpoints. A model is loaded the first time it is asked for (so a page
comes up before any weight is read) and stays in memory. Each image is resized so its short side is the
model's training short side, normalised with the checkpoint's mean/std and run under `inference_mode`;
logits are upsampled to the image as shown, giving a label mask, the max-softmax confidence and the
forward time. Answers are cached per (image content, model) in a small LRU, so changing a view or the
opacity never runs a model again.

Forwards go through `segcompare.backends.Backend` (ONNX Runtime where it gives the same argmax as eager
fp32, else channels_last, else eager; exports happen in the background after a model's first use). The
backend is chosen by `Predictor(backend=...)`, else `$SEGCOMPARE_BACKEND`, else "auto".

`Predictor(workers=N)` runs up to N models at once, each ONNX session on cpus/N threads. Small models
use two cores badly inside one forward (the five demo models: 21 ms one after another on two threads,
12 ms two at a time on one thread each), so an app comparing several models runs them side by side.
Only forwards settled on ONNX Runtime go in parallel; torch forwards stay on one thread (below).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .errors import UserError
from .formats.constants import IMAGENET_MEAN, IMAGENET_STD
from .formats.constants import INFERENCE_MODES as MODES
from .images import image_key

if TYPE_CHECKING:  # torch loads with the first model, after the page is up
    import torch

DEFAULT_SHORT_SIDE = 512


@dataclass
class Prediction:
    mask: np.ndarray        # uint8 [H, W] class index per pixel, at the size of the image given
    confidence: np.ndarray  # float16 [H, W] max softmax probability
    ms: float               # forward pass time of the model (milliseconds)
    input_size: tuple[int, int]  # (h, w) the model actually saw


class LRU:
    """A tiny thread-safe least-recently-used cache."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def model_input_size(image_hw: tuple[int, int], input_size) -> tuple[int, int]:
    """(h, w) for the model: short side = the model's short side, aspect kept, long side capped.

    Models were trained at `input_size`; matching its short side keeps objects at the scale they were
    learnt at. The long side is capped at twice the model's long side so a panorama stays affordable.
    """
    h, w = image_hw
    sizes = [int(s) for s in input_size] if input_size else [DEFAULT_SHORT_SIDE]
    scale = min(sizes) / min(h, w)
    scale = min(scale, 2 * max(sizes) / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def prepare(image: np.ndarray, config: dict) -> torch.Tensor:
    """RGB uint8 [H, W, 3] -> normalised float32 [1, 3, h, w] at the model's scale."""
    import torch

    h, w = model_input_size(image.shape[:2], config.get("input_size"))
    pil = Image.fromarray(image)
    if (h, w) != image.shape[:2]:
        pil = pil.resize((w, h), Image.Resampling.BILINEAR)  # PIL antialiases when downscaling
    x = torch.from_numpy(np.asarray(pil, np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(config.get("mean") or IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(config.get("std") or IMAGENET_STD).view(3, 1, 1)
    return ((x - mean) / std).unsqueeze(0).contiguous()


def run_model(model, config: dict, image: np.ndarray) -> Prediction:
    """One forward pass on one image -> Prediction at the image's size (`model`: a module or a Backend)."""
    import torch
    import torch.nn.functional as F

    x = prepare(image, config)
    with torch.inference_mode():
        t = time.perf_counter()
        logits = model(x)
        ms = (time.perf_counter() - t) * 1000
        logits = F.interpolate(logits.float(), size=image.shape[:2], mode="bilinear", align_corners=False)
        conf, label = logits.softmax(1).max(1)
    return Prediction(label[0].to(torch.uint8).numpy(), conf[0].to(torch.float16).numpy(), ms,
                      tuple(x.shape[-2:]))


class Predictor:
    """Models by id (lazily loaded, then kept) and a cache of their answers per image."""

    def __init__(self, checkpoints: dict[str, str | Path], device: str = "cpu", cache_size: int = 48,
                 loader=None, backend: str | None = None, workers: int = 1):
        self.checkpoints = dict(checkpoints)
        self.device = device
        self.loader = loader  # (path, device) -> (model, config); default segcompare.checkpoint.load_model
        self.backend = backend or os.environ.get("SEGCOMPARE_BACKEND") or "auto"
        if self.backend not in MODES:
            raise UserError(f"unknown inference backend {self.backend!r} (SEGCOMPARE_BACKEND); choose one of "
                            f"{', '.join(MODES)}")
        self._models: dict[str, tuple] = {}
        self._forwards: dict[str, object] = {}  # name -> Backend (or the model itself)
        self._locks = {name: threading.Lock() for name in self.checkpoints}
        self.cache = LRU(cache_size)
        # Every torch forward runs on this one thread: torch's OpenMP pool belongs to the calling thread, and
        # a web server calls from many threads (new pools that spin against each other on a 2-vCPU machine).
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segcompare-inference")
        # ORT sessions own their threads, so ONNX forwards can share the cores from several threads
        self.workers = max(1, int(workers))
        self.threads = max(1, (os.cpu_count() or 1) // self.workers) if self.workers > 1 else None
        self._pool = (ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="segcompare-onnx")
                      if self.workers > 1 else None)

    @property
    def names(self) -> list[str]:
        return list(self.checkpoints)

    @property
    def loaded(self) -> list[str]:
        return list(self._models)

    def model(self, name: str):
        """(model, config) for a model id, loaded on first use (one load even under concurrent calls)."""
        if name not in self.checkpoints:
            raise UserError(f"unknown model {name!r}; available: {', '.join(self.checkpoints) or 'none'}")
        if name not in self._models:
            with self._locks[name]:
                if name not in self._models:
                    from .checkpoint import load_model

                    load = self.loader or (lambda path, device: load_model(path, device=device))
                    model, config = load(self.checkpoints[name], self.device)
                    self._forwards[name] = self._backend_for(model)
                    self._models[name] = model, config
        return self._models[name]

    def _backend_for(self, model):
        """The fast path for a zoo model on the CPU; anything else runs as it is."""
        from .backends import Backend
        from .models import SegModel

        if self.backend == "eager" or self.device != "cpu" or not isinstance(model, SegModel):
            return model
        return Backend(model, self.backend, threads=self.threads)

    def backend_kinds(self) -> dict[str, dict]:
        """Per loaded model: the path chosen per input shape, and why faster paths are not used."""
        return {name: {"kinds": {"x".join(map(str, k)): v for k, v in getattr(f, "kinds", {}).items()},
                       "reasons": dict(getattr(f, "reasons", {}))} for name, f in self._forwards.items()}

    def _submit(self, name: str, image: np.ndarray):
        """Start one forward: on the parallel pool when it runs on ONNX Runtime, else on the torch thread."""
        _, config = self.model(name)
        forward = self._forwards[name]
        shape = (1, 3, *model_input_size(image.shape[:2], config.get("input_size")))
        onnx = self._pool is not None and getattr(forward, "kind", lambda _: None)(shape) == "onnx"
        return (self._pool if onnx else self._runner).submit(run_model, forward, config, image)

    def predict(self, image: np.ndarray, names: list[str] | None = None, key: str | None = None
                ) -> dict[str, Prediction]:
        """Every model (or `names`) on one RGB uint8 image; cached answers are reused."""
        key = key or image_key(image)
        names = names or self.names
        out = {name: self.cache.get((key, image.shape[:2], name)) for name in names}
        running = {name: self._submit(name, image) for name, hit in out.items() if hit is None}
        for name, job in running.items():
            out[name] = job.result()
            self.cache.put((key, image.shape[:2], name), out[name])
        return out
