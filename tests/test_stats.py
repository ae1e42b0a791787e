"""Paired bootstrap, verdicts and the refusal to compare unrelated results."""

import numpy as np
import pytest
import torch
from fake_results import random_cms

from segcompare import metrics as M
from segcompare import stats
from segcompare.errors import UserError
from segcompare.evaluation import FORMAT, metric_fields

CLASSES = ["bg", "cat", "dog"]


def make_results(model, per_image_cms, dataset="folder:/data", classes=CLASSES, names=None):
    cms = torch.as_tensor(np.array(per_image_cms), dtype=torch.int64)
    names = names or [f"img{i:03d}" for i in range(len(cms))]
    res = {"format": FORMAT, "model": model, "checkpoint": f"runs/{model}", "dataset": dataset,
           "split": "test", "classes": list(classes), "num_images": len(cms)}
    res.update(metric_fields(cms.sum(0), None, cms, names))
    return res


def test_large_difference_excludes_zero():
    good = make_results("good", random_cms(30, 0.9, seed=1))
    bad = make_results("bad", random_cms(30, 0.6, seed=2))
    out = stats.paired_bootstrap(good, bad, n_boot=500, seed=0)
    assert out["diff"] == pytest.approx(good["miou"] - bad["miou"])
    assert 0 < out["ci_low"] < out["diff"] < out["ci_high"]
    assert out["significant"] and out["win_rate"] == 1.0
    assert out["verdict"].startswith("good is better than bad by ")
    # reversed order: same interval, mirrored, and the verdict still names the better model first
    back = stats.paired_bootstrap(bad, good, n_boot=500, seed=0)
    assert back["ci_high"] == pytest.approx(-out["ci_low"])
    assert back["ci_low"] == pytest.approx(-out["ci_high"])
    assert back["verdict"] == out["verdict"]


def test_identical_models_interval_contains_zero():
    a = make_results("a", random_cms(20, 0.8, seed=3))
    b = make_results("b", random_cms(20, 0.8, seed=3))
    out = stats.paired_bootstrap(a, b, n_boot=300)
    assert out["diff"] == 0 and out["ci_low"] <= 0 <= out["ci_high"]
    assert not out["significant"] and out["win_rate"] == 0.0
    assert out["verdict"].startswith("no clear difference between a and b")


def test_equally_good_models_interval_contains_zero():
    # two independent draws of a model with the same pixel accuracy: any difference is noise
    a = make_results("a", random_cms(40, 0.75, seed=4))
    b = make_results("b", random_cms(40, 0.75, seed=5))
    out = stats.paired_bootstrap(a, b, n_boot=1000, seed=1)
    assert out["ci_low"] < 0 < out["ci_high"] and not out["significant"]


def test_vectorised_bootstrap_matches_a_plain_loop():
    ca, cb = random_cms(12, 0.8, seed=6), random_cms(12, 0.7, seed=7)
    n_boot = 50
    out = stats.paired_bootstrap(make_results("a", ca), make_results("b", cb), n_boot=n_boot, seed=3)
    draws = np.random.default_rng(3).integers(0, 12, size=(n_boot, 12))
    diffs = [float(M.miou(torch.from_numpy(ca[d].sum(0))) - M.miou(torch.from_numpy(cb[d].sum(0))))
             for d in draws]
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    assert out["ci_low"] == pytest.approx(lo) and out["ci_high"] == pytest.approx(hi)


def test_images_are_paired_by_name_not_position():
    cms = random_cms(10, 0.8, seed=8)
    names = [f"img{i:03d}" for i in range(10)]
    a = make_results("a", cms, names=names)
    b = make_results("b", cms[::-1], names=names[::-1])  # same images, stored in reverse order
    out = stats.paired_bootstrap(a, b, n_boot=100)
    assert out["diff"] == 0 and out["ci_low"] == 0 == out["ci_high"] and out["win_rate"] == 0


