"""Fine-tuning without the Hub fails at once with the fix, instead of retrying for most of a minute."""

import socket

import pytest

from segcompare import model_libraries, models
from segcompare.errors import UserError


def test_offline_mode_reads_only_the_cache(monkeypatch):
    from transformers import SegformerForSemanticSegmentation

    calls = []

    def from_pretrained(repo, **kwargs):
        calls.append(kwargs)
        raise OSError(f"{repo} is not in the cache")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(SegformerForSemanticSegmentation, "from_pretrained", from_pretrained)
    with pytest.raises(UserError, match="could not get ImageNet weights nvidia/mit-b0 .*Hugging Face cache"):
        models.build_model("segformer_b0", 3, pretrained="imagenet")
    assert calls and calls[0]["local_files_only"] is True


def test_an_unreachable_hub_is_detected_with_one_quick_check(monkeypatch):
    tries = []

    def refuse(address, timeout):
        tries.append((address, timeout))
        raise OSError("network is unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert model_libraries.hub_unreachable() is True
    assert len(tries) == 1 and tries[0][1] <= 2
