"""Every benchmark measure of one set of photos against the kit, and the kit's floors.

A generator renders the kit's held-out label maps (and K samples of each diversity map); the
photos are judged by the kit's judge network and compared with the real held-out photos:

| key | measure | better |
|---|---|---|
| ``fid`` | FID on the judge's pooled features, whole set | lower |
| ``fid_subsets`` | FID on 3 disjoint thirds, mean and std (the noise of ``fid``) | lower |
| ``kid_x1000`` | KID x 1000 (subsets of 100, 50 draws), mean and std | lower |
| ``class_color`` | per-class colour-histogram distance (0..1), whole set; ``class_color_subsets`` on thirds | lower |
| ``mask_accuracy``, ``mean_iou`` | the judge's segmentation of the photos against their label maps | higher |
| ``diversity`` | mean pairwise feature distance of K samples per map (0: deterministic) | higher |

The **floor** is the same measures for real photos: the kit's reference photos (other scenes)
against the held-out photos, the judge's accuracy on real photos, and the diversity of real photos
of one map under K styles. A generator cannot be expected to beat it.
"""

from __future__ import annotations

import numpy as np

from paintscape.benchmark.class_color import class_color_distance, class_color_histograms
from paintscape.benchmark.diversity import mean_pairwise_distance
from paintscape.benchmark.feature_distance import disjoint_subsets, feature_fid, feature_kid, fid_spread
from paintscape.benchmark.judge import ATTRIBUTES, JudgeNet, judge_outputs
from paintscape.evaluate.segmentation_metrics import mask_accuracy, mean_iou

SUBSETS = 3
KID_SUBSET_SIZE = 100
KID_DRAWS = 50

#: name -> (what it measures, True when higher is better); the order of the leaderboard's columns.
MEASURES = {
    "fid": ("FID on the judge's features (realism of the set)", False),
    "kid_x1000": ("KID x 1000 on the judge's features (realism, unbiased)", False),
    "class_color": ("per-class colour-histogram distance, 0..1 (colour realism per class)", False),
    "mask_accuracy": ("judge mask accuracy (faithfulness to the label map)", True),
    "mean_iou": ("judge mIoU (faithfulness, every class counts)", True),
    "diversity": ("mean pairwise feature distance of K samples of one map", True),
}


def evaluate_judge(judge: JudgeNet, photos: np.ndarray, labels: np.ndarray, attributes: np.ndarray) -> dict:
    """The judge's accuracy on real photos: mask accuracy, mIoU, time-of-day and season accuracy."""
    segmented, attribute_logits, _ = judge_outputs(judge, photos)
    split = ATTRIBUTES["time_of_day"]
    return {
        "images": int(len(photos)),
        "mask_accuracy": mask_accuracy(labels, segmented),
        "mean_iou": mean_iou(labels, segmented)[0],
        "time_of_day_accuracy": float((attribute_logits[:, :split].argmax(1) == attributes[:, 0]).mean()),
        "season_accuracy": float((attribute_logits[:, split:].argmax(1) == attributes[:, 1]).mean()),
    }


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def measure_photos(
    judge: JudgeNet,
    photos: np.ndarray,
    labels: np.ndarray,
    real_photos: np.ndarray,
    real_labels: np.ndarray,
    diversity: np.ndarray | None = None,
) -> dict:
    """All measures of ``photos (N, H, W, 3)`` uint8 made from ``labels (N, H, W)``, against the
    real held-out ``real_photos`` with ``real_labels``; ``diversity (M, K, H, W, 3)`` holds K
    samples of each of M maps (None: not measured). See the module docstring for the keys."""
    if photos.shape[1:] != real_photos.shape[1:]:
        raise ValueError(f"photos {photos.shape[1:]} and real photos {real_photos.shape[1:]} differ in size")
    segmented, _, features = judge_outputs(judge, photos)
    _, _, real_features = judge_outputs(judge, real_photos)
    kid_mean, kid_std = feature_kid(features, real_features, subset_size=KID_SUBSET_SIZE, num_subsets=KID_DRAWS)
    fid_mean, fid_std = fid_spread(features, real_features, parts=SUBSETS)

    ours, theirs = disjoint_subsets(len(photos), SUBSETS), disjoint_subsets(len(real_photos), SUBSETS)
    hist = class_color_histograms(photos, labels)
    real_hist = class_color_histograms(real_photos, real_labels)
    color_parts = [
        class_color_distance(
            class_color_histograms(photos[a], labels[a]), class_color_histograms(real_photos[b], real_labels[b])
        )[0]
        for a, b in zip(ours, theirs)
    ]
    accuracy_parts = [mask_accuracy(labels[a], segmented[a]) for a in ours]
    result = {
        "images": int(len(photos)),
        "fid": feature_fid(features, real_features),
        "fid_subsets": {"mean": fid_mean, "std": fid_std},
        "kid_x1000": {"mean": 1000 * kid_mean, "std": 1000 * kid_std},
        "class_color": class_color_distance(hist, real_hist)[0],
        "class_color_subsets": _mean_std(color_parts),
        "mask_accuracy": mask_accuracy(labels, segmented),
        "mask_accuracy_subsets": _mean_std(accuracy_parts),
        "mean_iou": mean_iou(labels, segmented)[0],
    }
    if diversity is not None:
        M, K = diversity.shape[:2]
        _, _, div_features = judge_outputs(judge, diversity.reshape(M * K, *diversity.shape[2:]))
        result["diversity"] = mean_pairwise_distance(div_features.reshape(M, K, -1))
        result["diversity_maps"], result["diversity_samples"] = int(M), int(K)
    return result


def measure_floor(kit) -> dict:
    """The measures of real photos: the kit's reference photos (other scenes, with their own label
    maps) against the held-out photos, and the real diversity photos (one map under K styles)."""
    reference, reference_labels = kit.load_set("reference")
    real, real_labels = kit.load_set("heldout")
    diversity, _ = kit.load_diversity()
    return measure_photos(kit.judge, reference, reference_labels, real, real_labels, diversity)
