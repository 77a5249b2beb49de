"""evaluate_folder / write_report end to end on tiny random models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("transformers")

from paintscape.data.io import DataError  # noqa: E402
from paintscape.evaluate import aesthetic, report  # noqa: E402
from paintscape.evaluate import segmenter as seg  # noqa: E402
from paintscape.labels import CLASS_NAMES, IGNORE_INDEX  # noqa: E402


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


def test_missing_weights_are_skipped_with_reasons(tmp_path):
    gen, labels, real = _folders(tmp_path)
    result = report.evaluate_folder(
        gen, labels, real, segmenter_dir=tmp_path / "no-seg", inception_weights=tmp_path / "no.pth"
    )
    assert result["metrics"] == {}
    assert "train-segmenter" in result["skipped"]["mask_accuracy"]
    assert "pt_inception-2015-12-05-6726825d.pth" in result["skipped"]["fid"]
    assert "clip-vit-large-patch14" in result["skipped"]["aesthetic"]
    assert "needs mask_accuracy and fid" in result["skipped"]["score"]
    assert "--targets" in result["skipped"]["l1"]
    md = report.report_markdown(result)
    assert "## Not computed" in md and "Per-class IoU" not in md


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
