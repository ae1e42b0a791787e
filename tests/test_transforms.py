"""Joint image+mask transforms: geometry moves both, colour touches the image only, padding is 255."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segcompare.data import transforms as T
from segcompare.errors import UserError


def blocks(h=32, w=48):
    """An image whose red channel encodes the mask (class k -> red 80*k), in big blocks."""
    mask = np.zeros((h, w), np.uint8)
    mask[:, w // 3:] = 1
    mask[h // 2:, 2 * w // 3:] = 2
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = mask * 80
    image[..., 1] = 128
    return image, mask


@pytest.mark.parametrize("size", [(16, 24), (64, 96), (32, 48), (7, 5)])
def test_resize_keeps_mask_values(size):
    image, mask = blocks()
    img, m = T.resize(image, mask, size)
    assert img.shape == (*size, 3) and m.shape == size and img.dtype == np.uint8
    assert set(np.unique(m)) <= {0, 1, 2}


def test_pad_uses_ignore_index_in_mask_only():
    image, mask = blocks(4, 4)
    img, m = T.pad_to(image, mask, (6, 5), ignore_index=255)
    assert img.shape == (6, 5, 3) and (img[4:] == 0).all() and (m[4:] == 255).all() and (m[:, 4] == 255).all()
    assert (m[:4, :4] == mask).all()


def test_scale_down_pads_with_255():
    image, mask = blocks()
    rng = np.random.default_rng(0)
    img, m = T.random_scale_crop(image, mask, (32, 48), rng, scale=(0.5, 0.5))
    assert img.shape == (32, 48, 3) and m.shape == (32, 48)
    assert (m == 255).sum() == 32 * 48 - 16 * 24  # a quarter of the area is image, the rest padding


def test_flip_moves_image_and_mask_together():
    image, mask = blocks()
    img, m = T.hflip(image, mask)
    assert (img[..., 0] == m * 80).all() and (m[:, 0] == mask[:, -1]).all()


@pytest.mark.parametrize("recipe", [True, *T.AUGMENTATIONS.ordered()])
@pytest.mark.parametrize("seed", range(5))
def test_augment_keeps_image_and_mask_aligned(seed, recipe):
    image, mask = blocks(64, 96)
    img, m = T.prepare(image, mask, (32, 48), augment=recipe, rng=np.random.default_rng(seed))
    assert img.shape == (32, 48, 3) and m.shape == (32, 48)
    assert set(np.unique(m)) <= {0, 1, 2, 255}
    # Colour jitter changes red levels but keeps their order: class means must increase with the class.
    red = img[..., 0].astype(float)
    means = [red[m == k].mean() for k in (0, 1, 2) if (m == k).sum() > 20]
    assert means == sorted(means)


def test_augment_is_reproducible_from_the_rng():
    image, mask = blocks()
    a = T.prepare(image, mask, (16, 24), augment=True, rng=np.random.default_rng(7))
    b = T.prepare(image, mask, (16, 24), augment=True, rng=np.random.default_rng(7))
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()


def test_color_jitter_touches_the_image_only_and_identity_at_zero():
    image, _ = blocks()
    rng = np.random.default_rng(0)
    assert (T.color_jitter(image, rng, 0, 0, 0) == image).all()
    out = T.color_jitter(image, rng, 0.5, 0.5, 0.5)
    assert out.shape == image.shape and out.dtype == np.uint8 and not (out == image).all()


def test_evaluation_resizes_only():
    image, mask = blocks()
    img, m = T.prepare(image, mask, (16, 24))
    ref_img, ref_m = T.resize(image, mask, (16, 24))
    assert (img == ref_img).all() and (m == ref_m).all()
    same = T.prepare(image, mask)
    assert same[0] is not None and (same[0] == image).all()


def test_augment_recipes_by_name():
    assert T.augment_policy(False) is None and T.augment_policy("none") is None
    assert T.augment_policy(True) == T.AUGMENTATIONS.get(T.DEFAULT_AUGMENT)
    light = T.augment_policy("light")
    assert light.flip and light.scale and light.scale[1] < T.augment_policy("scale-crop").scale[1]
    with pytest.raises(UserError, match="unknown augmentation 'strong'.*flip, light, none, scale-crop"):
        T.augment_policy("strong")


def test_flip_recipe_only_flips():
    image, mask = blocks(32, 48)
    seen = set()
    for seed in range(8):
        img, m = T.prepare(image, mask, (32, 48), augment="flip", rng=np.random.default_rng(seed))
        flipped = (m == mask[:, ::-1]).all() and (img == image[:, ::-1]).all()
        assert flipped or ((m == mask).all() and (img == image).all())
        seen.add(bool(flipped))
    assert seen == {True, False}


@pytest.mark.parametrize("size, augment, original, expected", [
    (None, False, (100, 100), None), ((10, 20), False, (100, 100), (10, 20)),
    ((10, 20), "scale-crop", (100, 100), (15, 30)), ((10, 20), "scale-crop", (12, 18), (12, 18)),
    ((10, 20), "light", (100, 100), (13, 25)), ((10, 20), "flip", (100, 100), (10, 20))])
def test_work_size(size, augment, original, expected):
    assert T.work_size(size, augment, original) == expected


def test_to_tensor_and_normalize_by_hand():
    image = np.array([[[0, 51, 255]]], np.uint8)
    t = T.to_tensor(image)
    assert t.shape == (3, 1, 1) and t.dtype == torch.float32
    assert t.flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])
    n = T.normalize(t, (0.5, 0.2, 0.5), (0.5, 0.1, 0.25))
    assert n.flatten().tolist() == pytest.approx([-1.0, 0.0, 2.0])


# --- augmentation through the DataLoader ----------------------------------------------------------------
@pytest.mark.parametrize("workers", [0, 1, 2])
def test_workers_augment_each_epoch_like_the_main_process(workers):
    """The epoch travels with the sampled indices: workers started once give, at every epoch, the items the
    main process makes for that epoch (augmentation seeded by (seed, epoch, index)), and epochs differ."""
    from segcompare.data import get_dataset
    from segcompare.data.loader import make_loader, set_epoch

    ds = get_dataset("synthetic-pets", "train", size=(24, 24), augment=True, length=6)
    loader = make_loader(ds, batch_size=2, shuffle=True, workers=workers, seed=5)
    pids, by_epoch = set(), []
    for epoch in (0, 1, 2):
        set_epoch(loader, epoch)
        order = loader.sampler.indices()
        images, masks = (torch.cat(parts) for parts in zip(*loader))
        ds.epoch = epoch  # the reference: this process's copy, set by hand (the workers never see it)
        for k, i in enumerate(order):
            x, y = ds[i]
            assert torch.equal(images[k], x) and torch.equal(masks[k], y), (epoch, i)
        by_epoch.append(images[sorted(range(len(order)), key=order.__getitem__)])
        pids |= {w.pid for w in loader._iterator._workers} if workers else set()
    assert len(pids) == workers  # the same worker processes served all three epochs
    assert not torch.equal(by_epoch[0], by_epoch[1]) and not torch.equal(by_epoch[1], by_epoch[2])
