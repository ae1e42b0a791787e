"""Model cards by the Hub's conventions: front matter parsed as the Hub does (yaml.safe_load, the key types the
model-card spec documents, huggingface_hub's own parser), real Hub dataset ids only, `base_model` for runs that
started from pretrained weights, credit and licence of the training data, confidence intervals that are real."""

import numpy as np
import pytest
import yaml
from fake_results import random_cms
from huggingface_hub import ModelCard

from segcompare.data import list_datasets
from segcompare.model_card import (
    HUB_DATASETS,
    base_model,
    card_metadata,
    confidence_intervals,
    dataset_title,
    license_id,
    model_card,
)
from segcompare.results import FORMAT

CLASSES = ["background", "cat", "dog"]
PETS = {"data": "Oxford-IIIT Pet (real photos; 3 breeds)", "train_images": 270, "licence": "CC BY-SA 4.0",
        "credit": "Parkhi, Vedaldi, Zisserman, Jawahar: Cats and Dogs, CVPR 2012",
        "url": "https://www.robots.ox.ac.uk/~vgg/data/pets/", "encoder": "EfficientNet-Lite0 on ImageNet",
        "synthetic": False, "caution": "Three breeds only: other animals give worse answers."}


def config(name="unet_tu-tf_efficientnet_lite0", dataset="oxford-pet:/home/me/data/pets", strategy="finetune",
           pretrained="imagenet", **extra):
    return {"format": "segcompare/1", "name": name, "library": "smp", "num_classes": 3, "classes": CLASSES,
            "mean": [0.5] * 3, "std": [0.25] * 3, "input_size": [64, 64], "dataset": dataset, "params": 1e6,
            "train": {"strategy": strategy, "pretrained": pretrained, "epochs": 2}, **extra}


def results(dataset="oxford-pet:/home/me/data/pets", n=40, seed=0, split="test"):
    cms = random_cms(n, 0.8, seed, k=3)
    total = cms.sum(0)
    tp = np.diag(total)
    iou = tp / (total.sum(0) + total.sum(1) - tp)
    return {"format": FORMAT, "model": "unet", "dataset": dataset, "split": split, "classes": CLASSES,
            "confusion_matrix": total.tolist(), "miou": float(iou.mean()),
            "pixel_accuracy": float(tp.sum() / total.sum()), "mean_accuracy": 0.8, "boundary_iou": 0.5,
            "per_class_iou": iou.tolist(),
            "per_image": {"names": [f"img{i}" for i in range(n)], "confusion": cms.tolist()}}


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text[4:].split("\n---\n", 1)[0])


def check_types(meta: dict) -> None:
    """Key types as the model-card spec documents them (https://huggingface.co/docs/hub/model-cards)."""
    for key in ("library_name", "pipeline_tag", "license", "base_model"):
        assert key not in meta or isinstance(meta[key], str), key
    for key in ("tags", "datasets", "metrics"):
        assert key not in meta or (isinstance(meta[key], list) and all(isinstance(x, str) for x in meta[key])), key
    for entry in meta.get("model-index", []):
        assert isinstance(entry["name"], str)
        for result in entry["results"]:
            assert isinstance(result["task"]["type"], str) and isinstance(result["dataset"]["type"], str)
            assert isinstance(result["dataset"]["name"], str) and isinstance(result["dataset"]["split"], str)
            assert all(isinstance(m["type"], str) and isinstance(m["value"], float) for m in result["metrics"])


def test_card_follows_the_hub_spec():
    text = model_card(config(provenance=PETS), results(), repo_id="me/unet-pets", sample="sample.png")
    meta = front_matter(text)
    check_types(meta)
    assert meta["pipeline_tag"] == "image-segmentation" and meta["library_name"] == "segcompare"
    assert {"segcompare", "image-segmentation", "semantic-segmentation", "unet", "pytorch"} <= set(meta["tags"])
    assert meta["datasets"] == ["timm/oxford-iiit-pet"]
    assert meta["base_model"] == "timm/tf_efficientnet_lite0.in1k"
    assert meta["license"] == "cc-by-sa-4.0"
    [entry] = meta["model-index"]
    assert entry["name"] == "unet-pets"
    [result] = entry["results"]
    assert result["task"] == {"type": "image-segmentation", "name": "Image Segmentation"}
    assert result["dataset"] == {"name": "Oxford-IIIT Pet", "type": "timm/oxford-iiit-pet", "split": "test"}
    assert [m["type"] for m in result["metrics"]] == ["mean_iou", "accuracy", "mean_accuracy", "boundary_iou"]
    assert result["metrics"][0]["value"] == round(results()["miou"], 4)
    # huggingface_hub's parser (what the Hub runs on upload) reads the same values back
    card = ModelCard(text)
    assert card.data.base_model == "timm/tf_efficientnet_lite0.in1k"
    assert card.data.eval_results[0].dataset_split == "test" and card.data.eval_results[0].task_type == \
        "image-segmentation"
    # credit, licence and the caution are in the text; no local path leaks
    for value in (PETS["credit"], PETS["licence"], PETS["url"], PETS["caution"], "270"):
        assert str(value) in text
    assert "https://huggingface.co/datasets/timm/oxford-iiit-pet" in text
    assert "/home/me" not in text


