"""User images in every shape and mode, and the Predictor (lazy loading, sizes, cache), on tiny inputs."""

from __future__ import annotations

import io
import os
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from segcompare import visualize as viz
from segcompare.errors import UserError
from segcompare.images import fit_within, image_key, load_image, load_mask, save_picture, save_png
from segcompare.inference import LRU, Predictor, class_map, model_input_size, prepare, run_model, softmax_max

pytest_plugins = ["conftest_app"]


# --- images ------------------------------------------------------------------------------------------------

def saved(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode,fmt", [("RGB", "PNG"), ("RGBA", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("P", "GIF"),
                                      ("CMYK", "JPEG"), ("I;16", "PNG"), ("1", "BMP"), ("RGB", "WEBP"),
                                      ("F", "TIFF")])
def test_any_mode_becomes_rgb_uint8(mode, fmt):
    im = Image.new(mode, (7, 5))
    out = load_image(saved(im, fmt))
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8


def test_16_bit_is_scaled_not_clipped():
    a = np.full((2, 3), 65535, np.uint16)
    a[0, 0] = 0
    out = load_image(saved(Image.fromarray(a)))
    assert out[1, 1].tolist() == [255, 255, 255] and out[0, 0].tolist() == [0, 0, 0]


def test_transparent_pixels_become_white():
    im = Image.new("RGBA", (2, 1), (10, 20, 30, 255))
    im.putpixel((1, 0), (10, 20, 30, 0))
    out = load_image(saved(im))
    assert out[0, 0].tolist() == [10, 20, 30] and out[0, 1].tolist() == [255, 255, 255]


@pytest.mark.parametrize("fmt", ["JPEG", "MPO", "PNG"])
def test_large_jpegs_decode_at_a_reduced_scale_never_below_max_side(fmt):
    rgb = np.zeros((1500, 2600, 3), np.uint8)
    rgb[:, 1300:] = (200, 30, 30)
    extra = {"save_all": True, "append_images": [Image.fromarray(rgb)]} if fmt == "MPO" else {}
    data = saved(Image.fromarray(rgb), fmt, **extra)
    assert Image.open(io.BytesIO(data)).format == fmt
    full = load_image(data)
    small = load_image(data, max_side=600)
    assert full.shape == (1500, 2600, 3)
    if fmt == "PNG":  # only libjpeg can decode at a smaller scale
        assert small.shape == full.shape
    else:
        assert small.shape == (750, 1300, 3)  # 1/2: 1/4 would be 375 px high, under 600
        assert abs(int(small[10, 1000, 0]) - 200) < 8 and abs(int(small[10, 300, 0])) < 8
    assert load_image(data, max_side=4000).shape == full.shape


