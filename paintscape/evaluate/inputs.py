"""What a metric reads: generated photos with their label maps, real photos, and the judging models.

A metric (:mod:`paintscape.evaluate.metrics`) is a function of a :class:`MetricInputs`. Two kinds
of inputs exist: :class:`FolderInputs` (files on disk: ``paintscape evaluate``, ``select``, the
quick start) and :class:`TensorInputs` (images in memory: the training evaluation hook). Both hand
out the same batches and share the expensive intermediate results between metrics, computing each
once on first use: the segmenter's predictions (mask accuracy, mIoU), the Inception features (FID,
KID) and the aesthetic scores.

The inputs a metric may need, by name (``METRICS`` entries declare theirs in ``needs``):

* ``generated`` and ``labels`` -- always there: the photos being judged and their label maps;
* ``targets`` -- the real photo of each label map (paired: L1, colour error);
* ``real`` -- a set of real photos (unpaired: the distribution FID and KID compare against);
* ``segmenter``, ``inception``, ``aesthetic`` -- the judging models.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from paintscape.class_table import LANDSCAPE29, ClassTable, label_folder_class_table
from paintscape.data.io import IMAGE_SUFFIXES, LABEL_SUFFIXES, DataError, find_image, list_stems, read_image, read_label
from paintscape.data.transforms import image_to_tensor, tensor_to_image
from paintscape.evaluate import segmentation_metrics as sm
from paintscape.evaluate.aesthetic import AestheticPredictor
from paintscape.evaluate.feature_cache import folder_features
from paintscape.evaluate.inception import tensor_features
from paintscape.registry import METRICS

#: Images ``(B, 3, H, W)`` in [-1, 1] -> class ids ``(B, H, W)``; e.g. a trained SegFormer.
Segmenter = Callable[[torch.Tensor], torch.Tensor]

INPUT_KINDS = ("generated", "labels", "targets", "real", "segmenter", "inception", "aesthetic")


@dataclass(frozen=True)
class MetricBatch:
    """Up to ``batch_size`` generated photos of one size with what they are compared against."""

    names: list[str]
    generated: torch.Tensor  # (B, 3, H, W) in [-1, 1], at the label maps' size
    labels: np.ndarray  # (B, H, W) uint8 class ids, 255 = ignore
    targets: torch.Tensor | None  # (B, 3, H, W) in [-1, 1]: the real photo of each label map, when known


@dataclass(frozen=True)
class Segmentation:
    """The segmenter's verdict on the generated photos: per-image pixel accuracy and the confusion matrix."""

    accuracy: dict[str, float]  # NaN for a label map with no labelled pixel
    confusion: np.ndarray  # (C, C): row = label map class, column = predicted class


