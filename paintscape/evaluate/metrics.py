"""The metric registry's entries: one name per metric, everywhere.

Each entry is a function of :class:`paintscape.evaluate.inputs.MetricInputs` returning one number
over the whole set, registered with what it needs (input kinds, see ``evaluate.inputs``), whether
higher is better, a title for tables and, when the metric has one value per image (``select``
needs that), a ``per_image`` function returning ``{name: value}``. ``uses`` names the metrics an
entry is computed from. ``paintscape evaluate``, the training evaluation hook and model selection,
``select``, ``average --top`` and the quick start all read this registry: adding a metric is one
registration here (or anywhere, before those run) plus its test.

:func:`compute_metrics` computes every metric the inputs allow and says why the others were not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from paintscape.evaluate import segmentation_metrics as sm
from paintscape.evaluate.color_error import class_color_error
from paintscape.evaluate.fid import (
    frechet_distance,
    frechet_distance_from_features,
    kernel_inception_distance,
    statistics,
)
from paintscape.evaluate.inputs import MetricInputs
from paintscape.evaluate.score import track_score
from paintscape.registry import METRICS, Entry

#: Names an older paintscape wrote (in ``evals.jsonl`` / ``best.json``) -> today's name.
LEGACY_NAMES = {"mask_acc": "mask_accuracy"}

#: Why an input kind is missing and how to provide it, for the report's "not computed" list.
MISSING_INPUT = {
    "targets": "no real photo per label map given (--targets DIR, same names as the label maps)",
    "real": "no folder of real photos given (--real DIR)",
    "segmenter": "no segmenter given (--segmenter DIR); train one with `paintscape train-segmenter DATA --out DIR`",
    "inception": "no FID Inception weights given (--inception FILE)",
    "aesthetic": "no aesthetic predictor given (--aesthetic-clip DIR --aesthetic FILE)",
}


def _mean(values: Iterable[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")


# --- segmenter agreement ----------------------------------------------------------------------


def mask_accuracy_per_image(inputs: MetricInputs) -> dict[str, float]:
    return inputs.segmentation().accuracy


@METRICS.register(
    "mask_accuracy", needs=("generated", "labels", "segmenter"), higher_is_better=True,
    title="mask accuracy", per_image=mask_accuracy_per_image,
)  # fmt: skip
def mask_accuracy(inputs: MetricInputs) -> float:
    """The track's measure: mean over images of the share of labelled pixels the segmenter puts in
    the label map's class (255 ignored)."""
    return _mean(inputs.segmentation().accuracy.values())


@METRICS.register("mean_iou", needs=("generated", "labels", "segmenter"), higher_is_better=True, title="mIoU")
def mean_iou(inputs: MetricInputs) -> float:
    """Dataset-level mean IoU of the segmenter's prediction against the label maps."""
    return sm.mean_iou_from_confusion(inputs.segmentation().confusion)[0]


# --- Inception features -----------------------------------------------------------------------


@METRICS.register("fid", needs=("generated", "real", "inception"), higher_is_better=False, title="FID")
def fid(inputs: MetricInputs) -> float:
    """Fréchet Inception Distance between the generated photos and the real set."""
    generated, real = inputs.inception_features("generated"), inputs.inception_features("real")
    if inputs.fid_method == "features":
        return frechet_distance_from_features(generated, real)
    return frechet_distance(*statistics(generated.astype(np.float64)), *statistics(real.astype(np.float64)))


@METRICS.register("kid", needs=("generated", "real", "inception"), higher_is_better=False, title="KID")
def kid(inputs: MetricInputs) -> float:
    """Kernel Inception Distance (mean over subsets; unbiased, unlike FID at small counts)."""
    return kid_mean_std(inputs)[0]


def kid_mean_std(inputs: MetricInputs) -> tuple[float, float]:
    generated, real = inputs.inception_features("generated"), inputs.inception_features("real")
    return kernel_inception_distance(generated.astype(np.float64), real.astype(np.float64), subset_size=inputs.kid_subset_size)


# --- aesthetic and the track's score ----------------------------------------------------------


def aesthetic_per_image(inputs: MetricInputs) -> dict[str, float]:
    return inputs.aesthetic_scores()


@METRICS.register(
    "aesthetic", needs=("generated", "aesthetic"), higher_is_better=True, title="aesthetic (0..1)",
    per_image=aesthetic_per_image,
)  # fmt: skip
def aesthetic(inputs: MetricInputs) -> float:
    """Mean aesthetic score in [0, 1] (LAION predictor's rating mapped by the project's (r - 1) / 9)."""
    return _mean(inputs.aesthetic_scores().values())


