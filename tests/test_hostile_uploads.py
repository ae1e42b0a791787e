"""What the world uploads, through the real HTTP API: every file gets a result or a friendly message.

The corpus is made by the tests (no committed binaries): empty and random files, truncated JPEG/PNG, a
30 000 x 30 000 PNG "decompression bomb" whose header is written by hand (a few hundred bytes on disk),
1x1 and 10000x40 pictures, 16-bit, CMYK, palette-with-transparency and LA images, an animated GIF, a WebP,
an EXIF-rotated photo, SVG and HTML renamed .png, and a valid 6000x4000 JPEG. Each goes to `/compare` of a
launched app (gradio_client), which must answer with model overlays or a one-line message - never the
"something went wrong" of an unexpected exception - while the server's peak memory (VmHWM of this process,
which hosts the server) grows by less than `PEAK_GROWTH_MB`, and the next normal request still works.
"""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers import png_bytes
from PIL import Image

pytest_plugins = ["conftest_app"]

from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

# A generous bound on the server's peak memory growth for one upload. The worst case is the valid
# 6000x4000 JPEG: its pixels (72 MB) are decoded a few times over (PIL, RGB copy, rotation); a decoded bomb
# (30 000 x 30 000 x 3 = 2.7 GB) would blow through it.
PEAK_GROWTH_MB = 1536
LEAK_MB = 300  # RSS growth allowed between the first and the last of three rounds of the heavy uploads
MODELS = 3  # the fixture's "pets" task
NOT_IMAGE = "not an image we can read"
CORRUPT = "corrupt or truncated"
TOO_LARGE = "too large"


