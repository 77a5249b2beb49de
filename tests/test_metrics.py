"""The metric registry: every metric prefers good renders over bad ones in the direction it
declares; hand-computed values; skipped metrics say why; and a metric registered once shows up in
``evaluate``, training selection, ``select`` and the quick start."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch
from PIL import Image

import paintscape.evaluate.metrics  # noqa: F401  (registers the metrics)
from paintscape.evaluate.inception import random_inception
from paintscape.evaluate.inputs import TensorInputs
from paintscape.evaluate.metrics import compute_metrics, is_better, metric, read_record
from paintscape.labels import CLASS_IDS, NUM_CLASSES, PALETTE, colorize
from paintscape.registry import METRICS

PALETTE_T = torch.tensor(PALETTE, dtype=torch.float32)  # (C, 3)


def palette_segmenter(images: torch.Tensor) -> torch.Tensor:
    """An exact segmenter for palette-coloured label maps: each pixel's nearest palette colour."""
    rgb = (images + 1) * 127.5  # (B, 3, H, W)
    distance = ((rgb.permute(0, 2, 3, 1)[..., None, :] - PALETTE_T) ** 2).sum(-1)  # (B, H, W, C)
    return distance.argmin(-1)


class SmoothnessPredictor:
    """A stand-in aesthetic predictor: smooth images score higher (1 - mean horizontal gradient)."""

    def score(self, images: torch.Tensor) -> torch.Tensor:
        return 1 - (images[..., 1:] - images[..., :-1]).abs().mean(dim=(1, 2, 3)) / 2


def scene_labels(count: int = 4, size: tuple[int, int] = (32, 48)) -> np.ndarray:
    rng = np.random.default_rng(0)
    labels = np.zeros((count, *size), np.uint8)
    for i in range(count):  # bands of random classes
        rows = np.sort(rng.choice(np.arange(1, size[0]), 3, replace=False))
        for cls, (top, bottom) in zip(rng.choice(NUM_CLASSES, 4, replace=False), zip([0, *rows], [*rows, size[0]])):
            labels[i, top:bottom] = cls
    return labels


def photos_of(labels: np.ndarray) -> torch.Tensor:
    return torch.stack([torch.from_numpy(colorize(lab)).permute(2, 0, 1).float() / 127.5 - 1 for lab in labels])


def inputs_for(generated: torch.Tensor, labels: np.ndarray, real: torch.Tensor) -> TensorInputs:
    return TensorInputs(
        generated, labels, targets=real, real=real, segmenter=palette_segmenter, inception=INCEPTION,
        aesthetic=SmoothnessPredictor(), batch_size=4, kid_subset_size=4,
    )  # fmt: skip


INCEPTION = random_inception(seed=0)


@functools.cache  # shared by the tests below: each value is computed once
def faithful_versus_noise():
    labels = scene_labels()
    real = photos_of(labels)
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return inputs_for(real.clone(), labels, real), inputs_for(noise, labels, real)


#: Per registered metric: good and bad inputs. A metric registered without a case here fails.
CASES = {name: faithful_versus_noise for name in ("mask_accuracy", "mean_iou", "fid", "kid", "aesthetic", "score", "l1", "class_color_error")}


