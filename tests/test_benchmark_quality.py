"""The quality benchmark: judge network, kit, CPU-budgeted runner, validation, leaderboard; and a
smoke test of the whole benchmark at a tiny size through the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from paintscape.benchmark.command_line import _int_list
from paintscape.benchmark.judge import JudgeNet, judge_outputs, load_judge, save_judge, train_judge
from paintscape.benchmark.kit import Kit, KitError, KitSpec, _write_set
from paintscape.benchmark.leaderboard import leaderboard_markdown, read_results, separations
from paintscape.benchmark.runner import BudgetState, _summary, family_runs, read_budget, train_on_budget
from paintscape.benchmark.validate import order_check
from paintscape.cli import main

ROOT = Path(__file__).resolve().parents[1]


# --- judge -------------------------------------------------------------------------------------


def test_judge_shapes_features_and_safetensors_round_trip(tmp_path):
    torch.manual_seed(0)
    net = JudgeNet(widths=(4, 8, 12)).eval()
    x = torch.rand(2, 3, 16, 20) * 2 - 1
    logits, attributes, features = net(x)
    assert logits.shape == (2, 29, 16, 20) and attributes.shape == (2, 8) and features.shape == (2, 24) == (2, net.feature_dim)
    torch.testing.assert_close(net.features(x), features)
    save_judge(tmp_path / "judge.safetensors", net)
    assert b"pickle" not in (tmp_path / "judge.safetensors").read_bytes()[:200]
    loaded = load_judge(tmp_path / "judge.safetensors")
    assert loaded.widths == (4, 8, 12)
    torch.testing.assert_close(loaded(x)[2], features)
    photos = np.random.default_rng(0).integers(0, 256, (3, 16, 20, 3), dtype=np.uint8)
    seg, attrs, feats = judge_outputs(loaded, photos, batch_size=2)
    assert seg.shape == (3, 16, 20) and seg.dtype == np.uint8 and attrs.shape == (3, 8) and feats.shape == (3, 24)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.zeros(1, 3, 18, 20))
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="not a benchmark judge file"):
        load_judge(tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="at least 2 encoder stages"):
        JudgeNet(widths=(4,))
    with pytest.raises(ValueError, match="no photos to judge"):
        judge_outputs(loaded, photos[:0])


def test_judge_training_interrupted_continues_exactly_and_refuses_other_settings(tmp_path):
    """benchmark prepare stopped during the judge's training picks it up from its checkpoint."""
    from paintscape.data.synthetic import make_scene

    photos, labels = (np.stack(a) for a in zip(*(make_scene(seed, (16, 16)) for seed in range(6))))
    attributes = np.zeros((6, 2), np.int64)
    kwargs = {"widths": (4, 8), "steps": 4, "batch_size": 2, "crop": None}
    straight, facts = train_judge(photos, labels, attributes, **kwargs)
    partial = tmp_path / "judge.partial.pt"
    train_judge(photos, labels, attributes, **kwargs, checkpoint=partial, checkpoint_every=3)  # saved at step 3 only
    assert torch.load(partial, weights_only=True)["step"] == 3
    resumed, resumed_facts = train_judge(photos, labels, attributes, **kwargs, checkpoint=partial)  # step 4 alone
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert resumed_facts["final_loss"] == facts["final_loss"]
    with pytest.raises(ValueError, match=f"{partial}: a judge training with other settings; delete it to start again"):
        train_judge(photos, labels, attributes, **{**kwargs, "steps": 5}, checkpoint=partial)
    with pytest.raises(ValueError, match="at least 1 step, got 0"):
        train_judge(photos, labels, attributes, **{**kwargs, "steps": 0})
    with pytest.raises(ValueError, match="photos, labels and attributes differ in count: 6, 6, 5"):
        train_judge(photos, labels, attributes[:5], **kwargs)