@METRICS.register(
    "score", needs=("generated", "labels", "segmenter", "real", "inception"), higher_is_better=True,
    title="score", uses=("mask_accuracy", "fid"),
)  # fmt: skip
def score(inputs: MetricInputs) -> float:
    """The track's score; without an aesthetic predictor the partial score (aesthetic counted as 0),
    a lower bound of the real one (see :mod:`paintscape.evaluate.score`)."""
    aesthetic_value = inputs.value("aesthetic") if "aesthetic" in inputs.available else None
    return track_score(inputs.value("mask_accuracy"), inputs.value("fid"), aesthetic_value).score


# --- paired real photos -----------------------------------------------------------------------


def l1_per_image(inputs: MetricInputs) -> dict[str, float]:
    return {name: float(np.abs(fake.astype(np.float64) - real).mean()) for name, fake, real, _ in inputs.per_image_pairs()}


@METRICS.register(
    "l1", needs=("generated", "targets"), higher_is_better=False, title="L1 to the real photo, 0..255",
    per_image=l1_per_image,
)  # fmt: skip
def l1(inputs: MetricInputs) -> float:
    """Mean absolute difference to each label map's real photo, 0..255 per channel."""
    return _mean(l1_per_image(inputs).values())


def class_color_error_per_image(inputs: MetricInputs) -> dict[str, float]:
    return {name: class_color_error(fake, real, label) for name, fake, real, label in inputs.per_image_pairs()}


@METRICS.register(
    "class_color_error", needs=("generated", "labels", "targets"), higher_is_better=False,
    title="per-class colour error, 0..255", per_image=class_color_error_per_image,
)  # fmt: skip
def class_color_error_metric(inputs: MetricInputs) -> float:
    """Mean over images of the per-class mean-colour error against the real photo."""
    return _mean(class_color_error_per_image(inputs).values())


# --- consumers --------------------------------------------------------------------------------


def metric(name: str) -> Entry:
    """The registry entry of ``name`` (an old name such as ``mask_acc`` is read as today's)."""
    return METRICS.entry(LEGACY_NAMES.get(name, name))


def missing_inputs(name: str, available: Iterable[str]) -> list[str]:
    """The input kinds ``name`` needs that ``available`` lacks (empty: it can be computed)."""
    have = set(available)
    return [kind for kind in metric(name)["needs"] if kind not in have]


def is_better(name: str, value: float, than: float | None) -> bool:
    """Whether ``value`` of metric ``name`` beats ``than`` (None: nothing to beat)."""
    if than is None:
        return True
    return value > than if metric(name)["higher_is_better"] else value < than


def rank_key(name: str, value: float) -> float:
    """A sort key that puts the best value of ``name`` first."""
    return -value if metric(name)["higher_is_better"] else value


def read_record(record: Mapping[str, object]) -> dict[str, object]:
    """A logged record with old metric names read as today's (``mask_acc`` -> ``mask_accuracy``)."""
    return {LEGACY_NAMES.get(key, key): value for key, value in record.items()}


def compute_metrics(
    inputs: MetricInputs, names: Iterable[str] | None = None, unavailable: Mapping[str, str] | None = None
) -> tuple[dict[str, float], dict[str, str]]:
    """``(values, skipped)``: every registered metric (or those in ``names``) the inputs allow, in
    registry order, and for the others why not. ``unavailable`` gives, per input kind, a better
    reason than :data:`MISSING_INPUT` (e.g. the error met loading the segmenter)."""
    reasons = {**MISSING_INPUT, **(unavailable or {})}  # per input kind
    wanted = None if names is None else {metric(n).name for n in names}
    values: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for entry in METRICS.entries():
        if wanted is not None and entry.name not in wanted:
            continue
        blocked = [u for u in entry.metadata.get("uses", ()) if u in skipped or missing_inputs(u, inputs.available)]
        missing = missing_inputs(entry.name, inputs.available)
        if blocked:
            skipped[entry.name] = f"needs {' and '.join(blocked)}"
        elif missing:
            skipped[entry.name] = reasons.get(missing[0], f"needs {missing[0]}")
        else:
            try:
                values[entry.name] = inputs.value(entry.name)
            except FileNotFoundError as err:  # e.g. a real-photo folder without images: the message names it
                skipped[entry.name] = str(err)
    return values, skipped