def test_exif_rotation_is_applied():
    im = Image.new("RGB", (8, 4), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    out = load_image(saved(im, "JPEG", exif=exif.tobytes()))
    assert out.shape == (8, 4, 3)


def test_bomb_is_refused_from_the_header(tmp_path):
    path = tmp_path / "big.png"
    Image.new("1", (3000, 3000)).save(path)  # 9 megapixels, a few KB on disk
    with pytest.raises(UserError, match=r"too large: 3000x3000 pixels .* limit 1\b"):
        load_image(path, max_pixels=1_000_000)
    assert load_image(path).shape == (3000, 3000, 3)


@pytest.mark.parametrize("data,message", [(b"", "not an image"), (b"GIF89a" + b"\0" * 5, "not an image|corrupt"),
                                          (saved(Image.new("RGB", (32, 32)))[:50], "corrupt or truncated")])
def test_broken_files_get_one_friendly_line(data, message):
    with pytest.raises(UserError, match=message) as err:
        load_image(data)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_image(tmp_path / "nope.png")


@pytest.mark.parametrize("array,shape", [(np.zeros((4, 5), np.uint8), (4, 5, 3)),
                                         (np.ones((4, 5, 1), np.float32), (4, 5, 3)),
                                         (np.zeros((4, 5, 4), np.uint8), (4, 5, 3))])
def test_arrays(array, shape):
    out = load_image(array)
    assert out.shape == shape and out.dtype == np.uint8
    assert load_image(np.ones((2, 2), np.float32))[0, 0, 0] == 255


def test_bad_array_shape():
    with pytest.raises(UserError, match="HxW"):
        load_image(np.zeros((4, 5, 2), np.uint8))


def test_image_key_depends_on_pixels_not_encoding():
    rgb = np.random.default_rng(0).integers(0, 255, (6, 7, 3), dtype=np.uint8)
    png = load_image(saved(Image.fromarray(rgb), "PNG"))
    bmp = load_image(saved(Image.fromarray(rgb), "BMP"))
    assert image_key(png) == image_key(bmp) == image_key(rgb)
    assert image_key(rgb[:, :6]) != image_key(rgb)


@pytest.mark.parametrize("hw,cap,out", [((100, 50), 1024, (100, 50)), ((3000, 1500), 1024, (1024, 512)),
                                        ((700, 1500), 1024, (478, 1024))])
def test_fit_within(hw, cap, out):
    assert fit_within(np.zeros((*hw, 3), np.uint8), cap).shape[:2] == out


def test_load_mask_resizes_with_nearest(tmp_path):
    m = np.array([[0, 1], [2, 255]], np.uint8)
    Image.fromarray(m, "L").save(tmp_path / "m.png")
    assert load_mask(tmp_path / "m.png").tolist() == m.tolist()
    assert set(np.unique(load_mask(tmp_path / "m.png", (4, 4))).tolist()) == {0, 1, 2, 255}
    Image.new("RGB", (2, 2)).save(tmp_path / "rgb.png")
    with pytest.raises(UserError, match="single-channel"):
        load_mask(tmp_path / "rgb.png")


def test_save_png_is_lossless_named_by_content_and_written_once(tmp_path):
    folder = tmp_path / "pngs"
    rgb = np.random.default_rng(0).integers(0, 255, (9, 13, 3), dtype=np.uint8)
    path = save_png(rgb, folder)
    with Image.open(path) as im:
        assert im.format == "PNG" and np.array_equal(np.asarray(im), rgb)
    assert save_png(rgb.copy(), folder) == path  # same pixels, same file
    other = rgb.copy()
    other[0, 0] ^= 1
    other_path = save_png(other, folder)
    assert other_path != path
    assert sorted(str(p) for p in folder.iterdir()) == sorted([path, other_path])  # no temporary files left


def blocky_labels(shape=(60, 80), k=5, seed=0) -> np.ndarray:
    """A mask as a model draws one: regions of classes (8x8 blocks, one cell ignored)."""
    blocks = np.random.default_rng(seed).integers(0, k, (shape[0] // 8 + 1, shape[1] // 8 + 1)).astype(np.uint8)
    labels = np.kron(blocks, np.ones((8, 8), np.uint8))[: shape[0], : shape[1]].copy()
    labels[:8, :8] = 255
    return labels


@pytest.mark.parametrize("source", ["labels", "rgb", "disagreement", "many colours"])
def test_save_picture_masks_are_lossless_palette_pngs(tmp_path, source):
    labels, palette = blocky_labels(), viz.default_palette(5)
    rgb = viz.colorize(labels, palette)
    picture, pal = {"labels": (labels, viz.colorize(np.arange(256, dtype=np.uint8), palette)),
                    "rgb": (rgb, None), "disagreement": (viz.disagreement_map([labels, labels[::-1]]), None),
                    "many colours": (np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8), None)
                    }[source]
    expected = rgb if source == "labels" else picture
    path = save_picture(picture, tmp_path, kind="mask", palette=pal)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == ("RGB" if source == "many colours" else "P")
        assert np.array_equal(np.asarray(im.convert("RGB")), expected)
    assert save_picture(picture.copy(), tmp_path, kind="mask", palette=pal) == path  # named by content


def test_save_picture_photos_are_jpegs_that_look_the_same(tmp_path):
    yy, xx = np.mgrid[:96, :128]
    photo = np.stack([xx * 2, yy * 2, (xx + yy)], -1).astype(np.uint8)
    overlay = viz.overlay(photo, blocky_labels((96, 128)), viz.default_palette(5), 0.55)
    path = save_picture(overlay, tmp_path, kind="photo")
    with Image.open(path) as im:
        assert im.format == "JPEG" and path.endswith(".jpg")
        error = np.abs(np.asarray(im).astype(int) - overlay).mean()
    assert error < 3  # of 255 levels: invisible
    assert save_picture(overlay, tmp_path) == path  # "auto": many colours are a photo
    flat = viz.colorize(blocky_labels(), viz.default_palette(5))
    assert save_picture(flat, tmp_path).endswith(".png")  # and few are a mask, never a JPEG
    with pytest.raises(UserError, match="unknown picture kind 'gif'; choose one of auto, photo, mask"):
        save_picture(overlay, tmp_path, kind="gif")
    with pytest.raises(UserError, match="palette"):
        save_picture(blocky_labels(), tmp_path, kind="mask")


# --- inference ---------------------------------------------------------------------------------------------

def reference_rendering(logits: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """How the app drew masks before the fast path: every logit upsampled to the shown size, softmax, max."""
    up = torch.nn.functional.interpolate(logits[None].float(), size=size, mode="bilinear", align_corners=False)
    return up.softmax(1).max(1)[1][0].to(torch.uint8).numpy()


def model_like_logits(k: int, h: int, w: int, seed: int, ties: bool) -> torch.Tensor:
    """Smooth class fields with a little pixel noise (as a segmentation head gives), optionally with two
    classes exactly equal over a region and a flat patch where every class ties."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, k, max(2, h // 12), max(2, w // 12), generator=g) * 6
    logits = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[0]
    logits = logits + 0.2 * torch.randn(k, h, w, generator=g)
    if ties and k > 1:
        logits[1, : h // 2] = logits[0, : h // 2]
        logits[:, h // 2:, : w // 3] = 1.5
    return logits.contiguous()


@pytest.mark.parametrize("k,hw,size", [(3, (64, 64), (240, 240)), (11, (60, 80), (512, 683)),
                                       (11, (60, 80), (45, 61)), (5, (33, 47), (100, 61)), (2, (40, 40), (40, 40)),
                                       (4, (64, 85), (30, 40)), (1, (16, 16), (50, 50)), (3, (7, 5), (1000, 3))])
@pytest.mark.parametrize("ties", [False, True])
def test_class_map_gives_the_same_class_at_every_pixel_as_the_reference(k, hw, size, ties):
    for seed in range(3):
        logits = model_like_logits(k, *hw, seed, ties)
        fast = class_map(logits, size)
        assert fast.shape == size and fast.dtype == np.uint8
        assert np.array_equal(fast, reference_rendering(logits, size)), (seed, int((fast != reference_rendering(
            logits, size)).sum()))


def test_confidence_is_computed_only_when_asked_and_is_the_reference_max_softmax():
    image = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    pred = run_model(RedIsClassOne(), {"input_size": [10, 10]}, image)
    assert pred._confidence is None  # a plain Compare never pays for it
    up = torch.nn.functional.interpolate(pred.logits[None], size=(30, 40), mode="bilinear", align_corners=False)
    assert np.array_equal(pred.confidence, up.softmax(1).max(1)[0][0].to(torch.float16).numpy())
    assert np.array_equal(softmax_max(pred.logits, (30, 40))[0], pred.mask)

@pytest.mark.parametrize("hw,size,out", [((480, 640), [64, 64], (64, 85)), ((640, 480), [64, 96], (85, 64)),
                                         ((32, 32), [64, 64], (64, 64)), ((100, 2000), [64, 64], (6, 128)),
                                         ((300, 400), None, (512, 683))])
def test_model_input_size(hw, size, out):
    assert model_input_size(hw, size) == out


def test_prepare_normalises_with_the_checkpoint_stats():
    image = np.full((4, 4, 3), 255, np.uint8)
    x = prepare(image, {"input_size": [4, 4], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.5, 1.0]})
    assert x.shape == (1, 3, 4, 4)
    assert x[0, :, 0, 0].tolist() == pytest.approx([2.0, 1.0, 0.5])


class RedIsClassOne(torch.nn.Module):
    """Logits by hand: class 1 where the red channel is bright, class 0 elsewhere (any input size)."""

    def forward(self, x):
        red = x[:, :1]
        return torch.cat([-4 * red, 4 * red], 1)


def test_run_model_returns_mask_and_confidence_at_the_shown_size():
    image = np.zeros((30, 40, 3), np.uint8)
    image[:, 20:, 0] = 255
    cfg = {"input_size": [10, 10], "mean": [0.5] * 3, "std": [0.5] * 3}
    pred = run_model(RedIsClassOne(), cfg, image)
    assert pred.mask.shape == (30, 40) and pred.mask.dtype == np.uint8
    assert pred.input_size == (10, 13)
    assert (pred.mask[:, :18] == 0).all() and (pred.mask[:, 22:] == 1).all()
    assert pred.confidence.shape == (30, 40) and float(pred.confidence.min()) >= 0.5
    assert float(pred.confidence.max()) <= 1.0 and pred.ms >= 0


def test_predictor_loads_lazily_once_and_caches_answers():
    calls = []

    def loader(path, device):
        calls.append(path)
        return RedIsClassOne(), {"input_size": [8, 8]}

    p = Predictor({"a": "dir/a", "b": "dir/b"}, loader=loader)
    assert p.loaded == [] and calls == []
    image = np.zeros((16, 16, 3), np.uint8)
    first = p.predict(image)
    assert sorted(first) == ["a", "b"] and calls == ["dir/a", "dir/b"]
    again = p.predict(image)
    assert all(again[k] is first[k] for k in first) and len(calls) == 2  # from the cache
    p.predict(image[:8])  # another picture: models run again, not loaded again
    assert len(calls) == 2
    with pytest.raises(UserError, match="unknown model 'c'.*a, b"):
        p.model("c")


class Recorded(RedIsClassOne):
    """A forward that says which path it is settled on (like Backend.kind) and records where and when it ran."""

    def __init__(self, onnx: bool, log: list):
        super().__init__()
        self.onnx, self.log = onnx, log

    def kind(self, shape):
        return "onnx" if self.onnx else None

    def forward(self, x):
        start = time.perf_counter()
        time.sleep(0.05)
        self.log.append((threading.current_thread().name, start, time.perf_counter()))
        return super().forward(x)


def test_predictor_runs_onnx_forwards_side_by_side_and_torch_forwards_on_one_thread():
    logs = {name: [] for name in "abc"}
    models = {"a": True, "b": True, "c": False}  # a and b settled on ONNX Runtime, c on torch

    def loader(path, device):
        return Recorded(models[path], logs[path]), {"input_size": [8, 8]}

    image = np.zeros((16, 16, 3), np.uint8)
    image[:, 8:, 0] = 255
    serial = Predictor({n: n for n in models}, loader=loader).predict(image)
    for log in logs.values():
        log.clear()
    p = Predictor({n: n for n in models}, loader=loader, workers=2)
    parallel = p.predict(image)
    assert all(np.array_equal(parallel[n].mask, serial[n].mask) for n in models)
    (ta, sa, ea), (tb, sb, eb), (tc, _, _) = logs["a"][0], logs["b"][0], logs["c"][0]
    assert ta.startswith("segcompare-onnx") and tb.startswith("segcompare-onnx") and ta != tb
    assert sa < eb and sb < ea  # the two ONNX forwards overlapped in time
    assert tc.startswith("segcompare-inference")
    assert p.threads == max(1, (os.cpu_count() or 1) // 2)


def test_lru_drops_the_least_recently_used():
    c = LRU(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1
    c.put("c", 3)
    assert c.get("b") is None and c.get("a") == 1 and len(c) == 2


def test_predictor_on_real_checkpoints(project):
    root = project / "checkpoints" / "pets"
    p = Predictor({"unet": root / "unet_resnet18", "segformer": root / "segformer_b0"})
    image = load_image(project / "samples" / "pets" / "cat_001.png")
    preds = p.predict(image)
    for pred in preds.values():
        assert pred.mask.shape == image.shape[:2] and int(pred.mask.max()) < 3
        assert pred.input_size == (64, 85)
        assert float(pred.confidence.min()) >= 1 / 3 - 1e-3
    assert sorted(p.loaded) == ["segformer", "unet"]