class MetricInputs(ABC):
    """Batches of generated photos and the judging models; see the module docstring.

    ``segmenter``, ``inception`` and ``aesthetic`` are the models (None: not available); ``device``
    is where they run. ``fid_method`` is ``"features"`` (exact low-rank formula, fast below 2048
    images) or ``"sqrtm"`` (pytorch-fid's computation); ``kid_subset_size`` is KID's subset size.
    ``table`` is the label maps' class table (the segmenter predicts its classes).
    """

    def __init__(
        self,
        *,
        segmenter: Segmenter | None = None,
        inception: nn.Module | None = None,
        aesthetic: AestheticPredictor | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
        fid_method: str = "features",
        kid_subset_size: int = 1000,
        table: ClassTable = LANDSCAPE29,
    ) -> None:
        if fid_method not in ("sqrtm", "features"):
            raise ValueError(f"fid_method must be 'sqrtm' or 'features', got {fid_method!r}")
        self.segmenter = segmenter
        self.inception = inception
        self.aesthetic = aesthetic
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.fid_method = fid_method
        self.kid_subset_size = kid_subset_size
        self.table = table
        self._values: dict[str, float] = {}
        self._segmentation: Segmentation | None = None
        self._features: dict[str, np.ndarray] = {}
        self._aesthetic_scores: dict[str, float] | None = None

    # --- what subclasses provide ---------------------------------------------------------------
    @property
    @abstractmethod
    def names(self) -> list[str]:
        """The judged images' names, in batch order."""

    @abstractmethod
    def batches(self) -> Iterator[MetricBatch]:
        """The generated photos with their label maps (and targets), ``batch_size`` at a time."""

    @abstractmethod
    def has_targets(self) -> bool: ...

    @abstractmethod
    def has_real(self) -> bool: ...

    @abstractmethod
    def _generated_features(self) -> np.ndarray: ...

    @abstractmethod
    def _real_features(self) -> np.ndarray: ...

    # --- what metrics read ---------------------------------------------------------------------
    @property
    def available(self) -> frozenset[str]:
        """The input kinds present (see the module docstring)."""
        have = {"generated", "labels"}
        if self.has_targets():
            have.add("targets")
        if self.has_real():
            have.add("real")
        models = {"segmenter": self.segmenter, "inception": self.inception, "aesthetic": self.aesthetic}
        have.update(kind for kind, model in models.items() if model is not None)
        return frozenset(have)

    def value(self, metric: str) -> float:
        """The metric ``metric`` over all images, computed once (metrics may read each other)."""
        if metric not in self._values:
            self._values[metric] = float(METRICS.get(metric)(self))
        return self._values[metric]

    def segmentation(self) -> Segmentation:
        if self._segmentation is None:
            if self.segmenter is None:
                raise ValueError("no segmenter given")
            accuracy: dict[str, float] = {}
            C = self.table.num_classes
            confusion = np.zeros((C, C), dtype=np.int64)
            with torch.no_grad():
                for batch in self.batches():
                    predicted = self.segmenter(batch.generated.to(self.device)).cpu().numpy()  # (B, H, W)
                    confusion += sm.confusion_matrix(batch.labels, predicted, C)
                    accuracy.update(zip(batch.names, sm.pixel_accuracies(batch.labels, predicted).tolist()))
            if all(math.isnan(a) for a in accuracy.values()):
                raise DataError("mask accuracy: every label map is entirely 255 (ignore)")
            self._segmentation = Segmentation(accuracy, confusion)
        return self._segmentation

    def inception_features(self, which: str) -> np.ndarray:
        """Pool3 features ``(N, 2048)`` of the ``"generated"`` or the ``"real"`` photos."""
        if which not in self._features:
            if self.inception is None:
                raise ValueError("no Inception network given")
            self._features[which] = self._generated_features() if which == "generated" else self._real_features()
        return self._features[which]

    def aesthetic_scores(self) -> dict[str, float]:
        if self._aesthetic_scores is None:
            if self.aesthetic is None:
                raise ValueError("no aesthetic predictor given")
            scores: dict[str, float] = {}
            with torch.no_grad():
                for batch in self.batches():
                    scores.update(zip(batch.names, self.aesthetic.score(batch.generated.to(self.device)).tolist()))
            self._aesthetic_scores = scores
        return self._aesthetic_scores

    def per_image_pairs(self) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """``(name, generated, target, label)`` per image as uint8 arrays ``(H, W, 3)``, ``(H, W)``
        (exact for photos read from uint8 files)."""
        for batch in self.batches():
            if batch.targets is None:
                raise ValueError("no paired real photos (targets) given")
            for name, fake, real, label in zip(batch.names, batch.generated, batch.targets, batch.labels):
                yield name, tensor_to_image(fake), tensor_to_image(real), label


def _at_size(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A photo resized (bilinear, antialiased) to its label map's size, so that pixels line up."""
    if tuple(image.shape[-2:]) == size:
        return image
    return F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]


class TensorInputs(MetricInputs):
    """Images already in memory: ``generated`` and ``targets`` ``(N, 3, H, W)`` in [-1, 1],
    ``labels`` ``(N, H, W)`` class ids, ``real`` ``(M, 3, H', W')`` the set FID compares against."""

    def __init__(
        self,
        generated: torch.Tensor,
        labels: torch.Tensor | np.ndarray,
        *,
        targets: torch.Tensor | None = None,
        real: torch.Tensor | None = None,
        names: Sequence[str] | None = None,
        **models_and_options,
    ) -> None:
        super().__init__(**models_and_options)
        self.generated = generated.detach().float().cpu()
        self.labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(np.uint8)
        self.targets = None if targets is None else targets.detach().float().cpu()
        self.real = None if real is None else real.detach().float().cpu()
        self._names = list(names) if names is not None else [str(i) for i in range(len(self.generated))]
        if not len(self.generated) == len(self.labels) == len(self._names):
            raise ValueError(f"{len(self.generated)} generated photos, {len(self.labels)} label maps, {len(self._names)} names")

    @property
    def names(self) -> list[str]:
        return self._names

    def has_targets(self) -> bool:
        return self.targets is not None

    def has_real(self) -> bool:
        return self.real is not None

    def batches(self) -> Iterator[MetricBatch]:
        for start in range(0, len(self.generated), self.batch_size):
            part = slice(start, start + self.batch_size)
            targets = None if self.targets is None else self.targets[part]
            yield MetricBatch(self._names[part], self.generated[part], self.labels[part], targets)

    def _generated_features(self) -> np.ndarray:
        return tensor_features(self.inception, self.generated, self.batch_size)

    def _real_features(self) -> np.ndarray:
        if self.real is None:
            raise ValueError("no real photos given")
        return tensor_features(self.inception, self.real, self.batch_size)


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


