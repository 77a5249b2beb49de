"""Evaluate a folder of generated photos against their label maps and real photos.

:func:`evaluate_folder` pairs ``generated_dir/NAME.{jpg,png,...}`` with ``labels_dir/NAME.png``
and computes what the given weights allow:

* **mask accuracy** and **mIoU** (+ per-class IoU) -- the segmenter's prediction on each generated
  photo against the input label map (needs a trained segmenter folder);
* **FID** and **KID** -- generated photos against ``real_dir`` (needs the FID Inception weights);
  the real folder's features are cached in ``cache_dir``;
* **aesthetic** -- mean LAION aesthetic score in ``[0, 1]`` (needs CLIP ViT-L/14 + the MLP);
* the **track score** from those three; with no aesthetic predictor, the partial (lower-bound)
  score of :func:`paintscape.evaluate.score.track_score`.

A metric whose weights are not given or not found is skipped, and ``result["skipped"]`` says why
and what to download. :func:`write_report` writes ``report.json`` and a readable ``report.md``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from paintscape.data.io import IMAGE_SUFFIXES, LABEL_SUFFIXES, DataError, list_stems, read_image, read_label
from paintscape.evaluate import fid as fid_module
from paintscape.evaluate import segmentation_metrics as sm
from paintscape.evaluate.score import track_score
from paintscape.io_atomic import atomic_write_text
from paintscape.labels import CLASS_NAMES, NUM_CLASSES

logger = logging.getLogger(__name__)

#: FID from fewer images than this is strongly biased upwards (the covariance is rank-deficient).
FID_RELIABLE_COUNT = 2048


def match_generated_to_labels(
    generated_dir: Path, labels_dir: Path
) -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    """``([(name, image, label)], generated names without label, label names without image)``."""
    if not generated_dir.is_dir():
        raise DataError(f"{generated_dir}: folder of generated images not found")
    if not labels_dir.is_dir():
        raise DataError(f"{labels_dir}: folder of label maps not found")
    images = list_stems(generated_dir, IMAGE_SUFFIXES)
    labels = list_stems(labels_dir, LABEL_SUFFIXES)
    pairs = [(name, images[name], labels[name]) for name in images if name in labels]
    if not pairs:
        raise DataError(
            f"no generated image in {generated_dir} ({len(images)} files) has a label map of the same name "
            f"in {labels_dir} ({len(labels)} files); generated photos must be named like their label (NAME.png -> NAME.jpg)"
        )
    return pairs, sorted(set(images) - set(labels)), sorted(set(labels) - set(images))


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.copy()).permute(2, 0, 1).float().div(127.5).sub(1)  # (3, H, W) in [-1, 1]


def _same_size_batches(
    pairs: Sequence[tuple[str, Path, Path]], batch_size: int
) -> Iterator[tuple[list[str], torch.Tensor, list[np.ndarray]]]:
    """``(names, images (B, 3, H, W) at label size, labels)``; a photo whose size differs from its
    label's is resized to the label's size (bilinear, antialiased) so that pixels line up."""
    group: list[tuple[str, torch.Tensor, np.ndarray]] = []
    for name, image_path, label_path in pairs:
        label = read_label(label_path)
        image = _to_tensor(read_image(image_path))
        if tuple(image.shape[-2:]) != label.shape:
            image = F.interpolate(image[None], size=label.shape, mode="bilinear", align_corners=False, antialias=True)[
                0
            ]
        if group and (tuple(image.shape) != tuple(group[0][1].shape) or len(group) == batch_size):
            yield [g[0] for g in group], torch.stack([g[1] for g in group]), [g[2] for g in group]
            group = []
        group.append((name, image, label))
    if group:
        yield [g[0] for g in group], torch.stack([g[1] for g in group]), [g[2] for g in group]


def _segmentation_metrics(pairs, segmenter_dir, device, batch_size, per_image) -> dict:
    from paintscape.evaluate.segmenter import load_segmenter, segment

    model = load_segmenter(segmenter_dir, device)
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    accuracies = []
    for names, images, labels in _same_size_batches(pairs, batch_size):
        pred = segment(model, images).cpu().numpy()  # (B, H, W)
        gt = np.stack(labels)
        acc = sm.pixel_accuracies(gt, pred)
        matrix += sm.confusion_matrix(gt, pred)
        for name, a in zip(names, acc):
            per_image[name]["mask_accuracy"] = None if math.isnan(a) else float(a)
        accuracies.extend(a for a in acc if not math.isnan(a))
    if not accuracies:
        raise DataError("mask accuracy: every label map is entirely 255 (ignore)")
    miou, iou = sm.mean_iou_from_confusion(matrix)
    return {
        "mask_accuracy": float(np.mean(accuracies)),
        "mean_iou": miou,
        "per_class_iou": sm.per_class_iou_table(iou, CLASS_NAMES),
    }


def _aesthetic(pairs, clip_dir, mlp_path, device, batch_size, per_image) -> float:
    from paintscape.evaluate.aesthetic import LaionAestheticPredictor

    predictor = LaionAestheticPredictor.from_paths(clip_dir, mlp_path, device)
    scores = []
    for names, images, _ in _same_size_batches(pairs, batch_size):
        values = predictor.score(images).tolist()
        for name, v in zip(names, values):
            per_image[name]["aesthetic"] = v
        scores.extend(values)
    return float(np.mean(scores))


def evaluate_folder(
    generated_dir: str | os.PathLike,
    labels_dir: str | os.PathLike,
    real_dir: str | os.PathLike | None = None,
    segmenter_dir: str | os.PathLike | None = None,
    inception_weights: str | os.PathLike | None = None,
    aesthetic_clip_dir: str | os.PathLike | None = None,
    aesthetic_mlp: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 16,
    cache_dir: str | os.PathLike | None = None,
    kid_subset_size: int = 1000,
    inception: Literal["pretrained", "random"] = "pretrained",
    fid_method: Literal["sqrtm", "features"] = "sqrtm",
) -> dict:
    """Every metric the given weights allow, as a JSON-ready dict (see the module docstring).

    ``inception="random"`` is FOR TESTS ONLY: a randomly initialised Inception stands in for the
    FID weights so the FID code path runs without the download; its FID means nothing and the
    result is marked so (``settings.inception``).

    ``fid_method``: ``"sqrtm"`` (default) is pytorch-fid's computation, for numbers comparable with
    published ones; ``"features"`` is the exact low-rank formula of
    :func:`paintscape.evaluate.fid.frechet_distance_from_features`, much faster when there are
    fewer images than 2048 (the same value up to sqrtm's numerical error).
    """
    generated_dir, labels_dir = Path(generated_dir), Path(labels_dir)
    pairs, unmatched_generated, unmatched_labels = match_generated_to_labels(generated_dir, labels_dir)
    per_image: dict[str, dict] = {name: {"name": name} for name, _, _ in pairs}
    metrics: dict = {}
    skipped: dict[str, str] = {}
    notes: list[str] = []
    if unmatched_generated:
        notes.append(
            f"{len(unmatched_generated)} generated images have no label map and were left out, e.g. {unmatched_generated[:3]}"
        )
    if unmatched_labels:
        notes.append(f"{len(unmatched_labels)} label maps have no generated image, e.g. {unmatched_labels[:3]}")

    # --- mask accuracy / mIoU
    if segmenter_dir is None:
        skipped["mask_accuracy"] = (
            "no segmenter given (--segmenter DIR); train one with `paintscape train-segmenter DATA --out DIR`"
        )
    else:
        try:
            metrics.update(_segmentation_metrics(pairs, segmenter_dir, device, batch_size, per_image))
        except (FileNotFoundError, ImportError) as err:
            skipped["mask_accuracy"] = str(err)

    # --- FID / KID
    if real_dir is None:
        skipped["fid"] = "no folder of real photos given (--real DIR)"
    elif inception == "pretrained" and inception_weights is None:
        skipped["fid"] = (
            f"no FID Inception weights given (--inception FILE); download {fid_module.INCEPTION_WEIGHTS_FILE} "
            f"from {fid_module.INCEPTION_WEIGHTS_URL}"
        )
    else:
        try:
            if inception == "random":
                model, weights_id = fid_module.random_inception(device=device), None  # no cache: TESTS ONLY
                notes.append("FID/KID computed with a RANDOM Inception (test mode): the values mean nothing")
            elif inception == "pretrained":
                model, weights_id = fid_module.load_inception(inception_weights, device), inception_weights
            else:
                raise ValueError(f"inception must be 'pretrained' or 'random', got {inception!r}")
            real_feats, mu_real, sigma_real = fid_module.folder_features(
                real_dir, model, batch_size, cache_dir if weights_id else None, weights_id
            )
            gen_feats, mu_gen, sigma_gen = fid_module.folder_features(
                generated_dir, model, batch_size, files=[image for _, image, _ in pairs]
            )
            if fid_method == "sqrtm":
                metrics["fid"] = fid_module.frechet_distance(mu_gen, sigma_gen, mu_real, sigma_real)
            elif fid_method == "features":
                metrics["fid"] = fid_module.frechet_distance_from_features(gen_feats, real_feats)
            else:
                raise ValueError(f"fid_method must be 'sqrtm' or 'features', got {fid_method!r}")
            kid_mean, kid_std = fid_module.kernel_inception_distance(
                gen_feats.astype(np.float64), real_feats.astype(np.float64), subset_size=kid_subset_size
            )
            metrics["kid"] = {"mean": kid_mean, "std": kid_std}
            metrics["num_real_images"] = int(len(real_feats))
            if min(len(real_feats), len(gen_feats)) < FID_RELIABLE_COUNT:
                notes.append(
                    f"FID from {len(gen_feats)} generated and {len(real_feats)} real images: below "
                    f"{FID_RELIABLE_COUNT} the covariance is rank-deficient and FID is biased upwards; compare runs "
                    "only at equal image counts (KID is unbiased)"
                )
        except FileNotFoundError as err:
            skipped["fid"] = str(err)

    # --- aesthetic
    if aesthetic_clip_dir is None or aesthetic_mlp is None:
        skipped["aesthetic"] = (
            "no aesthetic predictor given (--aesthetic-clip DIR --aesthetic FILE): CLIP ViT-L/14 from "
            "https://huggingface.co/openai/clip-vit-large-patch14 and sac+logos+ava1-l14-linearMSE.pth from "
            "https://github.com/christophschuhmann/improved-aesthetic-predictor"
        )
    else:
        try:
            metrics["aesthetic"] = _aesthetic(pairs, aesthetic_clip_dir, aesthetic_mlp, device, batch_size, per_image)
        except (FileNotFoundError, ImportError) as err:
            skipped["aesthetic"] = str(err)

    # --- track score
    if "mask_accuracy" in metrics and "fid" in metrics:
        result = track_score(metrics["mask_accuracy"], metrics["fid"], metrics.get("aesthetic"))
        metrics["score"] = result.score
        metrics["score_partial"] = result.partial
        if result.partial:
            notes.append("score is PARTIAL: the aesthetic term is missing and counted as 0, so it is a lower bound")
    else:
        missing = [m for m in ("mask_accuracy", "fid") if m not in metrics]
        skipped["score"] = f"needs {' and '.join(missing)}"

    return {
        "generated_dir": str(generated_dir),
        "labels_dir": str(labels_dir),
        "real_dir": None if real_dir is None else str(real_dir),
        "num_images": len(pairs),
        "metrics": metrics,
        "skipped": skipped,
        "notes": notes,
        "settings": {
            "segmenter": None if segmenter_dir is None else str(segmenter_dir),
            "inception": "random (TEST ONLY)"
            if inception == "random"
            else (None if inception_weights is None else str(inception_weights)),
            "aesthetic_clip": None if aesthetic_clip_dir is None else str(aesthetic_clip_dir),
            "aesthetic_mlp": None if aesthetic_mlp is None else str(aesthetic_mlp),
            "device": str(device),
            "batch_size": batch_size,
            "fid_method": fid_method,
        },
        "per_image": list(per_image.values()),
    }


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def report_markdown(result: dict) -> str:
    """``report.md`` text: metrics table, skipped metrics and why, notes, per-class IoU."""
    m = result["metrics"]
    lines = [
        "# paintscape evaluation",
        "",
        f"- generated: `{result['generated_dir']}` ({result['num_images']} images matched to labels)",
        f"- labels: `{result['labels_dir']}`",
        f"- real: `{result['real_dir']}`",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    score_name = "score (partial, lower bound)" if m.get("score_partial") else "score"
    rows = [
        (score_name, m.get("score")),
        ("mask accuracy", m.get("mask_accuracy")),
        ("mIoU", m.get("mean_iou")),
        ("FID", m.get("fid")),
        ("KID x 1000", None if "kid" not in m else f"{1000 * m['kid']['mean']:.3f} ± {1000 * m['kid']['std']:.3f}"),
        ("aesthetic (0..1)", m.get("aesthetic")),
    ]
    for name, value in rows:
        lines.append(f"| {name} | {_fmt(value)} |")
    if result["skipped"]:
        lines += ["", "## Not computed", ""]
        lines += [f"- **{name}**: {why}" for name, why in result["skipped"].items()]
    if result["notes"]:
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in result["notes"]]
    if "per_class_iou" in m:
        lines += ["", "## Per-class IoU", "", "| id | class | IoU |", "|---|---|---|"]
        for i, (name, iou) in enumerate(m["per_class_iou"].items()):
            lines.append(f"| {i} | {name} | {_fmt(iou)} |")
        lines.append("")
        lines.append("— = class absent from both the label maps and the predictions (left out of mIoU).")
    return "\n".join(lines) + "\n"


def write_report(result: dict, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out_dir`` (atomically); returns their paths."""
    out_dir = Path(out_dir)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    atomic_write_text(json_path, json.dumps(result, indent=2, allow_nan=True) + "\n")
    atomic_write_text(md_path, report_markdown(result))
    return json_path, md_path
