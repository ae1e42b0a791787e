"""Metrics checked by hand on tiny tensors."""

import math

import pytest
import torch

from segcompare import metrics as M
from segcompare.data import TAXONOMIES


def test_perfect_prediction_scores_one():
    target = torch.tensor([[0, 1, 2], [2, 1, 0]])
    s = M.summarize(M.confusion_matrix(target, target, 3))
    assert s["miou"] == 1.0 and s["pixel_accuracy"] == 1.0 and s["mean_accuracy"] == 1.0
    assert s["per_class_iou"] == [1.0, 1.0, 1.0] and s["per_class_f1"] == [1.0, 1.0, 1.0]


def test_confusion_matrix_rows_are_truth():
    target = torch.tensor([0, 0, 1, 2])
    pred = torch.tensor([0, 1, 1, 1])
    expected = torch.tensor([[1, 1, 0], [0, 1, 0], [0, 1, 0]])
    assert torch.equal(M.confusion_matrix(pred, target, 3), expected)


def test_known_3x3_matrix():
    cm = torch.tensor([[5, 2, 0],
                       [1, 3, 1],
                       [0, 2, 6]])
    # IoU_c = tp / (row + col - tp): 5/(7+6-5), 3/(5+7-3), 6/(8+7-6)
    iou = [5 / 8, 3 / 9, 6 / 9]
    assert M.iou_per_class(cm).tolist() == pytest.approx(iou)
    assert float(M.miou(cm)) == pytest.approx(sum(iou) / 3)
    assert float(M.pixel_accuracy(cm)) == pytest.approx(14 / 20)
    assert M.recall(cm).tolist() == pytest.approx([5 / 7, 3 / 5, 6 / 8])
    assert M.precision(cm).tolist() == pytest.approx([5 / 6, 3 / 7, 6 / 7])
    assert M.f1(cm).tolist() == pytest.approx([10 / 13, 6 / 12, 12 / 15])
    assert float(M.mean_accuracy(cm)) == pytest.approx((5 / 7 + 3 / 5 + 6 / 8) / 3)


@pytest.mark.parametrize("ignore_index", [255, 7, -1])
def test_ignored_pixels_are_excluded(ignore_index):
    target = torch.tensor([0, 1, ignore_index, ignore_index])
    pred = torch.tensor([0, 1, 0, 1])
    cm = M.confusion_matrix(pred, target, 2, ignore_index=ignore_index)
    assert cm.sum() == 2 and float(M.miou(cm)) == 1.0
    per_image = M.confusion_per_image(pred.view(2, 2), target.view(2, 2), 2, ignore_index=ignore_index)
    assert per_image.tolist() == [[[1, 0], [0, 1]], [[0, 0], [0, 0]]]


def test_ignore_index_inside_class_range():
    target = torch.tensor([0, 1, 2, 2])
    pred = torch.tensor([0, 1, 0, 2])
    assert M.confusion_matrix(pred, target, 3, ignore_index=2).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_absent_class_left_out_of_mean():
    # class 2 absent from both truth and prediction: IoU undefined (NaN), not 0, and not in the mean
    target = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 1, 1, 1])
    cm = M.confusion_matrix(pred, target, 3)
    iou = M.iou_per_class(cm)
    assert math.isnan(iou[2])
    assert float(M.miou(cm)) == pytest.approx((1 / 2 + 2 / 3) / 2)
    s = M.summarize(cm)
    assert s["per_class_iou"][2] is None and s["per_class_precision"][2] is None


def test_class_predicted_but_absent_from_truth_counts_zero():
    target = torch.tensor([0, 0, 0, 0])
    pred = torch.tensor([0, 0, 0, 1])
    cm = M.confusion_matrix(pred, target, 2)
    assert M.iou_per_class(cm).tolist() == [0.75, 0.0]
    assert math.isnan(M.recall(cm)[1])  # no ground truth -> no recall, left out of mean accuracy
    assert float(M.mean_accuracy(cm)) == 0.75


