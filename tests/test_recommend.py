"""The verdict (segcompare.recommend) on results built by hand, and on the committed pets checkpoints."""

import re
from pathlib import Path

import fake_results
import numpy as np
import pytest

from segcompare import report
from segcompare.errors import UserError
from segcompare.formats import Results
from segcompare.recommend import recommend, to_html

N = 40  # test images: above stats.MIN_IMAGES, so no small-sample caution unless a test asks for one
PETS = Path(__file__).resolve().parent.parent / "checkpoints" / "pets"


def model(name, accuracy, seed, latency=None, n=N, **extra):
    return fake_results.results(name, fake_results.random_cms(n, accuracy, seed), latency=latency, **extra)


@pytest.fixture
def three():
    """A slow accurate UNet, a fast middling FCN, a mid-speed poor PSPNet: every gap far beyond luck."""
    return [model("fcn_resnet18", 0.75, 1, latency=20.0), model("unet_resnet18", 0.95, 2, latency=80.0),
            model("pspnet_resnet18", 0.5, 3, latency=40.0)]


def test_picks_the_most_accurate_and_says_why(three):
    rec = recommend(three, n_boot=300)
    assert rec.model == "UNet (ResNet-18)" == report.leaderboard(three)["Model"][0]
    assert rec.markdown.startswith("**Use UNet (ResNet-18):") and rec.headline in rec.markdown
    assert sorted(rec.real) == ["FCN (ResNet-18)", "PSPNet (ResNet-18)"] and rec.luck == [] and rec.excluded == {}
    for aspect in ("**Accuracy:**", "**Speed:**", "**Real differences:**", "mIoU: how well"):
        assert aspect in rec.markdown, aspect
    assert "80 ms per image on CPU, 3rd fastest of 3" in rec.markdown and "FCN (ResNet-18), takes 20 ms" in rec.markdown


@pytest.mark.parametrize("kwargs, pick, ruled_out", [
    ({"max_latency_ms": 50}, "FCN (ResNet-18)", {"UNet (ResNet-18)": "80 ms per image on CPU, over the 50 ms budget"}),
    ({"max_latency_ms": 30}, "FCN (ResNet-18)", {"UNet (ResNet-18)": "80 ms", "PSPNet (ResNet-18)": "40 ms"}),
    ({"max_latency_ms": 80}, "UNet (ResNet-18)", {}),
    ({"max_latency_ms": 10}, None, {"UNet (ResNet-18)": "80 ms", "PSPNet (ResNet-18)": "40 ms",
                                    "FCN (ResNet-18)": "20 ms"}),
])
def test_latency_budget_changes_the_pick_and_names_who_is_out(three, kwargs, pick, ruled_out):
    rec = recommend(three, n_boot=200, **kwargs)
    assert rec.model == pick and rec.unconstrained == "UNet (ResNet-18)"
    assert sorted(rec.excluded) == sorted(ruled_out)
    for label, why in ruled_out.items():
        assert why in rec.excluded[label] and f"{label} ({rec.excluded[label]})" in rec.markdown
    if pick is None:
        assert rec.markdown.startswith("**No model can run within 10 ms per image on CPU.**")
        assert "the fastest model measured, FCN (ResNet-18), takes 20 ms" in rec.markdown
    elif pick != rec.unconstrained:
        assert "**Without the constraint** the pick would be UNet (ResNet-18)." in rec.markdown
        assert "**What the constraint costs:** UNet (ResNet-18) is more accurate by " in rec.markdown


def test_cpu_only_uses_the_cpu_latency_and_rules_out_gpu_only_models():
    gpu_only = model("unet_resnet18", 0.95, 2, latency={"device": "cuda", "p50": 5.0})
    both = model("fcn_resnet18", 0.75, 1, latency={"device": "cuda", "p50": 4.0, "cpu": {"p50": 60.0}})
    assert Results.from_dict(both).device_latencies() == {"cuda": 4.0, "cpu": 60.0}
    results = [gpu_only, both]
    rec = recommend(results, max_latency_ms=10, n_boot=200)
    assert rec.model == "UNet (ResNet-18)" and rec.constraint == "run within 10 ms per image on CUDA"
    mixed = [*results, model("pspnet_resnet18", 0.5, 3, latency=8.0)]  # measured on CPU only
    rec = recommend(mixed, max_latency_ms=10, n_boot=200)
    assert rec.constraint == "run within 10 ms per image on their fastest device measured" and rec.excluded == {}
    assert "measured on different devices, so compare with care" in rec.markdown
    rec = recommend(results, cpu_only=True, n_boot=200)
    assert rec.model == "FCN (ResNet-18)"
    assert rec.excluded == {"UNet (ResNet-18)": "measured only on CUDA, not on CPU"}
    assert "60 ms per image on CPU" in rec.markdown and rec.constraint == "run on CPU"
    untimed = model("pspnet_resnet18", 0.99, 3)
    assert recommend([*results, untimed], cpu_only=True, n_boot=200).excluded["PSPNet (ResNet-18)"] == \
        "no latency measured, so not known to run on CPU"
    rec = recommend(results, cpu_only=True, max_latency_ms=10, n_boot=200)
    assert rec.model is None and "60 ms per image on CPU, over the 10 ms budget" in rec.excluded["FCN (ResNet-18)"]


