"""Chooses, per input shape, how a `SegModel` runs: ONNX Runtime when it gives the same answers, else
channels_last, else eager.

`Backend(model)` is a drop-in callable for `model(x)` (batch-1 inference). Per padded input shape it
picks the fastest path that keeps predictions equal to eager fp32:

1. ONNX Runtime on the model's core (`onnx_export.core_logits`, at the stride-padded size; padding, cropping
   and the final upsampling stay in torch via `SegModel.forward`). The core is exported once per weights
   with dynamic H and W (`segcompare.onnx_export`); if the dynamic graph is wrong at a shape (PSPNet's
   adaptive pooling is baked in at the example size) or the export fails, that shape gets its own static
   export.
2. Each ONNX graph is checked at its first use on the real input: argmax agreement with eager fp32 must be
   >= 99.9% of pixels, else that shape stays off ONNX (reason logged and kept in `reasons`).
3. While an export runs and when ONNX is out, calls use channels_last eager, itself checked once against
   eager, else plain eager. Exports run one at a time on `onnx_export.EXPORTER`'s daemon thread; zoo models
   are exported in a child process, other modules in-thread from a copy. `background=False` (benchmarks,
   tests) exports in-process at first use.
"""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path

import torch

from . import onnx_export
from .formats.constants import INFERENCE_MODES as MODES
from .onnx_export import EXPORTER, core_logits, default_cache_dir, onnxruntime_available, ort_session, weights_hash

log = logging.getLogger("segcompare.backends")

MIN_AGREEMENT = 0.999
MAX_STATIC_EXPORTS = 6  # per model: a panorama-heavy session must not keep the CPU busy exporting


