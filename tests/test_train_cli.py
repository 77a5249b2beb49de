"""The training flow at the command line: a packaged config by name, shortcuts, --resume RUN alone,
a finished run that says so, and the run page."""

import json
import re

import pytest
from train_helpers import make_data

from paintscape.cli import main
from paintscape.train.run_page import chart_groups, read_log, sample_grids, write_run_page


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("data") / "d", count=6)


def test_train_by_name_with_shortcuts_then_resume_with_the_run_alone(tmp_path, data, capsys):
    run = tmp_path / "run"
    args = ["train", "pix2pix_tiny", "--data", str(data), "--steps", "3", "--batch-size", "2", "data.size=64x32",
            "train.log_every=1", "train.image_every=1", "--out", str(run)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "trained 3 steps, now at step 3 of 3 (6 images)" in out
    assert f"run page: {run / 'report.html'}" in out
    page = (run / "report.html").read_text()
    assert page.count("<svg") >= 3 and "G loss terms" in page and "D loss terms" in page and "samples/step_00000003.png" in page

    # Finished: --resume RUN alone reads the run's own config (its overrides included) and says so.
    assert main(["train", "--resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"{run} has already finished: step 3 of 3; nothing to train" in out
    assert json.loads((run / "latest.json").read_text())["step"] == 3

    # Longer: the shortcut on top of the saved config; data, size and batch size are remembered.
    assert main(["train", "--resume", str(run), "--steps", "5"]) == 0
    out = capsys.readouterr().out
    assert "trained 2 steps (from step 3), now at step 5 of 5 (10 images)" in out
    saved = (run / "config.yaml").read_text()
    assert re.search(r"size:\n  - 32\n  - 64", saved) and f"root: {data}" in saved and "batch_size: 2" in saved
    assert [r["step"] for r in read_log(run)] == [1, 2, 3, 4, 5]


def test_bare_resume_with_out_still_works(tmp_path, data, capsys):
    run = tmp_path / "run"
    base = ["train", "pix2pix_tiny", "--data", str(data), "--steps", "2", "--batch-size", "2", "data.size=64x32", "--out", str(run)]
    assert main(base) == 0
    assert main([*base, "--resume"]) == 0
    assert "already finished: step 2 of 2" in capsys.readouterr().out
    assert main(["train", str(run), "--resume"]) == 0  # the run first, --resume last: argparse hands RUN to config
    assert f"{run} has already finished: step 2 of 2" in capsys.readouterr().out
    (run / "report.html").unlink()
    assert main(["report", str(run)]) == 0  # the run page, written again on demand
    assert capsys.readouterr().out == f"run page: {run / 'report.html'}\n" and "G loss terms" in (run / "report.html").read_text()


@pytest.mark.parametrize("override, message", [
    ("loss.adversarial=hingee", "loss.adversarial: unknown GAN loss 'hingee'; valid: hinge, least_squares, non_saturating"),
    ("loss.vgg_distance=l2", "loss.vgg_distance: must be one of l1, cosine, got 'l2'"),
])  # fmt: skip
def test_a_loss_name_typo_is_refused_before_the_run_folder_is_made(tmp_path, data, capsys, override, message):
    run = tmp_path / "run"
    args = ["train", "pix2pix_tiny", "--data", str(data), "--steps", "1", "data.size=64x32", override, "--out", str(run)]
    assert main(args) == 2
    assert message in capsys.readouterr().err and not run.exists()  # so the corrected command needs no --resume


def test_under_torchrun_only_rank_0_reports(tmp_path, data, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")  # what torchrun sets in the second process (WORLD_SIZE unset: one process here)
    run = tmp_path / "run"
    assert main(["train", "pix2pix_tiny", "--data", str(data), "--steps", "1", "--batch-size", "2", "data.size=64x32", "--out", str(run)]) == 0
    assert capsys.readouterr().out == "" and (run / "latest.json").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "report_phases", "--steps", "5", "--out", "x"], r"--steps sets the length of a one-phase schedule and this config has 4 phases"),
        (["train", "pix2pix_tiny", "--steps", "5", "--epochs", "1", "--out", "x"], r"give --steps or --epochs, not both"),
        (["train", "pix2pix_tiny"], r"give --out RUN_DIR for a new run"),
        (["train", "--out", "x"], r"give a config"),
        (["train", "--resume", "nowhere"], r"--resume nowhere: no run there \(no config.yaml\)"),
        (["train", "spad", "--out", "x"], r"did you mean 'spade'"),
        (["train", "pix2pix_tiny", "train.phase[0].steps=5", "--out", "x"], r"unknown key train\.phase \(did you mean 'phases'\?\)"),
        (["report", "nowhere"], r"nowhere: not a training run \(no config.yaml\)"),
    ],
)
def test_training_mistakes_are_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err


def test_run_page_plots_every_series_and_skips_a_torn_line(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "config.yaml").write_text("{}\n")
    records = [{"step": s, "images": 4 * s, "time": 0.0, "G/adv": 1.0 / s, "D/real": 0.5, "lr/G": 1e-4, "phase": 0} for s in range(1, 4)]
    records.append({"step": 3, "images": 12, "time": 0.0, "eval/l1": 0.25})
    (run / "log.jsonl").write_text("\n".join(json.dumps(r) for r in records) + '\n{"step": 4, "G/ad')
    for step in range(1, 21):
        (run / "samples" / f"step_{step:08d}.png").write_bytes(b"")
    groups = chart_groups(read_log(run))
    assert list(groups) == ["G loss terms", "D loss terms", "evaluation: l1", "learning rates"]
    assert groups["G loss terms"]["G/adv"] == [(1, 1.0), (2, 0.5), (3, 1.0 / 3)]
    grids = sample_grids(run)
    assert len(grids) == 8 and grids[0].name == "step_00000001.png" and grids[-1].name == "step_00000020.png"
    page = write_run_page(run).read_text()
    assert "Latest evaluation: l1 0.25" in page and page.count("<polyline") == 3 and page.count("<circle") == 1 and page.count("<img") == 8


def test_run_page_of_a_run_without_records_and_of_unusual_series(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("{}\n")
    assert "No log records yet." in write_run_page(run).read_text()
    # a key of no known group gets its own chart; a series with no finite value says so
    records = [{"step": s, "grad_norm": 2.0 * s, "speed/train": float("nan")} for s in (1, 2)]
    (run / "log.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert chart_groups(read_log(run))["grad_norm"] == {"grad_norm": [(1, 2.0), (2, 4.0)]}
    page = write_run_page(run).read_text()
    assert ">grad_norm</text>" in page and page.count("<polyline") == 1 and "no data yet" in page
