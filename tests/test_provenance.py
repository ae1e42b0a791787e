"""The task provenance block (issue #14 item 3): facts from the checkpoints, escaped, with the caution."""

from __future__ import annotations

import json
from pathlib import Path

import fake_results
import pytest

from segcompare.formats import Results
from segcompare.provenance import GENERIC_CAUTION, SYNTHETIC_WARNING, about_html, task_provenance

ROOT = Path(__file__).resolve().parents[1]
PROV = {"data": "Oxford-IIIT Pet (real photos)", "train_images": 270, "licence": "CC BY-SA 4.0",
        "credit": "Parkhi et al.", "url": "https://www.robots.ox.ac.uk/~vgg/data/pets/",
        "encoder": "EfficientNet-Lite0 pretrained on ImageNet", "caution": "Other animals give worse answers."}


def test_names_data_size_credit_licence_encoder_and_caution():
    text = about_html("pets", [({"provenance": PROV}, None)])
    for part in ("Oxford-IIIT Pet (real photos)", "270 training images", "Parkhi et al.", "CC BY-SA 4.0",
                 'href="https://www.robots.ox.ac.uk/~vgg/data/pets/"', "pretrained on ImageNet",
                 "Other animals give worse answers."):
        assert part in text


def test_results_provenance_is_used_when_the_config_has_none():
    results = Results.from_dict(fake_results.results("unet_resnet18", [[[3, 1], [0, 2]]], provenance=PROV))
    assert task_provenance([({}, None), ({}, results)]) == PROV
    assert task_provenance([({}, None)]) == {}


def test_without_provenance_it_still_says_what_it_knows_and_warns():
    config = {"train": {"pretrained": "none"}}
    text = about_html("mine", [(config, None)], dataset="folder:data/x")
    assert "folder:data/x" in text and "from scratch" in text and GENERIC_CAUTION in text


@pytest.mark.parametrize("where", ["provenance", "dataset"])
def test_synthetic_models_carry_the_synthetic_warning(where):
    config = {"provenance": {"synthetic": True}} if where == "provenance" else {}
    text = about_html("toy", [(config, None)], dataset="synthetic-streets" if where == "dataset" else None)
    assert SYNTHETIC_WARNING in text


def test_checkpoint_text_is_escaped_and_only_web_links_are_linked():
    hostile = {"data": "<img src=x onerror=alert(1)>", "credit": "</script>", "url": "javascript:alert(1)"}
    text = about_html("<b>t</b>", [({"provenance": hostile}, None)])
    assert "<img" not in text and "</script>" not in text and "<b>t</b>" not in text
    assert "javascript:" not in text


@pytest.mark.parametrize("task", ["pets", "streets"])
def test_the_shipped_tasks_say_where_their_photos_come_from(task):
    sources = [(json.loads((d / "config.json").read_text()), Results.read(d))
               for d in sorted((ROOT / "checkpoints" / task).iterdir())]
    text = about_html(task, sources)
    assert "real" in text and "photos" in text and "licence" in text and "ImageNet" in text
