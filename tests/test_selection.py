"""Model selection while training (the evaluation hook), checkpoint averaging, and what sample
dumps must not change."""

import json

import pytest
import torch
from train_helpers import REPO, make_data, tiny_config

from paintscape.checkpoint import CheckpointManager, load_training_state, read_generator_file
from paintscape.cli import main
from paintscape.evaluate.inception import random_inception
from paintscape.train.trainer import Trainer, train


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("syn") / "data", count=10)


@pytest.fixture(scope="module")
def holdout(data):
    path = data.parent / "holdout.txt"
    path.write_text("scene_000008\nscene_000009\n")
    return path


def evals_of(run):
    return [json.loads(line) for line in (run / "evals.jsonl").read_text().splitlines()]


def assert_best_file_is_that_step(run, step):
    best, _ = read_generator_file(run / "best.safetensors")
    kept, _ = read_generator_file(run / "checkpoints" / f"step_{step:08d}.safetensors")
    assert all(torch.equal(best[k], kept[k]) for k in kept)


def test_eval_hook_keeps_best_and_average_command(data, holdout, tmp_path):
    config = tiny_config(data, f"data.holdout={holdout}", "eval.every=1", "train.checkpoint_every=1", "train.keep_last=5")
    train(config, tmp_path / "run", progress=False)
    evals = evals_of(tmp_path / "run")
    assert [e["step"] for e in evals] == [1, 2, 3, 4]
    assert all(set(e) == {"step", "l1", "class_color_error"} for e in evals)  # no segmenter, no Inception
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["metric"] == "l1" and best["value"] == min(e["l1"] for e in evals)
    assert_best_file_is_that_step(tmp_path / "run", best["step"])
    # interrupted and resumed: the best so far comes back with the checkpoint, so the same step wins
    train(config, tmp_path / "resumed", progress=False, stop_after=2)
    train(config, tmp_path / "resumed", resume=True, progress=False)
    assert json.loads((tmp_path / "resumed" / "best.json").read_text()) == best

    assert main(["average", str(tmp_path / "run"), "--top", "2"]) == 0
    ranked = sorted(evals, key=lambda e: e["l1"])[:2]
    parts = [read_generator_file(tmp_path / "run" / "checkpoints" / f"step_{e['step']:08d}.safetensors")[0] for e in ranked]
    averaged, spec = read_generator_file(tmp_path / "run" / "averaged.safetensors")
    assert spec.family == "spade"
    key = next(k for k, v in averaged.items() if v.is_floating_point() and v.numel() > 10)
    torch.testing.assert_close(averaged[key], (parts[0][key] + parts[1][key]) / 2)
    # ranked by another logged metric, the order follows that metric
    assert main(["average", str(tmp_path / "run"), "--top", "1", "--by", "class_color_error", "--out", str(tmp_path / "c.safetensors")]) == 0
    by_colour = min(evals, key=lambda e: e["class_color_error"])["step"]
    top, _ = read_generator_file(tmp_path / "run" / "checkpoints" / f"step_{by_colour:08d}.safetensors")
    assert torch.equal(read_generator_file(tmp_path / "c.safetensors")[0][key], top[key])


