import json

import torch
from train_helpers import make_data, tiny_config

from paintscape.checkpoint import read_generator_file
from paintscape.cli import main
from paintscape.train.trainer import train


def test_eval_hook_keeps_best_and_average_command(tmp_path, capsys):
    data = make_data(tmp_path / "data", count=10)
    holdout = tmp_path / "holdout.txt"
    holdout.write_text("scene_000008\nscene_000009\n")
    config = tiny_config(data, f"data.holdout={holdout}", "eval.every=1", "train.checkpoint_every=1", "train.keep_last=5")
    train(config, tmp_path / "run", progress=False)
    evals = [json.loads(line) for line in (tmp_path / "run" / "evals.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [1, 2, 3, 4]
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["value"] == min(e["l1"] for e in evals)
    assert (tmp_path / "run" / "best.safetensors").is_file()

    assert main(["average", str(tmp_path / "run"), "--top", "2"]) == 0
    ranked = sorted(evals, key=lambda e: e["l1"])[:2]
    parts = [read_generator_file(tmp_path / "run" / "checkpoints" / f"step_{e['step']:08d}.safetensors")[0] for e in ranked]
    averaged, spec = read_generator_file(tmp_path / "run" / "averaged.safetensors")
    assert spec.family == "spade"
    key = next(k for k, v in averaged.items() if v.is_floating_point() and v.numel() > 10)
    torch.testing.assert_close(averaged[key], (parts[0][key] + parts[1][key]) / 2)


def test_holdout_names_are_not_trained_on(tmp_path):
    from paintscape.train.trainer import Trainer

    data = make_data(tmp_path / "data", count=6)
    holdout = tmp_path / "holdout.txt"
    holdout.write_text("scene_000000\n")
    trainer = Trainer(tiny_config(data, f"data.holdout={holdout}", "train.phases[0].steps=1"), tmp_path / "run", progress=False)
    trainer.fit()
    assert "scene_000000" not in trainer.phase_names[0] and len(trainer.phase_names[0]) == 5
