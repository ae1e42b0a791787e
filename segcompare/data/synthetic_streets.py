"""Procedural street scenes labelled with the 8 Cityscapes categories.

A pinhole camera looks down a straight street: road with lane markings and sidewalks (flat), facades with
windows or walls (construction), trees and grass (nature), poles, signs, lamps and traffic lights (object,
often 1-3 px wide), sky with clouds, cars and vans (vehicle) and pedestrians (human). Objects are placed in
metres and projected, so they shrink with depth, and are drawn far to near so near ones occlude far ones.
Sun side, shadows, haze and tint vary per image; some images have an ego-vehicle hood or a rectification
border, labelled void like in Cityscapes. This module paints the ground, facades, sky, texture and haze;
the label ids, camera, layout and the things standing in the street are `street_things`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .street_things import CARS, CONSTRUCTION, FLAT, NATURE, NEAR, SKY, VOID, Camera, Street, street_objects
from .synthetic_draw import Canvas, blob_pts, color, finish, grain, jitter, smooth_noise

# Per-class texture strength (fine grain, leafy clumps): foliage is busy, sky and paint are smooth.
GRAIN = np.array([0.04, 0.07, 0.05, 0.03, 0.10, 0.01, 0.05, 0.03], np.float32)
CLUMPS = np.array([0.0, 0.03, 0.04, 0.0, 0.22, 0.0, 0.0, 0.0], np.float32)
FACADES = np.array([[190, 180, 160], [150, 140, 130], [160, 90, 70], [210, 205, 195], [120, 120, 125],
                    [200, 170, 120], [95, 85, 80]], np.float32)


def render_street(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (rgb uint8 HxWx3, category ids uint8 HxW)."""
    cam = Camera(rng, h, w)
    street = Street(rng)
    canvas = Canvas(sky(rng, cam), label=SKY)
    clouds(canvas, rng, cam)
    skyline(canvas, rng, cam, street)
    ground(canvas, rng, cam, street)
    for side in (-1, 1):
        roadside(canvas, rng, cam, street, side)
    objects = street_objects(rng, cam, street)
    for _, draw in sorted(objects, key=lambda o: -o[0]):
        draw(canvas)
    void_clutter(canvas, rng, cam)
    image, label = canvas.arrays()
    image = atmosphere(texture(image, label, rng), rng, cam)
    return finish(Image.fromarray(image), rng, blur=rng.uniform(0.3, 0.7), light=0.12, noise=3), label.copy()



# ---------------------------------------------------------------- layers


def sky(rng, cam: Camera) -> Image.Image:
    style = rng.choice(["clear", "overcast", "dusk"], p=[0.5, 0.3, 0.2])
    top, low = {"clear": ([60, 120, 200], [175, 205, 235]), "overcast": ([150, 155, 165], [205, 208, 212]),
                "dusk": ([70, 80, 150], [240, 170, 110])}[style]
    t = np.clip(np.linspace(0, 1, cam.h, dtype=np.float32) / max(cam.horizon / cam.h, 0.05), 0, 1)
    col = jitter(rng, top, 15) * (1 - t[:, None]) + jitter(rng, low, 15) * t[:, None]
    return Image.fromarray(np.repeat(col[:, None, :], cam.w, axis=1).astype(np.uint8))


def clouds(canvas: Canvas, rng, cam: Camera) -> None:
    for _ in range(rng.integers(0, 6)):
        r = rng.uniform(0.04, 0.15) * cam.w
        x, y = rng.uniform(0, cam.w), rng.uniform(-0.2, 0.7) * cam.horizon
        shade = rng.uniform(215, 250)
        for _ in range(3):
            pts = blob_pts(rng, x + rng.uniform(-r, r), y + rng.uniform(-r, r) * 0.3, r, roughness=0.15)
            pts[:, 1] = y + (pts[:, 1] - y) * 0.45
            canvas.polygon(pts, (shade, shade, shade + 3))


def skyline(canvas: Canvas, rng, cam: Camera, street: Street) -> None:
    """Distant blocks or a tree line closing the street."""
    z, x = street.far, -street.edge[-1] - 40
    nature = rng.random() < 0.35
    while x < street.edge[1] + 40:
        width, height = rng.uniform(6, 20), rng.uniform(8, 35)
        if nature:
            c = jitter(rng, [70, 100, 50], 15)
            canvas.polygon(blob_pts(rng, *cam([(x, height / 3, z)])[0], width * cam.scale(z)), c, NATURE)
        else:
            c = jitter(rng, FACADES[rng.integers(len(FACADES))], 15) * 0.85
            canvas.polygon(cam([(x, 0, z), (x, height, z), (x + width, height, z), (x + width, 0, z)]), c,
                           CONSTRUCTION)
        x += width


