"""The world a synthetic street scene is drawn from, in metres: the label ids, the pinhole camera, the
street's layout, and the things standing in it (poles, trees, pedestrians, cars) as (depth, draw) pairs so
`synthetic_streets.render_street` can draw them far to near over its ground, facades and sky.
"""

from __future__ import annotations

import numpy as np

from .synthetic_draw import Canvas, color, jitter

CLASSES = ["void", "flat", "construction", "object", "nature", "sky", "human", "vehicle"]
PALETTE = [[0, 0, 0], [128, 64, 128], [70, 70, 70], [153, 153, 153], [107, 142, 35], [70, 130, 180],
           [220, 20, 60], [0, 0, 142]]
VOID, FLAT, CONSTRUCTION, OBJECT, NATURE, SKY, HUMAN, VEHICLE = range(8)
NEAR = 0.5  # metres; nothing is placed closer than this to the camera plane
CARS = np.array([[230, 230, 230], [25, 25, 30], [160, 162, 168], [90, 92, 98], [150, 25, 25], [30, 50, 120],
                 [30, 70, 45], [200, 180, 140]], np.float32)


class Camera:
    """Pinhole camera at height `height` m looking along +Z; X to the right, Y up (metres)."""

    def __init__(self, rng, h: int, w: int):
        self.h, self.w = h, w
        self.f = w * rng.uniform(0.42, 0.6)
        self.horizon = h * rng.uniform(0.36, 0.5)
        self.cx = w * rng.uniform(0.38, 0.62)
        self.height = rng.uniform(1.3, 1.7)

    def __call__(self, pts) -> list[tuple[float, float]]:
        p = np.asarray(pts, np.float64).reshape(-1, 3)
        z = np.maximum(p[:, 2], NEAR)
        return list(zip(self.cx + self.f * p[:, 0] / z, self.horizon + self.f * (self.height - p[:, 1]) / z))

    def scale(self, z: float) -> float:
        """Pixels per metre at depth z."""
        return self.f / max(z, NEAR)


class Street:
    """The layout in metres: road half-width, sidewalks, what lines each side, sun and shade."""

    def __init__(self, rng):
        self.lanes = int(rng.integers(2, 5))
        self.road = self.lanes * rng.uniform(1.6, 1.8)  # half-width
        self.walk = {s: rng.uniform(1.5, 4.0) for s in (-1, 1)}
        self.edge = {s: self.road + self.walk[s] for s in (-1, 1)}  # where the facades start
        self.kind = {s: rng.choice(["buildings", "park", "wall"], p=[0.65, 0.2, 0.15]) for s in (-1, 1)}
        self.far = rng.uniform(90, 200)
        self.sun = int(rng.choice([-1, 0, 1]))  # side the sun comes from; 0 = overcast
        self.shade = rng.uniform(0.5, 0.7)


def street_objects(rng, cam: Camera, street: Street) -> list:
    """(depth, draw function) for every tree, pole, car and pedestrian."""
    out = []
    for side in (-1, 1):
        curb = side * (street.road + 0.5)
        z = rng.uniform(2, 15)
        while z < 90:  # poles: lamps, signs, traffic lights
            out.append((z, pole(rng, cam, curb + side * rng.uniform(0, 0.3), z)))
            z += rng.uniform(10, 30)
        if street.kind[side] != "wall" and rng.random() < 0.7:
            x = side * (street.edge[side] - rng.uniform(0.6, 1.2) if street.kind[side] == "buildings"
                        else street.edge[side] + rng.uniform(1, 4))
            z = rng.uniform(3, 12)
            while z < 100:
                out.append((z, tree(rng, cam, x, z)))
                z += rng.uniform(7, 16)
        for _ in range(rng.integers(0, 5)):  # walking along the sidewalk
            x = side * (street.road + rng.uniform(0.5, street.walk[side] - 0.3))
            z = rng.uniform(4, 45)
            out.append((z, pedestrian(rng, cam, x, z)))
        for _ in range(rng.integers(0, 4)):  # parked at the curb
            z = rng.uniform(3, 60)
            out.append((z, car(rng, cam, side * (street.road - 1.1), z, toward=rng.random() < 0.5)))
    lane = 2 * street.road / street.lanes
    for _ in range(rng.integers(1, 7)):  # traffic: right lanes drive away, left lanes come towards us
        k = rng.integers(0, street.lanes)
        x = -street.road + (k + 0.5) * lane + rng.uniform(-0.3, 0.3)
        z = rng.uniform(4, 80)
        out.append((z, car(rng, cam, x, z, toward=x < 0)))
    if rng.random() < 0.25:  # someone crossing
        z = rng.uniform(5, 25)
        out.append((z, pedestrian(rng, cam, rng.uniform(-street.road, street.road), z)))
    return out