def test_a_gap_the_test_cannot_confirm_is_called_luck():
    """B is A with one image scored better: a resample that leaves that image out (likely) ties them."""
    cms = fake_results.random_cms(N, 0.8, 5)
    better = cms.copy()
    better[0] = np.diag(cms[0].sum(1))  # every pixel of image 0 right
    a = fake_results.results("fcn_resnet18", cms, latency=30.0)
    b = fake_results.results("unet_resnet18", better, latency=90.0)
    rec = recommend([a, b], n_boot=500)
    assert rec.model == "UNet (ResNet-18)" and rec.luck == ["FCN (ResNet-18)"] and rec.real == []
    assert "could be luck of the test images" in rec.markdown
    assert "**If speed matters more:** FCN (ResNet-18) is as accurate" in rec.markdown
    assert "takes 30 ms per image on CPU instead of 90 ms" in rec.markdown


def test_few_images_carry_a_caution_and_missing_matrices_say_so(three):
    few = [model("fcn_resnet18", 0.7, 1, n=10), model("unet_resnet18", 0.9, 2, n=10)]
    assert "**Caution:** only 10 test images" in recommend(few, n_boot=200).markdown
    assert "**Caution:**" not in recommend(three, n_boot=200).markdown
    bare = {**three[0], "per_image": {**three[0]["per_image"], "confusion": []}}
    rec = recommend([bare, *three[1:]], n_boot=200)
    assert rec.model == "UNet (ResNet-18)" and "FCN (ResNet-18) lack per-image results" in rec.markdown


def test_one_model_and_no_models():
    rec = recommend([model("fcn_resnet18", 0.7, 1)])
    assert rec.model == "FCN (ResNet-18)" and rec.headline.startswith("Use FCN (ResNet-18): the only model")
    assert recommend([]).model is None


def test_same_architecture_twice_named_as_on_the_leaderboard():
    results = [model("unet_resnet18", 0.9, 1, checkpoint="runs/a"), model("unet_resnet18", 0.6, 2, checkpoint="runs/b")]
    rec = recommend(results, n_boot=200)
    assert rec.model == report.leaderboard(results)["Model"][0] == "UNet (ResNet-18) [a]"
    assert rec.real == ["UNet (ResNet-18) [b]"]


def test_html_is_escaped_and_keeps_the_structure():
    evil = model("<img src=x onerror=alert(1)>", 0.9, 1)
    page = to_html(recommend([evil, model("fcn_resnet18", 0.6, 2)], n_boot=200).markdown)
    assert "<img" not in page and "&lt;img src=x" in page
    assert page.startswith("<p><b>Use &lt;img") and "<ul><li><b>Accuracy:</b>" in page and page.endswith("</ul>")


def test_report_headline_is_the_recommendation(three):
    rec = recommend(three, n_boot=300)
    assert report.headline(three, n_boot=300) == rec.headline


def test_committed_pets_results_name_the_best_model():
    results = [report.load_results(p) for p in report.find_results([PETS])]
    best = max(zip(results, report.model_labels(results)), key=lambda x: x[0].miou)[1]
    rec = recommend(results, n_boot=300)
    assert rec.model == best and rec.markdown.startswith(f"**Use {best}:")


@pytest.mark.parametrize("latency, expected", [
    ({"device": "cpu", "p50": 12.0, "p95": 15.0}, {"cpu": 12.0}),
    ({"device": "cuda", "p50": 3.0, "cpu": {"p50": 40.0, "p95": 44.0}}, {"cuda": 3.0, "cpu": 40.0}),
    ({"device": "cuda", "p50": 3.0, "by_device": {"cpu": {"p50": 40.0}, "mps": {"p50": 9.0}}},
     {"cuda": 3.0, "cpu": 40.0, "mps": 9.0}),
    ({"device": "cpu", "p50": None}, {}),
    (None, {}),
])
def test_device_latencies(latency, expected):
    assert Results.from_dict(model("fcn_resnet18", 0.75, 1, latency=latency, n=3)).device_latencies() == expected


def test_the_order_of_the_results_does_not_change_the_verdict(three):
    orders = (three, three[::-1], three[1:] + three[:1])
    texts = {recommend(order, max_latency_ms=50, n_boot=200).markdown for order in orders}
    assert len(texts) == 1


@pytest.mark.parametrize("budget", [-1, float("nan"), "fast"])
def test_a_budget_that_is_not_a_duration_is_refused(three, budget):
    with pytest.raises(UserError, match=f"latency budget {re.escape(repr(budget))} is not a number of milliseconds"):
        recommend(three, max_latency_ms=budget)


def test_markdown_characters_in_a_model_name_stay_text():
    odd = model("net_*wild*_[x]", 0.9, 1, latency=10.0)
    rec = recommend([odd, model("fcn_resnet18", 0.6, 2, latency=20.0)], n_boot=200)
    assert rec.model == "net_*wild*_[x]" and rec.real == ["FCN (ResNet-18)"]
    assert "Use net\\_\\*wild\\*\\_\\[x\\]:" in rec.markdown
    assert to_html(rec.markdown).startswith("<p><b>Use net_*wild*_[x]: the most accurate")


def test_a_model_without_latency_cannot_be_held_to_a_budget(three):
    untimed = model("deeplabv3plus_resnet18", 0.99, 4)
    assert recommend([*three, untimed], n_boot=200).model == "DeepLabV3+ (ResNet-18)"
    rec = recommend([*three, untimed], max_latency_ms=100, n_boot=200)
    assert rec.model == "UNet (ResNet-18)" and rec.unconstrained == "DeepLabV3+ (ResNet-18)"
    assert rec.excluded == {"DeepLabV3+ (ResNet-18)": "no latency measured, so it cannot be held to a time budget"}
