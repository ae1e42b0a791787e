"""Checkpoints from strangers: loading never unpickles and refuses anything malformed with a `UserError`.

A checkpoint may come from the Hub or a download folder, so its files are attacker-controlled. The payloads
here are live (a pickle that creates a marker file when unpickled - checked by unpickling it once on
purpose), and the tests show that `load_model`, `load_pretrained`, a Hub download and the app never run
them. Tampered safetensors headers and configs (extending tests/test_models.py, which covers truncation,
an absurd header length, a wrong head shape and bad config fields) are refused with one clear line. A
source-tree scan keeps the code base free of pickle loaders.
"""

from __future__ import annotations

import ast
import io
import json
import pickle
import shutil
import struct
from pathlib import Path

import pytest
import torch

from segcompare.checkpoint import CONFIG, WEIGHTS, load_model, load_pretrained, save_checkpoint
from segcompare.errors import UserError
from segcompare.models import build_model

pytest_plugins = ["conftest_app"]

ROOT = Path(__file__).resolve().parents[1]
MODEL = "fcn_mobilenet_v3_small"  # 1.7 M parameters: quick to save and load


class Payload:
    """Unpickling this calls open(marker, "w"): the marker file appears iff the pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickle_bytes(marker: Path) -> bytes:
    return pickle.dumps({"weight": Payload(marker)}, protocol=2)


def torch_zip_bytes(marker: Path) -> bytes:
    """The format of pytorch_model.bin / *.pt: a zip whose data.pkl runs the payload on a full torch.load."""
    buf = io.BytesIO()
    torch.save({"state_dict": {"weight": torch.zeros(2)}, "evil": Payload(marker)}, buf)
    return buf.getvalue()


PAYLOADS = {"pickle": pickle_bytes, "torch_zip": torch_zip_bytes}


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(build_model(MODEL, 3), tmp_path_factory.mktemp("good") / "ckpt",
                           {"classes": ["a", "b", "c"], "input_size": [32, 32], "dataset": "synthetic-pets"})


@pytest.fixture
def ckpt(good, tmp_path) -> Path:
    return Path(shutil.copytree(good, tmp_path / "ckpt"))


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_the_payloads_are_live(tmp_path, kind):
    """The control: unpickled for real, each payload does create its marker (so its absence means something)."""
    marker = tmp_path / "pwned"
    data = PAYLOADS[kind](marker)
    if kind == "pickle":
        pickle.loads(data)
    else:
        torch.load(io.BytesIO(data), weights_only=False)
    assert marker.exists()


# --- pickles are never unpickled ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_pickle_in_place_of_safetensors_is_refused(ckpt, tmp_path, kind):
    marker = tmp_path / "pwned"
    (ckpt / WEIGHTS).write_bytes(PAYLOADS[kind](marker))
    with pytest.raises(UserError, match="model.safetensors is corrupt or truncated") as e:
        load_model(ckpt)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="corrupt or truncated"):
        load_pretrained(build_model(MODEL, 3), ckpt)  # fine-tuning from PATH reads the same file
    assert not marker.exists()


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_a_pickle_beside_the_weights_is_never_read(ckpt, tmp_path, kind):
    marker = tmp_path / "pwned"
    for name in ("pytorch_model.bin", "model.pt", "model.pth", "optimizer.pt", "training_args.bin"):
        (ckpt / name).write_bytes(PAYLOADS[kind](marker))
    model, config = load_model(ckpt)
    assert config["name"] == MODEL and not marker.exists()
    (ckpt / WEIGHTS).unlink()  # no safetensors: refused, not "fall back to the .bin"
    with pytest.raises(UserError, match="model.safetensors is missing"):
        load_model(ckpt)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pth"])
def test_pretrained_weights_file_is_loaded_weights_only(tmp_path, suffix):
    """`--pretrained PATH.pt` goes through torch.load(weights_only=True): a payload is refused, not run."""
    marker = tmp_path / "pwned"
    path = tmp_path / f"weights{suffix}"
    path.write_bytes(torch_zip_bytes(marker))
    with pytest.raises(UserError, match="cannot read weights"):
        load_pretrained(build_model(MODEL, 3), path)
    assert not marker.exists()
    plain = build_model(MODEL, 3).state_dict()  # the same format without a payload still works
    torch.save(plain, path)
    load_pretrained(build_model(MODEL, 3), path)


def test_hub_download_fetches_only_the_checkpoint_files(good, tmp_path, monkeypatch):
    """A Hub repo with a pickle for weights and a pytorch_model.bin: the .bin is never downloaded, the
    pickle is refused, nothing is executed."""
    from hub_server import FakeHub, Repo
    from huggingface_hub import constants

    marker = tmp_path / "pwned"
    files = {CONFIG: (good / CONFIG).read_bytes(), WEIGHTS: pickle_bytes(marker),
             "pytorch_model.bin": torch_zip_bytes(marker)}
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with FakeHub() as hub:
        hub.repos[("model", "evil/net")] = Repo("model", branches={"main": ("b" * 40, files)})
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(UserError, match="model.safetensors is corrupt or truncated"):
            load_model("evil/net")
        requested = [r if isinstance(r, str) else json.dumps(r, default=str) for r in hub.requests]
    assert any(WEIGHTS in r for r in requested)  # it did download the checkpoint files
    assert not any("pytorch_model.bin" in r for r in requested)
    assert not list((tmp_path / "cache").rglob("pytorch_model.bin")) and not marker.exists()


# --- the code base has no pickle loader ----------------------------------------------------------------------
def source_files() -> list[Path]:
    files = [ROOT / "app.py", *sorted((ROOT / "segcompare").rglob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]
    return [f for f in files if f.is_file()]


def _dotted(node) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value.value if isinstance(k.value, ast.Constant) else "<expr>"
    return None


def unsafe_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"import {n}" for n in names
                      if n.split(".")[0] in ("pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve",
                                             "marshal")]
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name.endswith("torch.load"):
            if _kw(node, "weights_only") is not True:
                found.append(f"torch.load without weights_only=True (line {node.lineno})")
        elif name.split(".")[-1] in ("load", "loads") and name.split(".")[0] in ("pickle", "dill", "joblib"):
            found.append(f"{name} (line {node.lineno})")
        elif name.endswith("read_pickle"):
            found.append(f"{name} (line {node.lineno})")
        elif name.split(".")[-1] == "load" and name.split(".")[0] in ("np", "numpy") and _kw(node, "allow_pickle"):
            found.append(f"{name}(allow_pickle=...) (line {node.lineno})")
        elif name in ("eval", "exec"):
            found.append(f"{name}() (line {node.lineno})")
        if _kw(node, "trust_remote_code") not in (None, False):
            found.append(f"trust_remote_code in {name} (line {node.lineno})")
    return found


def test_the_scan_finds_what_it_looks_for():
    bad = ("import pickle\nimport torch\ntorch.load(f)\ntorch.load(f, weights_only=False)\npickle.loads(b)\n"
           "np.load(p, allow_pickle=True)\nAutoModel.from_pretrained(r, trust_remote_code=True)\neval(s)\n")
    assert len(unsafe_calls(ast.parse(bad))) == 7
    assert unsafe_calls(ast.parse("import torch\ntorch.load(f, map_location='cpu', weights_only=True)\n")) == []


def test_code_base_never_unpickles():
    files = source_files()
    assert len(files) > 20 and any(f.name == "checkpoint.py" for f in files)
    problems = {str(f.relative_to(ROOT)): p for f in files if (p := unsafe_calls(ast.parse(f.read_text())))}
    assert problems == {}
    uses = sum("torch.load(" in f.read_text() for f in files)
    assert uses >= 1  # the scan sees the one weights-file loader (load_pretrained)


# --- tampered safetensors headers -----------------------------------------------------------------------------
def split_safetensors(data: bytes) -> tuple[dict, bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def join_safetensors(header, body: bytes, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + body


def _first(header: dict) -> str:
    return next(k for k in header if k != "__metadata__")


def _biggest(header: dict) -> str:
    return max((k for k in header if k != "__metadata__"),
               key=lambda k: header[k]["data_offsets"][1] - header[k]["data_offsets"][0])


def tamper(kind: str, header: dict, body: bytes) -> bytes:
    k = _biggest(header)
    t = header[k]
    if kind == "length_past_end":
        raw = json.dumps(header).encode()
        return join_safetensors(raw, body, length=len(raw) + len(body) + 1)
    if kind == "header_not_json":
        return join_safetensors(b"{" + b"\xff" * 40, body)
    if kind == "header_is_a_list":
        return join_safetensors(b"[1, 2, 3]", body)
    if kind == "offsets_past_end":
        t["data_offsets"] = [t["data_offsets"][0], len(body) + 4096]
    elif kind == "offsets_overlap":
        other = header[_first({n: v for n, v in header.items() if n != k})]
        t["data_offsets"] = list(other["data_offsets"])
    elif kind == "offsets_reversed":
        t["data_offsets"] = t["data_offsets"][::-1]
    elif kind == "dtype_wider":  # F32 -> F64 with the same offsets: the byte count no longer fits
        t["dtype"] = "F64"
    elif kind == "dtype_unknown":
        t["dtype"] = "F99"
    elif kind == "shape_overflow":
        t["shape"] = [2**62, 2**62]
    elif kind == "shape_negative":
        t["shape"] = [-1, *t["shape"][1:]]
    elif kind == "bytes_reinterpreted":  # same bytes, 4x the elements as U8: consistent file, wrong shape
        t["dtype"], t["shape"] = "U8", [*t["shape"][:-1], t["shape"][-1] * 4]
    elif kind == "dtype_same_size":  # F32 -> I32 everywhere: a consistent file whose numbers mean nothing
        for name, v in header.items():
            if name != "__metadata__" and v["dtype"] == "F32":
                v["dtype"] = "I32"
    elif kind == "metadata_not_strings":
        header["__metadata__"] = {"format": {"nested": [1, 2]}}
    elif kind == "tensor_renamed":
        header["../../etc/passwd"] = header.pop(k)
    return join_safetensors(header, body)


TAMPERED = {"length_past_end": "corrupt or truncated", "header_not_json": "corrupt or truncated",
            "header_is_a_list": "corrupt or truncated", "offsets_past_end": "corrupt or truncated",
            "offsets_overlap": "corrupt or truncated", "offsets_reversed": "corrupt or truncated",
            "dtype_wider": "corrupt or truncated", "dtype_unknown": "corrupt or truncated",
            "shape_overflow": "corrupt or truncated", "shape_negative": "corrupt or truncated",
            "bytes_reinterpreted": "wrong shape", "metadata_not_strings": "corrupt or truncated",
            "tensor_renamed": "1 missing .*1 unexpected"}


TAMPERED["dtype_same_size"] = "wrong dtype"


@pytest.mark.parametrize("kind", list(TAMPERED))
def test_tampered_safetensors_header_is_refused(ckpt, kind):
    header, body = split_safetensors((ckpt / WEIGHTS).read_bytes())
    assert header[_biggest(header)]["dtype"] == "F32"
    (ckpt / WEIGHTS).write_bytes(tamper(kind, header, body))
    with pytest.raises(UserError, match=TAMPERED[kind]) as e:
        load_model(ckpt)
    assert "\n" not in str(e.value) and WEIGHTS in str(e.value)


# --- tampered configs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("edit,match", [
    ({"name": "__import__('os').system('touch pwned')"}, "unknown model"),
    ({"name": "../../../etc/passwd"}, "unknown model"),
    ({"name": ["fcn_mobilenet_v3_small"]}, "unknown model"),
    ({"name": None}, "unknown model"),
    # the head is allocated from the config before the weights are read: 576 TB here fails at once, a few
    # tens of GB would be allocated and touched (the app's process killed for memory)
    ({"num_classes": 10**12}, "num_classes 1000000000000 is implausible"),
    ({"num_classes": 2}, "num_classes is 2 but classes lists"),
    ({"num_classes": 10**12, "classes": None}, "num_classes 1000000000000 is implausible"),
])
def test_tampered_config_is_refused(ckpt, tmp_path, monkeypatch, edit, match):
    monkeypatch.chdir(tmp_path)
    config = json.loads((ckpt / CONFIG).read_text())
    config.update(edit)
    (ckpt / CONFIG).write_text(json.dumps(config))
    with pytest.raises(UserError, match=match) as e:
        load_model(ckpt)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "pwned").exists()


def test_absurd_input_size_cannot_blow_up_inference(ckpt):
    """A config's input_size decides the size pictures are resized to: it must be refused or capped."""
    from segcompare.inference import model_input_size

    config = json.loads((ckpt / CONFIG).read_text())
    (ckpt / CONFIG).write_text(json.dumps({**config, "input_size": [100_000, 100_000]}))
    try:
        _, loaded = load_model(ckpt)
    except UserError as e:
        assert "input_size" in str(e)
        return
    h, w = model_input_size((683, 1024), loaded["input_size"])
    assert h * w <= 4096 * 4096, (h, w)