def pole(rng, cam: Camera, x: float, z: float):
    kind = rng.choice(["lamp", "sign", "light"], p=[0.35, 0.4, 0.25])
    height = {"lamp": rng.uniform(6, 9), "sign": rng.uniform(2.6, 3.5), "light": rng.uniform(3.5, 5)}[kind]
    metal = jitter(rng, [110, 112, 115], 20)
    width = rng.uniform(0.12, 0.25)
    sign_color = np.array([[200, 30, 30], [30, 70, 170], [235, 235, 235], [230, 190, 30]], np.float32)

    def draw(canvas: Canvas) -> None:
        s = cam.scale(z)
        canvas.line(cam([(x, 0, z), (x, height, z)]), width * s, metal, OBJECT)
        if kind == "lamp":
            arm = -np.sign(x) * rng.uniform(1, 2.5)
            canvas.line(cam([(x, height, z), (x + arm, height + 0.3, z)]), width * s * 0.7, metal, OBJECT)
            (u, v), = cam([(x + arm, height + 0.2, z)])
            canvas.ellipse((u - 0.4 * s, v - 0.12 * s, u + 0.4 * s, v + 0.12 * s), (230, 230, 210), OBJECT)
        elif kind == "sign":
            (u, v), = cam([(x, height - 0.3, z)])
            r = rng.uniform(0.3, 0.45) * s
            c = sign_color[rng.integers(len(sign_color))]
            if rng.random() < 0.5:
                canvas.ellipse((u - r, v - r, u + r, v + r), c, OBJECT)
                canvas.ellipse((u - r / 2, v - r / 2, u + r / 2, v + r / 2), (240, 240, 240))
            else:
                canvas.polygon([(u - r, v - r), (u + r, v - r), (u + r, v + r), (u - r, v + r)], c, OBJECT)
        else:
            (u, v), = cam([(x, height, z)])
            bw, bh = 0.18 * s, 0.5 * s
            canvas.polygon([(u - bw, v - bh), (u + bw, v - bh), (u + bw, v + bh), (u - bw, v + bh)], (35, 35, 35),
                           OBJECT)
            k = rng.integers(3)
            lamp = [(220, 40, 30), (230, 170, 30), (40, 200, 90)][k]
            cy = v - bh + (k + 0.5) * 2 * bh / 3
            canvas.ellipse((u - bw * 0.6, cy - bw * 0.6, u + bw * 0.6, cy + bw * 0.6), lamp)

    return draw


def tree(rng, cam: Camera, x: float, z: float):
    trunk_h, crown = rng.uniform(2, 3.5), rng.uniform(1.5, 3)
    leaves = jitter(rng, [60, 100, 40], 18)
    bark = jitter(rng, [80, 65, 50], 12)
    puffs = [(x + rng.uniform(-1, 1) * crown * 0.6, trunk_h + crown * rng.uniform(0.6, 1.4),
              z + rng.uniform(-0.5, 0.5), crown * rng.uniform(0.6, 1.0), rng.uniform(0.8, 1.15))
             for _ in range(rng.integers(3, 7))]

    def draw(canvas: Canvas) -> None:
        s = cam.scale(z)
        canvas.line(cam([(x, 0, z), (x, trunk_h + crown, z)]), 0.3 * s, bark, NATURE)
        for px, py, pz, r, shade in puffs:
            (u, v), = cam([(px, py, pz)])
            rr = r * cam.scale(pz)
            canvas.ellipse((u - rr, v - rr * 0.9, u + rr, v + rr * 0.9), leaves * shade, NATURE)

    return draw


