"""The evidence galleries (segcompare.evidence) on tiny hand-made per-image results."""

import fake_results
import numpy as np
import pytest

from segcompare.errors import UserError
from segcompare.evidence import cell_images, disagreement_images, winner_loses_images

NAMES = ["img0", "img1", "img2", "img3", "img4"]
# image mIoU per model, by hand. Spreads (best - worst): img0 .8, img1 .05, img2 .15, img3 .1 (C unscored),
# img4 .4. A is the overall winner; it is beaten on img4 (by B, .4) and img3 (by B, .1) only.
SCORES = {"unet_resnet18": [0.9, 0.5, 0.75, 0.2, 0.4],
          "fcn_resnet18": [0.1, 0.45, 0.6, 0.3, 0.8],
          "pspnet_resnet18": [0.5, 0.48, 0.7, None, 0.4]}
OVERALL = {"unet_resnet18": 0.8, "fcn_resnet18": 0.6, "pspnet_resnet18": 0.5}


def scored(name, order=NAMES):
    """Results whose per-image lists are in `order` (readers must align images by name, not position)."""
    by_name = dict(zip(NAMES, SCORES[name]))
    cms = np.ones((len(order), 2, 2), np.int64)
    return fake_results.results(name, cms, names=order, image_miou=[by_name[n] for n in order],
                                miou=OVERALL[name])


@pytest.fixture
def results():
    return [scored("fcn_resnet18", NAMES[::-1]), scored("unet_resnet18"),
            scored("pspnet_resnet18", NAMES[2:] + NAMES[:2])]


@pytest.mark.parametrize("k, expected", [(8, ["img0", "img4", "img2", "img3", "img1"]), (2, ["img0", "img4"])])
def test_disagreement_images_largest_spread_first(results, k, expected):
    got = disagreement_images(results, k=k)
    assert [e.name for e in got] == expected
    assert got[0].caption == "img0: UNet (ResNet-18) 90% vs FCN (ResNet-18) 10% (image mIoU)"
    assert got[0].scores == {"FCN (ResNet-18)": 0.1, "UNet (ResNet-18)": 0.9, "PSPNet (ResNet-18)": 0.5}
    assert all(e.scores["PSPNet (ResNet-18)"] is None for e in got if e.name == "img3")  # unscored stays None


def test_images_where_all_agree_are_left_out(results):
    for r in results:
        r["per_image"]["miou"] = [0.5] * len(NAMES)
    assert disagreement_images(results) == [] and winner_loses_images(results) == []


def test_winner_loses_images_by_margin(results):
    got = winner_loses_images(results)
    assert [e.name for e in got] == ["img4", "img3"]
    assert got[0].caption == "img4: FCN (ResNet-18) 80% beats UNet (ResNet-18) 40% (image mIoU)"
    assert [e.name for e in winner_loses_images(results, k=1)] == ["img4"]


def test_galleries_need_two_models(results):
    assert disagreement_images(results[:1]) == [] and winner_loses_images(results[:1]) == []


# per-image 2x2 matrices (rows = truth): class0 -> class1 pixels are 3, 7, 0; class1 -> class0 are 0, 1, 2
CMS = [[[5, 3], [0, 2]], [[1, 7], [1, 1]], [[4, 0], [2, 4]]]


@pytest.mark.parametrize("cell, names, pixels, shares", [
    ((0, 1), ["img001", "img000"], [7, 3], [7 / 8, 3 / 8]),
    ((1, 0), ["img002", "img001"], [2, 1], [2 / 6, 1 / 2]),
    ((0, 0), ["img000", "img002", "img001"], [5, 4, 1], [5 / 8, 1.0, 1 / 8]),
])
def test_cell_images_most_pixels_first(cell, names, pixels, shares):
    res = fake_results.results("unet_resnet18", CMS)
    res["classes"] = ["sky", "tree"]
    got = cell_images(res, *cell)
    assert [e.name for e in got] == names and [e.pixels for e in got] == pixels
    assert [e.share for e in got] == pytest.approx(shares)
    assert [e.name for e in cell_images(res, *cell, k=1)] == names[:1]


def test_cell_caption_in_words():
    res = fake_results.results("unet_resnet18", CMS)
    res["classes"] = ["sky", "tree"]
    assert cell_images(res, 0, 1)[0].caption == "img001: 7 sky pixels labelled tree (88% of its sky pixels)"
    assert cell_images(res, 1, 1)[0].caption.startswith("img002: 4 tree pixels labelled correctly")


@pytest.mark.parametrize("cell", [(2, 0), (0, -1), (0.5, 0), ("1", 0)])
def test_cell_out_of_range_names_the_valid_classes(cell):
    res = fake_results.results("unet_resnet18", CMS)
    with pytest.raises(UserError, match=r"is not a class index; valid: 0-1 \(class0, class1\)"):
        cell_images(res, *cell)


def test_cell_without_per_image_matrices():
    res = fake_results.results("unet_resnet18", CMS)
    res["per_image"]["confusion"] = []
    with pytest.raises(UserError, match="UNet \\(ResNet-18\\) has no per-image confusion matrices"):
        cell_images(res, 0, 1)
