"""Concurrent clients on the app's HTTP API: every request answered correctly, the queue stays bounded.

Four sessions (gradio_client, one thread each) send three Compares each at the same time to the launched
fixture app, every one with a picture nobody sent before. Each answer must belong to its own request
(overlays at that picture's size, `/compare_details` showing exactly that picture) and carry every model;
no request may fail. The loops are bounded by count and by time. Latencies (p50/p95) and the largest queue
are printed, not asserted (no timed assertions in tests); the long version is benchmarks/bench_load.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ lives at the repo root
from benchmarks.bench_load import check_answer, drive, pictures  # noqa: E402

pytest_plugins = ["conftest_app"]
import gradio_client  # noqa: E402,F401  required: a broken install fails, never skips

CLIENTS, REQUESTS = 4, 3


def test_concurrent_clients_all_get_their_own_correct_answers(server, tmp_path):
    url, demo = server
    task = demo.segcompare.catalog.task("pets")
    labels = [m.label for m in task.models]
    uploads = pictures(tmp_path, CLIENTS, REQUESTS)
    result = drive(url, "pets", uploads, labels, duration_s=240)
    print(f"\n{CLIENTS} clients x {REQUESTS} Compares: {result.summary()}")
    assert result.errors == []
    assert result.answered == CLIENTS * REQUESTS
    # one Compare runs at a time (concurrency_limit=1), so the others wait in the queue, never more of them
    # than there are clients; the queue's max_size (20) is never reached
    assert result.max_queue <= CLIENTS and result.max_rank <= CLIENTS


def test_a_mixed_up_answer_would_be_caught(server, tmp_path):
    """The check itself: an answer for another client's picture is reported as wrong."""
    from gradio_client import Client, handle_file

    url, demo = server
    labels = [m.label for m in demo.segcompare.catalog.task("pets").models]
    (mine, other), = pictures(tmp_path, 1, 2, seed=5)
    client = Client(url, verbose=False)
    gallery, table = client.predict(handle_file(str(other)), "pets", api_name="/compare")
    reference, _, _ = client.predict(api_name="/compare_details")
    assert check_answer(other, gallery, table, reference, labels, pixels=True) is None
    assert check_answer(mine, gallery, table, reference, labels, pixels=True) is not None
    assert check_answer(other, gallery[:-1], table, reference, labels, pixels=True) is not None