def pedestrian(rng, cam: Camera, x: float, z: float):
    tall = rng.uniform(1.55, 1.95)
    top, pants = color(rng, 20, 220), color(rng, 20, 140)
    skin = jitter(rng, [rng.uniform(90, 230)] * 3, 10) * np.array([1.0, 0.8, 0.65], np.float32)
    stride, swing = rng.uniform(-0.25, 0.25), rng.uniform(-0.2, 0.2)

    def draw(canvas: Canvas) -> None:
        (u, v), = cam([(x, 0, z)])
        s = cam.scale(z)
        p = lambda dx, dy: (u + dx * s, v - dy * tall * s)
        canvas.shade([p(-0.35, -0.02), p(0.35, -0.02), p(0.35, 0.02), p(-0.35, 0.02)], 0.6)
        hip = 0.5
        for side in (-1, 1):
            foot = side * 0.1 + side * stride
            canvas.line([p(side * 0.08, hip), p(foot, 0.02)], 0.13 * s, pants, HUMAN)
        canvas.polygon([p(-0.21, 0.82), p(0.21, 0.82), p(0.17, hip - 0.03), p(-0.17, hip - 0.03)], top, HUMAN)
        for side in (-1, 1):
            canvas.line([p(side * 0.22, 0.8), p(side * 0.25 + side * swing * 0.5, 0.5)], 0.09 * s, top * 0.9,
                        HUMAN)
        r = 0.11 * s
        hx, hy = p(0, 0.92)
        canvas.ellipse((hx - r, hy - r * 1.15, hx + r, hy + r * 1.15), skin, HUMAN)

    return draw


def car(rng, cam: Camera, x: float, z: float, toward: bool):
    big = rng.random() < 0.15
    width, height, length = (2.4, rng.uniform(2.5, 3.3), rng.uniform(6, 11)) if big else \
        (rng.uniform(1.7, 1.9), rng.uniform(1.4, 1.6), rng.uniform(4, 4.8))
    paint = jitter(rng, CARS[rng.integers(len(CARS))], 10)
    glass = jitter(rng, [40, 48, 60], 8)

    def draw(canvas: Canvas) -> None:
        lft, r = x - width / 2, x + width / 2
        base, belt = 0.3, height * (0.62 if not big else 0.35)
        canvas.shade(cam([(lft - 0.2, 0, z - 0.3), (r + 0.2, 0, z - 0.3), (r + 0.2, 0, z + length),
                            (lft - 0.2, 0, z + length)]), 0.45)
        box(canvas, cam, (lft, r), (base, belt), (z, z + length), paint, glass=None)
        inset = 0.12 if not big else 0.0
        cab = (z + length * 0.25, z + length * 0.8) if not big else (z, z + length)
        box(canvas, cam, (lft + inset, r - inset), (belt, height), cab, paint, glass=glass)
        s = cam.scale(z)
        for wx in (lft + 0.1, r - 0.35):  # tyres under the near face
            canvas.polygon(cam([(wx, 0, z + 0.3), (wx + 0.25, 0, z + 0.3), (wx + 0.25, base, z + 0.3),
                                (wx, base, z + 0.3)]), (20, 20, 22), VEHICLE)
        lamp = (250, 240, 200) if toward else (200, 20, 20)
        for lx in (lft + 0.15, r - 0.45):
            canvas.polygon(cam([(lx, belt - 0.25, z), (lx + 0.3, belt - 0.25, z), (lx + 0.3, belt - 0.1, z),
                                (lx, belt - 0.1, z)]), lamp)
        if s * 0.6 > 2:  # a dark plate / grille band
            canvas.polygon(cam([(x - 0.3, base + 0.1, z), (x + 0.3, base + 0.1, z), (x + 0.3, base + 0.25, z),
                                (x - 0.3, base + 0.25, z)]), (40, 40, 40))

    return draw


def box(canvas: Canvas, cam: Camera, xs, ys, zs, paint, glass=None) -> None:
    """The faces of an axis-aligned box the camera can see, shaded; `glass` paints windows on them."""
    (lft, r), (b, t), (n, f) = xs, ys, zs
    if t < cam.height:  # roof seen from above
        canvas.polygon(cam([(lft, t, n), (r, t, n), (r, t, f), (lft, t, f)]), paint * 1.1, VEHICLE)
    for sx, face in ((lft, lft > 0), (r, r < 0)):  # the side facing the camera
        if face:
            quad = cam([(sx, b, n), (sx, t, n), (sx, t, f), (sx, b, f)])
            canvas.polygon(quad, paint * 0.75, VEHICLE)
            if glass is not None:
                canvas.polygon(cam([(sx, b + 0.08, n + 0.2), (sx, t - 0.08, n + 0.3), (sx, t - 0.08, f - 0.3),
                                    (sx, b + 0.08, f - 0.2)]), glass)
    canvas.polygon(cam([(lft, b, n), (lft, t, n), (r, t, n), (r, b, n)]), paint * 0.9, VEHICLE)
    if glass is not None:
        canvas.polygon(cam([(lft + 0.12, b + 0.05, n), (lft + 0.2, t - 0.08, n), (r - 0.2, t - 0.08, n),
                            (r - 0.12, b + 0.05, n)]), glass)