@pytest.mark.parametrize("prefix", list_datasets())
def test_every_registered_dataset_is_a_hub_id_or_named_in_the_text(prefix):
    spec = f"{prefix}:/data/x" if prefix != "folder" else "folder:/data/camvid"
    text = model_card(config(dataset=spec), results(dataset=spec))
    meta = front_matter(text)
    check_types(meta)
    name = "camvid" if prefix == "folder" else prefix
    if name in HUB_DATASETS:
        assert meta["datasets"] == [HUB_DATASETS[name]] and HUB_DATASETS[name].count("/") == 1
    else:  # an unlinked name on the Hub helps nobody: no `datasets:`, the data named in the text instead
        assert "datasets" not in meta
        assert f"- data: {dataset_title(name)}" in text
    assert meta["model-index"][0]["results"][0]["dataset"]["name"] == dataset_title(name)


@pytest.mark.parametrize("name, strategy, pretrained, expected", [
    ("unet_tu-tf_efficientnet_lite0", "finetune", "imagenet", "timm/tf_efficientnet_lite0.in1k"),
    ("pspnet_tu-mobilenetv3_small_100", "frozen", "imagenet", "timm/mobilenetv3_small_100.lamb_in1k"),
    ("segformer_b0", "finetune", "imagenet", "nvidia/mit-b0"),
    ("unet_resnet34", "frozen", "imagenet", "smp-hub/resnet34.imagenet"),
    ("fcn_mobilenet_v3_small", "finetune", "imagenet", None),  # torchvision's weights are not on the Hub
    ("unet_tu-tf_efficientnet_lite0", "scratch", "none", None),
    ("segformer_b0", "scratch", "none", None),
    ("not_a_model", "finetune", "imagenet", None),
])
def test_base_model(name, strategy, pretrained, expected):
    cfg = config(name=name, strategy=strategy, pretrained=pretrained)
    assert base_model(cfg) == expected
    meta = card_metadata(cfg)
    assert meta.get("base_model") == expected
    if expected:
        assert f"https://huggingface.co/{expected}" in model_card(cfg)


@pytest.mark.parametrize("text, hub_id", [("CC BY-SA 4.0", "cc-by-sa-4.0"), ("cc-by-4.0", "cc-by-4.0"),
                                          ("MIT", "mit"), ("free for research use", None), (None, None), (3, None)])
def test_license_id(text, hub_id):
    assert license_id(text) == hub_id


def test_unknown_licence_is_named_in_text_not_front_matter():
    prov = {**PETS, "licence": "free for research use", "data": "CamVid street photos"}
    text = model_card(config(dataset="folder:/data/camvid", provenance=prov))
    assert "license" not in front_matter(text)
    assert "- licence: free for research use" in text and "- data: CamVid street photos" in text


def test_synthetic_data_is_tagged_and_said():
    text = model_card(config(dataset="synthetic-pets", strategy="scratch", pretrained="none"))
    assert "synthetic-data" in front_matter(text)["tags"] and "synthetic" in text.split("## Training data")[1]


def test_confidence_intervals_are_a_bootstrap_over_images():
    res = results(n=60, seed=3)
    ci = confidence_intervals(res)
    assert ci["n_images"] == 60
    lo, hi = ci["miou"]
    assert lo < res["miou"] < hi and hi - lo < 0.2
    assert ci["pixel_accuracy"][0] < res["pixel_accuracy"] < ci["pixel_accuracy"][1]
    # the same image repeated: every replicate is that image, so the interval collapses onto the value
    same = {**res, "per_image": {"names": ["a", "b", "c"], "confusion": [res["per_image"]["confusion"][0]] * 3}}
    lo, hi = confidence_intervals(same)["miou"]
    assert lo == pytest.approx(hi)
    # more images, narrower interval
    wide = confidence_intervals(results(n=8, seed=3))["miou"]
    assert wide[1] - wide[0] > ci["miou"][1] - ci["miou"][0]
    text = model_card(config(), res)
    assert f"{100 * res['miou']:.2f} % (95% CI {100 * ci['miou'][0]:.2f}–{100 * ci['miou'][1]:.2f})" in text
    assert "bootstrap over the 60 test images" in text


def test_no_per_image_matrices_means_no_interval_and_no_crash():
    res = results()
    res["per_image"] = {"names": res["per_image"]["names"]}  # an older results.json: no per-image matrices
    assert confidence_intervals(res) == {}
    assert "95% CI" not in model_card(config(), res)