def test_average_reads_evaluations_of_earlier_versions(tmp_path, capsys):
    from generator_files import tiny_generator_file

    run = tmp_path / "run"
    for step, seed in ((1, 0), (2, 1), (3, 2)):
        tiny_generator_file(run / "checkpoints" / f"step_{step:08d}.safetensors", "pix2pix", seed=seed)
    # before the metric registry, the hook logged the segmenter's accuracy as "mask_acc"
    lines = [{"step": 1, "l1": 0.3, "mask_acc": 0.5}, {"step": 2, "l1": 0.2, "mask_acc": 0.9}, {"step": 3, "l1": 0.1, "mask_acc": 0.7}]
    (run / "evals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (run / "best.json").write_text(json.dumps({"step": 2, "metric": "mask_acc", "value": 0.9}))
    assert main(["average", str(run), "--top", "1"]) == 0  # by the run's metric: mask accuracy, higher is better
    assert "step_00000002" in capsys.readouterr().out
    assert main(["average", str(run), "--top", "1", "--by", "l1", "--out", str(tmp_path / "l1.safetensors")]) == 0
    assert "step_00000003" in capsys.readouterr().out
    assert main(["average", str(run), "--by", "fid"]) == 2
    assert "no evaluation logged fid" in capsys.readouterr().err

    # without best.json the run's config names the metric; blank lines in the log are skipped
    (run / "best.json").unlink()
    (run / "config.yaml").write_text("eval: {select_by: mask_accuracy}\n")
    (run / "evals.jsonl").write_text("\n" + (run / "evals.jsonl").read_text() + "\n")
    assert main(["average", str(run), "--top", "2", "--out", str(tmp_path / "m.safetensors")]) == 0
    assert "(step_00000002.safetensors, step_00000003.safetensors)" in capsys.readouterr().out

    tiny_generator_file(run / "checkpoints" / "step_00000003.safetensors", "pix2pix", base_channels=4)
    assert main(["average", str(run), "--top", "2"]) == 2
    assert "step_00000003.safetensors: a different network from" in capsys.readouterr().err
    for path in (run / "checkpoints").iterdir():
        path.unlink()  # every evaluated checkpoint pruned
    assert main(["average", str(run), "--top", "2"]) == 2
    assert "no generator files to average" in capsys.readouterr().err
    (run / "evals.jsonl").unlink()
    assert main(["average", str(run)]) == 2
    assert f"{run / 'evals.jsonl'} not found: enable the evaluation hook (eval.every)" in capsys.readouterr().err


def test_holdout_names_are_not_trained_on(data, tmp_path):
    holdout = tmp_path / "holdout.txt"
    holdout.write_text("scene_000000\n")
    trainer = Trainer(tiny_config(data, f"data.holdout={holdout}", "train.phases[0].steps=1"), tmp_path / "run", progress=False)
    trainer.fit()
    assert "scene_000000" not in trainer.phase_names[0] and len(trainer.phase_names[0]) == 9


def test_a_holdout_of_every_name_leaves_nothing_to_train_on(data, tmp_path):
    from paintscape.data.dataset import paired_names
    from paintscape.data.io import DataError

    holdout = tmp_path / "all.txt"
    holdout.write_text("\n".join(paired_names(data)) + "\n")
    with pytest.raises(DataError, match=f"{data}: no training pairs left after removing the holdout"):
        train(tiny_config(data, f"data.holdout={holdout}", "train.phases[0].steps=1"), tmp_path / "run", progress=False)


def test_evaluation_without_holdout_is_an_explicit_choice(data, tmp_path):
    with pytest.raises(ValueError, match=r"data\.holdout is not set.*eval\.on_training_images=true"):
        train(tiny_config(data, "eval.every=1", "train.phases[0].steps=1"), tmp_path / "a", progress=False)
    assert not (tmp_path / "a" / "latest.json").exists()
    train(tiny_config(data, "eval.every=1", "eval.on_training_images=true", "train.phases[0].steps=1"), tmp_path / "b", progress=False)
    assert [e["step"] for e in evals_of(tmp_path / "b")] == [1]


def test_select_by_a_metric_whose_model_is_missing_names_the_key(data, holdout, tmp_path):
    with pytest.raises(ValueError, match=r"eval\.select_by=fid needs eval\.inception_weights"):
        train(tiny_config(data, f"data.holdout={holdout}", "eval.every=1", "eval.select_by=fid"), tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match=r"eval\.select_by=score needs eval\.segmenter and eval\.inception_weights"):
        train(tiny_config(data, f"data.holdout={holdout}", "eval.every=1", "eval.select_by=score"), tmp_path / "run", progress=False)


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """The FID network's own random state dict as a weights file (what the real one looks like)."""
    path = tmp_path_factory.mktemp("inception") / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(random_inception(seed=0).state_dict(), path)
    return path


def test_train_command_selects_by_fid(data, holdout, inception_weights, tmp_path):
    run = tmp_path / "run"
    args = ["train", str(REPO / "paintscape" / "configs" / "spade_tiny.yaml"), f"data.root={data}", "data.size=[32, 64]",
            f"data.holdout={holdout}", "train.phases=[{batch_size: 2, lr: 0.0002, steps: 3}]", "train.image_every=0",
            "train.checkpoint_every=1", "train.keep_last=5", "eval.every=1", "eval.select_by=fid",
            f"eval.inception_weights={inception_weights}", "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    evals = evals_of(run)
    assert [e["step"] for e in evals] == [1, 2, 3] and all({"fid", "kid", "l1"} <= set(e) for e in evals)
    assert len({e["fid"] for e in evals}) == 3  # the renders change, so does their FID
    best = json.loads((run / "best.json").read_text())
    lowest = min(evals, key=lambda e: e["fid"])
    assert (best["metric"], best["step"], best["value"]) == ("fid", lowest["step"], lowest["fid"])
    assert_best_file_is_that_step(run, best["step"])


def test_training_selects_by_the_track_score(data, holdout, inception_weights, tmp_path):
    from paintscape.evaluate import segmenter as seg

    torch.manual_seed(0)
    seg.build_segmenter("tiny").save_pretrained(tmp_path / "seg")
    run = tmp_path / "run"
    config = tiny_config(
        data, f"data.holdout={holdout}", "train.phases[0].steps=3", "train.checkpoint_every=1", "train.keep_last=5",
        "eval.every=1", "eval.select_by=score", f"eval.inception_weights={inception_weights}", f"eval.segmenter={tmp_path / 'seg'}",
    )  # fmt: skip
    train(config, run, progress=False)
    evals = evals_of(run)
    assert all({"score", "mask_accuracy", "mean_iou", "fid"} <= set(e) for e in evals)
    for e in evals:  # the partial score (no aesthetic predictor) from the logged parts
        assert e["score"] == pytest.approx(e["mask_accuracy"] * 0.5 * (100 - min(e["fid"], 100)) / 100)
    best = json.loads((run / "best.json").read_text())
    highest = max(evals, key=lambda e: e["score"])
    assert (best["metric"], best["step"]) == ("score", highest["step"])
    assert_best_file_is_that_step(run, best["step"])


def test_sample_dumps_leave_the_training_noise_alone(data, tmp_path):
    # The VAE's reparameterisation noise is drawn from the global generator at every step.
    runs = {}
    for every in (2, 0):
        config = tiny_config(data, "model.generator.args.use_vae=true", "train.phases[0].steps=6", f"train.image_every={every}")
        train(config, tmp_path / f"every{every}", progress=False)
        runs[every] = load_training_state(CheckpointManager(tmp_path / f"every{every}").latest_state_path())
    assert sorted(p.name for p in (tmp_path / "every2" / "samples").iterdir()) == [f"step_{s:08d}.png" for s in (2, 4, 6)]
    assert torch.equal(runs[2]["rng"]["torch"], runs[0]["rng"]["torch"]), "sample dumps changed the random stream"
    for key, value in runs[0]["networks"]["generator"].items():
        assert torch.equal(runs[2]["networks"]["generator"][key], value), key

