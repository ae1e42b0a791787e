"""Live predictions for the app: load each model once (lazily), run it on any image, cache the answers.

`Predictor` maps model ids to checkpoints. A model is loaded the first time it is asked for (so a page
comes up before any weight is read) and stays in memory. Each image is resized so its short side is the
model's training short side, normalised with the checkpoint's mean/std and run under `inference_mode`,
giving a label mask at the size of the image as shown, the forward time and (on first use: only the
Confidence view asks) the max-softmax confidence. The mask is the class of the bilinearly upsampled logits
(what softmax-then-max at display size gives) computed without upsampling every logit (`class_map`).
Answers are cached per (image content, model) in a small LRU, so changing a view or the opacity never runs
a model again.

Forwards go through `segcompare.backends.Backend` (ONNX Runtime where it gives the same argmax as eager
fp32, else channels_last, else eager; exports happen in the background after a model's first use). The
backend is chosen by `Predictor(backend=...)`, else `$SEGCOMPARE_BACKEND`, else "auto".

`Predictor(workers=N)` runs up to N models at once, each ONNX session on cpus/N threads. Small models
use two cores badly inside one forward (the five demo models: 21 ms one after another on two threads,
12 ms two at a time on one thread each), so an app comparing several models runs them side by side.
Only forwards settled on ONNX Runtime go in parallel; torch forwards stay on one thread (below).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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


TIE = 1e-5  # margin (relative to the largest |logit|) above which torch's rounding cannot change a class
NEAR = 4e-6  # logit gap above which softmax's rounding keeps two classes apart (exp(-gap) is 60 ulps below 1)


@dataclass
class Prediction:
    mask: np.ndarray        # uint8 [H, W] class index per pixel, at the size of the image given
    ms: float               # forward pass time of the model (milliseconds)
    input_size: tuple[int, int]  # (h, w) the model actually saw
    logits: torch.Tensor | None = field(default=None, repr=False)  # float32 [K, h, w] at the model's size
    _confidence: np.ndarray | None = field(default=None, repr=False)
    torch_thread: ThreadPoolExecutor | None = field(default=None, repr=False)  # where torch may run (Predictor)

    @property
    def confidence(self) -> np.ndarray:
        """float16 [H, W] max softmax probability of the upsampled logits, computed on first use (on the
        Predictor's torch thread: torch called from a server's short-lived threads aborts the process at exit)."""
        if self._confidence is None:
            run = self.torch_thread.submit if self.torch_thread else lambda f, *a: _Done(f(*a))
            self._confidence = run(softmax_max, self.logits, self.mask.shape).result()[1]
        return self._confidence


class _Done:
    """An already computed result, with a Future's `result()`."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


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


def run_model(model, config: dict, image: np.ndarray, x: torch.Tensor | None = None) -> Prediction:
    """One forward pass on one image -> Prediction at the image's size (`model`: a module or a Backend;
    `x`: `prepare(image, config)` when the caller has it already)."""
    import torch

    x = prepare(image, config) if x is None else x
    with torch.inference_mode():
        t = time.perf_counter()
        logits = model(x)
        ms = (time.perf_counter() - t) * 1000
    logits = logits[0].detach().float().contiguous()
    return Prediction(class_map(logits, image.shape[:2]), ms, tuple(x.shape[-2:]), logits)