@pytest.mark.slow
def test_judge_trains_on_crops_and_learns_the_scenes():
    from paintscape.data.synthetic import make_scene

    photos, labels = zip(*(make_scene(seed, (32, 32)) for seed in range(24)))
    photos, labels = np.stack(photos), np.stack(labels)
    attributes = np.zeros((24, 2), np.int64)
    with pytest.raises(ValueError, match="crop 18 must be at most the photo side 32 and divisible by 4"):
        train_judge(photos, labels, attributes, widths=(4, 8, 16), steps=2, crop=18)
    untrained = judge_outputs(JudgeNet(widths=(4, 8, 16)), photos)[0]
    net, facts = train_judge(photos, labels, attributes, widths=(4, 8, 16), steps=60, batch_size=8, crop=16, lr=1e-2)
    assert facts["crop"] == 16 and facts["steps"] == 60 and not net.training
    segmented, _, _ = judge_outputs(net, photos)  # judged on whole photos though trained on 16x16 windows
    # measured 0.33 after 60 steps (it has learned the commonest classes); an untrained net scores near 1/29
    assert (segmented == labels).mean() > max(0.25, (untrained == labels).mean() + 0.15)


# --- kit ---------------------------------------------------------------------------------------


def test_an_interrupted_kit_keeps_the_scenes_it_wrote(tmp_path):
    jobs = [("scene_000000", 0, None), ("scene_000001", 1, None)]
    first = _write_set(tmp_path, jobs, (32, 32), progress=False, desc="")
    photo = tmp_path / "imgs" / "scene_000001.png"
    before = photo.read_bytes()
    (tmp_path / "labels" / "scene_000001.png").unlink()  # as if stopped between the two writes
    marker = tmp_path / "imgs" / "scene_000000.png"
    marker.write_bytes(marker.read_bytes())
    mtime = marker.stat().st_mtime_ns
    assert _write_set(tmp_path, jobs, (32, 32), progress=False, desc="") == first  # the same attributes
    assert marker.stat().st_mtime_ns == mtime  # complete scenes are not drawn again
    assert photo.read_bytes() == before and (tmp_path / "labels" / "scene_000001.png").is_file()


def test_kit_spec_refuses_overlapping_seed_ranges_and_tiny_sets():
    with pytest.raises(KitError, match="overlap"):
        KitSpec(train_count=2_000_000).validate()
    with pytest.raises(KitError, match="heldout_count"):
        KitSpec(heldout_count=3).validate()
    with pytest.raises(KitError, match="too small"):
        KitSpec(size=(8, 8)).validate()
    with pytest.raises(KitError, match="diversity_samples >= 2"):
        KitSpec(diversity_samples=1).validate()
    KitSpec().validate()


