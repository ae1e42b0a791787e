"""`segcompare export --format transformers` and `push --format transformers`: a SegFormer checkpoint as the
folder nvidia/segformer-* users expect, loaded offline by from_pretrained and pipeline("image-segmentation"),
with masks equal to segcompare's prediction; a pushed export pulled into a fresh HF cache does the same."""

import json

import numpy as np
import pytest
import torch
from helpers import write_checkpoint
from huggingface_hub import constants, snapshot_download
from PIL import Image

from segcompare import build_model, save_checkpoint
from segcompare.checkpoint import load_model
from segcompare.cli import main
from segcompare.errors import UserError
from segcompare.export import FORMATS, export, label_maps
from segcompare.inference import run_model

CLASSES = ["background", "cat", "dog"]
SIZE = [64, 96]  # h, w: an image at the checkpoint's input size is what both sides feed the model unchanged
MEAN, STD = [0.45, 0.5, 0.55], [0.2, 0.25, 0.3]


@pytest.fixture(scope="module")
def segformer_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("segformer_b0", len(CLASSES)).eval()
    with torch.no_grad():  # a decisive head: random init leaves near-ties that rounding could flip
        head = model.net.decode_head.classifier
        head.weight.mul_(20)
    d = tmp_path_factory.mktemp("ckpt") / "segformer_b0"
    return write_checkpoint(d, model, meta={"classes": CLASSES, "input_size": SIZE, "mean": MEAN, "std": STD,
                                            "dataset": "oxford-pet:/data/pets"})


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (SIZE[0] // 8, SIZE[1] // 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(base).resize((SIZE[1], SIZE[0]), Image.Resampling.BILINEAR))


def pipeline_labels(segmenter, image, label2id) -> np.ndarray:
    """The pipeline's per-class masks back into one label map."""
    out = np.full(image.shape[:2], -1)
    for segment in segmenter(Image.fromarray(image)):
        out[np.asarray(segment["mask"]) > 0] = label2id[segment["label"]]
    assert (out >= 0).all()
    return out


def check_folder(folder, checkpoint, image):
    from transformers import AutoImageProcessor, SegformerForSemanticSegmentation, pipeline

    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "segformer"
    assert config["id2label"] == {str(i): c for i, c in enumerate(CLASSES)}
    assert config["label2id"] == {c: i for i, c in enumerate(CLASSES)}
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["image_processor_type"] == "SegformerImageProcessor"
    assert processor["size"] == {"height": SIZE[0], "width": SIZE[1]}
    assert processor["image_mean"] == MEAN and processor["image_std"] == STD
    assert processor["do_reduce_labels"] is False
    assert (folder / "model.safetensors").is_file()

    model = SegformerForSemanticSegmentation.from_pretrained(folder, local_files_only=True).eval()
    assert AutoImageProcessor.from_pretrained(folder, local_files_only=True).size == processor["size"]
    segmenter = pipeline("image-segmentation", model=str(folder), device="cpu")
    ours, config = load_model(checkpoint)
    expected = run_model(ours, config, image).mask
    got = pipeline_labels(segmenter, image, model.config.label2id)
    assert len(np.unique(expected)) > 1  # a mask worth comparing
    np.testing.assert_array_equal(got, expected)


def test_export_loads_in_transformers_with_segcompare_masks(segformer_checkpoint, image, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "hf"
    assert main(["export", "--checkpoint", str(segformer_checkpoint), "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"exported {segformer_checkpoint} for transformers into {out}")
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= {
        p.name for p in out.iterdir()}
    check_folder(out, segformer_checkpoint, image)


def test_pushed_export_pulled_into_fresh_cache_answers_pipeline_offline(segformer_checkpoint, image, tmp_path,
                                                                        monkeypatch):
    from hub_server import FakeHub
    from transformers import SegformerForSemanticSegmentation

    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    cache = tmp_path / "fresh-cache"
    with FakeHub(tokens=["hf_t"]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "push-cache"))
        assert main(["push", "--checkpoint", str(segformer_checkpoint), "--repo", "me/segformer-pets",
                     "--format", "transformers", "--token", "hf_t"]) == 0
        files = hub.files("me/segformer-pets")
        assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} == set(files)
        card = files["README.md"].decode()
        assert "library_name: transformers" in card and "pipeline_tag: image-segmentation" in card
        assert 'pipeline("image-segmentation", model="me/segformer-pets")' in card
        snapshot = snapshot_download("me/segformer-pets", cache_dir=cache, endpoint=hub.url)
    # the Hub is gone: everything below reads the fresh cache only
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    model = SegformerForSemanticSegmentation.from_pretrained("me/segformer-pets", cache_dir=cache,
                                                             local_files_only=True)
    assert model.config.id2label == dict(enumerate(CLASSES))
    from pathlib import Path

    check_folder(Path(snapshot), segformer_checkpoint, image)


def test_only_segformer_exports(tmp_path):
    model = build_model("linknet_tu-mobilenetv3_small_050", 3)
    d = save_checkpoint(model, tmp_path / "linknet", {"classes": CLASSES})
    with pytest.raises(UserError, match=r"only SegFormer checkpoints .* 'linknet_tu-mobilenetv3_small_050'"):
        export(d, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_format_lists_the_valid_ones(segformer_checkpoint, tmp_path):
    with pytest.raises(UserError, match="transformers"):
        export(segformer_checkpoint, tmp_path / "o", "onnx-magic")
    assert FORMATS.names() == ["transformers"]


def test_label_maps_stay_one_to_one():
    id2label, label2id = label_maps(["a", "b", "a"])
    assert id2label == {0: "a", 1: "b", 2: "a_2"} and label2id == {"a": 0, "b": 1, "a_2": 2}