def ground(canvas: Canvas, rng, cam: Camera, street: Street) -> None:
    """Sidewalks, road, curbs and lane markings (all flat) and the sun's shadow band."""
    far, road = street.far, street.road
    walk_col = jitter(rng, [165, 160, 150], 15)
    canvas.polygon(cam([(-300, 0, NEAR), (-300, 0, far), (300, 0, far), (300, 0, NEAR)]), walk_col, FLAT)
    asphalt = jitter(rng, [85, 85, 90], 12)
    canvas.polygon(cam([(-road, 0, NEAR), (-road, 0, far), (road, 0, far), (road, 0, NEAR)]), asphalt, FLAT)
    for s in (-1, 1):
        curb = [(s * road, 0, NEAR), (s * road, 0, far), (s * (road + 0.2), 0, far), (s * (road + 0.2), 0, NEAR)]
        canvas.polygon(cam(curb), walk_col * 0.8)
    paint = jitter(rng, [225, 225, 215], 8)
    lane = 2 * road / street.lanes
    dash, gap = rng.uniform(2, 4), rng.uniform(4, 8)
    for k in range(1, street.lanes):
        x = -road + k * lane
        if k == street.lanes // 2 and street.lanes % 2 == 0 and rng.random() < 0.5:
            canvas.polygon(cam([(x - 0.08, 0, NEAR), (x - 0.08, 0, far), (x + 0.08, 0, far),
                                (x + 0.08, 0, NEAR)]), paint)  # solid centre line
            continue
        for z in np.arange(rng.uniform(NEAR, 3), 70, dash + gap):
            canvas.polygon(cam([(x - 0.07, 0, z), (x - 0.07, 0, z + dash), (x + 0.07, 0, z + dash),
                                (x + 0.07, 0, z)]), paint)
    if street.sun:  # the sunny side's buildings shade the near part of the street
        s, width = street.sun, rng.uniform(2, 2 * road + 4)
        x0, x1 = s * street.edge[s], s * (street.edge[s] - width)
        canvas.shade(cam([(x0, 0, NEAR), (x0, 0, far), (x1, 0, far), (x1, 0, NEAR)]), street.shade)


def roadside(canvas: Canvas, rng, cam: Camera, street: Street, side: int) -> None:
    """One side of the street beyond the sidewalk: facades, a park or a wall."""
    x, kind = side * street.edge[side], street.kind[side]
    lit = 1.0 if street.sun in (0, side) else street.shade * 1.2
    if kind == "park":
        canvas.polygon(cam([(x, 0, NEAR), (x, 0, street.far), (side * 300, 0, street.far),
                            (side * 300, 0, NEAR)]), jitter(rng, [90, 130, 60], 15), NATURE)
        return
    walls, facade = [], Image.new("L", (cam.w, cam.h), 0)
    z = NEAR
    while z < street.far:
        length = rng.uniform(8, 25)
        height = rng.uniform(8, 30) if kind == "buildings" else rng.uniform(1.2, 3)
        c = jitter(rng, FACADES[rng.integers(len(FACADES))], 12) * lit
        if kind == "wall" and rng.random() < 0.7:  # trees behind the wall, with a ragged crown line
            zs = np.linspace(z, z + length, 7)
            crowns = [(x, height + rng.uniform(1.5, 6), zz) for zz in zs]
            canvas.polygon(cam([(x, 0, z)] + crowns + [(x, 0, z + length)]), jitter(rng, [60, 100, 40], 15) * lit,
                           NATURE)
        quad = cam([(x, 0, z), (x, height, z), (x, height, z + length), (x, 0, z + length)])
        canvas.polygon(quad, c, CONSTRUCTION)
        ImageDraw.Draw(facade).polygon(quad, fill=255)
        walls.append((z, z + length, height))
        z += length + (rng.uniform(2, 5) if rng.random() < 0.2 else 0)  # an alley now and then
    if kind == "buildings":
        windows(canvas, rng, cam, x, walls, np.asarray(facade) > 0)