def test_loading_a_folder_that_is_not_a_kit_names_the_fix(tmp_path):
    with pytest.raises(KitError, match="benchmark prepare"):
        Kit.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(KitError, match="not valid JSON"):
        Kit.load(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": 0}')
    with pytest.raises(KitError, match=r"kit format 0, this paintscape reads format \d+; prepare the kit again"):
        Kit.load(tmp_path)
    from paintscape.benchmark.kit import KIT_FORMAT

    (tmp_path / "manifest.json").write_text(json.dumps({"format": KIT_FORMAT, "judge": {"file": "judge.safetensors", "sha256": "0"}}))
    with pytest.raises(KitError, match="judge.safetensors: missing or not the judge the manifest names"):
        Kit.load(tmp_path)
    with pytest.raises(KitError, match=f"{tmp_path / 'train' / 'labels'}: missing; the kit is incomplete"):
        Kit(tmp_path, manifest=None).names("train")


def test_benchmark_cli_errors_are_one_line_with_exit_2(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["benchmark", "run", str(tmp_path), "a.yaml", "--cpu-seconds", "1", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "is not a benchmark kit" in err and "paintscape benchmark prepare" in err and "Traceback" not in err
    assert main(["benchmark", "leaderboard", str(tmp_path), out, "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="must be comma-separated integers"):
        _int_list("0,a")
    with pytest.raises(ValueError, match="distinct"):
        family_runs(Kit(tmp_path, manifest=None), {}, (0, 0), tmp_path)


def test_judge_report_names_a_kit_without_its_attributes(tmp_path):
    from paintscape.benchmark.judge_report import judge_report

    for name in ("a", "b"):
        for sub, shape in (("imgs", (8, 8, 3)), ("labels", (8, 8))):
            (tmp_path / "heldout" / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros(shape, np.uint8)).save(tmp_path / "heldout" / sub / f"{name}.png")
    (tmp_path / "attributes.json").write_text('{"train": {}}')
    with pytest.raises(KitError, match=r"attributes.json: unreadable or without the held-out scenes"):
        judge_report(Kit(tmp_path, manifest=None, judge=JudgeNet(widths=(4, 8))))


# --- runner's budget ---------------------------------------------------------------------------


def test_budget_chunks_aim_at_the_budget():
    state = BudgetState(cpu_budget=100.0)
    assert not state.done and state.next_chunk() == 5  # first chunk measures the cost of a step
    state.steps, state.cpu_seconds = 5, 5.0  # 1 CPU s per step
    assert state.next_chunk() == 10  # at most 10 % of the budget per chunk
    state.steps, state.cpu_seconds = 97, 97.0
    assert state.next_chunk() == 3
    state.steps, state.cpu_seconds = 100, 99.6  # the next step would end further past the budget
    assert state.done


def test_read_budget_refuses_a_run_without_its_budget_file(tmp_path):
    (tmp_path / "latest.json").write_text("{}")
    with pytest.raises(KitError, match="fresh --out"):
        read_budget(tmp_path, 10.0)
    # stopped between the checkpoint and the budget file: the two disagree
    (tmp_path / "latest.json").write_text(json.dumps({"step": 3, "state": "checkpoints/s.pt", "generator": "checkpoints/s.safetensors"}))
    (tmp_path / "budget.json").write_text(json.dumps({"cpu_budget": 10.0, "steps": 5}))
    with pytest.raises(KitError, match=r"the checkpoint \(step 3\) and budget.json \(step 5\) disagree"):
        read_budget(tmp_path, 10.0)
    with pytest.raises(ValueError, match="the CPU budget must be positive, got 0"):
        train_on_budget({}, 0)


def test_two_configs_of_one_name_and_a_second_prepare_are_refused(tmp_path, capsys):
    from paintscape.benchmark.kit import KIT_FORMAT, file_sha256

    save_judge(tmp_path / "judge.safetensors", JudgeNet(widths=(4, 8)))
    manifest = {"format": KIT_FORMAT, "judge": {"file": "judge.safetensors", "sha256": file_sha256(tmp_path / "judge.safetensors")}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    args = ["benchmark", "run", str(tmp_path), "a/spade.yaml", "b/spade.yaml", "--cpu-seconds", "1", "--out", str(tmp_path / "o")]
    assert main(args) == 2
    assert "two configs share a file name; the name is the leaderboard row" in capsys.readouterr().err
    assert main(["benchmark", "prepare", str(tmp_path)]) == 2
    assert f"{tmp_path} already holds a kit (manifest.json); choose another folder or delete it" in capsys.readouterr().err

    # a config must match the kit: its size, and one training phase (the CPU budget ends it)
    manifest["spec"] = {"size": [32, 32]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    two_phases = tmp_path / "two.yaml"
    two_phases.write_text("data: {size: [32, 32]}\ntrain:\n  phases:\n    - {batch_size: 2, lr: 0.0002, steps: 1}\n    - {batch_size: 2, lr: 0.0002, steps: 1}\n")
    for config, message in (
        ("pix2pix_tiny", "pix2pix_tiny: data.size [64, 96] is not the kit's size [32, 32] (H, W)"),
        (str(two_phases), f"{two_phases}: a benchmark config has one training phase (the CPU budget ends it), got 2"),
    ):
        assert main(["benchmark", "run", str(tmp_path), config, "--cpu-seconds", "1", "--out", str(tmp_path / "o")]) == 2
        assert message in capsys.readouterr().err


# --- validation and leaderboard ------------------------------------------------------------------


def test_order_check_orders_and_resolves_against_the_noise():
    lower_better = [(100.0, 5.0), (20.0, 2.0), (10.0, 1.0), (1.0, 0.5)]
    assert order_check(lower_better, higher_is_better=False) == {
        "ordered": True, "resolved": True, "gaps": [80.0, 10.0, 9.0], "noise": [7.0, 3.0, 1.5],
    }  # fmt: skip
    close = [(100.0, 5.0), (20.0, 2.0), (19.0, 1.0), (1.0, 0.5)]
    assert (
        order_check(close, higher_is_better=False)["ordered"]
        and not order_check(close, higher_is_better=False)["resolved"]
    )
    assert not order_check([(0.5, 0), (0.4, 0)], higher_is_better=True)["ordered"]


def _result(tmp_path, name, kit_id="kit-x", fid=1.0):
    measures = {
        "fid": fid,
        "kid_x1000": {"mean": 2.0, "std": 0.5},
        "class_color": 0.1,
        "mask_accuracy": 0.9,
        "mean_iou": 0.5,
        "diversity": 0.0,
    }
    result = {"name": name, "kit_id": kit_id, "command": f"cmd {name}", "measures": measures, "floor": {**measures, "diversity": 3.0},
              "training": {"cpu_seconds": 10.0, "steps": 1234, "images": 9872}}  # fmt: skip
    (tmp_path / name).mkdir()
    (tmp_path / name / "result.json").write_text(json.dumps(result))
    return tmp_path / name


def test_leaderboard_rows_sorted_by_fid_with_the_floor_and_commands(tmp_path):
    a, b = _result(tmp_path, "a", fid=5.0), _result(tmp_path, "b", fid=2.0)
    table = leaderboard_markdown(read_results([a, b / "result.json"]))
    lines = table.splitlines()
    assert lines[2].startswith(
        "| b | 10 | 1,234 | 9,872 | 2.00 | 2.0 ± 0.5 | 0.100 | 0.900 | 0.500 | 0 (deterministic) |"
    )
    assert lines[3].startswith("| a |") and lines[4].startswith("| *real photos (floor)*") and "3.00" in lines[4]
    assert "Reproduce: `cmd a`" in table and "Reproduce: `cmd b`" in table
    # a measure not taken (diversity of a run measured without it, and so its floor) shows as a dash
    result = json.loads((a / "result.json").read_text())
    del result["measures"]["diversity"], result["floor"]["diversity"]
    (a / "result.json").write_text(json.dumps(result))
    lines = leaderboard_markdown(read_results([a])).splitlines()
    assert lines[2].startswith("| a | 10 | 1,234 | 9,872 | 5.00 | 2.0 ± 0.5 | 0.100 | 0.900 | 0.500 | — |")
    assert lines[3].startswith("| *real photos (floor)*") and lines[3].split("|")[10].strip() == "—"
    c = _result(tmp_path, "c", kit_id="kit-other")
    with pytest.raises(KitError, match="different kits"):
        read_results([a, c])
    with pytest.raises(KitError, match="no benchmark result"):
        read_results([tmp_path / "missing"])


def test_leaderboard_reports_the_spread_over_training_seeds_and_which_neighbours_it_separates(tmp_path):
    a, b, c = _result(tmp_path, "a", fid=5.0), _result(tmp_path, "b", fid=2.0), _result(tmp_path, "c", fid=2.5)
    results = read_results([a, b, c])
    for result, seeds in zip(results, ([5.0, 5.2], [1.0, 3.0], [2.4, 2.6])):
        per_seed = [{**result["measures"], "fid": value} for value in seeds]
        result["seeds"] = [0, 1]
        result["seeds_summary"] = _summary(per_seed)
    assert results[1]["seeds_summary"]["fid"] == {"mean": 2.0, "std": 1.0, "seeds": 2}
    assert results[1]["seeds_summary"]["kid_x1000"] == {
        "mean": 2.0,
        "std": 0.0,
        "seeds": 2,
    }  # the mean of each seed's KID
    table = leaderboard_markdown(results)
    assert "| b | 10 | 1,234 | 9,872 | 2.00 ± 1.00 |" in table and "| a | 10 | 1,234 | 9,872 | 5.10 ± 0.10 |" in table
    assert "± is the std over 2 training seeds" in table
    fid = separations(results, "fid")
    assert [(s["better"], s["worse"]) for s in fid] == [("b", "c"), ("c", "a")]
    assert fid[0]["resolved"] is False and fid[0]["noise"] == pytest.approx(1.1)  # 0.5 apart, spreads 1.0 + 0.1
    assert fid[1]["resolved"] is True and fid[1]["gap"] == pytest.approx(2.6)
    assert "FID: b ahead of c by 0.50 (within the spread 1.10); c ahead of a by 2.60 (beyond the spread 0.20)." in table


# --- the whole benchmark at a tiny size, through the CLI ----------------------------------------------

TINY_KIT = ["--size", "32x32", "--train-count", "48", "--heldout-count", "12", "--reference-count", "12",
            "--diversity-maps", "2", "--diversity-samples", "2", "--judge-steps", "40", "--judge-widths", "8,16,32",
            "--judge-crop", "16"]  # fmt: skip


def _tiny_config(tmp_path: Path, family: str) -> Path:
    """configs/benchmark/FAMILY.yaml at 32x32 and a few channels."""
    text = (ROOT / "configs" / "benchmark" / f"{family}.yaml").read_text()
    text = text.replace("size: [128, 128]", "size: [32, 32]").replace("base_channels: 16", "base_channels: 4")
    text = text.replace("base_channels: 8, hidden_channels: 16", "base_channels: 4, hidden_channels: 8")
    path = tmp_path / f"{family}.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def tiny_kit(tmp_path_factory):
    kit = tmp_path_factory.mktemp("bench") / "kit"
    assert main(["benchmark", "prepare", str(kit), *TINY_KIT]) == 0
    return kit


def _finite(value) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return not isinstance(value, float) or math.isfinite(value)


@pytest.mark.slow
def test_tiny_benchmark_end_to_end(tiny_kit, tmp_path, capsys):
    manifest = json.loads((tiny_kit / "manifest.json").read_text())
    assert manifest["kit_id"].startswith("kit-") and manifest["spec"]["size"] == [32, 32]
    assert manifest["seed_ranges"]["heldout"] == {"first": 1_000_000, "count": 12}
    assert _finite(manifest["floor"]) and manifest["floor"]["diversity"] > 0  # real photos differ by style
    assert len(list((tiny_kit / "train" / "imgs").glob("*.png"))) == 48

    configs = [_tiny_config(tmp_path, "pix2pix"), _tiny_config(tmp_path, "spade")]
    out = tmp_path / "runs"
    run = [
        "benchmark",
        "run",
        str(tiny_kit),
        *map(str, configs),
        "--cpu-seconds",
        "2",
        "--seeds",
        "0,1",
        "--out",
        str(out),
    ]
    assert main(run) == 0
    results = {}
    for family in ("pix2pix", "spade"):
        result = json.loads((out / family / "result.json").read_text())
        results[family] = result
        assert result["kit_id"] == manifest["kit_id"] and result["training"]["steps"] > 0
        assert result["seeds"] == [0, 1] and len(result["measures_per_seed"]) == 2
        for training in result["training_per_seed"]:
            assert training["cpu_seconds"] == pytest.approx(2.0, abs=1.5)
        # two seeds train two different generators
        assert result["measures_per_seed"][0]["fid"] != result["measures_per_seed"][1]["fid"]
        assert result["seeds_summary"]["fid"]["std"] > 0 and result["seeds_summary"]["fid"]["seeds"] == 2
        assert result["measures"]["generator_parameters"] > 0
        assert set(result["measures"]) >= {"fid", "kid_x1000", "class_color", "mask_accuracy", "mean_iou", "diversity"}
        assert _finite(result["measures"])
        assert result["measures"]["diversity"] == 0.0  # both are deterministic without their VAE / dropout
        assert len(list((out / family / "samples").glob("*.png"))) == 8
    table = capsys.readouterr().out
    assert "| pix2pix |" in table and "| spade |" in table and "--seeds 0,1" in table and "FID: " in table
    # a second call finds every run trained and measured: nothing is trained again
    budget = (out / "pix2pix" / "seed_0" / "run" / "budget.json").read_text()
    assert main(run) == 0 and (out / "pix2pix" / "seed_0" / "run" / "budget.json").read_text() == budget

    # the judge's report: accuracy by time of day and recall per class, agreeing with the manifest
    assert main(["benchmark", "judge", str(tiny_kit)]) == 0
    report = capsys.readouterr().out
    stated = manifest["judge"]["heldout"]["mask_accuracy"]
    assert f"judge mask accuracy on the real held-out photos: {stated:.3f}" in report
    assert "| time of day | images | mask accuracy |" in report and "| sky (1) |" in report
    assert "classes with recall >= 0.5:" in report

    # validation: untrained vs trained pix2pix, measured through the same code
    val = tmp_path / "validate"
    assert (
        main(
            ["benchmark", "validate", str(tiny_kit), "--config", str(configs[0]), "--steps", "0,60", "--out", str(val)]
        )
        == 0
    )
    validation = json.loads((val / "validation.json").read_text())
    fid = validation["table"]["fid"]
    assert fid[0][0] > fid[1][0]  # untrained is worse than 60 steps on FID, the realism measure
    assert validation["rows"] == ["untrained", "60 steps", "real photos"]
    assert "| untrained |" in (val / "validation.md").read_text()
    # run again (as after an interruption): the generators and measures already there are reused, not redone
    generators = sorted((val / "seed_0").glob("step_*.safetensors"))
    stamps = [p.stat().st_mtime_ns for p in generators]
    validate = ["benchmark", "validate", str(tiny_kit), "--config", str(configs[0]), "--steps", "0,60", "--out", str(val)]
    assert main(validate) == 0
    assert [p.stat().st_mtime_ns for p in generators] == stamps
    assert json.loads((val / "validation.json").read_text())["table"] == validation["table"]

    # prepare stopped after the judge was trained (no manifest yet): the judge is reused, the kit is the same
    import shutil

    again = tmp_path / "kit_again"
    shutil.copytree(tiny_kit, again)
    (again / "manifest.json").unlink()
    judge_stamp = (again / "judge.safetensors").stat().st_mtime_ns
    assert main(["benchmark", "prepare", str(again), *TINY_KIT]) == 0
    assert (again / "judge.safetensors").stat().st_mtime_ns == judge_stamp
    assert json.loads((again / "manifest.json").read_text())["kit_id"] == manifest["kit_id"]
    capsys.readouterr()

    # measure a generator file trained elsewhere, then the leaderboard and its gallery
    generator = val / "seed_0" / "step_000000.safetensors"
    assert (
        main(
            [
                "benchmark",
                "measure",
                str(tiny_kit),
                str(generator),
                "--out",
                str(tmp_path / "untrained"),
                "--name",
                "untrained",
            ]
        )
        == 0
    )
    md, png = tmp_path / "board.md", tmp_path / "gallery.png"
    args = [
        "benchmark",
        "leaderboard",
        str(tiny_kit),
        str(out / "pix2pix"),
        str(out / "spade"),
        str(tmp_path / "untrained"),
    ]
    assert main([*args, "--markdown", str(md), "--gallery", str(png)]) == 0
    board = md.read_text()
    assert "| untrained | not trained here |" in board
    from PIL import Image

    assert Image.open(png).size[0] > 5 * 128  # label, real and three columns


def test_every_benchmark_config_loads_and_the_distill_pair_matches_the_teacher():
    """configs/benchmark/*.yaml are what docs/quality.md's commands run; the student and its scratch
    control are the teacher's network at half its widths (what `paintscape distill --width 0.5` makes)."""
    from paintscape.config import load_config
    from paintscape.train.distill import scale_widths

    folder = ROOT / "configs" / "benchmark"
    configs = {path.stem: load_config(path) for path in sorted(folder.glob("*.yaml"))}
    assert {"pix2pix", "spade", "tsit", "spade_student", "spade_half"} <= set(configs)
    teacher = configs["spade"].model.generator
    half = scale_widths("spade", teacher.args, 0.5)
    for name in ("spade_student", "spade_half"):
        assert configs[name].model.generator.args == half and configs[name].data == configs["spade"].data
    assert configs["spade_student"].loss.objective == "distill" and configs["spade_half"].loss.objective == "gan"
    assert configs["spade_student"].distill.teacher == "runs/leaderboard/spade/seed_0/run"
