"""The 29 classes of the landscape track, their palette, and the tensor conventions.

Tensor conventions (written down once, used everywhere):

* image: float tensor ``(B, 3, H, W)`` in ``[-1, 1]``; numpy/PIL images are ``(H, W, 3)`` uint8.
* label: long tensor ``(B, H, W)`` of class ids ``0..28`` (``0..N-1`` for a dataset with another class
  table, :mod:`paintscape.class_table`); ``IGNORE_INDEX`` (255) marks pixels
  that carry no class (losses and metrics skip them). numpy label maps are ``(H, W)`` uint8.
* generator input: one-hot float tensor ``(B, C, H, W)`` with ``C = NUM_CLASSES`` (or N); ignored pixels
  are all-zero vectors (see :func:`one_hot`).
* sizes are given as ``(height, width)``; the track's photos are 384 x 512 (H x W).

Mapping tables from ADE20K-150 and COCO-Stuff-182 let real datasets and models trained on them be
used with landscape label maps. Ids that have no landscape counterpart map to ``other`` (28):
the pixels still exist in the photo, so they are kept as a class instead of being ignored; pixels
that the source marks as unlabeled map to ``IGNORE_INDEX``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where a tensor is made: reading label maps (check-data, curate) needs no torch
    import torch

CLASS_NAMES: tuple[str, ...] = (
    "mountain", "sky", "water", "sea", "rock", "tree", "earth", "hill", "river", "sand",
    "land", "building", "grass", "plant", "person", "boat", "waterfall", "wall", "pier", "path",
    "lake", "bridge", "field", "road", "railing", "fence", "ship", "house", "other",
)  # fmt: skip
NUM_CLASSES = len(CLASS_NAMES)
IGNORE_INDEX = 255
CLASS_IDS: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}

# Colours chosen to be told apart at a glance and to hint at the class (blue sky, green tree...).
# Every pair differs by at least 40 summed over the channels (tests/test_labels.py checks it).
PALETTE = np.array(
    [
        (139, 105, 80),   # 0 mountain
        (135, 206, 250),  # 1 sky
        (30, 144, 255),   # 2 water
        (0, 60, 160),     # 3 sea
        (128, 128, 128),  # 4 rock
        (34, 120, 34),    # 5 tree
        (160, 82, 45),    # 6 earth
        (154, 205, 50),   # 7 hill
        (0, 206, 209),    # 8 river
        (238, 214, 175),  # 9 sand
        (205, 170, 125),  # 10 land
        (178, 34, 34),    # 11 building
        (124, 252, 0),    # 12 grass
        (0, 100, 0),      # 13 plant
        (255, 20, 147),   # 14 person
        (255, 165, 0),    # 15 boat
        (190, 240, 255),  # 16 waterfall
        (90, 90, 140),    # 17 wall
        (100, 40, 10),    # 18 pier
        (244, 164, 96),   # 19 path
        (70, 130, 180),   # 20 lake
        (255, 235, 80),   # 21 bridge
        (200, 200, 60),   # 22 field
        (47, 47, 47),     # 23 road
        (218, 112, 214),  # 24 railing
        (210, 105, 30),   # 25 fence
        (255, 99, 71),    # 26 ship
        (220, 20, 60),    # 27 house
        (255, 255, 255),  # 28 other
    ],
    dtype=np.uint8,
)  # fmt: skip
IGNORE_COLOR = (0, 0, 0)

assert PALETTE.shape == (NUM_CLASSES, 3)


class LabelError(ValueError):
    """A label map holds values that are not landscape class ids."""


def colorize(label: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """Class ids ``(H, W)`` -> RGB ``(H, W, 3)`` uint8; ignored pixels become black.

    ``palette`` ``(N, 3)``: another class table's colours (default: the landscape palette).
    """
    label = np.asarray(label)
    palette = PALETTE if palette is None else np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    num_classes = len(palette)
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[:num_classes] = palette
    lut[IGNORE_INDEX] = IGNORE_COLOR
    if label.size and (label.min() < 0 or label.max() > 255):
        raise LabelError(f"label values must lie in 0..255, got {label.min()}..{label.max()}")
    out = lut[label.astype(np.uint8)]
    bad = (label >= num_classes) & (label != IGNORE_INDEX)
    if bad.any():
        raise LabelError(f"label holds ids outside 0..{num_classes - 1}: {sorted(np.unique(label[bad]).tolist())}")
    return out


def decode(rgb: np.ndarray, source: str = "label", palette: np.ndarray | None = None) -> np.ndarray:
    """Palette RGB ``(H, W, 3)`` -> class ids ``(H, W)`` uint8 (``palette``: another table's colours).

    A colour that is not in the palette raises :class:`LabelError` naming ``source``, the colour,
    its pixel count and the first pixel (x, y) where it occurs.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise LabelError(f"{source}: expected an RGB array (H, W, 3), got shape {rgb.shape}")
    key = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    palette = PALETTE if palette is None else np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    palette_key = (palette[:, 0].astype(np.int32) << 16) | (palette[:, 1].astype(np.int32) << 8) | palette[:, 2]
    order = np.argsort(palette_key)
    sorted_keys = palette_key[order]
    pos = np.clip(np.searchsorted(sorted_keys, key), 0, len(palette) - 1)
    found = sorted_keys[pos] == key
    ids = order[pos].astype(np.uint8)
    ignore_key = (IGNORE_COLOR[0] << 16) | (IGNORE_COLOR[1] << 8) | IGNORE_COLOR[2]
    is_ignore = key == ignore_key
    ids[is_ignore] = IGNORE_INDEX
    bad = ~found & ~is_ignore
    if bad.any():
        ys, xs = np.nonzero(bad)
        colors, counts = np.unique(key[bad], return_counts=True)
        described = ", ".join(
            f"({c >> 16}, {(c >> 8) & 255}, {c & 255}) x{n}" for c, n in list(zip(colors, counts))[:5]
        )
        more = f" and {len(colors) - 5} more" if len(colors) > 5 else ""
        raise LabelError(
            f"{source}: {int(bad.sum())} pixels have colours that are not in the paintscape palette, "
            f"first at (x={xs[0]}, y={ys[0]}): {described}{more}. Save label maps as grayscale class "
            f"ids 0..{len(palette) - 1}, or colour them with the class table's palette."
        )
    return ids


def one_hot(label: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """Label ``(B, H, W)`` long -> one-hot ``(B, C, H, W)`` float; ignored pixels are all zero."""
    import torch

    if label.dtype != torch.long:
        label = label.long()
    valid = label < num_classes
    safe = torch.where(valid, label, torch.zeros_like(label))
    out = torch.zeros(label.shape[0], num_classes, *label.shape[1:], device=label.device)
    out.scatter_(1, safe.unsqueeze(1), 1.0)
    return out * valid.unsqueeze(1)


# --- ADE20K-150 ------------------------------------------------------------------------------
# Official 1-based ids of ADEChallengeData2016 (objectInfo150); label files store the id, 0 = unlabeled.
_ADE20K_EXACT = {
    "mountain": 17, "sky": 3, "water": 22, "sea": 27, "rock": 35, "tree": 5, "earth": 14,
    "hill": 69, "river": 61, "sand": 47, "land": 95, "building": 2, "grass": 10, "plant": 18,
    "person": 13, "boat": 77, "waterfall": 114, "wall": 1, "pier": 141, "path": 53, "lake": 129,
    "bridge": 62, "field": 30, "road": 7, "railing": 39, "fence": 33, "ship": 104, "house": 26,
}  # fmt: skip
# Near-synonyms folded into a landscape class.
_ADE20K_EXTRA = {
    12: "road",  # sidewalk
    49: "building",  # skyscraper
    85: "building",  # tower
    80: "house",  # hovel
    73: "tree",  # palm
    67: "plant",  # flower
    92: "path",  # dirt track
    55: "road",  # runway
    110: "water",  # swimming pool
    105: "water",  # fountain
    96: "railing",  # bannister
    54: "path",  # stairs
    60: "path",  # stairway
    122: "path",  # step
}

#: ADE20K id -> landscape class id (index = ADE20K file value 0..150). 0 (unlabeled) -> IGNORE_INDEX,
#: the 28 exact namesakes -> their class, near-synonyms above -> their class, every other id -> other.
ADE20K_TO_LANDSCAPE = np.full(151, CLASS_IDS["other"], dtype=np.uint8)
ADE20K_TO_LANDSCAPE[0] = IGNORE_INDEX
for _name, _ade in _ADE20K_EXACT.items():
    ADE20K_TO_LANDSCAPE[_ade] = CLASS_IDS[_name]
for _ade, _name in _ADE20K_EXTRA.items():
    ADE20K_TO_LANDSCAPE[_ade] = CLASS_IDS[_name]

#: Landscape class id -> a representative ADE20K id (1..150), so that a model trained on ADE20K
#: (e.g. NVIDIA's released SPADE ade20k generator) can be fed landscape label maps. ``other`` has no
#: counterpart and maps to 0, ADE20K's unlabeled value (SPADE's "don't care" channel).
LANDSCAPE_TO_ADE20K = np.array([_ADE20K_EXACT.get(n, 0) for n in CLASS_NAMES], dtype=np.uint8)

# --- COCO-Stuff-182 --------------------------------------------------------------------------
# Official 1-based COCO-Stuff ids; label files (as in SPADE's coco_stuff) store id - 1, 255 = unlabeled.
_COCO_STUFF = {
    1: "person", 9: "boat",
    95: "bridge", 96: "building", 97: "plant", 94: "tree", 106: "sky", 111: "earth", 113: "fence",
    119: "plant", 124: "grass", 125: "earth", 126: "land", 127: "hill", 128: "house", 129: "tree",
    134: "plant", 135: "mountain", 136: "earth", 140: "road", 142: "plant", 144: "pier",
    145: "field", 146: "railing", 147: "road", 148: "river", 149: "road", 150: "rock",
    151: "house", 154: "sand", 155: "sea", 157: "sky", 158: "building", 159: "land",
    161: "path", 162: "rock", 164: "building", 169: "tree", 171: "wall", 172: "wall",
    173: "wall", 174: "wall", 175: "wall", 176: "wall", 177: "wall", 178: "water",
}  # fmt: skip

#: COCO-Stuff file value (id - 1, 0..181, and 255) -> landscape class id. 255 (unlabeled) ->
#: IGNORE_INDEX; ids listed above -> their class (clouds and sky-other -> sky, bush/flower/moss ->
#: plant, gravel/dirt/mud -> earth, ...); every other id -> other.
COCO_STUFF_TO_LANDSCAPE = np.full(256, CLASS_IDS["other"], dtype=np.uint8)
COCO_STUFF_TO_LANDSCAPE[255] = IGNORE_INDEX
for _coco, _name in _COCO_STUFF.items():
    COCO_STUFF_TO_LANDSCAPE[_coco - 1] = CLASS_IDS[_name]


def from_ade20k(label: np.ndarray) -> np.ndarray:
    """An ADE20K-150 label map (file values 0..150) -> landscape class ids."""
    label = np.asarray(label)
    if label.size and label.max() > 150:
        raise LabelError(f"ADE20K label values lie in 0..150, got {int(label.max())}")
    return ADE20K_TO_LANDSCAPE[label]


def from_coco_stuff(label: np.ndarray) -> np.ndarray:
    """A COCO-Stuff label map (file values id-1 in 0..181, 255 unlabeled) -> landscape class ids."""
    label = np.asarray(label)
    if label.size and label.max() > 255:
        raise LabelError(f"COCO-Stuff label values lie in 0..181 and 255, got {int(label.max())}")
    return COCO_STUFF_TO_LANDSCAPE[label]


def to_ade20k(label: np.ndarray) -> np.ndarray:
    """Landscape class ids -> ADE20K file values (ignored pixels -> 0, unlabeled)."""
    label = np.asarray(label)
    lut = np.zeros(256, dtype=np.uint8)
    lut[:NUM_CLASSES] = LANDSCAPE_TO_ADE20K
    return lut[label.astype(np.uint8)]


def add_dont_care(label: torch.Tensor, channels: int) -> torch.Tensor:
    """A ``(B, C, H, W)`` one-hot for a network that takes ``channels`` label channels.

    Networks built like the references with a "don't care" channel (29 classes + 1 = 30) get it
    appended: 1 where no class is set (ignored pixels), 0 elsewhere. A one-hot that already has
    ``channels`` channels is returned as is.
    """
    if label.dim() != 4:
        raise ValueError(f"expected a one-hot label (B, C, H, W), got shape {tuple(label.shape)}")
    C = label.shape[1]
    if C == channels:
        return label
    if C + 1 == channels:
        import torch

        dont_care = (1 - label.sum(dim=1, keepdim=True)).clamp(min=0)
        return torch.cat([label, dont_care], dim=1)
    raise ValueError(f"the label has {C} channels; this network takes {channels}")