# --- the corpus ------------------------------------------------------------------------------------------
def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """A smooth picture with some texture: compresses like a photo (the 6000x4000 JPEG stays ~2 MB)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([x / max(w, 1) * 255, y / max(h, 1) * 255, (np.sin(x / 37 + seed) + 1) * 127], axis=2)
    return Image.fromarray(rgb.astype(np.uint8))


def png_bomb(side: int = 30_000) -> bytes:
    """A PNG that declares side x side RGB pixels; its IDAT is one compressed zero row (tiny on disk)."""
    return png_bytes(side, side, 8, 2, b"\0" * (1 + 3 * side))


def png_rgb16() -> bytes:
    """A 16-bit-per-channel RGB PNG (PIL cannot write one): a horizontal ramp 0 .. 65535 in red."""
    w, h = 32, 8
    red = np.linspace(0, 65535, w).astype(">u2")
    px = np.zeros((h, w, 3), ">u2")
    px[:, :, 0] = red
    rows = b"".join(b"\0" + px[r].tobytes() for r in range(h))
    return png_bytes(w, h, 16, 2, rows)


def gray16() -> bytes:
    a = np.tile(np.linspace(0, 65535, 40).astype(np.uint16), (10, 1))
    return _encode(Image.fromarray(a), "PNG")


def palette_with_transparency() -> bytes:
    im = Image.new("P", (20, 10), 1)
    im.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    im.paste(0, (0, 0, 10, 10))  # index 0 (left half) is transparent
    return _encode(im, "PNG", transparency=0)


def la_image() -> bytes:
    a = np.zeros((10, 20, 2), np.uint8)
    a[:, :, 0] = 40
    a[:, 10:, 1] = 255  # left half fully transparent, right half opaque dark grey
    return _encode(Image.fromarray(a, "LA"), "PNG")


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (24, 16), c).convert("P") for c in ("red", "blue", "green")]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def exif_rotated() -> bytes:
    """Stored 80x40, left half red and right half blue, EXIF orientation 6 (turn 90 degrees clockwise)."""
    a = np.zeros((40, 80, 3), np.uint8)
    a[:, :40] = (255, 0, 0)
    a[:, 40:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(Image.fromarray(a), "JPEG", quality=95, exif=exif.tobytes())


def truncated(fmt: str) -> bytes:
    data = _encode(_photo(200, 150), fmt)
    return data[: len(data) // 2]


SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
       b'<script>alert(1)</script><rect width="100" height="100" fill="red"/></svg>')
HTML = b"<!doctype html><html><body><img src=x onerror=alert(1)><h1>not a picture</h1></body></html>"

# name -> (file name, bytes factory, expected: a message pattern, or the (W, H) of the shown image)
CORPUS = {
    "zero_bytes": ("empty.png", lambda: b"", NOT_IMAGE),
    "random_bytes": ("noise.jpg", lambda: np.random.default_rng(1).bytes(5000), NOT_IMAGE),
    "truncated_jpeg": ("cut.jpg", lambda: truncated("JPEG"), CORRUPT),
    "truncated_png": ("cut.png", lambda: truncated("PNG"), CORRUPT),
    "png_bomb_30000": ("bomb.png", png_bomb, TOO_LARGE),
    "svg_as_png": ("drawing.png", lambda: SVG, NOT_IMAGE),
    "html_as_png": ("page.png", lambda: HTML, NOT_IMAGE),
    "one_pixel": ("dot.png", lambda: _encode(Image.new("RGB", (1, 1), "red"), "PNG"), (1, 1)),
    "10000x40": ("strip.png", lambda: _encode(_photo(10_000, 40), "PNG"), (1024, 4)),
    "gray_16bit": ("gray16.png", gray16, (40, 10)),
    "rgb_16bit": ("rgb16.png", png_rgb16, (32, 8)),
    "cmyk_jpeg": ("cmyk.jpg", lambda: _encode(_photo(60, 40).convert("CMYK"), "JPEG"), (60, 40)),
    "palette_transparent": ("palette.png", palette_with_transparency, (20, 10)),
    "la": ("la.png", la_image, (20, 10)),
    "animated_gif": ("anim.gif", animated_gif, (24, 16)),
    "webp": ("photo.webp", lambda: _encode(_photo(50, 30), "WEBP"), (50, 30)),
    "exif_rotated": ("phone.jpg", exif_rotated, (40, 80)),
    "jpeg_6000x4000": ("big.jpg", lambda: _encode(_photo(6000, 4000), "JPEG", quality=85), (1024, 683)),
}


# --- memory of this process (the server runs in it) --------------------------------------------------------
def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return status_kb("VmHWM") <= status_kb("VmRSS") + 1024


# --- helpers ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    paths = {}
    for name, (filename, make, _) in CORPUS.items():
        paths[name] = folder / name / filename
        paths[name].parent.mkdir()
        paths[name].write_bytes(make())
    return paths


def compare(client, path: Path):
    return client.predict(handle_file(str(path)), "pets", api_name="/compare")


def shown_image(client) -> np.ndarray:
    """The picture as the app shows it (the first reference item), after the last /compare."""
    reference, _, _ = client.predict(api_name="/compare_details")
    return np.asarray(Image.open(reference[0]["image"]).convert("RGB"))


def normal_request_works(client, tmp_path: Path, seed: int) -> None:
    """A fresh ordinary picture (new pixels, so the models really run) gets every model's overlay."""
    path = tmp_path / f"normal_{seed}.png"
    _photo(72, 48, seed).save(path)
    gallery, table = compare(client, path)
    assert len(gallery) == MODELS and len(table["data"]) == MODELS
    assert all(Image.open(g["image"]).size == (72, 48) for g in gallery)


def check_answer(client, name: str, path: Path, expected) -> None:
    if isinstance(expected, str):
        with pytest.raises(AppError) as err:
            compare(client, path)
        message = str(err.value)
        assert re.search(expected, message), f"{name}: {message!r}"
        assert "\n" not in message.strip() and "Traceback" not in message
        assert "went wrong on our side" not in message  # that is the message of an unexpected exception
        return
    gallery, table = compare(client, path)
    assert len(gallery) == MODELS
    assert all(Image.open(g["image"]).size == expected for g in gallery), name
    assert [row[0] for row in table["data"]] and all(row[1] > 0 for row in table["data"])
    assert shown_image(client).shape[:2] == expected[::-1]


