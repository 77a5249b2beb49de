"""Procedural landscape scenes in the dataset format (photo + 29-class label map).

A scene is painted back to front on a :class:`_Canvas` that keeps four maps in step:

* ``label``    the class id of every pixel (exactly what was painted, no antialiasing);
* ``material`` what the pixel looks like: a class id, or one of a few extra appearances that share
  a class (a roof is ``house``, snow on a peak is ``mountain``, a trunk is ``tree``...);
* ``shade``    a lighting factor (the sunny and the shadowed face of a ridge, darker tree bottoms);
* ``depth``    0 near .. 1 far, for haze.

The photo is made once at the end: a colour per material (set by the scene's :class:`SceneStyle`:
time of day, season), textured with a cached bank of noise images, lit, hazed towards the horizon
colour, with water mirroring what lies above it. Every class keeps one recognisable appearance
across scenes (sky blue with clouds, grey-brown shaded mountains, green trees...), modulated by the
global style, so a generator can learn both the class and the style.

Layout and style use separate random streams of the same seed: ``make_scene(seed, style=s)`` gives
the same label map for every style ``s``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from paintscape.io_atomic import atomic_save_image
from paintscape.labels import CLASS_IDS

logger = logging.getLogger(__name__)

__all__ = ["SceneStyle", "sample_style", "make_scene", "write_dataset", "TIMES_OF_DAY", "SEASONS"]

TIMES_OF_DAY = ("day", "golden", "dusk", "night")
SEASONS = ("summer", "autumn", "winter", "spring")


@dataclass(frozen=True)
class SceneStyle:
    """The global look of a scene; changes the photo, never the label map.

    ``sun_x`` is the sun's horizontal position (0 left .. 1 right), ``sun_height`` its height above the
    horizon as a fraction of the sky (0 on the horizon .. 1 at the top); ``haze`` blends distant
    things towards the horizon colour (0 crisp .. 1 milky); ``cloudiness`` 0 clear .. 1 overcast.
    """

    time_of_day: str = "day"
    season: str = "summer"
    haze: float = 0.3
    sun_x: float = 0.7
    sun_height: float = 0.6
    cloudiness: float = 0.4

    def __post_init__(self) -> None:
        if self.time_of_day not in TIMES_OF_DAY:
            raise ValueError(f"SceneStyle.time_of_day must be one of {TIMES_OF_DAY}, got {self.time_of_day!r}")
        if self.season not in SEASONS:
            raise ValueError(f"SceneStyle.season must be one of {SEASONS}, got {self.season!r}")
        for name in ("haze", "sun_x", "sun_height", "cloudiness"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SceneStyle.{name} must lie in [0, 1], got {value}")


def sample_style(rng: np.random.Generator) -> SceneStyle:
    """A random style; day and summer are the most common, as in landscape photo collections."""
    time_of_day = str(rng.choice(TIMES_OF_DAY, p=[0.55, 0.2, 0.17, 0.08]))
    season = str(rng.choice(SEASONS, p=[0.45, 0.2, 0.15, 0.2]))
    low_sun = time_of_day in ("golden", "dusk")
    return SceneStyle(
        time_of_day=time_of_day,
        season=season,
        haze=float(rng.uniform(0.05, 0.6)),
        sun_x=float(rng.uniform(0.1, 0.9)),
        sun_height=float(rng.uniform(0.02, 0.25) if low_sun else rng.uniform(0.4, 0.95)),
        cloudiness=float(rng.beta(1.5, 2.5)),
    )


# --- materials ---------------------------------------------------------------------------------
C = CLASS_IDS
SNOW, ROOF, WINDOW, TRUNK, SAIL, FOAM, MARKING, DARK, HULL_DARK, MOUNTAIN_GREEN = range(29, 39)
NUM_MATERIALS = 39

# Base colours (sRGB 0..1) at neutral daylight in summer.
_BASE = np.zeros((NUM_MATERIALS, 3), dtype=np.float32)
for _name, _rgb in {
    "mountain": (0.44, 0.41, 0.39), "sky": (0.55, 0.72, 0.92), "water": (0.16, 0.32, 0.38),
    "sea": (0.08, 0.26, 0.42), "rock": (0.50, 0.48, 0.45), "tree": (0.13, 0.30, 0.12),
    "earth": (0.45, 0.33, 0.22), "hill": (0.32, 0.45, 0.20), "river": (0.20, 0.36, 0.36),
    "sand": (0.86, 0.78, 0.60), "land": (0.60, 0.54, 0.38), "building": (0.62, 0.60, 0.58),
    "grass": (0.34, 0.55, 0.20), "plant": (0.20, 0.42, 0.16), "person": (0.70, 0.25, 0.20),
    "boat": (0.85, 0.85, 0.82), "waterfall": (0.88, 0.92, 0.95), "wall": (0.55, 0.50, 0.44),
    "pier": (0.45, 0.33, 0.22), "path": (0.72, 0.62, 0.46), "lake": (0.12, 0.30, 0.40),
    "bridge": (0.60, 0.56, 0.50), "field": (0.75, 0.66, 0.32), "road": (0.28, 0.28, 0.29),
    "railing": (0.30, 0.28, 0.26), "fence": (0.50, 0.38, 0.26), "ship": (0.78, 0.78, 0.80),
    "house": (0.90, 0.86, 0.78), "other": (0.80, 0.20, 0.20),
}.items():  # fmt: skip
    _BASE[C[_name]] = _rgb
_BASE[SNOW] = (0.93, 0.95, 0.98)
_BASE[ROOF] = (0.60, 0.22, 0.16)
_BASE[WINDOW] = (0.22, 0.26, 0.32)
_BASE[TRUNK] = (0.30, 0.21, 0.14)
_BASE[SAIL] = (0.96, 0.95, 0.90)
_BASE[FOAM] = (0.96, 0.97, 0.98)
_BASE[MARKING] = (0.92, 0.92, 0.88)
_BASE[DARK] = (0.16, 0.12, 0.10)
_BASE[HULL_DARK] = (0.15, 0.20, 0.30)
_BASE[MOUNTAIN_GREEN] = (0.22, 0.30, 0.17)

# Texture amplitudes per material over the noise bank (fine, mid, coarse, horizontal, vertical streaks).
_TEXTURE = np.zeros((NUM_MATERIALS, 5), dtype=np.float32)
for _name, _amp in {
    "mountain": (0.10, 0.12, 0.10, 0.0, 0.02), "rock": (0.16, 0.14, 0.06, 0.0, 0.0),
    "tree": (0.22, 0.12, 0.05, 0.0, 0.06), "earth": (0.14, 0.08, 0.08, 0.04, 0.0),
    "hill": (0.10, 0.10, 0.10, 0.0, 0.0), "sand": (0.05, 0.04, 0.06, 0.04, 0.0),
    "land": (0.08, 0.08, 0.10, 0.0, 0.0), "grass": (0.14, 0.10, 0.10, 0.0, 0.08),
    "plant": (0.25, 0.10, 0.0, 0.0, 0.0), "field": (0.05, 0.05, 0.06, 0.18, 0.0),
    "path": (0.10, 0.05, 0.04, 0.0, 0.0), "road": (0.06, 0.03, 0.04, 0.0, 0.0),
    "wall": (0.16, 0.10, 0.0, 0.10, 0.0), "waterfall": (0.08, 0.0, 0.0, 0.0, 0.25),
    "pier": (0.06, 0.0, 0.0, 0.0, 0.15), "building": (0.04, 0.03, 0.0, 0.0, 0.0),
    "house": (0.03, 0.02, 0.0, 0.0, 0.0), "bridge": (0.08, 0.05, 0.0, 0.06, 0.0),
    "fence": (0.06, 0.0, 0.0, 0.0, 0.10), "boat": (0.02, 0.0, 0.0, 0.0, 0.0),
    "ship": (0.02, 0.02, 0.0, 0.0, 0.0), "sea": (0.03, 0.0, 0.0, 0.10, 0.0),
    "lake": (0.02, 0.0, 0.0, 0.05, 0.0), "water": (0.02, 0.0, 0.0, 0.06, 0.0),
    "river": (0.03, 0.0, 0.0, 0.08, 0.0), "other": (0.04, 0.0, 0.0, 0.0, 0.0),
}.items():  # fmt: skip
    _TEXTURE[C[_name]] = _amp
_TEXTURE[SNOW] = (0.04, 0.05, 0.04, 0.0, 0.04)
_TEXTURE[ROOF] = (0.05, 0.0, 0.0, 0.08, 0.0)
_TEXTURE[TRUNK] = (0.10, 0.0, 0.0, 0.0, 0.10)
_TEXTURE[FOAM] = (0.05, 0.0, 0.0, 0.05, 0.15)
_TEXTURE[MOUNTAIN_GREEN] = (0.18, 0.12, 0.06, 0.0, 0.0)


# Time of day: light colour (multiplies surfaces), sky zenith and horizon colours, sun colour.
_LIGHT = {
    "day": dict(light=(1.0, 1.0, 0.98), zenith=(0.25, 0.48, 0.85), horizon=(0.70, 0.82, 0.95), sun=(1.0, 0.98, 0.9)),
    "golden": dict(light=(1.05, 0.85, 0.62), zenith=(0.35, 0.50, 0.78), horizon=(0.98, 0.78, 0.52), sun=(1.0, 0.85, 0.55)),
    "dusk": dict(light=(0.62, 0.46, 0.48), zenith=(0.16, 0.18, 0.40), horizon=(0.92, 0.48, 0.36), sun=(1.0, 0.55, 0.35)),
    "night": dict(light=(0.20, 0.24, 0.36), zenith=(0.02, 0.03, 0.09), horizon=(0.10, 0.13, 0.25), sun=(0.85, 0.88, 0.95)),
}  # fmt: skip


def _material_colors(style: SceneStyle) -> np.ndarray:
    """(NUM_MATERIALS, 3) colours for ``style``'s season (lighting is applied later)."""
    colors = _BASE.copy()
    if style.season == "autumn":
        colors[C["tree"]] = (0.55, 0.30, 0.08)
        colors[C["grass"]] = (0.55, 0.52, 0.24)
        colors[C["plant"]] = (0.50, 0.22, 0.08)
        colors[C["hill"]] = (0.52, 0.42, 0.20)
        colors[C["field"]] = (0.70, 0.55, 0.28)
        colors[MOUNTAIN_GREEN] = (0.40, 0.30, 0.15)
    elif style.season == "winter":
        snow = _BASE[SNOW]
        for cls, amount in ((C["grass"], 0.85), (C["field"], 0.9), (C["hill"], 0.8), (C["land"], 0.8),
                            (C["earth"], 0.6), (C["plant"], 0.5), (C["tree"], 0.25), (ROOF, 0.7),
                            (C["path"], 0.5), (C["sand"], 0.3), (C["rock"], 0.3), (MOUNTAIN_GREEN, 0.35)):  # fmt: skip
            colors[cls] = colors[cls] * (1 - amount) + snow * amount
        colors[C["tree"]] = (0.10, 0.20, 0.14)
        colors[C["lake"]] = colors[C["water"]] = (0.45, 0.52, 0.58)  # half-frozen, grey
    elif style.season == "spring":
        colors[C["tree"]] = (0.28, 0.48, 0.18)
        colors[C["grass"]] = (0.45, 0.68, 0.24)
        colors[C["hill"]] = (0.42, 0.58, 0.25)
        colors[C["field"]] = (0.50, 0.62, 0.26)
        colors[C["plant"]] = (0.35, 0.58, 0.22)
        colors[MOUNTAIN_GREEN] = (0.26, 0.36, 0.18)
    return colors


