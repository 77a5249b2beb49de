"""Near-identical label maps whose photos differ: equivalence classes by input similarity.

Each map becomes a vector of per-class occupancy on a coarse grid (``duplicate_grid`` cells, 29
classes), L2-normalised; maps with cosine similarity >= ``duplicate_similarity`` are joined
(union-find over the pairs found by block matrix products, so 10,000 maps take seconds). A group's
*dispersion* is the mean pairwise RMS distance of its members' photos (coarse RGB thumbnails in
``[0, 1]``). Selection II keeps, in groups with high dispersion, the ``keep_per_group`` most typical
photos (smallest mean distance to the rest of the group): the same input should not be taught many
contradicting outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from paintscape.curation.config import CurationConfig
from paintscape.labels import NUM_CLASSES


def layout_descriptor(label: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` class ids -> ``(NUM_CLASSES * gh * gw,)`` float16 occupancy vector of unit length."""
    H, W = label.shape
    gh, gw = grid
    rows = (np.arange(H) * gh // H)[:, None]
    cols = (np.arange(W) * gw // W)[None, :]
    cell = rows * gw + cols  # (H, W)
    valid = label < NUM_CLASSES
    index = label.astype(np.int64)[valid] * (gh * gw) + cell[valid]
    vector = np.bincount(index, minlength=NUM_CLASSES * gh * gw).astype(np.float32)
    cell_size = np.bincount(cell.ravel(), minlength=gh * gw).astype(np.float32)
    vector = (vector.reshape(NUM_CLASSES, gh * gw) / cell_size).ravel()
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float16)


def photo_thumbnail(photo: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(gh, gw, 3)`` uint8 area-averaged thumbnail."""
    return np.asarray(Image.fromarray(photo).resize((grid[1], grid[0]), Image.BOX))


def similar_pairs(vectors: np.ndarray, threshold: float, block: int = 1024) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, with cosine similarity >= ``threshold`` (rows unit length)."""
    X = vectors.astype(np.float32)
    keep = X.any(axis=0)  # columns used by no map carry no information
    X = np.ascontiguousarray(X[:, keep])
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(X), block):
        S = X[start : start + block] @ X[start:].T  # (b, N - start)
        ii, jj = np.nonzero(S >= threshold - 1e-4)
        for i, j in zip(ii.tolist(), jj.tolist()):
            if j > i:
                pairs.append((start + i, start + j))
    return pairs


def connected_groups(count: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    """Groups (of size >= 2) of the graph on ``count`` nodes with edges ``pairs`` (union-find)."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = {}
    for i in range(count):
        members.setdefault(root(i), []).append(i)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])


@dataclass(frozen=True)
class DuplicateGroup:
    members: list[int]  # indices into the dataset's names
    dispersion: float  # mean pairwise RMS photo distance, 0..1
    typicality: list[float]  # per member: mean distance to the other members (lower = more typical)
    kept: list[int]  # members Selection II keeps
    thinned: bool  # True when the group's dispersion exceeded the threshold


def thin_groups(
    groups: list[list[int]],
    thumbnails: np.ndarray,
    dispersion_threshold: float,
    keep: int,
    eligible: np.ndarray | None = None,
) -> list[DuplicateGroup]:
    """Dispersion of each group's photos and the members kept (all, or the ``keep`` most typical).

    ``eligible`` (bool per image) marks images not removed for other reasons: the kept ones are the
    most typical among those, so thinning does not keep a photo that another detector drops.
    """
    out = []
    for members in groups:
        P = thumbnails[members].reshape(len(members), -1).astype(np.float32) / 255.0  # (m, F)
        sq = (P * P).sum(1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * P @ P.T, 0) / P.shape[1]
        dist = np.sqrt(d2)  # (m, m) RMS distances
        m = len(members)
        typicality = dist.sum(1) / (m - 1)
        dispersion = float(dist.sum() / (m * (m - 1)))
        thinned = dispersion > dispersion_threshold and m > keep
        order = [i for i in np.argsort(typicality, kind="stable") if eligible is None or eligible[members[i]]]
        kept = sorted(members[i] for i in order[:keep]) if thinned else list(members)
        out.append(DuplicateGroup(list(members), dispersion, [float(t) for t in typicality], kept, thinned))
    return out


def duplicate_reasons(groups: list[DuplicateGroup], names: list[str], config: CurationConfig) -> dict[str, list[tuple[str, str]]]:
    """``{name: [("duplicate", reason)]}`` for every member a thinned group does not keep."""
    found: dict[str, list[tuple[str, str]]] = {}
    for gid, group in enumerate(groups):
        if not group.thinned:
            continue
        kept = set(group.kept)
        for i in group.members:
            if i not in kept:
                reason = (
                    f"near-duplicate layout: group {gid} of {len(group.members)} maps, photo dispersion "
                    f"{group.dispersion:.3f} > {config.dispersion_threshold}; kept the {len(kept)} most typical"
                )
                found.setdefault(names[i], []).append(("duplicate", reason))
    return found