def test_merging_two_halves_equals_one_pass():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (4, 16, 16), generator=g)
    target[0, :3] = 255
    pred = torch.randint(0, 5, (4, 16, 16), generator=g)
    whole = M.confusion_matrix(pred, target, 5)
    a, b = M.ConfusionMatrix(5), M.ConfusionMatrix(5)
    a.update(pred[:2], target[:2])
    b.update(pred[2:], target[2:])
    assert torch.equal(a.merge(b).mat, whole)
    assert torch.equal(a.reduce().mat, whole)  # no process group: reduce is a no-op
    per_image = M.confusion_per_image(pred, target, 5)
    assert per_image.shape == (4, 5, 5)
    assert torch.equal(per_image.sum(0), whole)
    assert torch.equal(per_image[1], M.confusion_matrix(pred[1], target[1], 5))


def test_per_image_mask_restricts_count():
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    pred = torch.zeros(2, 4, 4, dtype=torch.long)
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[0, 0, :3] = True
    cms = M.confusion_per_image(pred, target, 2, mask=mask)
    assert cms[0, 0, 0] == 3 and cms[1].sum() == 0


def test_boundary_band_on_drawn_square():
    target = torch.zeros(12, 12, dtype=torch.long)
    target[4:8, 4:8] = 1  # a 4x4 square
    band = M.boundary_band(target, 1)
    expected = torch.zeros(12, 12, dtype=torch.bool)
    expected[3:9, 3:9] = True  # one pixel outside the edge ...
    expected[5:7, 5:7] = False  # ... and one inside: only the 2x2 core is more than 1 px from the edge
    assert torch.equal(band, expected)
    # a wider band swallows the square, and the image border is not an edge
    band2 = M.boundary_band(target, 2)
    assert band2[4:8, 4:8].all() and band2.sum() == 8 * 8
    assert not M.boundary_band(torch.zeros(5, 5, dtype=torch.long), 3).any()
    assert M.boundary_band(target.unsqueeze(0).repeat(2, 1, 1), 1).shape == (2, 12, 12)


def test_batched_metrics_over_leading_dims():
    cms = torch.stack([torch.eye(3, dtype=torch.long) * 4, torch.tensor([[1, 1, 0], [0, 2, 0], [0, 0, 0]])])
    assert M.miou(cms).tolist() == pytest.approx([1.0, (1 / 2 + 2 / 3) / 2])


def test_remap_merges_classes():
    cm = torch.tensor([[5, 2, 0],
                       [1, 3, 1],
                       [0, 2, 6]])
    # classes 0 and 1 merge into new 0, class 2 becomes new 1
    new = M.remap_confusion(cm, [0, 0, 1])
    assert new.tolist() == [[11, 1], [2, 6]]
    assert torch.equal(M.remap_confusion(cm, {0: 0, 1: 0, 2: 1}), new)
    # dropping a class (None or 255) removes its pixels from truth and prediction
    assert M.remap_confusion(cm, [0, None, 1]).tolist() == [[5, 0], [0, 6]]
    assert M.remap_confusion(cm, [0, 255, 1]).tolist() == [[5, 0], [0, 6]]


def test_remap_equals_remapping_the_labels():
    g = torch.Generator().manual_seed(1)
    target = torch.randint(0, 19, (2, 8, 8), generator=g)
    pred = torch.randint(0, 19, (2, 8, 8), generator=g)
    mapping = TAXONOMIES.get("cityscapes19-to-8").mapping
    lut = torch.tensor(mapping)
    direct = M.confusion_matrix(lut[pred], lut[target], 8)
    remapped = M.remap_confusion(M.confusion_matrix(pred, target, 19), mapping, num_new=8)
    assert torch.equal(direct, remapped)


def test_remap_rejects_index_beyond_new_classes():
    with pytest.raises(ValueError, match="only 2 new classes"):
        M.remap_confusion(torch.eye(3), [0, 1, 2], num_new=2)