def windows(canvas: Canvas, rng, cam: Camera, x: float, walls, facade: np.ndarray) -> None:
    """Window grids painted in image space: invert the projection onto the facade plane X = x."""
    vv, uu = np.nonzero(facade)
    du = uu.astype(np.float32) - cam.cx
    keep = du * np.sign(x) > 1e-3
    vv, uu, du = vv[keep], uu[keep], du[keep]
    z = cam.f * x / du
    y = cam.height - (vv - cam.horizon) * z / cam.f
    starts = np.array([a for a, _, _ in walls])
    seg = np.clip(np.searchsorted(starts, z) - 1, 0, len(walls) - 1)
    n = len(walls)
    floor_h, col_w = rng.uniform(2.8, 3.6, n)[seg], rng.uniform(2.2, 4.0, n)[seg]
    fy, fz = y / floor_h, (z - starts[seg]) / col_w
    ry, rz = fy % 1, fz % 1
    pane = (y > 3.0) & (ry > 0.3) & (ry < 0.8) & (rz > 0.25) & (rz < 0.75)
    shop = (y > 0.4) & (y < 2.6) & (rz > 0.1) & (rz < 0.9) & (rng.random(n) < 0.5)[seg]
    glass = jitter(rng, [45, 55, 70], 12)
    lit = ((np.floor(fy) * 7919 + np.floor(fz) * 104729 + seg * 31) % 11) < 2  # a few lit or sunlit panes
    tiny = cam.f / z < 1.2  # panes below a pixel: just darken the facade a little
    sel = (pane | shop) & ~tiny
    img = np.array(canvas.image)
    img[vv[sel], uu[sel]] = np.where(lit[sel][:, None], glass * 2.6, glass + 25 * ry[sel][:, None]).clip(0, 255)
    img[vv[tiny], uu[tiny]] = img[vv[tiny], uu[tiny]] * 0.85
    canvas.image.paste(Image.fromarray(img))


def atmosphere(image: np.ndarray, rng, cam: Camera) -> np.ndarray:
    """Haze that thickens towards the horizon, then the exposure and white balance of the day."""
    v = np.arange(cam.h, dtype=np.float32)[:, None, None]
    haze = rng.uniform(0, 0.45) * np.exp(-np.abs(v - cam.horizon) / (0.1 * cam.h))
    out = image * (1 - haze) + jitter(rng, [200, 205, 212], 10) * haze
    gain = rng.uniform(0.7, 1.15) * rng.uniform(0.96, 1.04, 3).astype(np.float32)
    return np.clip(out * gain, 0, 255).astype(np.uint8)


def texture(image: np.ndarray, label: np.ndarray, rng) -> np.ndarray:
    """Per-class surface texture: asphalt grain, leafy clumps on foliage, smooth sky."""
    h, w = label.shape
    fine = grain(rng, h, w) * GRAIN[label]
    clumps = smooth_noise(rng, h, w, 2.5) * CLUMPS[label]
    return image * (1 + fine + clumps)[..., None]  # float32; atmosphere() clips once


def void_clutter(canvas: Canvas, rng, cam: Camera) -> None:
    """Ego-vehicle hood, rectification border or a smudge at the bottom: labelled void."""
    h, w = cam.h, cam.w
    if rng.random() < 0.45:
        top, bulge = h * rng.uniform(0.05, 0.13), h * rng.uniform(0.0, 0.05)
        xs = np.linspace(-0.05 * w, 1.05 * w, 12)
        ys = h - top - bulge * (1 - ((xs - w / 2) / (w / 2)) ** 2)
        pts = list(zip(xs, ys)) + [(1.05 * w, h + 1), (-0.05 * w, h + 1)]
        canvas.polygon(pts, jitter(rng, CARS[rng.integers(len(CARS))] * 0.6, 10), VOID)
    if rng.random() < 0.25:
        edge = max(1, round(w * rng.uniform(0.005, 0.02)))
        x0 = 0 if rng.random() < 0.5 else w - edge
        canvas.polygon([(x0, 0), (x0 + edge - 1, 0), (x0 + edge - 1, h), (x0, h)], (0, 0, 0), VOID)
    if rng.random() < 0.25:
        r = rng.uniform(0.03, 0.08) * w
        canvas.polygon(blob_pts(rng, rng.uniform(0, w), h - rng.uniform(0, r), r), color(rng, 10, 80), VOID)
