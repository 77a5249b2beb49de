"""The landscape track's score.

``score = mask_acc * (0.5 * aesthetic + 0.5 * (100 - min(FID, 100)) / 100)``

with ``mask_acc`` and ``aesthetic`` in ``[0, 1]`` and FID >= 0 (an FID of 100 or more earns nothing
from the FID term). When no aesthetic predictor is available the score cannot be computed; we then
return the *partial* score ``mask_acc * 0.5 * (100 - min(FID, 100)) / 100`` -- the score with an
aesthetic of 0, hence a lower bound of the real one -- flagged ``partial=True``.

The aesthetic value is whatever predictor the caller used; paintscape's (LAION's rating mapped by
``(rating - 1) / 9``, :mod:`paintscape.evaluate.aesthetic`) is its own choice, not the track's.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class TrackScore(NamedTuple):
    score: float
    partial: bool  # True when the aesthetic term was missing and counted as 0 (a lower bound)
    fid_term: float  # (100 - min(FID, 100)) / 100, in [0, 1]


def _check_unit(name: str, value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {value}")


def fid_term(fid: float) -> float:
    """``(100 - min(FID, 100)) / 100``."""
    if math.isnan(fid) or fid < 0:
        raise ValueError(f"FID must be >= 0, got {fid}")
    return (100.0 - min(fid, 100.0)) / 100.0


def track_score(mask_acc: float, fid: float, aesthetic: float | None) -> TrackScore:
    """The track score; with ``aesthetic=None`` the partial (lower-bound) score, ``partial=True``."""
    _check_unit("mask accuracy", mask_acc)
    term = fid_term(fid)
    if aesthetic is None:
        return TrackScore(mask_acc * 0.5 * term, True, term)
    _check_unit("aesthetic score", aesthetic)
    return TrackScore(mask_acc * (0.5 * aesthetic + 0.5 * term), False, term)
