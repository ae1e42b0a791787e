"""The procedural datasets synthetic-pets and synthetic-streets: determinism, shapes, labels, options."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from segcompare.data import get_dataset
from segcompare.data.synthetic import SyntheticPets
from segcompare.data.synthetic_draw import dilate
from segcompare.data.synthetic_pets import BOUNDARY, PET, trimap
from segcompare.errors import UserError

SPECS = {"synthetic-pets": (3, (160, 160)), "synthetic-streets": (8, (128, 256))}


@pytest.mark.parametrize("spec", SPECS)
def test_same_index_same_arrays(spec):
    a = get_dataset(spec, "train", length=5)
    b = get_dataset(spec, "train", length=5)
    for i in (0, 4):
        img1, m1 = a.load(i)
        img2, m2 = b.load(i)
        np.testing.assert_array_equal(img1, img2)
        np.testing.assert_array_equal(m1, m2)


@pytest.mark.parametrize("spec", SPECS)
def test_seed_split_and_index_change_the_image(spec):
    base = get_dataset(spec, "train").load(0)[0]
    others = [get_dataset(spec, "train", seed=1).load(0)[0], get_dataset(spec, "val").load(0)[0],
              get_dataset(spec, "test").load(0)[0], get_dataset(spec, "train").load(1)[0]]
    for other in others:
        assert not np.array_equal(base, other)


@pytest.mark.parametrize("spec", SPECS)
def test_default_size_and_lengths(spec):
    _, size = SPECS[spec]
    for split, n in (("train", 1000), ("val", 100), ("test", 100)):
        assert len(get_dataset(spec, split)) == n
    img, mask = get_dataset(spec, "test").load(0)
    assert img.shape == (*size, 3) and mask.shape == size


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("size", [(70, 90), (33, 57), (256, 256), (8, 8)])
def test_any_size_generated_directly(spec, size):
    ds = get_dataset(spec, "val", size=size, length=2)
    img, mask = ds.load(1)
    assert img.shape == (*size, 3) and img.dtype == np.uint8
    assert mask.shape == size and mask.dtype == np.uint8
    x, y = ds[1]
    assert x.shape == (3, *size) and x.dtype == torch.float32
    assert y.shape == size and y.dtype == torch.int64
    np.testing.assert_array_equal(y.numpy(), mask)  # generated at the size: no resize happened


@pytest.mark.parametrize("spec", SPECS)
def test_labels_in_range_and_every_class_appears(spec):
    num_classes, _ = SPECS[spec]
    ds = get_dataset(spec, "test", size=(96, 160), length=20)
    seen = np.zeros(num_classes, bool)
    for i in range(len(ds)):
        mask = ds.load(i)[1]
        assert mask.max() < num_classes
        seen |= np.bincount(mask.ravel(), minlength=num_classes) > 0
    assert seen.all(), [c for c, s in zip(ds.classes, seen) if not s]
    assert len(ds.classes) == len(ds.palette) == num_classes


def test_street_classes_are_common_not_lucky():
    """Poles (object) and people (human) are in most scenes, so every model sees thin and small things."""
    ds = get_dataset("synthetic-streets", "train", length=20)
    masks = [ds.load(i)[1] for i in range(len(ds))]
    for cls in ("object", "human", "vehicle", "sky", "flat"):
        k = ds.classes.index(cls)
        assert sum((m == k).any() for m in masks) >= 15, cls


def test_trimap_band_on_a_square_by_hand():
    pet = np.zeros((12, 12), bool)
    pet[3:9, 3:9] = True
    out = trimap(pet, side=160)  # width 3 px at 160: one pixel in, two pixels out
    expected = np.zeros((12, 12), np.uint8)
    expected[1:11, 1:11] = BOUNDARY
    expected[4:8, 4:8] = PET
    np.testing.assert_array_equal(out, expected)


def test_trimap_band_scales_with_size_and_ignores_frame_edge():
    pet = np.zeros((40, 40), bool)
    pet[:20, 10:30] = True  # touches the top edge of the frame
    out = trimap(pet, side=320)  # width 5: two pixels in, three out
    assert (out[:18, 12:28] == PET).all()  # no band along the frame edge, like the real trimaps
    assert (out[18:23, 12:28] == BOUNDARY).all() and (out[:23, 7:10] == BOUNDARY).all()
    assert (out[23:, :] == 0).all() and (out[:, :7] == 0).all()


@pytest.mark.parametrize("size", [(160, 160), (70, 90), (256, 256)])
def test_boundary_band_separates_pet_from_background(size):
    ds = get_dataset("synthetic-pets", "train", size=size, length=6)
    for i in range(len(ds)):
        mask = ds.load(i)[1]
        assert (mask == PET).any() and (mask == BOUNDARY).any()
        for a, b in ((mask[1:], mask[:-1]), (mask[:, 1:], mask[:, :-1])):
            touching = ((a == PET) & (b == 0)) | ((a == 0) & (b == PET))
            assert not touching.any(), f"image {i}: pet pixel next to background"
        # the band is a thin ring along the edge: nearly every band pixel is within 3 px of the pet or of the
        # background (narrow gaps between legs and thin tails are all band, so not every single one)
        band = mask == BOUNDARY
        near = dilate(mask == PET, 3) | dilate(mask == 0, 3)
        assert near[band].mean() > 0.9 and band.sum() < (mask == PET).sum(), f"image {i}"


def test_test_split_is_fixed_across_processes():
    code = ("import hashlib; from segcompare.data import get_dataset; "
            "img, m = get_dataset('synthetic-pets', 'test').load(0); "
            "print(hashlib.sha256(img.tobytes() + m.tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "123"}).stdout.strip()
    img, m = get_dataset("synthetic-pets", "test").load(0)
    assert out == hashlib.sha256(img.tobytes() + m.tobytes()).hexdigest()


def test_length_option():
    ds = get_dataset("synthetic-pets", "train", length=7)
    assert len(ds) == 7
    with pytest.raises(IndexError):
        ds[7]
    assert len(get_dataset("synthetic-streets", "test", length="5")) == 5  # as parsed from a command line
    for bad in (0, -3, "many", 2.5):
        with pytest.raises(UserError, match="length"):
            get_dataset("synthetic-pets", "train", length=bad)


@pytest.mark.parametrize("spec", ["synthetic-pets:/x", "synthetic-streets:data/streets"])
def test_root_is_refused(spec):
    with pytest.raises(UserError, match="takes no folder"):
        get_dataset(spec)


def test_bad_options_are_user_errors():
    with pytest.raises(UserError, match="unknown option 'colour'.*length, seed"):
        get_dataset("synthetic-pets", colour="red")
    with pytest.raises(UserError, match="seed"):
        get_dataset("synthetic-pets", seed=-1)
    with pytest.raises(UserError, match="too small"):
        get_dataset("synthetic-streets", size=(4, 64))
    with pytest.raises(UserError, match="split"):
        SyntheticPets(split="dev")


@pytest.mark.parametrize("spec", SPECS)
def test_augment_gives_requested_size(spec):
    num_classes, _ = SPECS[spec]
    ds = get_dataset(spec, "train", size=(64, 96), augment="scale-crop", length=3)  # always changes the image
    for i in range(3):
        x, y = ds[i]
        assert x.shape == (3, 64, 96) and y.shape == (64, 96)
        values = set(y.unique().tolist())
        assert values <= set(range(num_classes)) | {255}
    ds.epoch = 1
    assert not torch.equal(ds[0][0], get_dataset(spec, "train", size=(64, 96), augment="scale-crop", length=3)[0][0])


def test_unnormalized_image_is_the_generated_rgb():
    ds = get_dataset("synthetic-streets", "val", normalize=False, length=2)
    x, _ = ds[1]
    np.testing.assert_allclose(x.permute(1, 2, 0).numpy() * 255, ds.load(1)[0], atol=1e-3)


def test_names_are_stable_and_carry_the_seed():
    assert get_dataset("synthetic-pets", "test").name(3) == "test_00003"
    assert get_dataset("synthetic-pets", "test", seed=4).name(3) == "test_s4_00003"
    info = get_dataset("synthetic-streets", "test").info()
    assert info["dataset"] == "synthetic-streets" and info["classes"][0] == "void"


def test_dilate_is_a_square_by_hand():
    dot = np.zeros((5, 5), bool)
    dot[2, 2] = True
    expected = np.zeros((5, 5), bool)
    expected[1:4, 1:4] = True
    np.testing.assert_array_equal(dilate(dot, 1), expected)
    assert dilate(dot, 2).all()
