"""Property-based tests of the upload decoder: any bytes -> an RGB uint8 picture or a `UserError`, nothing else.

`segcompare.images.load_image` is the only code that touches what a stranger uploads. Hypothesis feeds it
arbitrary bytes and valid PNG/JPEG/GIF/WebP/BMP/TIFF files with flipped bytes, cuts and splices (the
mutations that find decoder crashes); whatever it gets, it must return an upright RGB uint8 [H, W, 3]
array or raise `UserError` with a one-line message - never another exception type.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from helpers import png_bytes
from PIL import Image

from segcompare.errors import UserError
from segcompare.images import load_image

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # PIL warns about every broken EXIF block
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Mutations may turn a 16x12 header into a 40-megapixel one; the smaller limit keeps each example fast
# (the size check is the same code path whatever the limit).
LIMIT = 2_000_000
# SEGCOMPARE_FUZZ_EXAMPLES=5000 for a longer hunt; no example database (it would litter the checkout), and a
# failure prints the blob that reproduces it.
FUZZ = settings(max_examples=int(os.environ.get("SEGCOMPARE_FUZZ_EXAMPLES", "300")), deadline=None,
                database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])


def encoded(fmt: str, mode: str = "RGB", **kw) -> bytes:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))
    im = rgb.convert(mode) if mode != "P" else rgb.quantize(8)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


SEEDS = {
    "png": encoded("PNG"), "png_palette": encoded("PNG", "P", transparency=0), "png_la": encoded("PNG", "LA"),
    "png_interlaced": encoded("PNG", interlace=1), "jpeg": encoded("JPEG", quality=80),
    "jpeg_progressive": encoded("JPEG", progressive=True), "jpeg_cmyk": encoded("JPEG", "CMYK"),
    "gif": encoded("GIF", "P"), "webp": encoded("WEBP"), "bmp": encoded("BMP"), "tiff": encoded("TIFF"),
    "tiff_deflate": encoded("TIFF", compression="tiff_adobe_deflate"),
}


def check(data: bytes, max_pixels: int = LIMIT) -> None:
    """The property: a valid RGB picture, or a UserError whose message is one line."""
    try:
        out = load_image(data, max_pixels=max_pixels)
    except UserError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    assert out.ndim == 3 and out.shape[2] == 3 and out.shape[0] >= 1 and out.shape[1] >= 1
    assert out.shape[0] * out.shape[1] <= max_pixels


@st.composite
def mutated(draw) -> bytes:
    """A valid seed file with 1-8 edits: overwrite bytes, cut the tail, delete or duplicate a slice."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 8))):
        n = len(data)
        if n < 2:
            break
        op = draw(st.sampled_from(["flip", "set", "cut", "delete", "duplicate", "header"]))
        i = draw(st.integers(0, n - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif op == "cut":
            del data[i:]
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 64))]
        elif op == "duplicate":
            data[i:i] = data[i:i + draw(st.integers(1, 64))]
        else:  # the first 64 bytes hold sizes, modes and chunk lengths: the decoders' riskiest fields
            data[min(i, 63)] = draw(st.integers(0, 255))
    return bytes(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data):
    check(data)


@FUZZ
@given(st.sampled_from(sorted(SEEDS)).flatmap(lambda k: st.just(SEEDS[k][:8])), st.binary(max_size=512))
def test_valid_magic_then_garbage(magic, rest):
    check(magic + rest)


@FUZZ
@given(mutated())
def test_mutated_valid_files(data):
    check(data)


@FUZZ
@given(st.integers(0, 70_000), st.integers(0, 70_000), st.sampled_from([(8, 2), (16, 2), (8, 0), (16, 0), (1, 0),
                                                                         (8, 6), (8, 4), (8, 3), (3, 2), (8, 7)]),
       st.binary(max_size=256))
def test_hand_made_png_headers(width, height, depth_color, rows):
    """Any declared size and (possibly invalid) depth/colour type, with too little or random pixel data."""
    check(png_bytes(width, height, *depth_color, rows))


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_decodes(name):
    """The seeds themselves are valid: the mutation tests start from pictures that decode."""
    out = load_image(SEEDS[name])
    assert out.shape == (12, 16, 3) and out.dtype == np.uint8