# --- tests -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CORPUS))
def test_upload_gets_a_result_or_a_friendly_message(client, corpus, tmp_path, name):
    normal_request_works(client, tmp_path, seed=100)  # models loaded: later growth is this upload's own
    measured = reset_peak()
    before = status_kb("VmRSS")
    check_answer(client, name, corpus[name], CORPUS[name][2])
    growth_mb = (status_kb("VmHWM") - before) / 1024
    print(f"{name}: peak RSS growth {growth_mb:.0f} MB")
    if measured:
        assert growth_mb < PEAK_GROWTH_MB, f"{name}: server peak memory grew by {growth_mb:.0f} MB"
    normal_request_works(client, tmp_path, seed=len(name))


def test_the_file_sizes_are_what_the_corpus_claims(corpus):
    """The bomb is tiny on disk yet declares 900 megapixels; the big JPEG is a real 24-megapixel file."""
    data = corpus["png_bomb_30000"].read_bytes()
    assert len(data) < 1000 and struct.unpack(">II", data[16:24]) == (30_000, 30_000)  # IHDR width, height
    with Image.open(corpus["jpeg_6000x4000"]) as im:
        assert im.size == (6000, 4000)
    assert corpus["jpeg_6000x4000"].stat().st_size < 25 * 2**20  # under the app's upload limit


def test_upload_over_the_size_limit_is_refused_by_the_server(client, server, tmp_path):
    """gradio_client refuses it before sending, so post it by hand: the server answers 413, keeps serving."""
    import httpx

    body = b"\xff\xd8\xff" + bytes(26 * 2**20)  # the app's limit is 25 MB
    reply = httpx.post(server[0] + "gradio_api/upload", files={"files": ("huge.jpg", body, "image/jpeg")},
                       timeout=60)
    assert reply.status_code == 413, (reply.status_code, reply.text[:200])
    normal_request_works(client, tmp_path, seed=300)


def test_exif_rotation_is_applied_to_what_the_models_see(client, corpus):
    compare(client, corpus["exif_rotated"])
    img = shown_image(client).astype(int)
    assert img.shape == (80, 40, 3)  # upright: portrait
    top, bottom = img[:30].reshape(-1, 3).mean(0), img[50:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 60, top  # the stored left half (red) is now on top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


def test_transparency_and_depth_are_shown_as_a_browser_would(client, corpus):
    compare(client, corpus["palette_transparent"])
    img = shown_image(client)
    assert img[5, 2].tolist() == [255, 255, 255] and img[5, 15].tolist() == [200, 30, 30]
    compare(client, corpus["la"])
    img = shown_image(client)
    assert img[5, 2].tolist() == [255, 255, 255] and img[5, 15].tolist() == [40, 40, 40]
    compare(client, corpus["gray_16bit"])
    ramp = shown_image(client)[5, :, 0].astype(int)
    assert ramp[0] == 0 and ramp[-1] == 255 and np.all(np.diff(ramp) >= 0)  # scaled, not clipped at 255
    compare(client, corpus["rgb_16bit"])
    red = shown_image(client)[4, :, 0].astype(int)
    assert red[0] == 0 and red[-1] == 255 and np.all(np.diff(red) >= 0)


def test_animated_gif_shows_its_first_frame(client, corpus):
    compare(client, corpus["animated_gif"])
    r, g, b = shown_image(client).reshape(-1, 3).mean(0)
    assert r > 200 and g < 40 and b < 40


def test_heavy_uploads_do_not_leak(client, corpus, tmp_path):
    """Three rounds of the bomb and the 24-megapixel JPEG: memory settles after the first round."""
    after = []
    for round_ in range(3):
        check_answer(client, "png_bomb_30000", corpus["png_bomb_30000"], TOO_LARGE)
        check_answer(client, "jpeg_6000x4000", corpus["jpeg_6000x4000"], (1024, 683))
        normal_request_works(client, tmp_path, seed=200 + round_)
        after.append(status_kb("VmRSS") / 1024)
    print("RSS after each round (MB):", [round(a) for a in after])
    assert after[-1] - after[0] < LEAK_MB, after