def softmax_max(logits: torch.Tensor, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The reference rendering: logits [K, h, w] upsampled (bilinear) to `size`, softmax, max ->
    (class uint8 [H, W], confidence float16 [H, W]). Costs K full-size planes: the confidence path only."""
    import torch

    with torch.inference_mode():
        conf, label = _upsampled(logits, size, numpy=False).softmax(1).max(1)
    return label[0].to(torch.uint8).numpy(), conf[0].to(torch.float16).numpy()


def _upsampled(logits: torch.Tensor, size: tuple[int, int], numpy: bool = True):
    """[K, h, w] -> bilinear [1, K, H, W] tensor (or [K, H, W] array), as the reference rendering does it."""
    import torch.nn.functional as F

    up = F.interpolate(logits[None].float(), size=tuple(size), mode="bilinear", align_corners=False)
    return up[0].numpy() if numpy else up


@functools.lru_cache(maxsize=64)
def _axis(n: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Torch's own bilinear sampling along one axis (n -> size): first and second source index and their
    weights per output position, read off torch by upsampling the identity (so they are torch's, bit for bit)."""
    import torch
    import torch.nn.functional as F

    eye = torch.eye(n).view(1, n, 1, n)
    w = F.interpolate(eye, size=(1, size), mode="bilinear", align_corners=False)[0, :, 0].numpy()  # [n, size]
    nz = w != 0
    lo = nz.argmax(0)
    hi = n - 1 - nz[::-1].argmax(0)
    cols = np.arange(size)
    return lo, hi, w[lo, cols], np.where(hi > lo, w[hi, cols], 0).astype(np.float32)


def _mix(a, b, c, d, wy0, wy1, wx0, wx1) -> np.ndarray:
    """Torch's bilinear sum for the corners (a b / c d) of each pixel, float32 as its CPU kernel rounds it: rows
    first, fused multiply-adds (emulated in float64, where a float32 product is exact)."""
    def fma(x, y, z):
        return (x.astype(np.float64) * y + z).astype(np.float32)

    return fma(fma(a, wx0, b * wx1), wy0, fma(c, wx0, d * wx1) * wy1)


@functools.lru_cache(maxsize=64)
def _mix_is_torchs(h: int, w: int, size: tuple[int, int]) -> bool:
    """Whether `_mix` reproduces torch bit for bit at this upsampling (then only true near-ties need torch;
    torch takes other code paths on other machines and sizes). One random plane, once per size."""
    import torch

    x = torch.randn(1, h, w, generator=torch.Generator().manual_seed(0)) * 8
    (y0, y1, wy0, wy1), (x0, x1, wx0, wx1) = _axis(h, size[0]), _axis(w, size[1])
    a = x.numpy()
    mine = _mix(a[:, y0][:, :, x0], a[:, y0][:, :, x1], a[:, y1][:, :, x0], a[:, y1][:, :, x1],
                wy0[:, None], wy1[:, None], wx0, wx1)
    return bool((mine == _upsampled(x, size)).all())


def class_map(logits: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """The class of each pixel of the bilinearly upsampled logits [K, h, w] -> uint8 [H, W], the same as
    `softmax_max(logits, size)[0]` without upsampling K planes.

    Bilinear upsampling mixes the four nearest model pixels with weights >= 0, so where all four have the
    same best class by a margin, the mix has it too: a lookup. Only pixels near a class boundary are
    interpolated, with torch's weights and rounding (`_mix`); if two classes tie there within softmax's
    rounding, the whole map is computed as the reference does, so the answer never differs from it.
    """
    lg = logits.numpy()
    k, h, w = lg.shape
    if k == 1:
        return np.zeros(size, np.uint8)
    scale = max(1.0, float(np.abs(lg).max()))
    best, margin = _top2(lg)
    sure = margin > TIE * scale
    below, right = np.minimum(np.arange(h) + 1, h - 1), np.minimum(np.arange(w) + 1, w - 1)
    same = (sure & sure[below] & sure[:, right] & sure[below][:, right] & (best == best[below])
            & (best == best[:, right]) & (best == best[below][:, right]))
    y0, y1, wy0, wy1 = _axis(h, size[0])
    x0, x1, wx0, wx1 = _axis(w, size[1])
    out = best.astype(np.uint8)[y0][:, x0]
    ys, xs = np.nonzero(~same[y0][:, x0])
    if len(ys):
        flat = lg.reshape(k, h * w)
        top, bottom, left, rgt = y0[ys] * w, y1[ys] * w, x0[xs], x1[xs]
        v = _mix(*(np.take(flat, i, axis=1) for i in (top + left, top + rgt, bottom + left, bottom + rgt)),
                 wy0[ys], wy1[ys], wx0[xs], wx1[xs])
        cls, gap = _top2(v)
        out[ys, xs] = cls
        exact = _mix_is_torchs(h, w, tuple(size))
        near = np.flatnonzero(gap <= (NEAR if exact else TIE * scale))
        if len(near) and not exact:
            return softmax_max(logits, size)[0]  # our sums are not torch's here: the reference decides
        if len(near):  # torch's own upsampled values (bit for bit): its softmax and max decide, as they do
            out[ys[near], xs[near]] = _softmax_argmax(v[:, near])
    return out


def _top2(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Over axis 0 of [K, ...]: the index of the largest (the first of equal ones) and its lead over the
    second largest; a loop over K planes (~10x faster than numpy's partition along axis 0)."""
    first = planes[0].copy()
    second = np.full_like(first, -np.inf)
    index = np.zeros(first.shape, np.uint8)
    for c in range(1, len(planes)):
        x = planes[c]
        np.maximum(second, np.minimum(first, x), out=second)
        index[x > first] = c
        np.maximum(first, x, out=first)
    return index, first - second


def _softmax_argmax(values: np.ndarray) -> np.ndarray:
    """Per column of [K, N] logits: the class torch's softmax-then-max picks (the first of equal ones)."""
    import torch

    with torch.inference_mode():
        return torch.from_numpy(np.ascontiguousarray(values))[None].softmax(1).max(1)[1][0].numpy()


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

    def _submit(self, name: str, image: np.ndarray, inputs: dict):
        """Start one forward: on the parallel pool when it runs on ONNX Runtime, else on the torch thread.
        Models that prepare an image alike (size, mean, std) share one input (`inputs`, by that key)."""
        _, config = self.model(name)
        forward = self._forwards[name]
        shape = (1, 3, *model_input_size(image.shape[:2], config.get("input_size")))
        key = (shape, tuple(config.get("mean") or ()), tuple(config.get("std") or ()))
        if key not in inputs:  # on the torch thread, as every torch op of the Predictor (see Prediction)
            inputs[key] = self._runner.submit(prepare, image, config).result()
        onnx = self._pool is not None and getattr(forward, "kind", lambda _: None)(shape) == "onnx"
        return (self._pool if onnx else self._runner).submit(run_model, forward, config, image, inputs[key])

    def predict(self, image: np.ndarray, names: list[str] | None = None, key: str | None = None
                ) -> dict[str, Prediction]:
        """Every model (or `names`) on one RGB uint8 image; cached answers are reused."""
        key = key or image_key(image)
        names = names or self.names
        out = {name: self.cache.get((key, image.shape[:2], name)) for name in names}
        inputs: dict = {}
        running = {name: self._submit(name, image, inputs) for name, hit in out.items() if hit is None}
        for name, job in running.items():
            out[name] = job.result()
            out[name].torch_thread = self._runner
            self.cache.put((key, image.shape[:2], name), out[name])
        return out
