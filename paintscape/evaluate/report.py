"""Evaluate a folder of generated photos against their label maps and real photos.

:func:`evaluate_folder` pairs ``generated_dir/NAME.{jpg,png,...}`` with ``labels_dir/NAME.png`` and
computes every metric of the registry (:mod:`paintscape.evaluate.metrics`) that the given folders
and weights allow:

* **mask accuracy** and **mIoU** (+ per-class IoU) -- the segmenter's prediction on each generated
  photo against the input label map (needs a trained segmenter folder);
* **FID** and **KID** -- generated photos against ``real_dir`` (needs the FID Inception weights);
  the real folder's features are cached in ``cache_dir``;
* **aesthetic** -- mean LAION aesthetic score in ``[0, 1]`` (needs CLIP ViT-L/14 + the MLP);
* the **track score** from those three; with no aesthetic predictor, the partial (lower-bound)
  score of :func:`paintscape.evaluate.score.track_score`;
* **L1** and the **per-class colour error** against ``targets_dir`` (the real photo of each label map);
* any metric registered since.

A metric whose inputs are not given or not found is skipped, and ``result["skipped"]`` says why
and what to download. :func:`write_report` writes ``report.json`` and a readable ``report.md``.
"""

from __future__ import annotations

import json
import math
import os
from functools import partial
from pathlib import Path
from typing import Literal

import torch

from paintscape.class_table import label_folder_class_table
from paintscape.evaluate import inception as inception_module
from paintscape.evaluate import segmentation_metrics as sm
from paintscape.evaluate.discriminator_segmenter import is_training_run, load_discriminator_segmenter
from paintscape.evaluate.inputs import FolderInputs
from paintscape.evaluate.metrics import compute_metrics, kid_mean_std
from paintscape.io_atomic import atomic_write_text
from paintscape.registry import METRICS

#: FID from fewer images than this is strongly biased upwards (the covariance is rank-deficient).
FID_RELIABLE_COUNT = 2048


def _load_models(
    segmenter_dir, inception_weights, inception, aesthetic_clip_dir, aesthetic_mlp, device, num_classes: int | None = None
) -> tuple[dict, dict[str, str], list[str]]:
    """``(models, why each missing one is missing, notes)`` for :class:`FolderInputs`; ``num_classes``: the
    label maps' classes, which the segmenter must predict."""
    models: dict = {}
    missing: dict[str, str] = {}
    notes: list[str] = []
    if segmenter_dir is not None and is_training_run(segmenter_dir):  # an OASIS run: its discriminator segments
        models["segmenter"] = load_discriminator_segmenter(segmenter_dir, device, num_classes)
        notes.append(f"mask accuracy and mIoU by the discriminator of {segmenter_dir}, not a SegFormer (docs/parity_oasis.md)")
    elif segmenter_dir is not None:
        from paintscape.evaluate.segmenter import load_segmenter, segment

        try:  # a folder asked for and missing or unreadable is an error, not a metric left out
            models["segmenter"] = partial(segment, load_segmenter(segmenter_dir, device, num_classes=num_classes))
        except ImportError as err:
            missing["segmenter"] = str(err)
    if inception == "random":
        models["inception"] = inception_module.random_inception(device=device)  # TESTS ONLY
        notes.append("FID/KID computed with a RANDOM Inception (test mode): the values mean nothing")
    elif inception != "pretrained":
        raise ValueError(f"inception must be 'pretrained' or 'random', got {inception!r}")
    elif inception_weights is None:
        missing["inception"] = (
            f"no FID Inception weights given (--inception FILE); download {inception_module.INCEPTION_WEIGHTS_FILE} "
            f"from {inception_module.INCEPTION_WEIGHTS_URL}"
        )
    else:
        models["inception"] = inception_module.load_inception(inception_weights, device)
    if aesthetic_clip_dir is None or aesthetic_mlp is None:
        missing["aesthetic"] = (
            "no aesthetic predictor given (--aesthetic-clip DIR --aesthetic FILE): CLIP ViT-L/14 from "
            "https://huggingface.co/openai/clip-vit-large-patch14 and sac+logos+ava1-l14-linearMSE.pth from "
            "https://github.com/christophschuhmann/improved-aesthetic-predictor"
        )
    else:
        from paintscape.evaluate.aesthetic import LaionAestheticPredictor

        try:
            models["aesthetic"] = LaionAestheticPredictor.from_paths(aesthetic_clip_dir, aesthetic_mlp, device)
        except ImportError as err:
            missing["aesthetic"] = str(err)
    return models, missing, notes


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
    targets_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> dict:
    """Every metric the given folders and weights allow, as a JSON-ready dict (see the module docstring).

    ``inception="random"`` is FOR TESTS ONLY: a randomly initialised Inception stands in for the
    FID weights so the FID code path runs without the download; its FID means nothing and the
    result is marked so (``settings.inception``).

    ``fid_method``: ``"sqrtm"`` (default) is pytorch-fid's computation, for numbers comparable with
    published ones; ``"features"`` is the exact low-rank formula of
    :func:`paintscape.evaluate.fid.frechet_distance_from_features`, much faster when there are
    fewer images than 2048 (the same value up to sqrtm's numerical error).
    """
    table = label_folder_class_table(labels_dir)  # classes.yaml in the labels folder or its dataset, else the landscape 29
    models, missing, notes = _load_models(segmenter_dir, inception_weights, inception, aesthetic_clip_dir, aesthetic_mlp, device, table.num_classes)
    real_ok = real_dir is not None and Path(real_dir).is_dir()
    if real_dir is not None and not real_ok:
        missing["real"] = f"image folder '{real_dir}' does not exist"
    inputs = FolderInputs(
        generated_dir, labels_dir, targets_dir=targets_dir, real_dir=real_dir if real_ok else None, cache_dir=cache_dir,
        inception_weights=inception_weights, device=device, batch_size=batch_size, fid_method=fid_method,
        kid_subset_size=kid_subset_size, progress="evaluate" if progress else None, table=table, **models,
    )  # fmt: skip
    if inputs.unmatched_generated:
        notes.append(
            f"{len(inputs.unmatched_generated)} generated images have no label map and were left out, e.g. {inputs.unmatched_generated[:3]}"
        )
    if inputs.unmatched_labels:
        notes.append(f"{len(inputs.unmatched_labels)} label maps have no generated image, e.g. {inputs.unmatched_labels[:3]}")
    metrics, skipped = compute_metrics(inputs, unavailable=missing)
    metrics.update(_details(inputs, metrics, notes))
    return {
        "generated_dir": str(generated_dir),
        "labels_dir": str(labels_dir),
        "real_dir": None if real_dir is None else str(real_dir),
        "targets_dir": None if targets_dir is None else str(targets_dir),
        "num_images": len(inputs.names),
        "metrics": metrics,
        "skipped": skipped,
        "notes": notes,
        "settings": {
            "segmenter": None if segmenter_dir is None else str(segmenter_dir),
            "inception": "random (TEST ONLY)" if inception == "random" else (None if inception_weights is None else str(inception_weights)),
            "aesthetic_clip": None if aesthetic_clip_dir is None else str(aesthetic_clip_dir),
            "aesthetic_mlp": None if aesthetic_mlp is None else str(aesthetic_mlp),
            "device": str(device),
            "batch_size": batch_size,
            "fid_method": fid_method,
        },
        "per_image": _per_image(inputs, metrics),
    }


