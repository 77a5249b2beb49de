"""Label-map agreement metrics: the track's mask accuracy, confusion matrix and mean IoU.

All functions take integer label maps (numpy arrays or tensors) of shape ``(H, W)`` or
``(B, H, W)``; ``gt`` and ``pred`` must have the same shape. Pixels whose *ground-truth* value is
``IGNORE_INDEX`` (255) carry no class and are left out of every metric, so that an unlabeled region
in an input map neither rewards nor punishes a generator. A prediction of 255 at a labelled pixel
is counted as wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from paintscape.labels import IGNORE_INDEX, NUM_CLASSES


def _as_batch(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"label maps must be (H, W) or (B, H, W), got shape {x.shape}")
    return x.astype(np.int64)


def _pair(gt, pred) -> tuple[np.ndarray, np.ndarray]:
    gt, pred = _as_batch(gt), _as_batch(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    return gt, pred


def pixel_accuracies(gt, pred) -> np.ndarray:
    """Per-image fraction ``(B,)`` of labelled pixels where ``pred == gt`` (NaN for an image with none)."""
    gt, pred = _pair(gt, pred)
    valid = gt != IGNORE_INDEX
    correct = ((gt == pred) & valid).reshape(len(gt), -1).sum(1)
    count = valid.reshape(len(gt), -1).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, correct / np.maximum(count, 1), np.nan)


def mask_accuracy(gt, pred) -> float:
    """The track's mask accuracy: the mean over images of each image's pixel accuracy.

    Every image weighs the same whatever its size. Ground-truth pixels equal to 255 are ignored;
    an image with no labelled pixel at all is left out of the mean.
    """
    acc = pixel_accuracies(gt, pred)
    acc = acc[~np.isnan(acc)]
    if acc.size == 0:
        raise ValueError("mask accuracy: no labelled (non-255) pixel in the ground truth")
    return float(acc.mean())


def mean_mask_accuracy(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """:func:`mask_accuracy` over ``(gt, pred)`` pairs of differing sizes (one image per pair)."""
    acc = np.concatenate([pixel_accuracies(gt, pred) for gt, pred in pairs])
    acc = acc[~np.isnan(acc)]
    if acc.size == 0:
        raise ValueError("mask accuracy: no labelled (non-255) pixel in the ground truth")
    return float(acc.mean())


def confusion_matrix(gt, pred, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """``(C, C)`` int64 counts; row = ground-truth class, column = predicted class.

    Ground-truth 255 pixels are skipped; a labelled pixel predicted outside ``0..C-1`` is skipped
    too (it has no column), which lowers that class's recall through the accuracy, not the matrix.
    """
    gt, pred = _pair(gt, pred)
    bad = (gt < 0) | ((gt >= num_classes) & (gt != IGNORE_INDEX))
    if bad.any():
        raise ValueError(
            f"ground truth holds ids outside 0..{num_classes - 1} and {IGNORE_INDEX}: {sorted(np.unique(gt[bad]).tolist())}"
        )
    keep = (gt != IGNORE_INDEX) & (pred >= 0) & (pred < num_classes)
    index = gt[keep] * num_classes + pred[keep]
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(matrix: np.ndarray) -> np.ndarray:
    """Per-class IoU ``(C,)`` = TP / (TP + FP + FN); NaN for a class absent from both gt and pred."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)


def mean_iou(gt, pred, num_classes: int = NUM_CLASSES) -> tuple[float, np.ndarray]:
    """``(mIoU, per-class IoU (C,))`` over all pixels of all images (dataset-level, like mmseg).

    Classes absent from both ground truth and prediction have IoU NaN and are excluded from the mean.
    """
    return mean_iou_from_confusion(confusion_matrix(gt, pred, num_classes))


def mean_iou_from_confusion(matrix: np.ndarray) -> tuple[float, np.ndarray]:
    """``(mIoU, per-class IoU)`` of an accumulated confusion matrix (see :func:`mean_iou`)."""
    iou = iou_from_confusion(matrix)
    present = ~np.isnan(iou)
    return (float(iou[present].mean()) if present.any() else float("nan")), iou


def per_class_iou_table(iou: Sequence[float], class_names: Sequence[str]) -> dict[str, float | None]:
    """``{class name: IoU or None}`` (None = class absent from both maps), for JSON reports."""
    return {name: (None if np.isnan(v) else float(v)) for name, v in zip(class_names, iou)}