# --- the app with bad checkpoints ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_project(tmp_path_factory):
    """checkpoints/good/<model> (one fine task) and checkpoints/bad/<...> (each broken its own way)."""
    from conftest_app import TASKS, make_checkpoint, make_sample

    root = tmp_path_factory.mktemp("bad_project")
    spec = {**TASKS["pets"], "models": ["pspnet_resnet18"]}
    make_checkpoint(root / "checkpoints" / "good" / "pspnet_resnet18", "pspnet_resnet18", spec, 1)
    make_sample(root / "samples" / "good", "cat", (40, 30), 3, 2)
    bad = root / "checkpoints" / "bad"
    marker = root / "pwned"
    pickled = make_checkpoint(bad / "pickled", "pspnet_resnet18", spec, 3)
    (pickled / WEIGHTS).write_bytes(torch_zip_bytes(marker))
    (pickled / "pytorch_model.bin").write_bytes(torch_zip_bytes(marker))
    evil = make_checkpoint(bad / "evil_arch", "pspnet_resnet18", spec, 4)
    config = json.loads((evil / CONFIG).read_text())
    (evil / CONFIG).write_text(json.dumps({**config, "name": "evil_net"}))
    broken = bad / "broken_config"
    broken.mkdir(parents=True)
    (broken / CONFIG).write_text("{not json")
    (broken / WEIGHTS).write_bytes(b"")
    return root, marker


@pytest.fixture(scope="module")
def bad_server(bad_project):
    from conftest_app import serve

    root, _ = bad_project
    yield from serve(root)


def test_app_comes_up_and_reports_bad_checkpoints(bad_server, bad_project):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    root, marker = bad_project
    client = Client(bad_server[0], verbose=False)
    tasks = {t["name"]: t for t in client.predict(api_name="/tasks")}
    assert set(tasks) == {"good", "bad"}
    page = str(bad_server[1].config)
    assert "skipped" in page and "broken_config" in page and "not valid JSON" in page  # listed on the page
    cat = root / "samples" / "good" / "cat.png"
    gallery, _ = client.predict(handle_file(str(cat)), "good", api_name="/compare")
    assert len(gallery) == 1
    with pytest.raises(AppError) as err:  # the bad task: the first bad model is named, in one line
        client.predict(handle_file(str(cat)), "bad", api_name="/compare")
    message = str(err.value)
    assert ("evil_net" in message or "model.safetensors is corrupt" in message), message
    assert "went wrong on our side" not in message and "\n" not in message.strip()
    gallery, _ = client.predict(handle_file(str(cat)), "good", api_name="/compare")  # still serving
    assert len(gallery) == 1
    assert not marker.exists()
