"""Distillation: ``paintscape distill`` makes a narrower student of a run's family that learns the
teacher's photos, resumes, paints, exports to ONNX and is found by the teacher's paint page."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from train_helpers import make_data, tiny_config

from paintscape.checkpoint import CheckpointManager, load_generator, load_training_state
from paintscape.cli import main
from paintscape.inference.painter import Painter
from paintscape.train.distill import DistillError, find_student, scale_widths, student_config
from paintscape.train.trainer import train

FAMILIES = {"spade": ["model.generator.args.use_vae=true"], "pix2pix": [], "tsit": []}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("syn") / "data", count=6)


@pytest.fixture(scope="module")
def tsit_data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("syn") / "data", count=4, size=(128, 256))


def teacher_run(family, data, root, *overrides):
    run = root / f"{family}_teacher"
    train(tiny_config(data, "train.phases[0].steps=2", *FAMILIES[family], *overrides, family=family), run, progress=False)
    return run


def parameters(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("family", ["spade", "pix2pix"])
def test_distill_trains_a_smaller_student_that_resumes_paints_and_exports(family, data, tmp_path, monkeypatch):
    teacher = teacher_run(family, data, tmp_path)
    student = tmp_path / "student"
    phases = "train.phases=[{batch_size: 2, lr: 0.0002, steps: 3}]"
    assert main(["distill", str(teacher), phases, "--out", str(student), "--width", "0.5", "--skip-check"]) == 0
    record = json.loads((student / "latest.json").read_text())
    assert record["step"] == 3
    state = load_training_state(CheckpointManager(student).latest_state_path())
    assert set(state["networks"]) == {"discriminator", "generator", "projections"}
    assert len(state["networks"]["projections"]) > 0  # at least one matched block, projected 1x1
    small, small_spec = load_generator(student)
    big, big_spec = load_generator(teacher)
    assert small_spec.family == big_spec.family == family
    assert small_spec.args["base_channels"] == big_spec.args["base_channels"] // 2
    assert parameters(small) < 0.4 * parameters(big)
    if family == "spade":  # the student's encoder too: the same latent size, a narrower network
        assert small.encoder is not None and small.z_dim == big.z_dim
        assert small_spec.args["hidden_channels"] == big_spec.args["hidden_channels"] // 2
    del small

    # resume: two more steps continue from step 3 with the student's config
    more = "train.phases=[{batch_size: 2, lr: 0.0002, steps: 5}]"
    assert main(["distill", str(teacher), more, "--out", str(student), "--width", "0.5", "--resume", "--skip-check"]) == 0
    assert json.loads((student / "latest.json").read_text())["step"] == 5
    log = [json.loads(line) for line in (student / "log.jsonl").read_text().splitlines()]
    terms = set().union(*(set(r) for r in log))
    assert {"G/l1", "G/feat", "G/adv", "G/distill", "D/fake", "D/real", "lr/P"} <= terms
    if family == "spade":
        assert "G/encoder" in terms

    painter = Painter.from_checkpoint(student, device="cpu")
    photo = painter(np.zeros(painter.size, dtype=np.uint8))
    assert photo.size == (painter.size[1], painter.size[0])
    assert find_student(teacher) == teacher / ".." / "student"

    onnx = pytest.importorskip("onnxruntime")
    from paintscape.inference.export import example_inputs, export_onnx

    export_onnx(student, tmp_path / "student.onnx")
    session = onnx.InferenceSession(str(tmp_path / "student.onnx"), providers=["CPUExecutionProvider"])
    small, _ = load_generator(student)  # the resumed student's weights
    names, inputs = example_inputs(small, small_spec.image_size)
    with torch.no_grad():
        expected = small(inputs[0], z=inputs[1] if "z" in names else None).numpy()
    got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0]
    assert np.abs(got - expected).max() < 1e-6


def test_distill_learns_the_teacher(data, tmp_path):
    """Distillation moves the student's photos towards the teacher's (L1 on the training maps falls)."""
    teacher = teacher_run("pix2pix", data, tmp_path, "model.generator.args.dropout=0.0")
    config = student_config(teacher, 0.5, ["train.phases=[{batch_size: 2, lr: 0.002, steps: 30}]", "loss.weights={l1: 10.0, distill: 10.0}",
                                            "train.ema_half_life_images=0", "train.log_every=1"])  # fmt: skip
    train(config, tmp_path / "student", progress=False)
    log = [json.loads(line) for line in (tmp_path / "student" / "log.jsonl").read_text().splitlines() if "G/l1" in line]
    first, last = np.mean([r["G/l1"] for r in log[:5]]), np.mean([r["G/l1"] for r in log[-5:]])
    assert last < 0.6 * first, (first, last)


@pytest.mark.slow
def test_tsit_student(tsit_data, tmp_path):
    teacher = teacher_run("tsit", tsit_data, tmp_path)
    config = student_config(teacher, 0.5, ["train.phases=[{batch_size: 2, lr: 0.0002, steps: 1}]"])
    result = train(config, tmp_path / "student", progress=False, check_data=False)
    assert result.steps == 1 and "G/distill" in result.last_terms
    small, spec = load_generator(tmp_path / "student")
    assert small.uses_style and spec.args["base_channels"] == 2


def test_width_table_and_errors(data, tmp_path):
    assert scale_widths("spade", {"base_channels": 64}, 0.25) == {"base_channels": 16, "hidden_channels": 32}
    with pytest.raises(DistillError, match="family 'controlnet' has no width table"):
        scale_widths("controlnet", {}, 0.5)
    with pytest.raises(DistillError, match=r"--width must be in \(0, 1\], got 1.5"):
        scale_widths("spade", {}, 1.5)
    with pytest.raises(DistillError, match="not a run directory"):
        student_config(tmp_path, 0.5)
    with pytest.raises(DistillError, match="needs distill.teacher"):
        train(tiny_config(data, "loss.objective=distill"), tmp_path / "run", progress=False)


def test_a_student_at_another_size_than_its_teacher_is_refused(data, tmp_path, capsys):
    teacher = teacher_run("pix2pix", data, tmp_path, "train.phases[0].steps=1")
    assert main(["distill", str(teacher), "data.size=[64, 128]", "--out", str(tmp_path / "s"), "--skip-check"]) == 2
    assert f"distill: the teacher {teacher} renders (32, 64), data.size is (64, 128)" in capsys.readouterr().err


def test_distill_cli_names_a_missing_teacher(tmp_path, capsys):
    assert main(["distill", str(tmp_path / "nothing"), "--out", str(tmp_path / "s")]) == 2
    assert "nothing: not a run directory (no config.yaml)" in capsys.readouterr().err


def test_a_teacher_trained_with_vgg_passes_the_term_to_its_student(data, tmp_path):
    teacher = teacher_run("spade", data, tmp_path, "loss.weights.vgg=10.0", "loss.vgg_weights=random", "train.phases[0].steps=1")
    assert "G/vgg" in json.loads((teacher / "log.jsonl").read_text().splitlines()[-1])  # the GAN objective's VGG term
    config = student_config(teacher, 0.5, ["train.phases=[{batch_size: 2, lr: 0.0002, steps: 1}]"])
    assert config.loss.weights["vgg"] == 10.0
    result = train(config, tmp_path / "student", progress=False, check_data=False)
    assert result.steps == 1 and np.isfinite(result.last_terms["G/vgg"]) and "G/distill" in result.last_terms


def test_finding_students_and_refusing_teachers_that_are_not_gans(tmp_path):
    assert find_student(tmp_path / "nowhere") is None
    (tmp_path / "students.json").write_text(json.dumps({"students": ["never_trained"]}))
    assert find_student(tmp_path) is None  # listed, but no checkpoint yet
    (tmp_path / "students.json").write_text(json.dumps({"students": "s1"}))
    with pytest.raises(DistillError, match="students.json: 'students' must be a list of run directories"):
        find_student(tmp_path)
    (tmp_path / "config.yaml").write_text("loss: {objective: oasis}\n")
    with pytest.raises(DistillError, match="trained with objective 'oasis'; distill needs a GAN generator"):
        student_config(tmp_path, 0.5)
