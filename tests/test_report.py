"""evaluate_folder / write_report end to end on tiny random models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from paintscape.data.io import DataError
from paintscape.evaluate import aesthetic, report
from paintscape.evaluate import fid as fid_module
from paintscape.evaluate import metrics as metrics_module
from paintscape.evaluate import segmenter as seg
from paintscape.evaluate.inception import FEATURE_DIM
from paintscape.labels import CLASS_NAMES, IGNORE_INDEX


def _folders(tmp_path, count=3, size=(32, 48)):
    rng = np.random.default_rng(0)
    for sub in ("gen", "labels", "real"):
        (tmp_path / sub).mkdir()
    for i in range(count):
        label = rng.integers(0, 3, size, dtype=np.uint8)
        label[0, 0] = IGNORE_INDEX
        Image.fromarray(label).save(tmp_path / "labels" / f"s{i}.png")
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp_path / "gen" / f"s{i}.png")
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp_path / "real" / f"r{i}.jpg")
    # one generated image at twice the label size (resized to the label for segmentation)
    Image.fromarray(rng.integers(0, 256, (size[0] * 2, size[1] * 2, 3), dtype=np.uint8)).save(
        tmp_path / "gen" / "s0.png"
    )
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp_path / "gen" / "orphan.png")
    return tmp_path / "gen", tmp_path / "labels", tmp_path / "real"


def _tiny_segmenter(path):
    torch.manual_seed(0)
    seg.build_segmenter("tiny").save_pretrained(path)
    return path


def _tiny_aesthetic(tmp_path):
    import transformers

    config = transformers.CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, projection_dim=8, num_hidden_layers=1, num_attention_heads=2,
        image_size=32, patch_size=8,
    )  # fmt: skip
    transformers.CLIPVisionModelWithProjection(config).save_pretrained(tmp_path / "clip")
    torch.save(aesthetic.AestheticMLP(input_size=8).state_dict(), tmp_path / "mlp.pth")
    return tmp_path / "clip", tmp_path / "mlp.pth"


def test_full_evaluation_with_tiny_models(tmp_path):
    gen, labels, real = _folders(tmp_path)
    clip_dir, mlp = _tiny_aesthetic(tmp_path)
    result = report.evaluate_folder(
        gen, labels, real, segmenter_dir=_tiny_segmenter(tmp_path / "seg"), aesthetic_clip_dir=clip_dir,
        aesthetic_mlp=mlp, batch_size=2, inception="random", kid_subset_size=3, fid_method="features", targets_dir=gen,
    )  # fmt: skip
    m = result["metrics"]
    assert result["num_images"] == 3
    assert 0 <= m["mask_accuracy"] <= 1 and 0 <= m["mean_iou"] <= 1
    assert set(m["per_class_iou"]) == set(CLASS_NAMES)
    assert m["fid"] >= 0 and m["kid_std"] >= 0 and m["num_real_images"] == 3
    assert m["l1"] == 0 and m["class_color_error"] == 0  # the targets are the generated photos themselves
    assert 0 <= m["aesthetic"] <= 1
    assert m["score_partial"] is False
    expected = m["mask_accuracy"] * (0.5 * m["aesthetic"] + 0.5 * (100 - min(m["fid"], 100)) / 100)
    assert m["score"] == pytest.approx(expected)
    assert result["skipped"] == {}
    assert "RANDOM" in " ".join(result["notes"]) and "orphan" in " ".join(result["notes"])
    assert result["settings"]["inception"] == "random (TEST ONLY)"
    assert [p["name"] for p in result["per_image"]] == ["s0", "s1", "s2"]
    assert all({"mask_accuracy", "aesthetic", "l1", "class_color_error"} <= set(p) for p in result["per_image"])

    json_path, md_path = report.write_report(result, tmp_path / "out")
    assert json.loads(json_path.read_text())["metrics"]["score"] == pytest.approx(m["score"])
    md = md_path.read_text()
    assert "| mask accuracy |" in md and "## Per-class IoU" in md and "| 1 | sky |" in md and "| KID x 1000 |" in md


# ---- hand-computed case ---------------------------------------------------------------------------
# The segmenter is replaced by one that reads the class off the photo (red = 8 x class), so the
# prediction of every pixel is chosen by the test and every metric below is worked out by hand.
HAND_LABELS = {
    "s0": np.array([[0, 0, 1, 1], [2, 2, IGNORE_INDEX, 1]], np.uint8),
    "s1": np.array([[3, 3, 3, 3], [1, 1, 1, 1]], np.uint8),
}
HAND_PREDICTIONS = {
    "s0": np.array([[0, 1, 1, 1], [2, 0, 2, 1]]),
    "s1": np.full((4, 8), 3),  # rendered at twice the label's size: resized to it before segmenting
}
# s0: 7 labelled pixels (255 ignored, whatever is predicted there), 5 right -> 5/7
# s1: 8 pixels, the 4 of class 3 right -> 4/8
HAND_ACCURACY = (5 / 7 + 4 / 8) / 2  # the mean of per-image accuracies (pooled pixels would give 9/15)
# Confusion over both images (rows ground truth, columns prediction):
#   class 0: TP 1, ground truth 2, predicted 2 -> 1 / (2 + 2 - 1) = 1/3
#   class 1: TP 3, ground truth 3 + 4, predicted 1 + 3 -> 3 / (7 + 4 - 3) = 3/8
#   class 2: TP 1, ground truth 2, predicted 1 -> 1 / (2 + 1 - 1) = 1/2
#   class 3: TP 4, ground truth 4, predicted 8 -> 4 / (4 + 8 - 4) = 1/2
HAND_IOU = {0: 1 / 3, 1: 3 / 8, 2: 1 / 2, 3: 1 / 2}  # every other class absent from both: None
HAND_MIOU = sum(HAND_IOU.values()) / 4


def _colour_coded_case(tmp_path, monkeypatch):
    for sub in ("gen", "labels", "real"):
        (tmp_path / sub).mkdir()
    for name, label in HAND_LABELS.items():
        Image.fromarray(label).save(tmp_path / "labels" / f"{name}.png")
        photo = np.zeros((*HAND_PREDICTIONS[name].shape, 3), np.uint8)
        photo[..., 0] = 8 * HAND_PREDICTIONS[name]
        Image.fromarray(photo).save(tmp_path / "gen" / f"{name}.png")
        Image.fromarray(photo).save(tmp_path / "real" / f"{name}.png")

    def colour_segment(model, images):
        assert model == "colour-coded"
        return torch.round((images[:, 0] + 1) * 127.5 / 8).long()

    monkeypatch.setattr(seg, "load_segmenter", lambda directory, device="cpu", num_classes=None: "colour-coded")
    monkeypatch.setattr(seg, "segment", colour_segment)

    # FID itself is checked in test_fid.py; here it is fixed at 40 so that the score is known
    def fid_of_40(generated, real):
        assert generated.shape == real.shape == (2, FEATURE_DIM)
        return 40.0

    monkeypatch.setattr(fid_module, "frechet_distance_from_features", fid_of_40)
    monkeypatch.setattr(metrics_module, "frechet_distance_from_features", fid_of_40)  # imported there by name
    return tmp_path / "gen", tmp_path / "labels", tmp_path / "real"


def test_metrics_and_score_match_a_hand_computed_case(tmp_path, monkeypatch):
    gen, labels, real = _colour_coded_case(tmp_path, monkeypatch)
    options = dict(segmenter_dir=tmp_path / "seg", inception="random", kid_subset_size=2, fid_method="features")
    result = report.evaluate_folder(gen, labels, real, **options)
    m = result["metrics"]
    assert [p["mask_accuracy"] for p in result["per_image"]] == pytest.approx([5 / 7, 4 / 8], abs=1e-12)
    assert m["mask_accuracy"] == pytest.approx(HAND_ACCURACY, abs=1e-12)
    assert m["mean_iou"] == pytest.approx(HAND_MIOU, abs=1e-12)
    expected_iou = {name: HAND_IOU.get(i) for i, name in enumerate(CLASS_NAMES)}
    assert m["per_class_iou"] == pytest.approx(expected_iou, abs=1e-12)
    # FID 40 -> FID term (100 - 40) / 100 = 0.6; no aesthetic predictor -> the partial score
    # acc * (0.5 * 0 + 0.5 * 0.6)
    assert m["fid"] == 40.0 and m["score_partial"] is True
    assert m["score"] == pytest.approx(HAND_ACCURACY * 0.5 * 0.6, abs=1e-12)

    # with an aesthetic predictor that rates every photo 0.25 (exact in float32): acc * (0.5 * 0.25 + 0.5 * 0.6)
    class FixedAesthetic:
        def score(self, images):
            return torch.full((len(images),), 0.25)

    monkeypatch.setattr(aesthetic.LaionAestheticPredictor, "from_paths", lambda *args, **kwargs: FixedAesthetic())
    full = report.evaluate_folder(gen, labels, real, aesthetic_clip_dir="clip", aesthetic_mlp="mlp", **options)
    assert full["metrics"]["aesthetic"] == 0.25
    assert full["metrics"]["score_partial"] is False
    assert full["metrics"]["score"] == pytest.approx(HAND_ACCURACY * (0.5 * 0.25 + 0.5 * 0.6), abs=1e-12)
    md = report.report_markdown(full)
    assert f"| mask accuracy | {HAND_ACCURACY:.4f} |" in md


def test_weights_not_given_are_skipped_with_reasons_and_given_but_missing_are_errors(tmp_path):
    gen, labels, real = _folders(tmp_path)
    with pytest.raises(FileNotFoundError, match="no-seg"):
        report.evaluate_folder(gen, labels, real, segmenter_dir=tmp_path / "no-seg")
    with pytest.raises(FileNotFoundError, match="no.pth"):
        report.evaluate_folder(gen, labels, real, inception_weights=tmp_path / "no.pth")
    result = report.evaluate_folder(gen, labels, real)
    assert result["metrics"] == {}
    with pytest.raises(report.NothingToEvaluate, match="pass --targets DIR"):
        report.nothing_computed(result)
    assert "train-segmenter" in result["skipped"]["mask_accuracy"]
    assert "pt_inception-2015-12-05-6726825d.pth" in result["skipped"]["fid"]
    assert "clip-vit-large-patch14" in result["skipped"]["aesthetic"]
    assert "needs mask_accuracy and fid" in result["skipped"]["score"]
    assert "--targets" in result["skipped"]["l1"]
    md = report.report_markdown(result)
    assert "## Not computed" in md and "Per-class IoU" not in md


def test_a_real_folder_missing_or_empty_skips_fid_naming_it_and_unmatched_maps_are_noted(tmp_path):
    gen, labels, _ = _folders(tmp_path)
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(labels / "s9.png")  # a label map nobody rendered
    (tmp_path / "empty").mkdir()
    for real, reason in ((tmp_path / "empty", "no images (.jpg"), (tmp_path / "nowhere", "image folder '")):
        result = report.evaluate_folder(gen, labels, real, inception="random", kid_subset_size=3)
        assert result["skipped"]["fid"].startswith(reason) and str(real) in result["skipped"]["fid"]
        assert "fid" not in result["metrics"] and result["skipped"]["kid"] == result["skipped"]["fid"]
        assert "1 label maps have no generated image, e.g. ['s9']" in result["notes"]


def test_partial_score_without_aesthetic(tmp_path):
    gen, labels, real = _folders(tmp_path)
    result = report.evaluate_folder(
        gen,
        labels,
        real,
        segmenter_dir=_tiny_segmenter(tmp_path / "seg"),
        inception="random",
        kid_subset_size=3,
        fid_method="features",
    )
    m = result["metrics"]
    assert m["score_partial"] is True
    assert m["score"] == pytest.approx(m["mask_accuracy"] * 0.5 * (100 - min(m["fid"], 100)) / 100)
    assert "(partial, lower bound)" in report.report_markdown(result)


def test_no_matching_names_is_an_error(tmp_path):
    (tmp_path / "gen").mkdir()
    (tmp_path / "labels").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "gen" / "a.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "labels" / "b.png")
    with pytest.raises(DataError, match="same name"):
        report.evaluate_folder(tmp_path / "gen", tmp_path / "labels")
