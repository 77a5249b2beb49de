"""evaluate takes what it is asked for seriously: a requested weights file that is missing or
unreadable is a one-line error (exit 2), nothing computable is an error naming what to pass, each
evaluated folder gets its own report folder, and evaluate/select show progress."""

import argparse
import json
import pickle

import pytest
import torch
from generator_files import tiny_generator_file
from train_helpers import make_data

from paintscape.cli import main
from paintscape.weights_file import WeightsFileError, read_weights


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    data = make_data(root / "data", count=4)
    ckpt = tiny_generator_file(root / "g.safetensors")
    for seed in ("0", "1"):
        assert main(["generate", str(ckpt), str(data / "labels"), str(root / f"out{seed}"), "--seed", seed, "--device", "cpu"]) == 0
    return root, data


def _evaluate(made, *extra):
    root, data = made
    return main(["evaluate", str(root / "out0"), "--labels", str(data / "labels"), "--device", "cpu", *extra])


def test_nothing_computable_is_an_error_naming_what_to_pass(made, capsys):
    assert _evaluate(made) == 2
    err = capsys.readouterr().err
    assert "nothing to evaluate in" in err and "pass --targets DIR" in err and "--segmenter DIR" in err
    assert not (made[0] / "out0_report").exists() and not (made[0] / "report").exists()


@pytest.mark.parametrize("flag", ["--inception", "--segmenter"])
def test_a_requested_file_that_is_missing_is_an_error(made, flag, capsys):
    assert _evaluate(made, "--targets", str(made[1] / "imgs"), flag, str(made[0] / "nothere.pth")) == 2
    err = capsys.readouterr().err
    assert "nothere.pth" in err and "Traceback" not in err and len(err.strip().splitlines()) == 2  # the line + the --verbose hint


def test_unreadable_weights_are_one_line_without_torch_advice(made, capsys, tmp_path):
    junk = tmp_path / "notweights.pth"
    junk.write_bytes(b"this is not a checkpoint" * 10)
    assert _evaluate(made, "--targets", str(made[1] / "imgs"), "--inception", str(junk)) == 2
    err = capsys.readouterr().err
    assert f"FID Inception weights {junk}: not a readable PyTorch weights file" in err
    assert "weights_only" not in err and "Traceback" not in err


def test_missing_label_maps_or_real_photos_are_named(made, capsys, tmp_path):
    import shutil

    root, data = made
    assert main(["evaluate", str(root / "out0"), "--labels", str(tmp_path / "nolabels"), "--targets", str(data / "imgs")]) == 2
    assert f"{tmp_path / 'nolabels'}: folder of label maps not found" in capsys.readouterr().err
    shutil.copytree(data / "imgs", tmp_path / "imgs")
    next((tmp_path / "imgs").iterdir()).unlink()
    assert _evaluate(made, "--targets", str(tmp_path / "imgs")) == 2
    assert f"{tmp_path / 'imgs'}: no real photo for 1 label maps, e.g. [" in capsys.readouterr().err


def test_mask_accuracy_of_maps_that_are_all_ignore_is_an_error(made, capsys, tmp_path):
    import numpy as np
    from PIL import Image

    from paintscape.evaluate.segmenter import build_segmenter

    root, data = made
    (tmp_path / "labels").mkdir()
    for label in (data / "labels").iterdir():
        shape = np.asarray(Image.open(label)).shape
        Image.fromarray(np.full(shape, 255, np.uint8)).save(tmp_path / "labels" / label.name)
    torch.manual_seed(0)
    build_segmenter("tiny").save_pretrained(tmp_path / "seg")
    args = ["evaluate", str(root / "out0"), "--labels", str(tmp_path / "labels"), "--segmenter", str(tmp_path / "seg"), "--device", "cpu"]
    assert main(args) == 2
    assert "mask accuracy: every label map is entirely 255 (ignore)" in capsys.readouterr().err


def test_the_aesthetic_score_needs_both_parts(made, capsys, tmp_path):
    assert _evaluate(made, "--targets", str(made[1] / "imgs"), "--aesthetic", str(tmp_path / "mlp.pth")) == 2
    assert "needs both --aesthetic FILE" in capsys.readouterr().err
    assert _evaluate(made, "--targets", str(made[1] / "imgs"), "--aesthetic", str(tmp_path / "mlp.pth"), "--aesthetic-clip", str(tmp_path)) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_each_evaluated_folder_gets_its_own_report_and_a_progress_bar(made, capsys):
    root, data = made
    for name in ("out0", "out1"):
        assert main(["evaluate", str(root / name), "--labels", str(data / "labels"), "--targets", str(data / "imgs"), "--device", "cpu"]) == 0
        assert "evaluate" in capsys.readouterr().err  # the bar's title (tqdm writes to stderr)
    a = json.loads((root / "out0_report" / "report.json").read_text())
    b = json.loads((root / "out1_report" / "report.json").read_text())
    assert a["generated_dir"].endswith("out0") and b["generated_dir"].endswith("out1")
    assert a["metrics"]["l1"] != b["metrics"]["l1"]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4")  # torch's own note on the plain pickle
def test_read_weights_names_the_problem(tmp_path):
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(WeightsFileError, match="empty file"):
        read_weights(empty, "test weights")
    with pytest.raises(WeightsFileError, match="is a folder"):
        read_weights(tmp_path, "test weights")
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(2)}, good)
    truncated = tmp_path / "cut.pth"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(WeightsFileError, match="truncated or corrupt"):
        read_weights(truncated, "test weights")
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=4))  # a plain pickle, not torch.save's zip of tensors
    with pytest.raises(WeightsFileError, match=f"test weights {plain}: not a PyTorch weights file"):
        read_weights(plain, "test weights")
    pickled = tmp_path / "code.pth"
    torch.save({"w": argparse.Namespace(a=1)}, pickled)
    with pytest.raises(WeightsFileError, match="refused"):
        read_weights(pickled, "test weights")
    assert torch.equal(read_weights(good, "test weights")["w"], torch.ones(2))