def test_every_registered_metric_has_a_case():
    assert set(METRICS.names()) == set(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("name", METRICS.names())
def test_metric_prefers_good_renders_in_its_declared_direction(name):
    good, bad = CASES[name]()
    entry = METRICS.entry(name)
    assert set(entry["needs"]) <= good.available
    value_good, value_bad = good.value(name), bad.value(name)
    assert np.isfinite(value_good) and np.isfinite(value_bad)
    assert is_better(name, value_good, value_bad), (value_good, value_bad)
    per_image = entry.metadata.get("per_image")
    if per_image is not None:  # one value per image, whose mean is the metric
        values = per_image(good)
        assert list(values) == good.names
        assert np.mean(list(values.values())) == pytest.approx(value_good)


def test_perfect_renders_hit_the_bounds():
    good, _ = faithful_versus_noise()
    assert good.value("mask_accuracy") == 1.0 and good.value("mean_iou") == 1.0
    assert good.value("l1") == 0.0 and good.value("class_color_error") == 0.0
    assert good.value("fid") == pytest.approx(0.0, abs=1e-6)  # the generated set is the real set
    assert good.value("score") == pytest.approx(1.0 * 0.5 * 1.0 + 1.0 * 0.5 * good.value("aesthetic"))


def test_mask_accuracy_and_l1_by_hand():
    labels = scene_labels(2)
    real = photos_of(labels)
    fake = real.clone()
    sky = CLASS_IDS["sky"]
    fake[:, :, :, :12] = photos_of(np.full((2, 32, 12), sky, np.uint8))  # the left quarter painted as sky
    inputs = TensorInputs(fake, labels, targets=real, segmenter=palette_segmenter)
    for i, name in enumerate(inputs.names):
        expected = ((labels[i][:, :12] == sky).sum() + labels[i][:, 12:].size) / labels[i].size
        assert inputs.segmentation().accuracy[name] == pytest.approx(expected)
    expected_l1 = np.abs(colorize(np.full((2, 32, 12), sky, np.uint8)).astype(float) - np.stack([colorize(lab[:, :12]) for lab in labels])).sum() / (2 * 32 * 48 * 3)
    assert inputs.value("l1") == pytest.approx(expected_l1)


def test_skipped_metrics_say_why():
    labels = scene_labels(2)
    inputs = TensorInputs(photos_of(labels), labels)
    values, skipped = compute_metrics(inputs, unavailable={"segmenter": "segmenter folder runs/seg not found"})
    assert values == {}
    assert skipped["mask_accuracy"] == "segmenter folder runs/seg not found"
    assert "--real" in skipped["fid"] and "--targets" in skipped["l1"]
    assert skipped["score"] == "needs mask_accuracy and fid"


class MeanColour(torch.nn.Module):
    """A stand-in Inception: each photo's mean colour (3 features, so 8 photos give full-rank covariances)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # the features are computed on its device

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3))


def test_fid_by_sqrtm_and_by_features_is_the_frechet_distance_of_the_features():
    from scipy import linalg

    labels = scene_labels(8)
    real = photos_of(labels)
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    f1, f2 = (x.mean(dim=(2, 3)).double().numpy() for x in (noise, real))
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    expected = ((f1.mean(0) - f2.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    for method in ("sqrtm", "features"):  # evaluate's default, and the exact low-rank formula
        inputs = TensorInputs(noise, labels, real=real, inception=MeanColour(), batch_size=4, fid_method=method)
        values, skipped = compute_metrics(inputs, ["fid"])  # only the metric asked for
        assert skipped == {} and values["fid"] == pytest.approx(expected, rel=1e-6), method


@pytest.mark.parametrize(
    "metric_name, given, message",
    [
        ("mask_accuracy", {}, "no segmenter given"),
        ("fid", {}, "no Inception network given"),
        ("fid", {"inception": INCEPTION}, "no real photos given"),
        ("aesthetic", {}, "no aesthetic predictor given"),
        ("l1", {}, r"no paired real photos \(targets\) given"),
    ],
)
def test_asking_the_python_api_for_a_metric_without_its_inputs_says_which(metric_name, given, message):
    """compute_metrics skips these with a reason; a direct inputs.value(NAME) names what is missing."""
    labels = scene_labels(2)
    with pytest.raises(ValueError, match=message):
        TensorInputs(photos_of(labels), labels, **given).value(metric_name)


def test_tensor_inputs_refuse_mismatched_counts_and_unknown_fid_methods():
    labels = scene_labels(2)
    with pytest.raises(ValueError, match="2 generated photos, 1 label maps, 2 names"):
        TensorInputs(photos_of(labels), labels[:1], names=["a", "b"])
    with pytest.raises(ValueError, match="fid_method must be 'sqrtm' or 'features', got 'exact'"):
        TensorInputs(photos_of(labels), labels, fid_method="exact")


def test_old_metric_names_are_read_as_today():
    assert metric("mask_acc").name == "mask_accuracy"
    assert read_record({"step": 3, "mask_acc": 0.5}) == {"step": 3, "mask_accuracy": 0.5}
    with pytest.raises(ValueError, match="unknown metric 'sharpness'; valid names: aesthetic"):
        metric("sharpness")


# --- one registration, four consumers ------------------------------------------------------------


def darkness_per_image(inputs):
    return {name: float(-fake.mean()) for batch in inputs.batches() for name, fake in zip(batch.names, batch.generated)}


@pytest.fixture
def darkness():
    """A metric registered by a test: how dark the generated photos are (darker is better)."""
    METRICS.register("darkness", needs=("generated",), higher_is_better=True, title="darkness", per_image=darkness_per_image)(
        lambda inputs: float(np.mean(list(darkness_per_image(inputs).values())))
    )
    yield "darkness"
    METRICS.unregister("darkness")


def write_folder(folder, labels, shade):
    folder.mkdir(parents=True, exist_ok=True)
    for i, label in enumerate(labels):
        Image.fromarray(np.full((*label.shape, 3), shade[i % len(shade)], np.uint8)).save(folder / f"s{i}.png")


def test_a_registered_metric_reaches_every_consumer(darkness, tmp_path, capsys):
    from train_helpers import make_data, tiny_config

    from paintscape.cli import main
    from paintscape.evaluate.report import evaluate_folder, report_markdown
    from paintscape.quickstart import measure, table_rows
    from paintscape.train.trainer import train

    labels = scene_labels(3)
    (tmp_path / "labels").mkdir()
    for i, label in enumerate(labels):
        Image.fromarray(label).save(tmp_path / "labels" / f"s{i}.png")
    write_folder(tmp_path / "bright", labels, [200])
    write_folder(tmp_path / "mixed", labels, [20, 220])

    # 1. evaluate: computed, per image, and in the report
    result = evaluate_folder(tmp_path / "mixed", tmp_path / "labels")
    assert result["metrics"]["darkness"] == pytest.approx(-np.mean([20, 220, 20]) / 127.5 + 1)
    assert [row["darkness"] for row in result["per_image"]] == pytest.approx([1 - 20 / 127.5, 1 - 220 / 127.5, 1 - 20 / 127.5])
    assert "| darkness |" in report_markdown(result)

    # 2. select: the darker candidate of each label map
    assert main(["select", str(tmp_path / "bright"), str(tmp_path / "mixed"), "--labels", str(tmp_path / "labels"),
                 "--metric", "darkness", "--out", str(tmp_path / "best")]) == 0  # fmt: skip
    chosen = [np.asarray(Image.open(tmp_path / "best" / f"s{i}.png"))[0, 0, 0] for i in range(3)]
    assert chosen == [20, 200, 20]
    assert main(["select", str(tmp_path / "bright"), str(tmp_path / "mixed"), "--labels", str(tmp_path / "labels"),
                 "--metric", "fid", "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "not a per-image metric" in capsys.readouterr().err

    # 3. the quick start's measurements and its gallery table
    measured = measure(tmp_path / "mixed", tmp_path / "labels", segmenter_dir=None, targets_dir=tmp_path / "bright")
    assert {"darkness", "l1", "class_color_error"} <= set(measured)
    assert "darkness (higher is better)" in table_rows({"trained": measured, "untrained": {}, "real": {}}, ("trained", "untrained", "real"))

    # 4. training: logged at every evaluation and used to keep the best generator
    data = make_data(tmp_path / "data", count=6)
    holdout = tmp_path / "holdout.txt"
    holdout.write_text("scene_000005\n")
    train(tiny_config(data, f"data.holdout={holdout}", "eval.every=1", "eval.select_by=darkness", "train.phases[0].steps=2"), tmp_path / "run", progress=False)
    evals = [json.loads(line) for line in (tmp_path / "run" / "evals.jsonl").read_text().splitlines()]
    assert all("darkness" in e for e in evals)
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["metric"] == "darkness" and best["value"] == max(e["darkness"] for e in evals)
