"""The Hugging Face token never shows up in what segcompare prints, logs, raises or writes.

tests/test_hub.py checks `push` (output, debug logs, uploaded files). Here the token sits in the
environment (HF_TOKEN, the legacy HUGGING_FACE_HUB_TOKEN and the `hf auth login` file) while train,
evaluate, compare and report run end to end, and while Hub downloads fail in every way (not found, 401,
500, unreachable, offline) - including a server that echoes the Authorization header back in its error
message. Every printed line, log record, error text (with its traceback) and written file is searched.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from huggingface_hub import constants

from segcompare.cli import main
from segcompare.errors import UserError

pytest_plugins = ["conftest_app"]

TOKEN = "hf_SeCrEt0123456789abcdefNEVERshowME"
MODEL = "fcn_mobilenet_v3_small"
EXPERIMENT = """
name: secret
dataset: synthetic-pets
dataset_options: {{length: 4}}
output: {out}/ckpt
train: {{size: [32, 32], epochs: 1, batch_size: 2, workers: 0, progress: false, log: [tensorboard]}}
models: [{model}]
evaluate: {{split: test, max_images: 4, latency: false, boundary_px: 1, batch_size: 2}}
report: {out}/report
"""


@pytest.fixture
def token_env(tmp_path, monkeypatch, caplog):
    """The token everywhere huggingface_hub looks for it; every logger recording at DEBUG."""
    login = tmp_path / "login" / "token"
    login.parent.mkdir()
    login.write_text(TOKEN)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", TOKEN)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(login))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setattr(constants, "HF_DEBUG", True)  # huggingface_hub logs each request as a curl line
    hf_logger = logging.getLogger("huggingface_hub")
    monkeypatch.setattr(hf_logger, "level", logging.DEBUG)
    hf_logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    yield tmp_path / "work"
    hf_logger.removeHandler(caplog.handler)


def assert_no_token(*texts: str, files_under: Path | None = None) -> int:
    """No text holds the token (nor its distinctive half); -> how many files were searched."""
    for text in texts:
        assert TOKEN not in text and TOKEN[3:20] not in text
    n = 0
    if files_under is not None:
        for p in files_under.rglob("*"):
            if p.is_file():
                data = p.read_bytes()
                assert TOKEN.encode() not in data and TOKEN[3:20].encode() not in data, p
                n += 1
    return n


def logged(caplog, every_library: bool = True) -> str:
    """The log records; `every_library=False`: only segcompare's, the app's and huggingface_hub's (the HTTP
    libraries' DEBUG lines quote raw response headers, which an echoing server fills with the token)."""
    mine = ("segcompare", "huggingface_hub", "app", "root")
    return "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                     if every_library or r.name.split(".")[0] in mine)


def error_text(e: BaseException) -> str:
    """What a user could ever see of an error: its message and the traceback Python would print."""
    return str(e) + repr(e) + "".join(traceback.format_exception(e))


# --- the pipeline with a token in the environment --------------------------------------------------------------
def test_train_evaluate_compare_report_never_write_the_token(token_env, capsys, caplog):
    import tensorboard  # noqa: F401  a dev requirement: missing, the test fails

    work = token_env
    work.mkdir()
    config = work / "exp.yaml"
    config.write_text(EXPERIMENT.format(out=work, model=MODEL))
    assert main(["compare", "--config", str(config), "--device", "cpu"]) == 0
    run = work / "ckpt" / MODEL
    assert (run / "results.json").is_file() and list((run / "logs").rglob("events.out.tfevents.*"))
    assert main(["evaluate", "--checkpoint", str(run), "--dataset", "synthetic-pets", "--split", "val",
                 "--max-images", "2", "--no-latency", "--out", str(work / "val.json")]) == 0
    assert main(["train", "--model", MODEL, "--dataset", "synthetic-pets", "--dataset-option", "length=4", "--size",
                 "32", "32", "--batch-size", "2", "--epochs", "1", "--workers", "0", "--device", "cpu",
                 "--no-progress", "--out", str(work / "train")]) == 0
    assert main(["report", "--results", str(run / "results.json"), "--out", str(work / "report2")]) == 0
    out, err = capsys.readouterr()
    assert "done:" in err  # the runs did print their summaries
    searched = assert_no_token(out, err, logged(caplog), files_under=work)
    assert searched >= 15  # config.json, results.json, history, train_config, last/, report, events files
    for name in ("config.json", "results.json", "train_config.json"):
        assert_no_token(json.dumps(json.loads((run / name).read_text())))


