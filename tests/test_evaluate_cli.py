import json

from generator_files import tiny_generator_file
from train_helpers import make_data

from paintscape.cli import main


def test_train_segmenter_generate_evaluate_select(tmp_path, capsys):
    data = make_data(tmp_path / "data", count=6)
    seg = tmp_path / "seg"
    assert main(["train-segmenter", str(data), "--out", str(seg), "--variant", "tiny", "--steps", "3", "--batch-size", "2", "--device", "cpu"]) == 0
    assert (seg / "training.json").is_file()
    ckpt = tiny_generator_file(tmp_path / "g.safetensors")
    for seed in ("0", "1"):
        assert main(["generate", str(ckpt), str(data / "labels"), str(tmp_path / f"out{seed}"), "--seed", seed, "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "out0"), "--labels", str(data / "labels"), "--segmenter", str(seg), "--real", str(data / "imgs"), "--out", str(tmp_path / "report"), "--device", "cpu"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert 0 <= report["metrics"]["mask_accuracy"] <= 1
    assert "fid" in report["skipped"] and "pt_inception" in report["skipped"]["fid"]  # says what to download
    assert "mask accuracy" in capsys.readouterr().out.lower()

    assert main(["select", str(tmp_path / "out0"), str(tmp_path / "out1"), "--labels", str(data / "labels"), "--segmenter", str(seg), "--out", str(tmp_path / "best"), "--device", "cpu"]) == 0
    assert "select: out0" in capsys.readouterr().err  # a progress bar per candidate folder
    chosen = sorted(p.name for p in (tmp_path / "best").glob("*.jpg"))
    assert chosen == sorted(p.stem + ".jpg" for p in (data / "labels").glob("*.png"))
    rows = (tmp_path / "best" / "choices.csv").read_text().splitlines()
    assert len(rows) == 7
    for row in rows[1:]:  # the chosen candidate has the highest score of its row
        name, chosen_dir, a, b = row.split(",")
        scores = {str(tmp_path / "out0"): float(a), str(tmp_path / "out1"): float(b)}
        assert scores[chosen_dir] == max(scores.values())

    # what select refuses, in one line each
    import shutil

    base = ["--labels", str(data / "labels"), "--segmenter", str(seg), "--out", str(tmp_path / "x"), "--device", "cpu"]
    for candidates, message in (
        ([tmp_path / "out0"], "selection needs at least two candidate folders"),
        ([tmp_path / "out0", tmp_path / "nowhere"], f"{tmp_path / 'nowhere'}: candidate folder not found"),
    ):
        assert main(["select", *map(str, candidates), *base]) == 2
        assert message in capsys.readouterr().err
    assert main(["select", str(tmp_path / "out0"), str(tmp_path / "out1"), *base, "--metric", "l1"]) == 2
    assert "select --metric l1 needs targets" in capsys.readouterr().err
    for k in ("0", "1"):
        shutil.copytree(tmp_path / f"out{k}", tmp_path / f"part{k}")
        (tmp_path / f"part{k}" / "scene_000002.jpg").unlink()  # no candidate rendered this map
    assert main(["select", str(tmp_path / "part0"), str(tmp_path / "part1"), *base]) == 2
    assert "no candidate folder has a photo for label map scene_000002.png" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_evaluate_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing"), "--labels", str(tmp_path / "nolabels")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error" in err
