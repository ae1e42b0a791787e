"""Palettes, overlays and maps, checked by hand on tiny arrays."""

from __future__ import annotations

import re

import numpy as np
import pytest

from segcompare import visualize as viz

PALETTE = np.array([[0, 0, 0], [255, 0, 0], [0, 0, 255]], np.uint8)


@pytest.mark.parametrize("k", [1, 3, 19, 40])
def test_default_palette_is_distinct_for_any_k(k):
    pal = viz.default_palette(k)
    assert pal.shape == (k, 3) and pal.dtype == np.uint8
    assert len({tuple(c) for c in pal}) == k


@pytest.mark.parametrize("given,expected_first", [(None, (0, 0, 0)), ([[9, 8, 7]], (9, 8, 7)),
                                                  ([[300, -5, 7], [1, 2, 3], [4, 5, 6], [7, 8, 9]], (255, 0, 7))])
def test_get_palette_completes_and_clips(given, expected_first):
    pal = viz.get_palette(given, 3)
    assert pal.shape == (3, 3) and tuple(pal[0]) == expected_first
    if given is not None and len(given) == 1:
        assert tuple(pal[1]) == tuple(viz.default_palette(3)[1])  # completed from the defaults


def test_colorize_maps_classes_and_greys_ignore():
    mask = np.array([[0, 1], [2, 255]], np.uint8)
    out = viz.colorize(mask, PALETTE)
    assert out.shape == (2, 2, 3)
    assert out[0, 1].tolist() == [255, 0, 0] and out[1, 0].tolist() == [0, 0, 255]
    assert out[1, 1].tolist() == list(viz.IGNORE_COLOR)


def test_overlay_blends_by_alpha_and_leaves_ignored_pixels():
    image = np.full((1, 3, 3), 100, np.uint8)
    mask = np.array([[1, 2, 255]], np.uint8)
    out = viz.overlay(image, mask, PALETTE, alpha=0.5)
    assert out[0, 0].tolist() == [178, 50, 50]  # (100 + 255) / 2 = 177.5 rounds to 178
    assert out[0, 1].tolist() == [50, 50, 178]
    assert out[0, 2].tolist() == [100, 100, 100]
    assert np.array_equal(viz.overlay(image, mask, PALETTE, alpha=0.0), image)
    assert viz.overlay(image, mask, PALETTE, alpha=1.0)[0, 0].tolist() == [255, 0, 0]


def test_correctness_map_right_wrong_ignored():
    gt = np.array([[0, 1, 255]], np.uint8)
    pred = np.array([[0, 2, 1]], np.uint8)
    out = viz.correctness_map(pred, gt)
    assert out[0].tolist() == [list(viz.RIGHT), list(viz.WRONG), list(viz.IGNORE_COLOR)]


def test_disagreement_counts_distinct_predictions():
    a = np.array([[0, 0, 1, 2]], np.uint8)
    b = np.array([[0, 1, 1, 0]], np.uint8)
    c = np.array([[0, 2, 1, 1]], np.uint8)
    assert viz.distinct_predictions([a, b, c]).tolist() == [[1, 3, 1, 3]]
    assert viz.distinct_predictions([a, b]).tolist() == [[1, 2, 1, 2]]
    out = viz.disagreement_map([a, b, c])
    assert out[0, 0].tolist() == viz.AGREEMENT[0].tolist() and out[0, 1].tolist() == viz.AGREEMENT[2].tolist()


def test_confidence_map_ends_of_the_scale():
    out = viz.confidence_map(np.array([[0.0, 1.0, 0.5, np.nan]], np.float32))
    assert out[0, 0].tolist() == viz.VIRIDIS[0].tolist()
    assert out[0, 1].tolist() == viz.VIRIDIS[-1].tolist()
    assert out[0, 2].tolist() == viz.VIRIDIS[4].tolist()
    assert out[0, 3].tolist() == viz.VIRIDIS[0].tolist()  # NaN reads as "unsure", never crashes


def test_grayscale_keeps_shape_and_is_grey():
    rgb = np.random.default_rng(0).integers(0, 255, (4, 5, 3), dtype=np.uint8)
    g = viz.grayscale(rgb)
    assert g.shape == rgb.shape and (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()


def test_legend_html_readable_names_and_swatches():
    html = viz.legend_html(["background", "traffic_sign", "<b>x</b>"], PALETTE)
    assert html.count('class="sc-swatch"') == 3
    assert "Traffic sign" in html and "#ff0000" in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html  # names are escaped
    assert viz.legend_html(["a", "b", "c"], PALETTE, present=[2, 255]).count("sc-swatch") == 1


def test_other_legends():
    assert "Wrong" in viz.correctness_legend_html()
    assert viz.disagreement_legend_html(3).count("sc-swatch") == 3
    assert "linear-gradient" in viz.confidence_legend_html()


@pytest.mark.parametrize("legend", [lambda: viz.legend_html(["background", "pet"], [[0, 0, 0], [255, 255, 255]]),
                                    viz.correctness_legend_html, lambda: viz.disagreement_legend_html(5),
                                    viz.confidence_legend_html])
def test_every_swatch_has_a_border_for_dark_and_light_pages(legend):
    # a black class swatch vanishes on a dark page and the near-white "all agree" one on a white page
    html = legend()
    swatches = re.findall(r'class="sc-(?:swatch|ramp)" style="([^"]*)"', html)
    assert swatches and all(f"border:1px solid {viz.SWATCH_BORDER}" in style for style in swatches)


def test_legends_show_the_map_colours():
    assert viz._hex(viz.RIGHT) in viz.correctness_legend_html() and viz._hex(viz.WRONG) in viz.correctness_legend_html()
    html = viz.disagreement_legend_html(len(viz.AGREEMENT))
    assert all(viz._hex(c) in html for c in viz.AGREEMENT)
    assert "All models agree" in html and f"{len(viz.AGREEMENT)} different answers" in html