# --- noise ---------------------------------------------------------------------------------------


def _value_noise(rng: np.random.Generator, shape: tuple[int, int], cells: list[tuple[int, int]]) -> np.ndarray:
    """Fractal value noise of ``shape``: a sum of random grids of cell size (cy, cx) upsampled bicubically."""
    H, W = shape
    out = np.zeros(shape, dtype=np.float32)
    for i, (cy, cx) in enumerate(cells):
        grid = rng.standard_normal((H // cy + 3, W // cx + 3)).astype(np.float32)
        big = Image.fromarray(grid, mode="F").resize((grid.shape[1] * cx, grid.shape[0] * cy), Image.BICUBIC)
        out += np.asarray(big)[cy : cy + H, cx : cx + W] * (0.7**i)
    out -= out.mean()
    return out / (np.abs(out).max() + 1e-6)


@lru_cache(maxsize=4)
def _noise_bank(height: int, width: int) -> np.ndarray:
    """(5, 2H, 2W) noise images in about [-1, 1], made once per size from a fixed seed; scenes crop it."""
    rng = np.random.default_rng(12345)
    shape = (2 * height, 2 * width)
    scale = max(1, min(height, width) // 96)  # the same look at 128 px and at 384 px
    layers = [
        _value_noise(rng, shape, [(1, 1), (2, 2)]),
        _value_noise(rng, shape, [(4 * scale, 4 * scale), (2 * scale, 2 * scale)]),
        _value_noise(rng, shape, [(32 * scale, 32 * scale), (16 * scale, 16 * scale), (8 * scale, 8 * scale)]),
        _value_noise(rng, shape, [(1, 24 * scale), (2, 48 * scale)]),
        _value_noise(rng, shape, [(24 * scale, 1), (48 * scale, 2)]),
    ]
    return np.ascontiguousarray(np.stack(layers, axis=0))


def _fbm1d(rng: np.random.Generator, n: int, octaves: int = 5, base: int = 3, persistence: float = 0.5) -> np.ndarray:
    """1-D fractal noise of length ``n`` in about [-1, 1] (ridgelines, shorelines)."""
    x = np.linspace(0.0, 1.0, n, dtype=np.float32)
    out = np.zeros(n, dtype=np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        k = base * 2**o + 1
        pts = rng.uniform(-1, 1, k + 1).astype(np.float32)
        out += amp * np.interp(x * k, np.arange(k + 1), pts).astype(np.float32)
        total += amp
        amp *= persistence
    return out / total


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


# --- canvas --------------------------------------------------------------------------------------
class _Canvas:
    def __init__(self, H: int, W: int):
        self.H, self.W = H, W
        self.label = np.full((H, W), C["sky"], dtype=np.uint8)
        self.material = np.full((H, W), C["sky"], dtype=np.uint8)
        self.shade = np.ones((H, W), dtype=np.float32)
        self.depth = np.ones((H, W), dtype=np.float32)
        self.Y = np.arange(H, dtype=np.float32)[:, None]
        self.X = np.arange(W, dtype=np.float32)[None, :]
        self.waters: list[tuple[np.ndarray, int, float, float]] = []  # (mask, class, mirror row, strength)
        self.snowy = np.zeros((H, W), bool)  # where mountains would carry snow

    def paint(self, mask, cls: int, material: int | None = None, shade=None, depth=None, box=None) -> None:
        """Set ``mask`` (full-size, or inside ``box`` = (y0, y1, x0, x1)) to class ``cls``."""
        if box is not None:
            y0, y1, x0, x1 = (int(v) for v in box)
            y0, x0 = max(y0, 0), max(x0, 0)
            y1, x1 = min(y1, self.H), min(x1, self.W)
            if y1 <= y0 or x1 <= x0:
                return
            sl = (slice(y0, y1), slice(x0, x1))
            # boxes come from box_grid (already clipped), so mask and shade match the box
            assert mask.shape == (y1 - y0, x1 - x0), (mask.shape, box)
        else:
            sl = (slice(None), slice(None))
        self.label[sl][mask] = cls
        self.material[sl][mask] = cls if material is None else material
        if shade is not None:
            self.shade[sl][mask] = shade[mask] if isinstance(shade, np.ndarray) else shade
        else:
            self.shade[sl][mask] = 1.0
        if depth is not None:
            self.depth[sl][mask] = depth[mask] if isinstance(depth, np.ndarray) else depth

    def band(self, top: np.ndarray, bottom: np.ndarray | float) -> np.ndarray:
        """Pixels with top(x) <= y < bottom(x)."""
        bottom = bottom[None, :] if isinstance(bottom, np.ndarray) else bottom
        return (self.Y >= top[None, :]) & (self.Y < bottom)

    def box_grid(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (ys, xs) of a box, clipped to the canvas, for small shapes."""
        y0, x0 = max(int(y0), 0), max(int(x0), 0)
        y1, x1 = min(int(y1), self.H), min(int(x1), self.W)
        return (
            np.arange(y0, max(y1, y0), dtype=np.float32)[:, None],
            np.arange(x0, max(x1, x0), dtype=np.float32)[None, :],
        )


# --- scene elements --------------------------------------------------------------------------------
def _ground_depth(cv: _Canvas, horizon: float) -> np.ndarray:
    """Depth of ground pixels by perspective: 1 at the horizon, 0 at the bottom edge."""
    return np.clip(1.0 - (cv.Y - horizon) / max(cv.H - horizon, 1.0), 0.0, 1.0) * np.ones((1, cv.W), np.float32)


def _mountains(cv: _Canvas, rng: np.random.Generator, horizon: float, sun_dir: float, kind: str) -> np.ndarray:
    """1-3 ridges from far to near; returns the skyline (topmost non-sky row per column)."""
    H, W = cv.H, cv.W
    n = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
    # Sea scenes often show a headland on one side only, so sky meets sea at the horizon.
    window = np.ones(W, dtype=np.float32)
    if kind == "sea" and rng.random() < 0.5:
        edge = rng.uniform(0.3, 0.7) * W
        soft = rng.uniform(0.05, 0.2) * W
        side = 1 if rng.random() < 0.5 else -1
        window = np.clip(0.5 + side * (cv.X[0] - edge) / soft, 0, 1) ** 0.7
    top_height = rng.uniform(0.6, 0.95) * horizon
    ridges, amps = [], []
    for k in range(n):
        far = 1.0 - k / max(n, 1)  # 1 = farthest ridge
        amp = top_height * (0.55 + 0.45 * far) * rng.uniform(0.7, 1.1)
        profile = _fbm1d(rng, W, octaves=6, base=int(rng.integers(2, 5)), persistence=0.52)
        ridge = horizon - np.clip(amp * (0.8 + 0.4 * profile) * window, 0, None) + k * rng.uniform(0.0, 0.04) * H
        ridges.append(np.clip(ridge, 0.04 * H, horizon + 1).astype(np.float32))
        amps.append(amp)
    skyline = np.minimum(np.min(ridges, axis=0), horizon).astype(np.float32)
    r0, r1 = int(skyline.min()), min(int(horizon) + 2, H)
    Y = cv.Y[r0:r1]
    # gullies: the horizontal slope of coarse noise, turned towards or away from the sun
    streak = cv.tex[2, r0:r1] + 0.5 * cv.tex[1, r0:r1]
    gully = np.zeros_like(streak)
    step = max(1, W // 256)
    gully[:, step:-step] = streak[:, 2 * step :] - streak[:, : -2 * step]
    gully = np.clip(gully * (sun_dir * 10.0 / step), -1, 1)
    cv.snow_chance = float(rng.random())  # compared with the season at render time (photo only)
    snowy = np.zeros((H, W), bool)
    for k, (ridge, amp) in enumerate(zip(ridges, amps)):
        far = 1.0 - k / max(n, 1)
        mask = (Y >= ridge[None, :]) & (Y < horizon + 2)
        # Shading: the face turned to the sun is lit; the ridge slope sets the face near the crest,
        # the gullies take over further down.
        smooth = max(9, W // 24)
        slope = np.gradient(
            np.convolve(np.pad(ridge, smooth, mode="edge"), np.ones(smooth) / smooth, mode="same")[smooth:-smooth]
        )
        below = np.clip((Y - ridge[None, :]) / (amp + 1), 0, 1)
        face = np.clip(2.0 * slope.astype(np.float32) * sun_dir, -1, 1)[None, :] * (1 - below) ** 2
        shade = (0.85 + 0.28 * face + 0.14 * gully * (0.3 + 0.7 * below)).astype(np.float32)
        is_hill = kind != "sea" and k == n - 1 and n > 1 and rng.random() < 0.2
        snow_frac = rng.uniform(0.15, 0.5)
        box = (r0, r1, 0, W)
        if is_hill:
            cv.paint(mask, C["hill"], shade=shade, depth=np.float32(0.45), box=box)
            continue
        cv.paint(mask, C["mountain"], shade=shade, depth=np.float32(0.5 + 0.5 * far), box=box)
        # forested lower slopes on the nearer ridges (still class mountain)
        if far < 0.99 or n == 1:
            green = mask & (below + 0.35 * cv.tex[2, r0:r1] + 0.15 * gully > rng.uniform(0.45, 0.8))
            cv.material[r0:r1][green] = MOUNTAIN_GREEN
        # snow near the crest, reaching down the gullies; used in the photo when the season allows
        height = np.clip((horizon - ridge) / (top_height + 1), 0, 1)[None, :]
        snowy[r0:r1] |= mask & (below < snow_frac * height + 0.08 * gully + 0.1 * cv.tex[2, r0:r1])
    cv.snowy = snowy
    return skyline


def _forest(cv: _Canvas, rng: np.random.Generator, base: np.ndarray, height: float, sun_dir: float,
            depth: float, x_range=(0.0, 1.0), conical: bool | None = None) -> None:  # fmt: skip
    """A tree line standing on ``base(x)``: the max of many cone or dome crown profiles."""
    W = cv.W
    span = (x_range[1] - x_range[0]) * W
    n = max(3, int(span / max(height * 0.45, 2.0)))
    xs = rng.uniform(x_range[0] * W, x_range[1] * W, n).astype(np.float32)
    hs = (height * rng.uniform(0.6, 1.2, n)).astype(np.float32)
    conical = rng.random() < 0.6 if conical is None else conical
    hw = hs * (0.28 if conical else 0.45) * rng.uniform(0.8, 1.2, n).astype(np.float32)
    u = (cv.X[0][None, :] - xs[:, None]) / hw[:, None]  # (n, W)
    inside = np.abs(u) < 1
    prof = (1 - np.abs(u)) if conical else np.sqrt(np.clip(1 - u * u, 0, 1))
    lift = np.where(inside, hs[:, None] * (prof if conical else 0.35 + 0.65 * prof), 0.0)
    best = lift.argmax(axis=0)
    top = base - lift.max(axis=0)
    cols = lift.max(axis=0) > 0
    top = np.where(cols, top, base + 1).astype(np.float32)
    mask = cv.band(top, base + 1)
    side = np.take_along_axis(u, best[None, :], 0)[0]
    shade = (1.0 + 0.3 * np.clip(side * sun_dir, -1, 1))[None, :] - 0.35 * np.clip(
        (cv.Y - top[None, :]) / (height + 1), 0, 1
    )
    cv.paint(mask, C["tree"], shade=shade.astype(np.float32), depth=np.float32(depth))


def _tree(
    cv: _Canvas, rng: np.random.Generator, x: float, base: float, height: float, sun_dir: float, depth: float
) -> None:
    """One tree with a trunk and a conical or round crown."""
    conical = rng.random() < 0.5
    hw = height * (0.25 if conical else 0.35)
    ys, xs = cv.box_grid(base - height, base + 1, x - hw - 1, x + hw + 2)
    if ys.size == 0 or xs.size == 0:
        return
    box = (ys[0, 0], ys[-1, 0] + 1, xs[0, 0], xs[0, -1] + 1)
    trunk_h = height * (0.18 if conical else 0.35)
    trunk = (np.abs(xs - x) <= max(1.0, height * 0.035)) & (ys >= base - trunk_h - 2) & (ys <= base)
    v = (base - trunk_h - ys) / (height - trunk_h)  # 0 at crown bottom .. 1 at top
    u = (xs - x) / hw
    if conical:
        crown = (v >= 0) & (v <= 1) & (np.abs(u) <= (1 - v) * (1 + 0.15 * np.sin(v * 40 + x)))
    else:
        r = (v - 0.5) * 2
        crown = u * u + r * r <= 1 + 0.15 * np.sin(np.arctan2(r, u) * 7 + x)
    shade = (1.0 + 0.3 * np.clip(u * sun_dir, -1, 1) + 0.15 * (v - 0.5)).astype(np.float32)
    cv.paint(trunk, C["tree"], material=TRUNK, depth=np.float32(depth), box=box)
    cv.paint(crown, C["tree"], shade=shade, depth=np.float32(depth), box=box)


def _blob(cv: _Canvas, rng, cls: int, cx: float, cy: float, rx: float, ry: float, sun_dir: float, depth: float,
          flat_bottom: bool = True, material: int | None = None) -> None:  # fmt: skip
    """A lumpy ellipse (boulder, bush) lit from the sun's side."""
    ys, xs = cv.box_grid(cy - ry - 1, cy + ry + 2, cx - rx * 1.2 - 1, cx + rx * 1.2 + 2)
    if ys.size == 0 or xs.size == 0:
        return
    box = (ys[0, 0], ys[-1, 0] + 1, xs[0, 0], xs[0, -1] + 1)
    u, v = (xs - cx) / rx, (ys - cy) / ry
    phase = rng.uniform(0, 6.3)
    ang = np.arctan2(v, u)
    r = 1 + 0.12 * np.sin(ang * 5 + phase) + 0.06 * np.sin(ang * 11 + 2 * phase)
    mask = u * u + v * v <= r * r
    if flat_bottom:
        mask &= v <= 0.6
    shade = (1.0 + 0.35 * np.clip(u * sun_dir - v * 0.5, -1, 1)).astype(np.float32)
    cv.paint(mask, cls, material=material, shade=shade, depth=np.float32(depth), box=box)


def _house(
    cv: _Canvas, rng, x: float, base: float, width: float, sun_dir: float, depth: float, tall: bool = False
) -> None:
    """A house (walls, pitched roof, windows, door; all class house) or a tall building with window rows."""
    if tall:
        h = width * rng.uniform(1.2, 2.5)
        ys, xs = cv.box_grid(base - h, base + 1, x - width / 2, x + width / 2)
        if ys.size == 0 or xs.size == 0:
            return
        box = (ys[0, 0], ys[-1, 0] + 1, xs[0, 0], xs[0, -1] + 1)
        body = np.ones((ys.shape[0], xs.shape[1]), bool)
        cv.paint(body, C["building"], shade=np.float32(0.95 + 0.1 * sun_dir), depth=np.float32(depth), box=box)
        cell = max(3.0, width / 6)
        wy, wx = (ys - (base - h)) % cell, (xs - (x - width / 2)) % cell
        win = (
            (wy > cell * 0.35)
            & (wx > cell * 0.3)
            & (wx < cell * 0.75)
            & (ys < base - cell)
            & (xs > x - width / 2 + cell * 0.5)
        )
        cv.paint(win, C["building"], material=WINDOW, depth=np.float32(depth), box=box)
        return
    h = width * rng.uniform(0.45, 0.7)
    roof_h = width * rng.uniform(0.3, 0.5)
    over = width * 0.08
    ys, xs = cv.box_grid(base - h - roof_h, base + 1, x - width / 2 - over, x + width / 2 + over + 1)
    if ys.size == 0 or xs.size == 0:
        return
    box = (ys[0, 0], ys[-1, 0] + 1, xs[0, 0], xs[0, -1] + 1)
    walls = (np.abs(xs - x) <= width / 2) & (ys >= base - h) & (ys <= base)
    t = (ys - (base - h - roof_h)) / roof_h  # 0 at the ridge .. 1 at the eaves
    roof = (t >= 0) & (t <= 1) & (np.abs(xs - x) <= t * (width / 2 + over))
    cv.paint(walls, C["house"], shade=np.float32(1.0), depth=np.float32(depth), box=box)
    roof_shade = (1.0 + 0.2 * np.sign(xs - x) * sun_dir).astype(np.float32) * np.ones_like(ys)
    cv.paint(roof, C["house"], material=ROOF, shade=roof_shade, depth=np.float32(depth), box=box)
    if width >= 10:
        ww = width * 0.14
        row = (ys >= base - h * 0.75) & (ys <= base - h * 0.45)
        win = row & ((np.abs(xs - (x - width * 0.25)) <= ww / 2) | (np.abs(xs - (x + width * 0.25)) <= ww / 2))
        door = (np.abs(xs - x) <= width * 0.07) & (ys >= base - h * 0.55) & (ys <= base)
        cv.paint(win, C["house"], material=WINDOW, depth=np.float32(depth), box=box)
        cv.paint(door, C["house"], material=DARK, depth=np.float32(depth), box=box)


def _boat(cv: _Canvas, rng, x: float, waterline: float, length: float, depth: float, ship: bool) -> None:
    """A sailing boat (hull + sail, class boat) or a ship (long hull + superstructure, class ship)."""
    cls = C["ship"] if ship else C["boat"]
    hull_h = length * (0.16 if ship else 0.2)
    mast = length * (0.35 if ship else 1.0)
    ys, xs = cv.box_grid(waterline - hull_h - mast, waterline + 1, x - length / 2 - 1, x + length / 2 + 2)
    if ys.size == 0 or xs.size == 0:
        return
    box = (ys[0, 0], ys[-1, 0] + 1, xs[0, 0], xs[0, -1] + 1)
    t = (ys - (waterline - hull_h)) / hull_h  # 0 at deck .. 1 at waterline
    hull = (t >= 0) & (t <= 1) & (np.abs(xs - x) <= length / 2 * (1 - 0.3 * t))
    cv.paint(hull, cls, material=HULL_DARK if rng.random() < 0.4 else None, depth=np.float32(depth), box=box)
    deck = waterline - hull_h
    if ship:
        cabin = (np.abs(xs - x + length * 0.1) <= length * 0.22) & (ys >= deck - mast) & (ys < deck)
        funnel = (np.abs(xs - x - length * 0.2) <= length * 0.05) & (ys >= deck - mast * 1.5) & (ys < deck)
        cv.paint(cabin, cls, depth=np.float32(depth), box=box)
        cv.paint(funnel, cls, material=DARK, depth=np.float32(depth), box=box)
    else:
        s = (deck - ys) / mast  # 0 at deck .. 1 at masthead
        sail = (s > 0.05) & (s <= 1) & (xs >= x) & (xs - x <= length * 0.45 * (1 - s))
        pole = (np.abs(xs - x) <= 0.6) & (s >= 0) & (s <= 1.02)
        cv.paint(sail | pole, cls, material=SAIL, depth=np.float32(depth), box=box)


def _pier(cv: _Canvas, rng, x: float, y_shore: float, y_end: float, w_near: float, water: int) -> None:
    """A plank walkway from the shore out over the water, narrowing with distance, on posts."""
    y0, y1 = int(y_end), min(int(y_shore) + 3, cv.H)
    if y1 - y0 < 2:
        return
    w_far = w_near * 0.3
    ys, xs = cv.box_grid(y0, y1 + int(w_near), x - w_near - 1, x + w_near + 2)
    if ys.size == 0 or xs.size == 0:
        return
    box = (ys[0, 0], ys[-1, 0] + 1, xs[0, 0], xs[0, -1] + 1)
    t = np.clip((ys - y_end) / max(y_shore - y_end, 1), 0, 1)
    half = w_far + (w_near - w_far) * t
    deck = (np.abs(xs - x) <= half) & (ys >= y_end) & (ys <= y1)
    legs = (
        (np.abs(np.abs(xs - x) - w_far * 0.85) <= 0.1 * w_far + 0.5) & (ys >= y_end) & (ys <= y_end + 0.6 * w_far + 2)
    )
    region = cv.label[int(box[0]) : int(box[1]), int(box[2]) : int(box[3])]
    planks = (0.9 + 0.12 * np.sign(np.sin(ys * 1.3))).astype(np.float32) * np.ones_like(xs)
    cv.paint(deck | (legs & (region == water)), C["pier"], shade=planks, depth=np.float32(0.4), box=box)


def _person(cv: _Canvas, rng, x: float, base: float, height: float, depth: float) -> None:
    ys, xs = cv.box_grid(base - height, base + 1, x - height * 0.2 - 1, x + height * 0.2 + 2)
    if ys.size == 0 or xs.size == 0:
        return
    box = (ys[0, 0], ys[-1, 0] + 1, xs[0, 0], xs[0, -1] + 1)
    head_r = height * 0.11
    head = (xs - x) ** 2 + (ys - (base - height + head_r)) ** 2 <= head_r**2 + 0.5
    body = (np.abs(xs - x) <= height * 0.13 + 0.3) & (ys >= base - height + 2 * head_r) & (ys <= base - height * 0.45)
    legs = (np.abs(np.abs(xs - x) - height * 0.06) <= height * 0.045 + 0.3) & (ys > base - height * 0.45) & (ys <= base)
    cv.paint(body, C["person"], depth=np.float32(depth), box=box)
    cv.paint(head | legs, C["person"], material=DARK, depth=np.float32(depth), box=box)


def _fence(
    cv: _Canvas, rng, x0: float, x1: float, base0: float, base1: float, height: float, cls: int, depth: float
) -> None:
    """Posts and two rails between (x0, base0) and (x1, base1) (fence or railing)."""
    ys, xs = cv.box_grid(min(base0, base1) - height - 1, max(base0, base1) + 2, min(x0, x1), max(x0, x1) + 1)
    if ys.size == 0 or xs.size == 0:
        return
    box = (ys[0, 0], ys[-1, 0] + 1, xs[0, 0], xs[0, -1] + 1)
    base = base0 + (base1 - base0) * (xs - x0) / (x1 - x0 + 1e-6)
    gap = max(4.0, height * 1.2)
    thick = max(1.0, height * 0.12)
    posts = ((xs - x0) % gap < thick) & (ys >= base - height) & (ys <= base)
    rails = (np.abs(ys - (base - height * 0.85)) <= thick * 0.6) | (np.abs(ys - (base - height * 0.45)) <= thick * 0.6)
    cv.paint(posts | rails, cls, depth=np.float32(depth), box=box)


# --- layouts -----------------------------------------------------------------------------------------
def _layout(cv: _Canvas, rng: np.random.Generator) -> dict:
    """Paint one random layout; returns facts the photo stage needs (horizon, sun side)."""
    H, W = cv.H, cv.W
    kind = str(rng.choice(["sea", "lake", "river", "land"], p=[0.3, 0.3, 0.2, 0.2]))
    # where the ground or water begins: low in sea scenes, high (mountains reaching far down) elsewhere
    horizon = float((rng.uniform(0.45, 0.62) if kind == "sea" else rng.uniform(0.66, 0.86)) * H)
    sun_dir = 1.0 if rng.random() < 0.5 else -1.0
    has_mountains = kind != "sea" or rng.random() < 0.8
    skyline = _mountains(cv, rng, horizon, sun_dir, kind) if has_mountains else np.full(W, horizon, np.float32)
    gdepth = _ground_depth(cv, horizon)

    if kind == "sea":
        _sea_scene(cv, rng, horizon, sun_dir, gdepth)
    elif kind == "lake":
        _lake_scene(cv, rng, horizon, sun_dir, gdepth, skyline)
    else:
        _land_scene(cv, rng, horizon, sun_dir, gdepth, kind)
    return dict(horizon=horizon, sun_dir=sun_dir)


def _ground_bands(
    cv: _Canvas, rng: np.random.Generator, depth: np.ndarray, top: np.ndarray, classes: list[int], weights: list[float]
) -> list[np.ndarray]:
    """Fill from top(x) to the bottom with bands of the given classes; returns band tops."""
    H, W = cv.H, cv.W
    tops = [top]
    cur = top
    for i, cls in enumerate(classes):
        if i + 1 < len(classes):
            frac = weights[i] / sum(weights[i:])
            nxt = cur + frac * (H - cur) + _fbm1d(rng, W, 4, 2) * 0.06 * H
            nxt = np.maximum(nxt, cur + 2).astype(np.float32)
        else:
            nxt = np.full(W, H + 1, np.float32)
        shade = (1.0 + 0.12 * _fbm1d(rng, W, 3, 2))[None, :].astype(np.float32) * np.ones((H, 1), np.float32)
        cv.paint(cv.band(cur, nxt), cls, shade=shade, depth=depth)
        cur = nxt
        tops.append(cur)
    return tops


def _sea_scene(cv: _Canvas, rng: np.random.Generator, horizon: float, sun_dir: float, gdepth: np.ndarray) -> None:
    """Sea from the horizon to a diagonal shore, a beach, then grass or rock; boats, a pier, people, walls, houses."""
    H, W = cv.H, cv.W
    scale = H / 384
    # sea from the horizon to a diagonal shore, sand beach, then grass/rock foreground.
    tilt = rng.uniform(-0.25, 0.25) * H
    shore = (
        horizon
        + rng.uniform(0.5, 0.85) * (H - horizon)
        + tilt * (cv.X[0] / W - 0.5)
        + _fbm1d(rng, W, 5, 3) * 0.04 * H
    )
    shore = np.clip(shore, horizon + 4, H + 1).astype(np.float32)
    sea = cv.band(np.full(W, horizon, np.float32), H + 1)
    cv.paint(sea, C["sea"], depth=gdepth)
    cv.waters.append((sea, C["sea"], horizon, 0.35))
    beach_w = rng.uniform(0.04, 0.1) * H
    fg = [C["sand"], int(rng.choice([C["grass"], C["rock"], C["sand"], C["land"]]))]
    tops = _ground_bands(cv, rng, gdepth, shore, fg, [beach_w, 1.0])
    # waves breaking on the beach (photo only, class sea)
    foam = cv.band(shore - 2 * scale, shore) & (cv.label == C["sea"])
    cv.paint(foam, C["sea"], material=FOAM, depth=np.float32(0.2))
    if rng.random() < 0.5:  # rocks on the shore
        for _ in range(int(rng.integers(1, 5))):
            x = rng.uniform(0, W)
            y = float(shore[int(np.clip(x, 0, W - 1))])
            r = rng.uniform(8, 30) * scale * (y - horizon) / (H - horizon + 1)
            _blob(cv, rng, C["rock"], x, y, r * 1.3, r, sun_dir, 0.3)
    for _ in range(int(rng.integers(0, 4))):
        x = rng.uniform(0.05, 0.95) * W
        far = rng.uniform(0.0, 0.5)
        y = horizon + (far + 0.02) * (float(shore.min()) - horizon)
        ship = rng.random() < 0.35
        size = (6 + 40 * far) * scale * (2.0 if ship else 1.0)
        _boat(cv, rng, x, y, size, 0.6, ship)
    if rng.random() < 0.45:  # pier out into the sea
        x = rng.uniform(0.2, 0.8) * W
        y_shore = float(shore[int(x)])
        _pier(cv, rng, x, y_shore, horizon + (y_shore - horizon) * rng.uniform(0.2, 0.6), 0.06 * W, C["sea"])
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 4))):
            x = rng.uniform(0, W)
            y = min(float(shore[int(x)]) + rng.uniform(0.2, 1.0) * beach_w, H - 1)
            _person(cv, rng, x, y, (8 + 40 * (y - horizon) / (H - horizon)) * scale, 0.2)
    if rng.random() < 0.3:  # sea wall on the beach
        y = float(np.median(tops[1]))
        x0, x1 = sorted(rng.uniform(0, W, 2))
        wall = (cv.X >= x0) & (cv.X <= x1 + 20) & (cv.Y >= y - 10 * scale) & (cv.Y <= y)
        cv.paint(wall, C["wall"], depth=np.float32(0.3))
    if rng.random() < 0.3:  # seaside houses
        for _ in range(int(rng.integers(1, 4))):
            x = rng.uniform(0.05, 0.95) * W
            y = float(tops[1][int(x)]) + 4 * scale
            _house(cv, rng, x, y, rng.uniform(25, 50) * scale, sun_dir, 0.35)


def _lake_scene(cv: _Canvas, rng: np.random.Generator, horizon: float, sun_dir: float, gdepth: np.ndarray, skyline: np.ndarray) -> None:
    """A lake or water below the mountains, a far shore, a waterfall maybe; boats, a pier, foreground details."""
    H, W = cv.H, cv.W
    scale = H / 384
    shore = horizon + rng.uniform(0.35, 0.75) * (H - horizon) + _fbm1d(rng, W, 5, 2) * 0.05 * H
    shore = np.clip(shore, horizon + 6, H - 4).astype(np.float32)
    cls = C["lake"] if rng.random() < 0.45 else C["water"]
    far_shore = (horizon + 0.5 * scale + np.abs(_fbm1d(rng, W, 4, 3)) * 4 * scale).astype(np.float32)
    # a thin far shore of trees/grass at the foot of the mountains
    if rng.random() < 0.7:
        _forest(cv, rng, far_shore, rng.uniform(6, 18) * scale, sun_dir, 0.7)
    water = cv.band(far_shore, shore)
    cv.paint(water, cls, depth=gdepth)
    cv.waters.append((water, cls, float(far_shore.mean()), 0.75))
    if rng.random() < 0.35:  # waterfall down the mountain into the lake
        x = rng.uniform(0.15, 0.85) * W
        top = float(skyline[int(x)]) + (horizon - float(skyline[int(x)])) * rng.uniform(0.1, 0.5)
        half = rng.uniform(3, 12) * scale
        wob = np.sin(cv.Y / (7 * scale)) * 1.5 * scale
        fall = (np.abs(cv.X - x - wob) <= half * (1 + 0.6 * np.clip((cv.Y - top) / (horizon - top + 1), 0, 1))) & (cv.Y >= top) & (cv.Y <= horizon + 3 * scale)  # fmt: skip
        rocks = (np.abs(cv.X - x) <= half * 2.6) & (cv.Y >= top - 4 * scale) & (cv.Y <= horizon) & ~fall
        cv.paint(rocks, C["rock"], shade=np.float32(0.75), depth=np.float32(0.5))
        cv.paint(fall, C["waterfall"], depth=np.float32(0.5))
    fg = [int(rng.choice([C["grass"], C["sand"], C["rock"], C["earth"]])), C["grass"]]
    _ground_bands(cv, rng, gdepth, shore, fg, [0.25, 1.0])
    if rng.random() < 0.6:
        _forest(cv, rng, shore + 2 * scale, rng.uniform(30, 90) * scale, sun_dir, 0.25,
                x_range=(0.0, rng.uniform(0.15, 0.4)) if rng.random() < 0.5 else (rng.uniform(0.6, 0.85), 1.0))  # fmt: skip
    for _ in range(int(rng.integers(0, 3))):
        x = rng.uniform(0.1, 0.9) * W
        y = horizon + rng.uniform(0.05, 0.6) * (float(shore.min()) - horizon)
        _boat(cv, rng, x, y, (8 + 30 * (y - horizon) / (H - horizon)) * scale, 0.5, False)
    if rng.random() < 0.35:  # wooden pier
        x = rng.uniform(0.2, 0.8) * W
        ys0 = float(shore[int(x)])
        _pier(cv, rng, x, ys0, ys0 - rng.uniform(0.2, 0.5) * (ys0 - horizon), rng.uniform(0.03, 0.06) * W, cls)
    _foreground_details(cv, rng, horizon, sun_dir, shore)


def _land_scene(cv: _Canvas, rng: np.random.Generator, horizon: float, sun_dir: float, gdepth: np.ndarray, kind: str) -> None:
    """Fields, grass, earth with a winding river or a road/path to the horizon; houses, a wall, foreground details."""
    H, W = cv.H, cv.W
    scale = H / 384
    # river and land: fields, grass, earth; a winding river or a road/path to the horizon.
    classes = [int(rng.choice([C["field"], C["grass"], C["hill"], C["land"]])), C["grass"],
               int(rng.choice([C["grass"], C["field"], C["earth"], C["land"]]))]  # fmt: skip
    tops = _ground_bands(cv, rng, gdepth, np.full(W, horizon, np.float32), classes, [0.25, 0.4, 0.35])
    if rng.random() < 0.6:
        _forest(cv, rng, np.full(W, horizon + 2 * scale, np.float32), rng.uniform(5, 16) * scale, sun_dir, 0.75)
    vanish = rng.uniform(0.25, 0.75) * W
    bottom_x = rng.uniform(0.1, 0.9) * W
    t = np.clip((cv.Y[:, 0] - horizon) / (H - horizon), 0, 1)  # 0 at the horizon .. 1 at the bottom
    bend = rng.uniform(-0.25, 0.25) * W * np.sin(np.pi * t * rng.uniform(0.8, 2.0))
    centre = (vanish + (bottom_x - vanish) * t + bend * t)[:, None]
    if kind == "river":
        half = (2 * scale + rng.uniform(0.12, 0.3) * W * t)[:, None]
        cls = C["river"] if rng.random() < 0.75 else C["water"]
        wobble = _fbm1d(rng, H, 4, 3)[:, None] * 0.2 * half
        river = (np.abs(cv.X - centre - wobble) <= half) & (cv.Y >= horizon)
        banks = (np.abs(cv.X - centre - wobble) <= half * 1.12 + 2 * scale) & (cv.Y >= horizon) & ~river
        cv.paint(banks, int(rng.choice([C["earth"], C["sand"], C["rock"]])), depth=gdepth)
        cv.paint(river, cls, depth=gdepth)
        cv.waters.append((river, cls, horizon, 0.55))
        if rng.random() < 0.5:  # bridge across the river
            yb = horizon + rng.uniform(0.2, 0.6) * (H - horizon)
            iy = int(yb)
            c, hw = float(centre[iy, 0]), float(half[iy, 0]) * 1.3 + 6 * scale
            thick = 0.04 * (yb - horizon) + 3 * scale
            arch_r = hw * 0.8
            deck = (np.abs(cv.X - c) <= hw) & (cv.Y >= yb - thick) & (cv.Y <= yb + thick * 2.2)
            arch = ((cv.X - c) / arch_r) ** 2 + ((cv.Y - (yb + thick * 2.2)) / (thick * 1.7)) ** 2 <= 1
            cv.paint(deck & ~arch, C["bridge"], shade=np.float32(0.95), depth=np.float32(0.4))
            _fence(cv, rng, c - hw, c + hw, yb - thick, yb - thick, thick * 0.9, C["railing"], 0.4)
    else:
        half = (1 * scale + rng.uniform(0.1, 0.3) * W * t)[:, None]
        road = (np.abs(cv.X - centre) <= half) & (cv.Y >= horizon + 1)
        is_road = rng.random() < 0.5
        cv.paint(road, C["road"] if is_road else C["path"], depth=gdepth)
        if is_road:
            dash = (np.abs(cv.X - centre) <= 0.04 * half + 0.5) & (np.sin((H - cv.Y) ** 0.5 * 3.0) > 0.2) & road
            cv.paint(dash, C["road"], material=MARKING, depth=gdepth)
        if rng.random() < 0.5:
            y = horizon + rng.uniform(0.4, 0.9) * (H - horizon)
            _person(
                cv, rng, float(centre[int(min(y, H - 1)), 0]), y, (8 + 50 * (y - horizon) / (H - horizon)) * scale, 0.2
            )
    # houses / buildings on the middle ground
    n_houses = int(rng.choice([0, 1, 2, 4], p=[0.35, 0.25, 0.25, 0.15]))
    town = rng.random() < 0.3
    for _ in range(n_houses):
        y = horizon + rng.uniform(0.05, 0.4) * (H - horizon)
        size = (10 + 100 * (y - horizon) / (H - horizon)) * scale
        x = rng.uniform(0.05, 0.95) * W
        if cv.label[min(int(y), H - 1), int(x)] in (C["river"], C["water"], C["road"], C["path"]):
            continue
        _house(cv, rng, x, y, size, sun_dir, 0.5, tall=town and rng.random() < 0.6)
    if rng.random() < 0.4:  # stone wall along a field edge
        y = float(np.median(tops[1]))
        x0 = rng.uniform(0, 0.5) * W
        x1 = x0 + rng.uniform(0.2, 0.5) * W
        hgt = 3 * scale + 0.05 * (y - horizon)
        wall = (cv.X >= x0) & (cv.X <= x1) & (cv.Y >= y - hgt) & (cv.Y <= y)
        cv.paint(wall, C["wall"], depth=np.float32(0.4))
    _foreground_details(cv, rng, horizon, sun_dir, tops[1])


def _foreground_details(cv: _Canvas, rng, horizon: float, sun_dir: float, line: np.ndarray) -> None:
    """Near trees, bushes, boulders, a fence, a sign post: small objects on the foreground ground."""
    H, W = cv.H, cv.W
    scale = H / 384
    ground = (C["grass"], C["field"], C["earth"], C["land"], C["sand"], C["hill"], C["rock"])
    for _ in range(int(rng.choice([0, 1, 2, 3, 5], p=[0.3, 0.2, 0.2, 0.15, 0.15]))):
        x = rng.uniform(0, W)
        y = rng.uniform(float(line.min()), H + 10)
        if cv.label[min(int(y), H - 1), int(x)] not in ground:
            continue
        near = (y - horizon) / (H - horizon)
        _tree(cv, rng, x, y, (30 + 200 * near) * scale * rng.uniform(0.7, 1.2), sun_dir, 0.3 * (1 - near))
    for _ in range(int(rng.integers(0, 5))):
        x, y = rng.uniform(0, W), rng.uniform(float(line.min()), H + 5)
        if cv.label[min(int(y), H - 1), int(x)] not in ground:
            continue
        near = (y - horizon) / (H - horizon)
        r = (4 + 30 * near) * scale * rng.uniform(0.6, 1.3)
        if rng.random() < 0.5:
            _blob(cv, rng, C["plant"], x, y, r * 1.4, r, sun_dir, 0.2, flat_bottom=True)
        else:
            _blob(cv, rng, C["rock"], x, y, r * 1.5, r, sun_dir, 0.2)
    if rng.random() < 0.3:
        y0 = horizon + rng.uniform(0.35, 0.95) * (H - horizon)
        near = (y0 - horizon) / (H - horizon)
        _fence(cv, rng, rng.uniform(-0.2, 0.3) * W, rng.uniform(0.6, 1.2) * W, y0, y0 + rng.uniform(-0.1, 0.1) * (H - horizon),
               (4 + 30 * near) * scale, C["fence"], 0.1)  # fmt: skip
    if rng.random() < 0.12:  # a sign post (class other)
        x, y = rng.uniform(0.1, 0.9) * W, rng.uniform(0.7, 0.95) * H
        hgt = 40 * scale
        post = (np.abs(cv.X - x) <= 1.5 * scale) & (cv.Y >= y - hgt) & (cv.Y <= y)
        board = (np.abs(cv.X - x) <= 10 * scale) & (cv.Y >= y - hgt) & (cv.Y <= y - hgt * 0.65)
        cv.paint(post | board, C["other"], depth=np.float32(0.1))


# --- photo -------------------------------------------------------------------------------------------
def _sky(cv: _Canvas, style: SceneStyle, horizon: float, rows: int, light: dict) -> np.ndarray:
    """(rows, W, 3) sky: vertical gradient, sun glow, clouds lit in the time of day's colours."""
    W = cv.W
    Y = cv.Y[:rows]
    tex = cv.tex[:, :rows]
    zen, hor = np.array(light["zenith"], np.float32), np.array(light["horizon"], np.float32)
    t = np.clip(Y / max(horizon, 1.0), 0, 1) ** 0.7  # (rows, 1)
    sun_y = horizon * (1 - style.sun_height)
    sun_x = style.sun_x * W
    d2 = ((cv.X - sun_x) ** 2 + (Y - sun_y) ** 2) * np.float32(1.0 / cv.H**2)  # (rows, W) squared distance
    glow = np.float32(0.45) * np.exp(-4.0 * np.sqrt(d2)) + np.float32(0.8) * np.exp(d2 * np.float32(-1 / 0.03**2))
    if style.time_of_day == "night":
        glow *= np.float32(0.6)
    sky = zen * (1 - t[..., None]) + hor * t[..., None] + glow[..., None] * np.array(light["sun"], np.float32)
    # clouds: coarse + mid noise, thresholded by cloudiness, thinner near the horizon
    c = tex[2] * np.float32(0.8) + tex[1] * np.float32(0.25)
    thresh = 0.45 - 0.75 * style.cloudiness
    cover = _smoothstep(thresh, thresh + 0.3, c) * (0.4 + 0.6 * (1 - t))
    lit = np.array({"day": (0.97, 0.97, 0.97), "golden": (1.0, 0.85, 0.65), "dusk": (0.85, 0.5, 0.5),
                    "night": (0.18, 0.2, 0.28)}[style.time_of_day], np.float32)  # fmt: skip
    cloud_shade = (0.8 + 0.2 * tex[1]) * (1 - 0.25 * np.clip(c - thresh, 0, 1))
    sky += (cloud_shade[..., None] * lit - sky) * cover[..., None]
    return sky


def _render(cv: _Canvas, style: SceneStyle, horizon: float) -> np.ndarray:
    H, W = cv.H, cv.W
    tex = cv.tex  # (5, H, W)
    light = _LIGHT[style.time_of_day]
    colors = _material_colors(style) * np.array(light["light"], np.float32)
    mat = cv.material
    snow_chance = {"winter": 1.0, "spring": 0.5, "autumn": 0.25, "summer": 0.3}[style.season]
    if getattr(cv, "snow_chance", 1.0) < snow_chance:
        mat = mat.copy()
        mat[cv.snowy & (cv.label == C["mountain"])] = SNOW
    detail = np.ones((H, W), np.float32)
    for k in range(5):
        detail += _TEXTURE[:, k].take(mat) * tex[k]
    detail *= cv.shade
    photo = colors.take(mat, axis=0)  # (H, W, 3)
    photo *= detail[..., None]
    is_sky = cv.label == C["sky"]
    sky_rows = int(np.nonzero(is_sky.any(axis=1))[0].max()) + 1 if is_sky.any() else 0
    if sky_rows:
        sky = _sky(cv, style, horizon, sky_rows, light)
        region = is_sky[:sky_rows]
        photo[:sky_rows][region] = sky[region]
    # haze: far things fade towards the horizon colour (sky has depth 0)
    hz = cv.depth * cv.depth * np.float32(0.1 + 0.75 * style.haze)
    photo += (np.array(light["horizon"], np.float32) - photo) * hz[..., None]
    # water mirrors what is above its mirror row, darkened, with ripples growing towards the viewer
    for mask, cls, row, strength in cv.waters:
        ys, xs = np.nonzero(mask & (cv.label == cls) & (cv.material == cls))
        if ys.size == 0:
            continue
        dist = ys - row
        ripple = tex[3, ys, xs] * (1.0 + 0.06 * dist)
        src_y = np.clip(np.round(2 * row - ys + ripple * 0.5).astype(np.int64), 0, H - 1)
        src_x = np.clip(np.round(xs + ripple * 2).astype(np.int64), 0, W - 1)
        refl = photo[src_y, src_x] * np.float32(0.8)
        k = (strength * np.clip(1 - dist / (1.2 * (H - row) + 1), 0.3, 1))[:, None].astype(np.float32)
        photo[ys, xs] = photo[ys, xs] * (1 - k) + refl * k
    if style.time_of_day in ("dusk", "night"):  # windows glow
        glow = cv.material == WINDOW
        photo[glow] = np.array((1.0, 0.8, 0.45), np.float32) * (0.9 if style.time_of_day == "night" else 0.7)
    photo *= np.float32(255.0)
    np.clip(photo, 0, 255, out=photo)
    # soft edges in the photo only (labels stay exact): a [1, 2, 1] / 4 blur each way, in integers
    p = photo.astype(np.uint16)
    q = p.copy()
    q[1:-1] = (p[:-2] + 2 * p[1:-1] + p[2:] + 2) >> 2
    p[:, 1:-1] = (q[:, :-2] + 2 * q[:, 1:-1] + q[:, 2:] + 2) >> 2
    p[:, 0], p[:, -1] = q[:, 0], q[:, -1]
    return p.astype(np.uint8)


def make_scene(
    seed: int, size: tuple[int, int] = (384, 512), style: SceneStyle | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A procedural landscape: photo ``(H, W, 3)`` uint8 and label ``(H, W)`` uint8 class ids.

    Deterministic in ``seed``; ``style`` (default: drawn from the seed) changes the photo only, so
    the label map of a seed is the same under every style.
    """
    H, W = int(size[0]), int(size[1])
    if H < 16 or W < 16:
        raise ValueError(f"make_scene size must be at least (16, 16) as (height, width), got {size}")
    layout_rng = np.random.default_rng([int(seed), 1])
    if style is None:
        style = sample_style(np.random.default_rng([int(seed), 2]))
    cv = _Canvas(H, W)
    bank = _noise_bank(H, W)
    oy, ox = int(layout_rng.integers(0, H)), int(layout_rng.integers(0, W))
    cv.tex = bank[:, oy : oy + H, ox : ox + W]  # (5, H, W) texture crops of this scene
    facts = _layout(cv, layout_rng)
    photo = _render(cv, style, facts["horizon"])
    return photo, cv.label


def _write_one(args: tuple[str, str, int, tuple[int, int]]) -> str:
    out_dir, name, seed, size = args
    photo, label = make_scene(seed, size)
    atomic_save_image(os.path.join(out_dir, "imgs", name + ".jpg"), Image.fromarray(photo), quality=95)
    atomic_save_image(os.path.join(out_dir, "labels", name + ".png"), Image.fromarray(label, mode="L"))
    return name


def write_dataset(out_dir: str, count: int, size: tuple[int, int] = (384, 512), seed: int = 0, workers: int = 1,
                  progress: bool = True) -> list[str]:  # fmt: skip
    """Write ``count`` scenes as ``out_dir/imgs/scene_NNNNNN.jpg`` + ``out_dir/labels/scene_NNNNNN.png``.

    Scene ``i`` uses seed ``seed + i``; each file is written to a temporary name and renamed, so an
    interrupted run leaves no half-written files. Returns the names (without extension).
    """
    if count < 0:
        raise ValueError(f"write_dataset count must be >= 0, got {count}")
    for sub in ("imgs", "labels"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    jobs = [(str(out_dir), f"scene_{i:06d}", seed + i, tuple(size)) for i in range(count)]
    from paintscape.parallel import parallel_map

    names: list[str] = parallel_map(_write_one, jobs, workers, desc="synthetic scenes", unit="scene", progress=progress)
    logger.info("wrote %d synthetic scenes to %s", len(names), out_dir)
    return names