@pytest.mark.parametrize("change, match", [
    ({"dataset": "folder:/other"}, "different datasets .*folder:/data.*folder:/other"),
    ({"classes": ["bg", "cat", "bird"]}, "different class lists"),
    ({"names": [f"x{i}" for i in range(5)]}, "different test images"),
])
def test_unrelated_results_refuse_to_compare(change, match):
    a = make_results("unet", random_cms(5, 0.8, seed=9))
    b = make_results("segformer", random_cms(5, 0.8, seed=10), **change)
    with pytest.raises(UserError, match=f"cannot compare unet and segformer: {match}"):
        stats.paired_bootstrap(a, b)
    with pytest.raises(UserError, match="unet and segformer"):
        stats.compare_all([a, b])


def test_unknown_format_is_refused_by_name():
    a = make_results("a", random_cms(3, 0.8, seed=11))
    b = {**a, "format": "segcompare-results/9"}
    with pytest.raises(UserError, match="unknown results format 'segcompare-results/9'"):
        stats.paired_bootstrap(a, b)


@pytest.mark.parametrize("args, text", [
    (("SegFormer-B0", "UNet", 0.031, 0.019, 0.044, 0.71),
     "SegFormer-B0 is better than UNet by 3.1 mIoU points (95% CI 1.9 to 4.4), better on 71% of test images"),
    (("UNet", "SegFormer-B0", -0.031, -0.044, -0.019, 0.2, 0.71),
     "SegFormer-B0 is better than UNet by 3.1 mIoU points (95% CI 1.9 to 4.4), better on 71% of test images"),
    (("A", "B", 0.002, -0.008, 0.012), "no clear difference between A and B (95% CI -0.8 to 1.2)"),
])
def test_verdict_text(args, text):
    assert stats.verdict(*args) == text


def test_compare_all_puts_best_model_first():
    results = [make_results("mid", random_cms(15, 0.75, seed=12)),
               make_results("best", random_cms(15, 0.9, seed=13)),
               make_results("worst", random_cms(15, 0.55, seed=14))]
    out = stats.compare_all(results, n_boot=200)
    assert [(c["a"], c["b"]) for c in out] == [("best", "mid"), ("best", "worst"), ("mid", "worst")]
    for c in out:
        assert c["diff"] > 0 and len(c["per_class_diff"]) == 3
        assert all(lo <= d <= hi for d, lo, hi in zip(c["per_class_diff"], c["per_class_ci_low"],
                                                        c["per_class_ci_high"]))


def test_same_model_name_twice_gets_distinct_labels():
    a = make_results("unet", random_cms(8, 0.9, seed=15))
    b = {**make_results("unet", random_cms(8, 0.6, seed=16)), "checkpoint": "runs/unet-small"}
    out = stats.compare_all([a, b], n_boot=100)
    assert out[0]["a"] == "unet [unet]" and out[0]["b"] == "unet [unet-small]"


def test_few_test_images_carry_a_caution():
    few = stats.paired_bootstrap(make_results("good", random_cms(4, 0.9, seed=1)),
                                 make_results("bad", random_cms(4, 0.5, seed=2)), n_boot=200)
    assert few["small_sample"] and "caution: only 4 test images" in few["verdict"]
    many = stats.paired_bootstrap(make_results("good", random_cms(stats.MIN_IMAGES, 0.9, seed=1)),
                                  make_results("bad", random_cms(stats.MIN_IMAGES, 0.5, seed=2)), n_boot=200)
    assert not many["small_sample"] and "caution" not in many["verdict"]


@pytest.mark.parametrize("paired", [False, True])
def test_one_check_comparable_is_strict_only_where_the_bootstrap_needs_it(paired):
    """A leaderboard can show a result without per-image matrices; the bootstrap cannot pair its images."""
    a = make_results("unet", random_cms(5, 0.8, seed=12))
    b = make_results("segformer", random_cms(5, 0.7, seed=13))
    b["per_image"] = {"names": b["per_image"]["names"]}  # an older results.json: names, no matrices
    if paired:
        with pytest.raises(UserError, match="no per-image confusion matrices"):
            stats.check_comparable([a, b], paired=True)
    else:
        stats.check_comparable([a, b])
    with pytest.raises(UserError, match="cannot compare unet and segformer" if paired else "different datasets"):
        stats.check_comparable([a, {**b, "dataset": "folder:/other"}], paired=paired)
