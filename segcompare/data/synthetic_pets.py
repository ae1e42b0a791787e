"""Procedural "pets" scenes with Oxford-IIIT-Pet trimap labels: background, pet, boundary.

An animal silhouette is assembled from parts (body, head, ears, legs, tail) in one of four poses, covered
with fur (solid, tabby stripes or patches) and placed on a cluttered indoor/outdoor background. Distractors
are background: blobs and boxes, some in fur colours and fur texture, so colour alone cannot separate the
classes; the model has to learn the animal's shape. The boundary class is a band of 3 px (at 160 px)
around the visible silhouette, like the "unclassified" ring of the real trimaps.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .synthetic_draw import (
    Canvas,
    blob_pts,
    color,
    dilate,
    ellipse_pts,
    erode,
    finish,
    grain,
    jitter,
    new_mask,
    polygon_mask,
    smooth_noise,
    to_image,
)

CLASSES = ["background", "pet", "boundary"]
PALETTE = [[0, 0, 0], [230, 150, 40], [250, 250, 250]]
BACKGROUND, PET, BOUNDARY = 0, 1, 2

FUR = np.array([[200, 120, 55], [125, 80, 45], [70, 48, 32], [38, 33, 32], [232, 222, 205],
                [135, 133, 135], [205, 172, 125], [100, 104, 116], [170, 150, 130]], np.float32)
POSES = ("stand", "sit", "lie", "face")


def render_pet(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (rgb uint8 HxWx3, trimap uint8 HxW)."""
    canvas = Canvas(background(rng, h, w))
    for _ in range(rng.integers(2, 7)):
        distractor(canvas, rng)
    silhouette, face = pet_mask(rng, h, w)
    box = silhouette.getbbox()
    if box:  # fur is only computed over the pet's bounding box
        fur = fur_texture(rng, box[3] - box[1], box[2] - box[0], FUR[rng.integers(len(FUR))], face[2] * 2)
        canvas.paste(fur, silhouette.crop(box), at=box[:2], label=PET)
    draw_face(canvas, rng, face)
    if rng.random() < 0.3:  # something in front of the pet (a toy, a chair leg): its pixels are background
        distractor(canvas, rng, size=(0.08, 0.25))
    image = finish(canvas.image, rng, blur=rng.uniform(0.3, 0.8), light=rng.uniform(0.1, 0.35))
    return image, trimap(np.asarray(canvas.label) == PET, min(h, w))


def trimap(pet: np.ndarray, side: int) -> np.ndarray:
    """Pet / background labels with a boundary band straddling the silhouette edge."""
    width = max(1, int(2.5 * side / 160 + 0.5))  # 3 px at 160 (1 in, 2 out), 1 px at 64
    inner = width // 2
    band = dilate(pet, width - inner) & ~erode(pet, inner)
    out = pet.astype(np.uint8)  # PET == 1
    out[band] = BOUNDARY
    return out


# ---------------------------------------------------------------- background


def background(rng, h: int, w: int) -> Image.Image:
    """A room (wall + planks or tiles), a lawn, a fabric (maybe tartan) or a plain gradient."""
    kind = rng.choice(["room", "grass", "fabric", "gradient"], p=[0.4, 0.2, 0.2, 0.2])
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    xx = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    c1, c2 = scene_color(rng), scene_color(rng)
    if kind == "room":
        split = rng.uniform(0.3, 0.75)
        wall = c1 * (1 - 0.3 * yy) * (1 + 0.08 * stripes(rng, h, w, vertical=True)[..., None])
        floor = floor_texture(rng, h, w, c2)
        arr = np.where(yy < split, wall, floor)
    elif kind == "grass":
        green = np.array([rng.uniform(40, 110), rng.uniform(90, 170), rng.uniform(20, 70)], np.float32)
        blades = smooth_noise(rng, h, w, 6, 1.2)[..., None]
        arr = green * (1 + 0.25 * blades + 0.2 * smooth_noise(rng, h, w, h / 3)[..., None])
    elif kind == "fabric":
        folds = smooth_noise(rng, h, w, rng.uniform(8, 25), rng.uniform(8, 25))[..., None]
        arr = c1 * (1 + 0.22 * folds)
        if rng.random() < 0.5:  # tartan
            arr = arr * (1 + 0.15 * (stripes(rng, h, w, True) + stripes(rng, h, w, False)))[..., None]
    else:
        t = np.cos(rng.uniform(0, np.pi)) * xx + np.sin(rng.uniform(0, np.pi)) * yy
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        arr = c1 * (1 - t) + c2 * t
    fine = grain(rng, h, w)[..., None]
    return to_image(arr * (1 + 0.06 * fine))