def test_model_card_and_app_never_hold_the_token(token_env, project):
    import app
    from segcompare.catalog import discover
    from segcompare.model_card import model_card

    demo = app.build_demo([str(project / "checkpoints")], samples_root=project / "samples")
    catalog = demo.segcompare.catalog
    assert_no_token(str(demo.config), json.dumps(catalog.describe(), default=str))
    for task in discover([str(project / "checkpoints")]).tasks:
        for m in task.models:
            card = model_card(m.config, m.results, m.history, repo_id="me/model")
            assert "---" in card
            assert_no_token(card)


# --- Hub errors with a token set ----------------------------------------------------------------------------------
class EchoingHub(BaseHTTPRequestHandler):
    """A broken Hub (or proxy) that answers every request with `status` and quotes the request's
    Authorization header in its error message - the worst case for an error message that includes the
    server's words."""

    status = 500
    received: list[str] = []  # the Authorization headers it was sent (a list per server, see echoing_hub)
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, head: bool = False):
        auth = self.headers.get("Authorization", "")
        self.received.append(auth)
        body = json.dumps({"error": f"request refused (you sent Authorization: {auth})"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Message", f"refused: {auth}")
        self.send_header("Content-Length", str(0 if head else len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_GET(self):
        self._answer()

    def do_HEAD(self):
        self._answer(head=True)


@pytest.fixture
def echoing_hub(token_env, monkeypatch):
    def start(status: int) -> list[str]:
        handler = type("Handler", (EchoingHub,), {"status": status, "received": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        return handler.received

    servers: list = []
    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def hub_failure(action, capsys, caplog) -> str:
    """Run a failing Hub call; -> everything it showed (error with traceback, output, logs)."""
    with pytest.raises(UserError) as e:
        action()
    out, err = capsys.readouterr()
    return "\n".join([error_text(e.value), out, err, logged(caplog, every_library=False)])


def _resolve():
    from segcompare.hub import resolve

    resolve("someone/private-model")


def _pull(tmp: Path):
    from segcompare.hub import pull

    pull("someone/private-model", tmp / "pulled")


def _load():
    from segcompare.checkpoint import load_model

    load_model("someone/private-model", revision="v1")


@pytest.mark.parametrize("call", ["resolve", "pull", "load_model"])
@pytest.mark.parametrize("status", [401, 403, 404, 500, 503])
def test_hub_download_errors_never_show_the_token(echoing_hub, capsys, caplog, tmp_path, call, status):
    received = echoing_hub(status)
    action = {"resolve": _resolve, "pull": lambda: _pull(tmp_path), "load_model": _load}[call]
    shown = hub_failure(action, capsys, caplog)
    assert f"Bearer {TOKEN}" in received  # the token was in play: sent, and echoed back in the error
    assert "someone/private-model" in shown.splitlines()[0]  # a one-line UserError naming the repo
    assert "authorization" in logged(caplog).lower()  # huggingface_hub's debug request lines were on
    assert_no_token(shown)


def test_unreachable_and_offline_hub_errors_never_show_the_token(token_env, capsys, caplog, monkeypatch):
    shown = hub_failure(_resolve, capsys, caplog)  # HF_ENDPOINT is a closed port
    assert "cannot be reached" in shown or "cannot reach" in shown
    assert_no_token(shown)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shown = hub_failure(_resolve, capsys, caplog)
    assert "HF_HUB_OFFLINE" in shown
    assert_no_token(shown)


def test_cli_pull_error_line_never_shows_the_token(echoing_hub, capsys, caplog, tmp_path):
    assert echoing_hub(500) is not None
    assert main(["pull", "--repo", "someone/private-model", "--out", str(tmp_path / "x")]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert_no_token(out, err, logged(caplog, every_library=False))