def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Share of pixels where two logit tensors [B, K, H, W] have the same argmax."""
    return float((a.argmax(1) == b.argmax(1)).float().mean())


class Backend:
    """`model(x)` with the fastest path that gives the same argmax; see the module docstring."""

    def __init__(self, model, mode: str = "auto", cache_dir: str | Path | None = None, background: bool = True,
                 threads: int | None = None, min_agreement: float = MIN_AGREEMENT):
        if mode not in MODES:
            from .errors import UserError

            raise UserError(f"unknown inference backend {mode!r}; choose one of {', '.join(MODES)}")
        self.model, self.mode, self.background = model.eval(), mode, background
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.threads, self.min_agreement = threads, min_agreement
        self.kinds: dict[tuple, str] = {}       # input shape (padded) -> "onnx" | "channels_last" | "eager"
        self.reasons: dict[str, str] = {}       # why something is not used, e.g. {"onnx 1x3x160x224": "..."}
        self._runners: dict[tuple, object] = {}  # shape -> ORT session for shapes settled on ONNX
        self._targets: dict[str, object] = {}   # "dynamic" | "HxW" -> "pending" | Path (ready) | str (failure)
        self._rejected: set[tuple] = set()       # shapes the dynamic graph got wrong
        self._sessions: dict[Path, object] = {}
        self._cl_model = None
        self._cl_ok: bool | None = None
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # notified whenever an export job records its outcome
        self._key: str | None = None
        self._onnx = mode == "auto" and onnxruntime_available()
        if mode == "auto" and not self._onnx:
            self.reasons["onnx"] = "onnxruntime is not installed"

    # --- public -------------------------------------------------------------------------------------------

    def wait_exports(self, timeout: float | None = None) -> bool:
        """Block until no export is pending (True), or until `timeout` seconds pass (False)."""
        with self._settled:
            return self._settled.wait_for(lambda: "pending" not in self._targets.values(), timeout)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "eager":
            return self.model(x)
        from .models import SegModel

        return SegModel.forward(self._shim(), x)  # the model's own padding / cropping around our core

    def kind(self, x_or_shape) -> str | None:
        """The path settled for an input (or None while undecided), after the model's padding."""
        shape = tuple(x_or_shape.shape) if isinstance(x_or_shape, torch.Tensor) else tuple(x_or_shape)
        return self.kinds.get(self.padded(shape))

    def padded(self, shape: tuple) -> tuple:
        """The shape the core sees (SegModel.forward's rule: multiple of the stride, at least min_size)."""
        *lead, h, w = shape
        s, m = getattr(self.model, "stride", 1), getattr(self.model, "min_size", 0)
        ph, pw = max(-h % s, m - h), max(-w % s, m - w)
        return (*lead, h + ph + -(h + ph) % s, w + pw + -(w + pw) % s)

    def prepare(self, shape: tuple, seed: int = 0) -> str:
        """Export (synchronously) and check at `shape` on a random probe; returns the settled path."""
        background, self.background = self.background, False
        try:
            probe = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
            with torch.inference_mode():
                for _ in range(3):  # dynamic graph rejected -> static export -> check again
                    self(probe)
                    if self.kind(shape):
                        break
        finally:
            self.background = background
        return self.kind(shape)

    # --- the core ------------------------------------------------------------------------------------------

    def _shim(self):
        backend = self

        class Shim:
            stride = getattr(backend.model, "stride", 1)
            min_size = getattr(backend.model, "min_size", 0)

            def _logits(self, xp):
                return backend._core(xp)

        return Shim()

    def _core(self, xp: torch.Tensor) -> torch.Tensor:
        shape = tuple(xp.shape)
        kind = self.kinds.get(shape)
        if kind == "onnx":
            return self._run_onnx(self._runners[shape], xp)
        if kind == "channels_last":
            return self._run_cl(xp)
        if kind == "eager":
            return core_logits(self.model, xp)
        return self._settle(shape, xp)

    def _settle(self, shape: tuple, xp: torch.Tensor) -> torch.Tensor:
        """First use of a shape: try ready ONNX graphs, else schedule an export and use the fallback."""
        ref = None
        if self._onnx and shape[0] == 1:
            for target, path in self._ready(shape):
                ref = core_logits(self.model, xp) if ref is None else ref
                ok, why = self._check(path, xp, ref)
                if ok:
                    self.kinds[shape] = "onnx"
                    self._runners[shape] = self._session(path)
                    log.info("%s %s: ONNX Runtime (%s)", self.model_name, _fmt(shape), why)
                    return ref
                self.reasons[f"onnx {target} at {_fmt(shape)}"] = why
                log.info("%s %s: ONNX graph %s not used: %s", self.model_name, _fmt(shape), target, why)
                if target == "dynamic":
                    self._rejected.add(shape)
            if self._schedule(shape):
                return self._fallback(xp, ref, settle=None)
        return self._fallback(xp, ref, settle=shape)

    def _fallback(self, xp, ref, settle: tuple | None) -> torch.Tensor:
        if self._cl_ok is None:
            ref = core_logits(self.model, xp) if ref is None else ref
            try:
                out = self._run_cl(xp)
                a = agreement(out, ref)
                self._cl_ok = a >= self.min_agreement
                if not self._cl_ok:
                    self.reasons["channels_last"] = f"argmax agreement {a:.4%} < {self.min_agreement:.1%}"
            except Exception as e:  # noqa: BLE001 - any failure means: stay on eager
                self._cl_ok, self.reasons["channels_last"] = False, f"{type(e).__name__}: {e}"
            if not self._cl_ok:
                self._cl_model = None
                log.info("%s: channels_last not used: %s", self.model_name, self.reasons["channels_last"])
        if settle is not None:
            self.kinds[settle] = "channels_last" if self._cl_ok else "eager"
        if ref is not None:
            return ref
        return self._run_cl(xp) if self._cl_ok else core_logits(self.model, xp)

    # --- ONNX graphs -------------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return getattr(self.model, "name", type(self.model).__name__)

    def _folder(self) -> Path:
        if self._key is None:
            self._key = weights_hash(self.model)
        return self.cache_dir / f"{self.model_name}-{self._key}"

    def _ready(self, shape: tuple):
        """(target, path) of the finished exports that may serve `shape`, dynamic first."""
        static = f"{shape[-2]}x{shape[-1]}"
        for target in ("dynamic", static):
            if target == "dynamic" and shape in self._rejected:
                continue
            with self._lock:
                state = self._targets.get(target)
            if state is None:
                state = self._from_disk(target)
            if isinstance(state, Path):
                yield target, state

    def _from_disk(self, target: str):
        path = self._folder() / f"{target}.onnx"
        failed = path.with_suffix(".failed")
        state = path if path.is_file() else failed.read_text() if failed.is_file() else None
        if state is not None:
            with self._lock:
                self._targets[target] = state
        return state

    def _schedule(self, shape: tuple) -> bool:
        """Ask for the export that could serve `shape`; False when none can (all failed or over budget)."""
        dynamic = self._targets.get("dynamic") or self._from_disk("dynamic")
        if dynamic == "pending":
            return True
        if dynamic is None:
            target = "dynamic"
        else:  # the dynamic graph failed to export, or is wrong at this shape
            target = f"{shape[-2]}x{shape[-1]}"
            state = self._targets.get(target) or self._from_disk(target)
            if state == "pending":
                return True
            if state is not None:
                return False  # failed (or ready but rejected)
            statics = [t for t in self._targets if t != "dynamic"]
            if len(statics) >= MAX_STATIC_EXPORTS:
                self.reasons[f"onnx {target}"] = f"more than {MAX_STATIC_EXPORTS} shapes need their own export"
                return False
        with self._lock:
            self._targets[target] = "pending"
        elsewhere = self.background and onnx_export.rebuildable(self.model)
        # the tracer swaps tensors inside the module it exports: never the live one
        source = self.model if elsewhere else copy.deepcopy(self.model)
        job = _ExportJob(self, source, target, (shape[-2], shape[-1]), elsewhere)
        if self.background:
            EXPORTER.submit(job)
        else:
            job()
        return True

    def _session(self, path: Path):
        if path not in self._sessions:
            self._sessions[path] = ort_session(path, self.threads)
        return self._sessions[path]

    def _check(self, path: Path, xp, ref) -> tuple[bool, str]:
        try:
            out = self._run_onnx(self._session(path), xp)
        except Exception as e:  # noqa: BLE001 - ORT raises its own types (e.g. a GatherND index out of range)
            return False, f"ONNX Runtime failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
        if out.shape != ref.shape:
            return False, f"output shape {tuple(out.shape)} != {tuple(ref.shape)}"
        a = agreement(out, ref)
        diff = float((out - ref).abs().max())
        return a >= self.min_agreement, f"argmax agreement {a:.4%}, max |logit diff| {diff:.2g}"

    @staticmethod
    def _run_onnx(session, xp: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"x": xp.detach().contiguous().numpy()})[0])

    def _run_cl(self, xp: torch.Tensor) -> torch.Tensor:
        if self._cl_model is None:
            self._cl_model = copy.deepcopy(self.model).to(memory_format=torch.channels_last)
        return core_logits(self._cl_model, xp.contiguous(memory_format=torch.channels_last)).contiguous()