def scene_color(rng) -> np.ndarray:
    """Half the time a fur colour (wooden floors, beige walls, grey sofas): colour alone must not give the pet away."""
    return jitter(rng, FUR[rng.integers(len(FUR))], 15) if rng.random() < 0.5 else color(rng, 30, 230)


def stripes(rng, h: int, w: int, vertical: bool) -> np.ndarray:
    n = h if not vertical else w
    period = rng.uniform(4, 20) * n / 160
    s = np.sign(np.sin(np.arange(n, dtype=np.float32) * 2 * np.pi / period + rng.uniform(0, 6)))
    return np.broadcast_to(s[None, :] if vertical else s[:, None], (h, w)) * rng.uniform(0, 1)


def floor_texture(rng, h: int, w: int, color) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:  # wooden planks: bands with their own shade and grain
        plank = (yy // max(2, rng.uniform(6, 18) * h / 160)).astype(int)
        shade = rng.uniform(0.8, 1.15, plank.max() + 1).astype(np.float32)[plank]
        wood = smooth_noise(rng, h, w, 2, 14)
        return color * (shade * (1 + 0.1 * wood))[..., None]
    tile = max(3, rng.uniform(8, 30) * h / 160)  # tiles with darker grout
    grout = (yy % tile < 1.2) | (xx % tile < 1.2)
    return color * np.where(grout, 0.6, 1.0)[..., None]


def distractor(canvas: Canvas, rng, size=(0.1, 0.35)) -> None:
    """A background object: blob, box, ball or bar; solid or textured (a fur rug, a striped cushion)."""
    h, w = canvas.h, canvas.w
    r = rng.uniform(*size) * min(h, w)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    shape = rng.choice(["blob", "box", "ball", "bar"])
    if shape == "blob":
        pts = blob_pts(rng, cx, cy, r)
    elif shape == "ball":
        pts = ellipse_pts(cx, cy, r, r * rng.uniform(0.6, 1.0), rng.uniform(0, np.pi))
    elif shape == "box":
        pts = ellipse_pts(cx, cy, r * 1.4, r * rng.uniform(0.5, 1.4), rng.uniform(-0.3, 0.3), n=4)
    else:
        pts = ellipse_pts(cx, cy, r * 1.8, max(1.5, r * 0.12), rng.uniform(0, np.pi), n=4)
    base = scene_color(rng)
    style = rng.random()
    if style < 0.5:
        canvas.polygon(pts, jitter(rng, base), label=BACKGROUND)
        return
    clip = polygon_mask(pts, w, h)
    if clip is None:
        return
    mask, at = clip
    if style < 0.8:  # a fur rug or a furry toy: same texture as the animals
        texture = fur_texture(rng, mask.height, mask.width, base, r / 2)
    else:
        texture = striped_texture(rng, mask.height, mask.width, base)
    canvas.paste(texture, mask, at=at, label=BACKGROUND)


def striped_texture(rng, h: int, w: int, base) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a, period = rng.uniform(0, np.pi), rng.uniform(3, 8)
    sel = (np.sin((xx * math.cos(a) + yy * math.sin(a)) * (2 * np.pi / period)) > 0)[..., None]
    return to_image(np.where(sel, base, color(rng)))


# ---------------------------------------------------------------- the animal


class Frame:
    """Maps pet-local coordinates (x forward, y down, unit = body length) to pixels."""

    def __init__(self, cx, cy, scale, angle, facing):
        self.cx, self.cy, self.s, self.facing = cx, cy, scale, facing
        self.c, self.sn = math.cos(angle), math.sin(angle)

    def __call__(self, pts) -> list[tuple[float, float]]:
        p = np.asarray(pts, np.float64).reshape(-1, 2)
        x, y = p[:, 0] * self.facing, p[:, 1]
        u = self.cx + self.s * (self.c * x - self.sn * y)
        return list(zip(u, self.cy + self.s * (self.sn * x + self.c * y)))


def pet_mask(rng, h: int, w: int):
    """Silhouette (L image, 0/255) and the head as (x, y, radius, facing) in pixels."""
    mask, draw = new_mask(w, h)
    pose = POSES[rng.choice(4, p=[0.35, 0.2, 0.2, 0.25])]
    side = min(h, w)
    scale = side * (rng.uniform(0.45, 0.8) if pose != "face" else rng.uniform(1.0, 1.6))
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.35, 0.7) * h
    facing = rng.choice([-1, 1])
    f = Frame(cx, cy, scale, rng.uniform(-0.25, 0.25), facing)
    cat = rng.random() < 0.5
    fill = lambda pts: draw.polygon(f(pts), fill=255)
    if pose == "face":
        head, hr = (0.0, -0.05), 0.22
        fill(ellipse_pts(0.0, 0.35, 0.3, 0.25))  # chest, often cut by the frame
    else:
        body = {"stand": (0, 0, 0.5, 0.2), "sit": (0, 0.05, 0.27, 0.38), "lie": (0, 0.12, 0.55, 0.16)}[pose]
        fill(ellipse_pts(*body))
        head = {"stand": (0.52, -0.25), "sit": (0.12, -0.45), "lie": (0.52, -0.08)}[pose]
        hr = rng.uniform(0.15, 0.2)
        legs(fill, rng, pose)
        tail(draw, f, rng, pose, cat, scale)
    hx, hy = head
    fill(ellipse_pts(hx, hy, hr, hr * rng.uniform(0.85, 1.0)))
    fill(ellipse_pts(hx + 0.8 * hr * (pose != "face"), hy + 0.35 * hr, hr * 0.6, hr * 0.45))  # snout
    ears(fill, rng, hx, hy, hr, cat)
    px, py = f([(hx, hy)])[0]
    return mask, (px, py, hr * scale, facing if pose != "face" else 0)


