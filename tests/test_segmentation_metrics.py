"""Segmentation metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from paintscape.evaluate import segmentation_metrics as sm
from paintscape.labels import IGNORE_INDEX


def test_mask_accuracy_is_mean_of_per_image_accuracies():
    gt = np.array([[[0, 0], [1, 1]], [[2, 2], [2, 2]]])
    pred = np.array([[[0, 1], [1, 1]], [[2, 0], [0, 0]]])
    # image 0: 3/4, image 1: 1/4 -> mean 0.5 (pixel-pooled would also be 0.5 here; see next test)
    assert sm.mask_accuracy(gt, pred) == pytest.approx(0.5)
    np.testing.assert_allclose(sm.pixel_accuracies(gt, pred), [0.75, 0.25])


def test_mask_accuracy_weighs_images_equally_and_ignores_255():
    gt_a = np.array([[0, 0], [0, IGNORE_INDEX]])  # 3 labelled pixels, 2 right -> 2/3
    pred_a = np.array([[0, 0], [1, 7]])
    gt_b = np.zeros((4, 4), dtype=np.uint8)  # 16 pixels, all right -> 1
    pred_b = np.zeros((4, 4), dtype=np.uint8)
    assert sm.mean_mask_accuracy([(gt_a, pred_a), (gt_b, pred_b)]) == pytest.approx((2 / 3 + 1) / 2)
    assert sm.mask_accuracy(torch.tensor(gt_a), torch.tensor(pred_a)) == pytest.approx(2 / 3)


def test_mask_accuracy_all_ignored_raises():
    gt = np.full((2, 2), IGNORE_INDEX)
    with pytest.raises(ValueError, match="no labelled"):
        sm.mask_accuracy(gt, np.zeros((2, 2)))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="differ in shape"):
        sm.mask_accuracy(np.zeros((2, 2)), np.zeros((2, 3)))


def test_confusion_matrix_and_iou_by_hand():
    gt = np.array([[0, 0, 1, 1], [2, 2, IGNORE_INDEX, 1]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 2, 1]])
    cm = sm.confusion_matrix(gt, pred, num_classes=4)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[0, 0] = 1
    expected[0, 1] = 1
    expected[1, 1] = 3
    expected[2, 2] = 1
    expected[2, 0] = 1
    np.testing.assert_array_equal(cm, expected)
    miou, iou = sm.mean_iou(gt, pred, num_classes=4)
    # class 0: TP 1, FP 1 (gt 2 -> 0), FN 1 (-> 1): 1/3; class 1: TP 3, FP 1, FN 0: 3/4;
    # class 2: TP 1, FP 0, FN 1: 1/2; class 3 absent from both: NaN, excluded.
    np.testing.assert_allclose(iou[:3], [1 / 3, 3 / 4, 1 / 2])
    assert np.isnan(iou[3])
    assert miou == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)


def test_class_only_in_prediction_counts_with_zero_iou():
    gt = np.array([[0, 0]])
    pred = np.array([[0, 3]])
    miou, iou = sm.mean_iou(gt, pred, num_classes=4)
    assert iou[3] == 0.0 and iou[0] == pytest.approx(0.5)
    assert miou == pytest.approx(0.25)
    table = sm.per_class_iou_table(iou, ["a", "b", "c", "d"])
    assert table == {"a": 0.5, "b": None, "c": None, "d": 0.0}


def test_confusion_matrix_rejects_bad_ground_truth_ids():
    with pytest.raises(ValueError, match="outside"):
        sm.confusion_matrix(np.array([[40]]), np.array([[0]]))