def _details(inputs: FolderInputs, metrics: dict, notes: list[str]) -> dict:
    """What the report shows beside the metrics' values: per-class IoU, KID's spread, image counts."""
    details: dict = {}
    if "mean_iou" in metrics:
        details["per_class_iou"] = sm.per_class_iou_table(sm.mean_iou_from_confusion(inputs.segmentation().confusion)[1], inputs.table.names)
    if "kid" in metrics:
        details["kid_std"] = kid_mean_std(inputs)[1]
    if "fid" in metrics:
        generated, real = len(inputs.inception_features("generated")), len(inputs.inception_features("real"))
        details["num_real_images"] = real
        if min(generated, real) < FID_RELIABLE_COUNT:
            notes.append(
                f"FID from {generated} generated and {real} real images: below {FID_RELIABLE_COUNT} the covariance is "
                "rank-deficient and FID is biased upwards; compare runs only at equal image counts (KID is unbiased)"
            )
    if "score" in metrics:
        details["score_partial"] = "aesthetic" not in metrics
        if details["score_partial"]:
            notes.append("score is PARTIAL: the aesthetic term is missing and counted as 0, so it is a lower bound")
    return details


def _per_image(inputs: FolderInputs, metrics: dict) -> list[dict]:
    rows: dict[str, dict] = {name: {"name": name} for name in inputs.names}
    for entry in METRICS.entries():
        per_image = entry.metadata.get("per_image")
        if entry.name in metrics and per_image is not None:
            for name, value in per_image(inputs).items():
                rows[name][entry.name] = None if math.isnan(value) else float(value)
    return list(rows.values())


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
    for entry in METRICS.entries():
        if entry.name not in m:
            continue
        title, value = entry["title"], m[entry.name]
        if entry.name == "score" and m.get("score_partial"):
            title = "score (partial, lower bound)"
        if entry.name == "kid" and "kid_std" in m:
            title, value = "KID x 1000", f"{1000 * value:.3f} ± {1000 * m['kid_std']:.3f}"
        lines.append(f"| {title} | {_fmt(value)} |")
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


class NothingToEvaluate(ValueError):
    """No metric could be computed from what was given; the message names what to pass."""


def nothing_computed(result: dict) -> None:
    """Raise :class:`NothingToEvaluate` when ``result`` holds no registered metric's value."""
    if any(name in result["metrics"] for name in METRICS.names()):
        return
    reasons = "; ".join(f"{name}: {why}" for name, why in result["skipped"].items())
    raise NothingToEvaluate(
        f"nothing to evaluate in {result['generated_dir']}: pass --targets DIR (L1, colour error), --segmenter DIR "
        f"(mask accuracy, mIoU), --real DIR with --inception FILE (FID, KID) or --aesthetic/--aesthetic-clip ({reasons})"
    )


def default_report_folder(generated_dir: str | os.PathLike) -> Path:
    """``out/`` -> ``out_report/`` beside it: each evaluated folder gets its own report folder."""
    generated_dir = Path(generated_dir).resolve()
    return generated_dir.parent / f"{generated_dir.name}_report"
