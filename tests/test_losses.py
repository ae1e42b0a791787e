"""Losses: names and sums, ignore_index, class weights, hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F

from segcompare.errors import UserError
from segcompare.losses import build_loss, list_losses, parse_loss

NAMES = ["ce", "dice", "focal", "tversky", "lovasz", "jaccard"]


def tiny(seed=0, k=3):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, k, 5, 6, generator=g, requires_grad=True)
    target = torch.randint(0, k, (2, 5, 6), generator=g)
    target[:, 0, :] = 255
    return logits, target


def test_registry_lists_every_loss():
    assert list_losses() == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_loss_is_finite_differentiable_and_ignores_255(name):
    logits, target = tiny()
    loss = build_loss(name)(logits, target)
    assert loss.dim() == 0 and math.isfinite(loss.item()) and loss.item() >= 0
    loss.backward()
    assert logits.grad is not None and logits.grad[:, :, 0, :].abs().sum() == 0  # ignored row gets no gradient
    changed = logits.detach().clone()
    changed[:, :, 0, :] = 100 * torch.randn_like(changed[:, :, 0, :])  # ignored pixels: any logits
    assert build_loss(name)(changed, target).item() == pytest.approx(loss.item(), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_perfect_prediction_scores_lower_than_a_wrong_one(name):
    _, target = tiny()
    clean = target.clamp(max=2)
    good = 40 * F.one_hot(clean, 3).permute(0, 3, 1, 2).float() - 20  # focal is per-class sigmoid: +-20
    bad = 40 * F.one_hot((clean + 1) % 3, 3).permute(0, 3, 1, 2).float() - 20
    fn = build_loss(name)
    assert fn(good, target).item() < 0.05 < fn(bad, target).item()


def test_cross_entropy_by_hand():
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])  # B=1, K=2, H=1, W=2
    target = torch.tensor([[[0, 255]]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))  # only the first pixel counts
    assert build_loss("ce")(logits, target).item() == pytest.approx(expected)
    weighted = build_loss("ce", class_weights=[2.0, 1.0])(logits, torch.tensor([[[0, 1]]]))
    p1 = -math.log(math.exp(1) / (1 + math.exp(1)))
    assert weighted.item() == pytest.approx((2 * expected + 1 * p1) / 3)  # torch's weighted mean


def test_sums_and_weights():
    logits, target = tiny()
    ce, dice = build_loss("ce")(logits, target), build_loss("dice")(logits, target)
    assert build_loss("ce+dice")(logits, target).item() == pytest.approx((ce + dice).item())
    assert build_loss("ce + 0.5*dice")(logits, target).item() == pytest.approx((ce + 0.5 * dice).item())
    assert parse_loss("2*ce+Dice") == [(2.0, "ce"), (1.0, "dice")]


def test_class_weights_reach_smp_losses():
    logits, target = tiny()
    plain = build_loss("dice")(logits, target).item()
    weighted = build_loss("dice", class_weights=[0.0, 0.0, 3.0])(logits, target).item()
    assert weighted != pytest.approx(plain)


@pytest.mark.parametrize("spec, message", [
    ("crossentropy", "unknown loss 'crossentropy'"),
    ("ce+dise", "Did you mean dice"),
    ("x*dice", "write WEIGHT\\*NAME"),
    ("0*dice", "must be positive"),
])
def test_bad_specs_are_one_line_user_errors(spec, message):
    with pytest.raises(UserError, match=message) as e:
        build_loss(spec)
    assert "\n" not in str(e.value)


def test_tversky_weighs_misses_more_than_dice_and_takes_alpha_beta():
    logits, target = tiny(seed=4)
    dice = build_loss("dice")(logits, target)
    assert not torch.allclose(build_loss("tversky")(logits, target), dice)  # alpha 0.3 / beta 0.7 by default
    assert torch.allclose(build_loss("tversky(alpha=0.5,beta=0.5)")(logits, target), dice)
    import segmentation_models_pytorch as smp

    ref = smp.losses.TverskyLoss("multiclass", ignore_index=255, alpha=0.7, beta=0.3)(logits, target)
    assert torch.allclose(build_loss("ce+0.5*tversky(alpha=0.7, beta=0.3)").parts[1](logits, target), ref)
    assert parse_loss("tversky(alpha=0.7)") == [(1.0, "tversky")]


@pytest.mark.parametrize("spec, message", [
    ("tversky(gamma=2)", "has no parameter 'gamma'; valid: alpha, beta"),
    ("dice(alpha=0.5)", "has no parameter 'alpha'; it takes none"),
    ("tversky(alpha=2)", "between 0 and 1"),
    ("tversky(alpha=x)", "must be a number"),
    ("tversky(alpha=0.5", "close the parenthesis"),
])
def test_bad_loss_parameters(spec, message):
    with pytest.raises(UserError, match=message):
        parse_loss(spec)