def legs(fill, rng, pose: str) -> None:
    lw = rng.uniform(0.07, 0.11)
    if pose == "stand":
        for x in (-0.38, -0.27, 0.25, 0.36):
            x2 = x + rng.uniform(-0.08, 0.08)
            fill([(x - lw / 2, 0.05), (x + lw / 2, 0.05), (x2 + lw / 2, 0.55), (x2 - lw / 2, 0.55)])
    elif pose == "sit":
        for x in (0.12, 0.2):
            fill([(x - lw / 2, 0.0), (x + lw / 2, 0.0), (x + lw / 2, 0.45), (x - lw / 2, 0.45)])
        fill(ellipse_pts(-0.08, 0.3, 0.24, 0.15))  # haunch
    else:
        for y in (0.17, 0.24):
            fill([(0.3, y - lw / 2), (0.78, y - lw / 2 + 0.03), (0.78, y + lw / 2 + 0.03), (0.3, y + lw / 2)])


def tail(draw, f: Frame, rng, pose: str, cat: bool, scale: float) -> None:
    base = {"stand": (-0.47, -0.05), "sit": (-0.2, 0.38), "lie": (-0.52, 0.12)}[pose]
    length = rng.uniform(0.3, 0.5) if cat else rng.uniform(0.15, 0.4)
    t = np.linspace(0, 1, 6)
    if pose == "sit":  # wrapped around the feet
        pts = np.stack([base[0] + t * 0.5, base[1] + 0.1 * np.sin(t * np.pi) + 0.05 * t], 1)
    else:  # backwards, raised (standing) or along the floor (lying), with a curl towards the tip
        lift = rng.uniform(0.2, 1.3) if pose == "stand" else rng.uniform(-0.2, 0.3)
        a = lift + rng.uniform(-0.8, 0.8) * t
        pts = np.stack([base[0] - length * t * np.cos(a), base[1] - length * t * np.sin(a)], 1)
    width = (rng.uniform(0.04, 0.06) if cat else rng.uniform(0.05, 0.1)) * scale
    draw.line(f(pts), fill=255, width=max(1, round(width)), joint="curve")


