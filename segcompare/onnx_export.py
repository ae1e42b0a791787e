"""Exports a `SegModel`'s core to ONNX and opens ONNX Runtime sessions on it (used by `segcompare.backends`).

What is exported is `core_logits` (the model's raw logits on a stride-padded input; padding, cropping and
the final upsampling stay in torch), once per weights: `weights_hash` (class, name, every tensor, torch and
recipe version) names the cache folder (`$SEGCOMPARE_CACHE/onnx`, else `~/.cache/segcompare/onnx`).
`export_onnx` exports in this process; `export_elsewhere` rebuilds a zoo model in a child process at low CPU
priority (weights passed as safetensors), so the tracer neither holds this process's GIL nor touches the
live weights. `EXPORTER` is the one daemon thread that runs every export job of the process.

Threads: ONNX Runtime gets torch's thread count, one inter-op thread and no spin-waiting, because torch
and ORT take turns on the same two cores in the app (a spinning pool steals the cores torch needs next).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from pathlib import Path

import torch

log = logging.getLogger("segcompare.onnx_export")

EXPORT_VERSION = "2"  # bump when the export recipe changes: old cache entries are then ignored


def default_cache_dir() -> Path:
    if os.environ.get("SEGCOMPARE_CACHE"):
        return Path(os.environ["SEGCOMPARE_CACHE"]).expanduser() / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "segcompare" / "onnx"


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def weights_hash(model) -> str:
    """Identity of a model's graph and weights (class, name, every tensor), for the export cache."""
    h = hashlib.sha256(f"{type(model).__name__}|{getattr(model, 'name', '')}|{torch.__version__}|"
                       f"{EXPORT_VERSION}".encode())
    for k, v in model.state_dict().items():
        h.update(f"{k}:{tuple(v.shape)}:{v.dtype}".encode())
        h.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:20]


def core_logits(model, x: torch.Tensor) -> torch.Tensor:
    """What the exported graph computes: the model's raw logits, before an upsampling torch can do.

    torchvision's FCN / DeepLabV3 end with a bilinear resize to the input size; `SegModel.forward` does the
    same resize (same mode, no corner alignment) when the logits come back smaller, and torch's resize is
    several times faster than ONNX Runtime's, which at 512 px ate FCN-MobileNet's whole speed-up.
    """
    from torchvision.models.segmentation._utils import _SimpleSegmentationModel

    net = getattr(model, "net", None)
    if isinstance(net, _SimpleSegmentationModel) and net.aux_classifier is None:
        return net.classifier(net.backbone(x)["out"])
    return model._logits(x)


class _Core(torch.nn.Module):
    """The part of a SegModel that ONNX sees: padded input -> raw logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return core_logits(self.model, x)


def export_onnx(model, path: str | Path, example_hw: tuple[int, int], dynamic: bool = True) -> Path:
    """Export `core_logits` (batch 1) to `path` atomically; H and W dynamic (multiples of the stride)."""
    import warnings

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = torch.zeros(1, 3, *example_hw)
    kwargs = {}
    if dynamic:
        s = max(int(getattr(model, "stride", 1)), 1)
        hi = 8192 // s
        dims = {2: s * torch.export.Dim("h", min=1, max=hi), 3: s * torch.export.Dim("w", min=1, max=hi)} \
            if s > 1 else {2: torch.export.Dim("h", min=8, max=8192), 3: torch.export.Dim("w", min=8, max=8192)}
        kwargs["dynamic_shapes"] = {"x": dims}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Core(model).eval(), (x,), str(tmp), input_names=["x"], output_names=["logits"],
                              dynamo=True, external_data=False, verbose=False, **kwargs)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def export_elsewhere(model, path: Path, example_hw: tuple[int, int], dynamic: bool = True) -> Path:
    """`export_onnx` in a child process at nice 15: a zoo model is rebuilt there from its name + weights."""
    import subprocess
    import sys
    import tempfile

    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory(prefix="segcompare-export-") as tmp:
        weights = Path(tmp) / "model.safetensors"
        save_file({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}, str(weights))
        args = [model.name, str(model.num_classes), str(weights), str(path), *map(str, example_hw), str(int(dynamic))]
        r = subprocess.run([sys.executable, "-m", "segcompare.onnx_export", *args], capture_output=True, text=True,
                           timeout=1800, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if r.returncode:
        lines = [x for x in r.stderr.strip().splitlines() if x.strip()] or [f"exit code {r.returncode}"]
        raise RuntimeError(f"export process: {lines[-1][:300]}")
    return path


def _export_child(argv: list[str]) -> None:
    from safetensors.torch import load_file

    from .models import build_model

    name, k, weights, path, h, w, dynamic = argv
    os.nice(15)  # the app's forwards come first
    torch.set_num_threads(1)
    model = build_model(name, int(k))
    model.load_state_dict(load_file(weights))
    export_onnx(model.eval(), Path(path), (int(h), int(w)), dynamic=dynamic == "1")


def rebuildable(model) -> bool:
    from .models import SegModel

    return isinstance(model, SegModel) and type(model).__module__ == "segcompare.models"


def ort_session(path: str | Path, threads: int | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or torch.get_num_threads()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 4  # a graph that fails at some shape is expected: we log the reason ourselves
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class _Exporter:
    """One daemon thread for every export of the process, at low CPU priority (never joined at exit)."""

    def __init__(self):
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="segcompare-onnx-export", daemon=True)
                self._thread.start()
        self._queue.put(job)

    def _work(self) -> None:
        try:  # Linux threads have their own nice value: exports yield the cores to the live forwards
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 15)
        except (AttributeError, OSError):
            pass
        while True:
            job = self._queue.get()
            try:
                job()
            except Exception:  # a job records its own failure; this only keeps the thread alive
                log.exception("export job crashed")


EXPORTER = _Exporter()


if __name__ == "__main__":  # the child process of export_elsewhere
    import sys

    _export_child(sys.argv[1:])
