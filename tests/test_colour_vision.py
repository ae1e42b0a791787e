"""Colour-blind safety of the correctness, disagreement and default class colours, measured.

Deuteranopia and protanopia are simulated with the Machado, Oliveira & Fernandes (2009) matrices at
severity 1.0, applied in linear RGB. Colour difference is CIEDE2000 (skimage.color.deltaE_ciede2000) in
CIELAB (D65); ΔE 20 is a difference nobody misses at a glance, ~2 is the threshold of noticing.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab

from segcompare import figure_style as style
from segcompare import visualize as viz
from segcompare.data.folder import default_palette as folder_default_palette

# Machado et al. 2009, Table of simulation matrices, severity 1.0 (rows: output R, G, B)
MACHADO = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "normal vision": np.eye(3),
}
VISIONS = list(MACHADO)
MIN_DELTA_E = 20.0


def to_linear(rgb) -> np.ndarray:
    """sRGB 0-255 -> linear light 0-1 (the IEC 61966-2-1 curve)."""
    c = np.asarray(rgb, np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def to_srgb(linear) -> np.ndarray:
    """Linear light -> sRGB 0-1, clipped to the gamut (the matrices can step slightly outside it)."""
    c = np.clip(np.asarray(linear, np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def simulate(rgb, vision: str) -> np.ndarray:
    """How a viewer with `vision` sees sRGB 0-255 colour(s) [..., 3], as sRGB 0-1."""
    return to_srgb(to_linear(rgb) @ MACHADO[vision].T)


def delta_e(a, b, vision: str) -> float:
    """CIEDE2000 between two sRGB 0-255 colours as seen with `vision`."""
    lab = rgb2lab(np.stack([simulate(a, vision), simulate(b, vision)])[None])[0]
    return float(deltaE_ciede2000(lab[0], lab[1]))


def min_pair(colors, vision: str) -> tuple[float, tuple, tuple]:
    """The closest pair of `colors` for `vision`: (ΔE, colour, colour)."""
    return min((delta_e(a, b, vision), tuple(map(int, a)), tuple(map(int, b)))
               for a, b in itertools.combinations(colors, 2))


# --- the simulation itself ---------------------------------------------------------------------------------

@pytest.mark.parametrize("vision", VISIONS)
@pytest.mark.parametrize("grey", [0, 64, 128, 200, 255])
def test_greys_look_the_same_to_everyone(vision, grey):
    # every matrix row sums to 1, so achromatic colours (and white and black) are unchanged
    np.testing.assert_allclose(simulate([grey] * 3, vision) * 255, [grey] * 3, atol=0.05)


@pytest.mark.parametrize("vision", ["protanopia", "deuteranopia"])
@pytest.mark.parametrize("channel", [0, 1, 2])
def test_primary_maps_to_its_matrix_column(vision, channel):
    # pure sRGB primary = unit vector in linear light, so the simulated linear colour is one matrix column
    primary = np.zeros(3)
    primary[channel] = 255
    expected = to_srgb(MACHADO[vision][:, channel])
    np.testing.assert_allclose(simulate(primary, vision), expected, atol=1e-12)
    assert to_linear(to_srgb(MACHADO[vision][:, channel].clip(0, 1)) * 255) == pytest.approx(
        MACHADO[vision][:, channel].clip(0, 1), abs=1e-9)  # the sRGB curve round-trips


def test_red_green_collapses_as_reported_in_issue_19():
    # the issue measured the old correctness colours: ΔE 75 for normal vision, 9 under deuteranopia
    old_right, old_wrong = (40, 180, 70), (220, 40, 40)
    assert delta_e(old_right, old_wrong, "normal vision") == pytest.approx(75, abs=1)
    assert delta_e(old_right, old_wrong, "deuteranopia") == pytest.approx(9, abs=1)


def test_red_and_green_look_alike_but_blue_and_yellow_do_not():
    red, green, blue, yellow = (200, 60, 40), (90, 150, 40), (40, 90, 200), (230, 200, 40)
    for vision in ("protanopia", "deuteranopia"):
        assert delta_e(red, green, vision) < delta_e(red, green, "normal vision") / 2
        assert delta_e(blue, yellow, vision) > 0.8 * delta_e(blue, yellow, "normal vision")


# --- the app's colours -------------------------------------------------------------------------------------

@pytest.mark.parametrize("vision", VISIONS)
def test_correctness_colours_stay_apart(vision):
    colors = [viz.RIGHT, viz.WRONG, viz.IGNORE_COLOR]
    d, a, b = min_pair(colors, vision)
    assert d >= MIN_DELTA_E, f"{a} and {b} are only ΔE {d:.1f} apart for {vision}"


@pytest.mark.parametrize("vision", VISIONS)
@pytest.mark.parametrize("grey", [40, 128, 230])
def test_correctness_stays_apart_when_blended_over_a_grey_photo(vision, grey):
    # the app shows correctness at half opacity over a grey copy of the photo (viz.blend(viz.grayscale(...)))
    photo = np.full((1, 2, 3), grey, np.uint8)
    right, wrong = viz.blend(photo, np.array([[viz.RIGHT, viz.WRONG]], np.uint8), 0.5)[0]
    assert delta_e(right, wrong, vision) >= MIN_DELTA_E


@pytest.mark.parametrize("vision", VISIONS)
def test_every_disagreement_level_stays_apart(vision):
    d, a, b = min_pair(viz.AGREEMENT, vision)
    assert d >= MIN_DELTA_E, f"{a} and {b} are only ΔE {d:.1f} apart for {vision}"


def test_disagreement_ramp_darkens_with_more_answers():
    # order is readable without hue: lightness falls with every extra distinct answer, for every viewer
    for vision in VISIONS:
        lightness = rgb2lab(simulate(viz.AGREEMENT, vision)[None])[0, :, 0]
        assert (np.diff(lightness) < 0).all(), (vision, lightness)


@pytest.mark.parametrize("vision", VISIONS)
@pytest.mark.parametrize("k", [3, 8, 20])
@pytest.mark.parametrize("generate", [viz.default_palette, folder_default_palette], ids=["get_palette", "folder"])
def test_generated_class_palette_has_no_collapsing_pair(vision, k, generate):
    # 20 colours cannot all be ΔE 20 apart for a dichromat; 10 keeps neighbours in a mask tellable apart
    pal = np.asarray(generate(k))
    d, a, b = min_pair(pal, vision)
    assert d >= 10.0, f"{a} and {b} are only ΔE {d:.1f} apart for {vision}"


# --- text and borders on light and dark pages ---------------------------------------------------------------

def contrast(a, b) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (1 = none, 21 = black on white)."""
    lum = [float(to_linear(c) @ [0.2126, 0.7152, 0.0722]) for c in (a, b)]
    return (max(lum) + 0.05) / (min(lum) + 0.05)


def rgb(hex_colour: str) -> tuple:
    return tuple(int(hex_colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))


WHITE, GRADIO_DARK = (255, 255, 255), (11, 15, 25)  # Gradio's dark-mode page background is #0b0f19


@pytest.mark.parametrize("page", [WHITE, GRADIO_DARK])
@pytest.mark.parametrize("colour, floor", [(style.INK, 4.3), (viz.SWATCH_BORDER, 3.0)])
def test_grey_ink_and_swatch_borders_read_on_light_and_dark_pages(page, colour, floor):
    # 3:1 is WCAG's minimum for graphics and large text; no grey reaches 4.5:1 on both pages (4.38 at best)
    assert contrast(rgb(colour), page) >= floor


def test_contrast_on_known_values():
    assert contrast(WHITE, (0, 0, 0)) == pytest.approx(21.0)
    assert contrast((118, 118, 118), WHITE) == pytest.approx(4.54, abs=0.01)  # the classic "#767676 passes AA"