class _ExportJob:
    def __init__(self, backend: Backend, model, target: str, hw: tuple[int, int], elsewhere: bool = False):
        self.backend, self.model, self.target, self.hw = backend, model, target, hw
        # looked up at each job, not imported: tests replace onnx_export.export_onnx
        self.export = onnx_export.export_elsewhere if elsewhere else onnx_export.export_onnx

    def __call__(self) -> None:
        b = self.backend
        path = b._folder() / f"{self.target}.onnx"
        try:
            self.export(self.model, path, self.hw, dynamic=self.target == "dynamic")
            state = path
            log.info("%s: exported %s ONNX graph to %s", b.model_name, self.target, path)
        except ImportError as e:  # onnx / onnxscript missing: not a property of the model, don't remember it
            state = f"export needs {e.name or e}"
        except Exception as e:  # noqa: BLE001 - exporter errors have many types; all mean "use eager"
            state = f"export failed: {type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e) else ''}"
            if "No module named" not in state:  # a missing package is no property of the model
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.with_suffix(".failed").write_text(state)
                except OSError:
                    pass
        if not isinstance(state, Path):
            b.reasons[f"onnx {self.target}"] = state
            log.info("%s: %s graph: %s", b.model_name, self.target, state)
        with b._settled:
            b._targets[self.target] = state
            b._settled.notify_all()


def _fmt(shape: tuple) -> str:
    return "x".join(str(s) for s in shape)