def ears(fill, rng, hx, hy, hr, cat: bool) -> None:
    pointy = cat or rng.random() < 0.4
    for side in (-1, 1):
        ex = hx + side * hr * rng.uniform(0.4, 0.65)
        if pointy:
            tip = (ex + side * hr * rng.uniform(0.05, 0.35), hy - hr * rng.uniform(1.3, 1.8))
            fill([(ex - hr * 0.4, hy - hr * 0.6), (ex + hr * 0.4, hy - hr * 0.6), tip])
        else:  # floppy ear hanging beside the head
            fill(ellipse_pts(hx + side * hr * 0.85, hy + hr * 0.1, hr * 0.3, hr * 0.7, side * 0.3))


def draw_face(canvas: Canvas, rng, face) -> None:
    """Eyes and nose, image only (they are part of the pet)."""
    x, y, r, facing = face
    if r < 4:
        return
    eye = np.array([rng.uniform(120, 200), rng.uniform(120, 200), rng.uniform(20, 80)])
    shift = facing * r * 0.35
    for side in (-1, 1):
        ex, ey, er = x + shift + side * r * 0.38, y - r * 0.15, max(1.0, r * 0.13)
        canvas.ellipse((ex - er, ey - er, ex + er, ey + er), eye * rng.uniform(0.4, 1.0))
        canvas.ellipse((ex - er / 2.5, ey - er, ex + er / 2.5, ey + er), (15, 12, 10))
    nx, ny, nr = x + shift * 2.2, y + r * 0.3, max(1.0, r * 0.1)
    canvas.ellipse((nx - nr, ny - nr * 0.7, nx + nr, ny + nr * 0.7), (40, 28, 28))


def fur_texture(rng, h: int, w: int, coat_color, patch: float) -> Image.Image:
    """Fur: streaky fine noise, soft shading and a solid/tabby/patched coat pattern."""
    strands = smooth_noise(rng, h, w, 1.2, 4.0) if rng.random() < 0.5 else smooth_noise(rng, h, w, 4.0, 1.2)
    shade = smooth_noise(rng, h, w, max(4.0, patch))
    base = np.asarray(coat_color, np.float32)
    second = jitter(rng, base * rng.uniform(0.35, 0.7) if rng.random() < 0.6 else FUR[4], 10)
    pattern = rng.choice(["solid", "tabby", "patches"], p=[0.4, 0.3, 0.3])
    if pattern == "tabby":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = rng.uniform(0, np.pi)
        phase = (xx * math.cos(a) + yy * math.sin(a)) * 2 * np.pi / max(3.0, patch / 2) + 2 * shade
        sel = (np.sin(phase) > 0.4)[..., None]
    elif pattern == "patches":
        sel = (smooth_noise(rng, h, w, max(4.0, patch)) > 0.5)[..., None]
    else:
        sel = np.zeros((h, w, 1), bool)
    coat = np.where(sel, second, base)
    return to_image(coat * (1 + 0.18 * strands[..., None] + 0.12 * shade[..., None]))
