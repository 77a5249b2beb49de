"""`evaluate --segmenter RUN`: an OASIS run's discriminator judges mask accuracy and mIoU, no SegFormer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from train_helpers import make_data, tiny_config

from paintscape.cli import main
from paintscape.data.io import read_label
from paintscape.data.transforms import image_to_tensor
from paintscape.evaluate.discriminator_segmenter import is_training_run, load_discriminator, segment_with_discriminator
from paintscape.train.trainer import train


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg")
    data = make_data(root / "data", count=6)
    train(tiny_config(data, "train.phases=[{batch_size: 2, lr: 0.0002, steps: 2}]", family="oasis"), root / "oasis", progress=False)
    assert main(["generate", str(root / "oasis"), str(data / "labels"), str(root / "generated"), "--device", "cpu"]) == 0
    return root, data


def test_evaluate_with_an_oasis_run_as_segmenter(runs, capsys):
    root, data = runs
    assert is_training_run(root / "oasis") and not is_training_run(data)
    capsys.readouterr()
    assert main(["evaluate", str(root / "generated"), "--labels", str(data / "labels"), "--segmenter", str(root / "oasis"),
                 "--out", str(root / "report"), "--device", "cpu"]) == 0  # fmt: skip
    assert "not a SegFormer" in capsys.readouterr().out
    report = json.loads((root / "report" / "report.json").read_text())
    accuracy, miou = report["metrics"]["mask_accuracy"], report["metrics"]["mean_iou"]
    # independently: the discriminator's class channels, argmax, pixel accuracy over every labelled pixel
    discriminator, size = load_discriminator(root / "oasis")
    assert size == (32, 64)
    per_image = []
    for path in sorted((root / "generated").iterdir()):
        label = read_label(next((data / "labels").glob(path.stem + ".*")))
        photo = image_to_tensor(np.asarray(Image.open(path).convert("RGB")))[None]
        with torch.no_grad():
            predicted = discriminator(photo)[:, 1:].argmax(1)[0].numpy()
        valid = label != 255
        per_image.append((predicted[valid] == label[valid]).mean())
    assert accuracy == pytest.approx(np.mean(per_image), abs=1e-6)  # the mean over images, as the SegFormer's
    assert 0 <= miou <= 1


def test_segmenting_at_another_size_resizes_to_the_trained_one(runs):
    root, _ = runs
    discriminator, size = load_discriminator(root / "oasis" / "checkpoints" / "step_00000002.pt")
    images = torch.rand(2, 3, 48, 80) * 2 - 1
    ids = segment_with_discriminator(discriminator, size, images)
    assert ids.shape == (2, 48, 80) and int(ids.max()) < 29
    with torch.no_grad():
        at_size = segment_with_discriminator(discriminator, size, torch.nn.functional.interpolate(images, size=size, mode="bilinear"))
    assert at_size.shape == (2, *size)


def test_a_run_without_a_segmentation_discriminator_is_one_line(runs, tmp_path, capsys):
    root, data = runs
    train(tiny_config(data, "train.phases=[{batch_size: 2, lr: 0.0002, steps: 1}]", family="pix2pix"), tmp_path / "pix2pix", progress=False)
    capsys.readouterr()
    assert main(["evaluate", str(root / "generated"), "--labels", str(data / "labels"), "--segmenter", str(tmp_path / "pix2pix"),
                 "--out", str(tmp_path / "report"), "--device", "cpu"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "not a segmentation discriminator" in err and "Traceback" not in err
