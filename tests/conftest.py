"""Suite-wide test settings: no network beyond loopback, quiet libraries, bounded CPU threads."""

import ipaddress
import os
import socket
import tempfile

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
# ONNX exports made while testing go to a throwaway folder, not the user's ~/.cache/segcompare.
os.environ.setdefault("SEGCOMPARE_CACHE", tempfile.mkdtemp(prefix="segcompare-test-cache-"))

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host in ("localhost",)
        if not ok:
            raise ConnectionRefusedError(f"tests must not touch the network (tried {host}:{address[1]})")


def _guarded_connect(self, address):
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Any connection to a non-loopback address fails loudly (sockets in this process only)."""
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    yield
    socket.socket.connect, socket.socket.connect_ex = _real_connect, _real_connect_ex


def pytest_configure(config):
    import torch

    # Under pytest-xdist every worker gets its own share of the cores (oversubscription makes torch crawl).
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