class FolderInputs(MetricInputs):
    """``generated_dir/NAME.{jpg,png,...}`` with ``labels_dir/NAME.png``; optionally ``targets_dir``
    (the real photo of each label map, same names) and ``real_dir`` (any real photos: FID's set).

    A photo whose size differs from its label map's is resized to it (bilinear, antialiased) for
    the pixel-wise metrics; Inception features are computed from the files as pytorch-fid does.
    With ``cache_dir`` and ``inception_weights`` (the weights file, part of the cache key) the real
    folder's features are cached. ``table``: the label maps' class table (default: the ``classes.yaml``
    in ``labels_dir`` or its dataset folder, else the landscape classes).
    """

    def __init__(
        self,
        generated_dir: str | Path,
        labels_dir: str | Path,
        *,
        targets_dir: str | Path | None = None,
        real_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        inception_weights: str | Path | None = None,
        progress: str | None = None,
        table: ClassTable | None = None,
        **models_and_options,
    ) -> None:
        super().__init__(table=label_folder_class_table(labels_dir) if table is None else table, **models_and_options)
        self.progress = progress  # a progress bar's title for each pass over the photos (None: no bar)
        self.generated_dir, self.labels_dir = Path(generated_dir), Path(labels_dir)
        self.pairs, self.unmatched_generated, self.unmatched_labels = match_generated_to_labels(self.generated_dir, self.labels_dir)
        self.targets_dir = None if targets_dir is None else Path(targets_dir)
        self.real_dir = None if real_dir is None else Path(real_dir)
        self.cache_dir, self.inception_weights = cache_dir, inception_weights
        if self.targets_dir is not None:
            missing = [name for name, _, _ in self.pairs if find_image(self.targets_dir, name) is None]
            if missing:
                raise DataError(f"{self.targets_dir}: no real photo for {len(missing)} label maps, e.g. {missing[:3]}")

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.pairs]

    def has_targets(self) -> bool:
        return self.targets_dir is not None

    def has_real(self) -> bool:
        return self.real_dir is not None

    def batches(self) -> Iterator[MetricBatch]:
        """Consecutive images of one size, at most ``batch_size`` at a time, in name order."""
        group: list[tuple[str, torch.Tensor, np.ndarray, torch.Tensor | None]] = []

        def emit() -> MetricBatch:
            targets = None if group[0][3] is None else torch.stack([g[3] for g in group])
            return MetricBatch([g[0] for g in group], torch.stack([g[1] for g in group]), np.stack([g[2] for g in group]), targets)

        pairs = self.pairs
        if self.progress:
            from tqdm import tqdm

            pairs = tqdm(pairs, desc=self.progress, unit="img", leave=False, dynamic_ncols=True)
        for name, image_path, label_path in pairs:
            label = read_label(label_path, table=self.table)
            image = _at_size(image_to_tensor(read_image(image_path)), label.shape)
            target = None
            if self.targets_dir is not None:
                target = _at_size(image_to_tensor(read_image(find_image(self.targets_dir, name))), label.shape)
            if group and (tuple(image.shape) != tuple(group[0][1].shape) or len(group) == self.batch_size):
                yield emit()
                group = []
            group.append((name, image, label, target))
        if group:
            yield emit()

    def _generated_features(self) -> np.ndarray:
        files = [image for _, image, _ in self.pairs]
        return folder_features(self.generated_dir, self.inception, self.batch_size, files=files)[0]

    def _real_features(self) -> np.ndarray:
        if self.real_dir is None:
            raise ValueError("no real photos given")
        weights = self.inception_weights if self.cache_dir is not None else None
        return folder_features(self.real_dir, self.inception, self.batch_size, self.cache_dir, weights)[0]
