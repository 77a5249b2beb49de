import json
import math
import os
import subprocess
import sys

import pytest
import torch
from train_helpers import REPO, make_data, tiny_config

from paintscape.checkpoint import CheckpointManager, load_generator, load_training_state, save_training_state
from paintscape.train.trainer import TrainingDiverged, train


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("syn") / "data")


def final_state(run):
    return load_training_state(CheckpointManager(run).latest_state_path())


def rewrite_in_the_previous_layout(path):
    state = load_training_state(path)
    networks, optimizers = state.pop("networks"), state.pop("optimizers")
    state.update(generator=networks["generator"], discriminator=networks["discriminator"], opt_g=optimizers["generator"],
                 opt_d=optimizers["discriminator"], scaler_g=state["scaler"], scaler_d=state.pop("scaler"))  # fmt: skip
    save_training_state(path, state)


@pytest.mark.parametrize("family", ["spade", "pix2pix", "tsit"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(data, tmp_path, family):
    overrides = ["model.generator.args.use_vae=true"] if family == "spade" else []
    config = tiny_config(data, *overrides, family=family)
    straight = train(config, tmp_path / "straight", progress=False)
    assert straight.steps == 4
    train(config, tmp_path / "resumed", progress=False, stop_after=2)
    assert final_state(tmp_path / "resumed")["step"] == 2
    if family == "spade":  # a checkpoint written before objectives (one optimiser and scaler per network) resumes too
        rewrite_in_the_previous_layout(CheckpointManager(tmp_path / "resumed").latest_state_path())
    resumed = train(config, tmp_path / "resumed", progress=False, resume=True)
    assert resumed.steps == 4
    a, b = final_state(tmp_path / "straight"), final_state(tmp_path / "resumed")
    parts = [a["networks"]["generator"], a["networks"]["discriminator"], a["ema"]]
    for name, part in zip(("generator", "discriminator", "ema"), parts):
        other = b["ema"] if name == "ema" else b["networks"][name]
        for key in part:
            assert torch.equal(part[key], other[key]), f"{name}.{key} differs after resume"
    assert a["optimizers"]["generator"]["state"][0]["exp_avg"].equal(b["optimizers"]["generator"]["state"][0]["exp_avg"])
    # and training did change the weights
    first = load_training_state(tmp_path / "resumed" / "checkpoints" / "step_00000002.pt")
    first = first["networks"]["generator"] if "networks" in first else first["generator"]  # the rewritten one: old layout
    assert not all(torch.equal(first[k], a["networks"]["generator"][k]) for k in first)


def test_logs_losses_checkpoints_and_samples(data, tmp_path):
    config = tiny_config(data, "train.image_every=2", "train.checkpoint_every=2", "train.keep_last=1")
    train(config, tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step_00000004.pt", "step_00000004.safetensors"]
    assert (tmp_path / "run" / "samples" / "step_00000002.png").is_file()
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    generator, spec = load_generator(tmp_path / "run")
    assert spec.family == "spade"
    out = generator(torch.zeros(1, 29, 32, 64))
    assert out.shape == (1, 3, 32, 64)


# What every log record holds besides the loss terms.
RECORD_KEYS = {"step", "images", "time", "phase", "lr/G", "lr/D", "speed/images_per_s"}


@pytest.mark.parametrize(
    "family, overrides, losses, lrs",
    [
        ("spade", [], {"G/adv", "G/feat", "D/real", "D/fake"}, (1e-4, 4e-4)),  # TTUR: lr/2, 2*lr
        ("spade", ["model.generator.args.use_vae=true"], {"G/adv", "G/feat", "G/kl", "D/real", "D/fake"}, (1e-4, 4e-4)),
        ("pix2pix", [], {"G/adv", "G/l1", "D/real", "D/fake"}, (2e-4, 2e-4)),  # no TTUR, L1 instead of features
    ],
    ids=["spade", "spade-vae", "pix2pix"],
)
def test_every_log_record_holds_exactly_the_configured_terms(data, tmp_path, family, overrides, losses, lrs):
    # G/kl exactly when there is an encoder; a term whose weight is 0 (vgg, l1 for SPADE) is not logged
    train(tiny_config(data, *overrides, family=family), tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert (records[0]["lr/G"], records[0]["lr/D"]) == pytest.approx(lrs)  # before the linear decay starts
    for record in records:
        assert set(record) == RECORD_KEYS | losses, record
        assert record["images"] == 2 * record["step"] and record["phase"] == 0
        assert record["lr/D"] / record["lr/G"] == pytest.approx(lrs[1] / lrs[0])  # the decay keeps the TTUR ratio
        assert 0 < record["speed/images_per_s"] < float("inf")
        assert all(math.isfinite(record[k]) for k in losses), record


def test_ttur_and_linear_decay(data, tmp_path):
    config = tiny_config(data, "train.lr_decay_start=0.5")
    train(config, tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    lr_g = [r["lr/G"] for r in records]
    lr_d = [r["lr/D"] for r in records]
    assert lr_g[:3] == pytest.approx([1e-4, 1e-4, 1e-4]) and lr_d[0] == pytest.approx(4e-4)  # TTUR: lr/2, 2*lr
    assert lr_g[3] == pytest.approx(0.5e-4)  # halfway through the decay


def test_nan_loss_stops_and_keeps_last_good_checkpoint(data, tmp_path, monkeypatch):
    from paintscape.train.objectives import gan

    config = tiny_config(data, "train.checkpoint_every=1", "train.phases[0].steps=6")
    calls = {"n": 0}
    original = gan.GANObjective.generator_terms

    def poisoned(self, *args, **kwargs):
        terms = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            terms["G/feat"] = terms["G/feat"] * float("nan")
        return terms

    monkeypatch.setattr(gan.GANObjective, "generator_terms", poisoned)
    with pytest.raises(TrainingDiverged, match=r"step 3: loss G/feat is not finite"):
        train(config, tmp_path / "run", progress=False)
    state = final_state(tmp_path / "run")
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["networks"]["generator"].values() if v.is_floating_point())


def test_existing_run_needs_resume(data, tmp_path):
    config = tiny_config(data, "train.phases[0].steps=1")
    train(config, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="--resume"):
        train(config, tmp_path / "run", progress=False)


def test_a_time_limit_stops_with_a_checkpoint_and_resume_continues(data, tmp_path, caplog):
    """quickstart's --minutes: the run stops (and saves) after the step that reaches the limit."""
    config = tiny_config(data, "train.shard_optimizer=true", family="pix2pix")
    with caplog.at_level("WARNING", logger="paintscape.train"):
        stopped = train(config, tmp_path / "run", progress=False, time_limit=0.0)
    assert stopped.steps == 1 and final_state(tmp_path / "run")["step"] == 1
    assert "train.shard_optimizer=true on one process: nothing to shard" in caplog.text
    assert train(config, tmp_path / "run", resume=True, progress=False).steps == 4


def test_resume_needs_a_checkpoint_of_the_same_objective(data, tmp_path):
    from paintscape.checkpoint import CheckpointError

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("{}\n")  # a run that crashed before its first checkpoint
    with pytest.raises(ValueError, match=f"--resume: {run} has no complete checkpoint \\(no latest.json\\)"):
        train(tiny_config(data, family="pix2pix"), run, resume=True, progress=False)
    train(tiny_config(data, "train.phases[0].steps=1", family="pix2pix"), tmp_path / "gan", progress=False)
    path = CheckpointManager(tmp_path / "gan").latest_state_path()
    state = load_training_state(path)
    state["networks"] = {"generator": state["networks"]["generator"]}  # as if trained by a generator-only objective
    save_training_state(path, state)
    with pytest.raises(CheckpointError, match=r"holds the networks \['generator'\], this objective trains \['discriminator', 'generator'\]"):
        train(tiny_config(data, "train.phases[0].steps=2", family="pix2pix"), tmp_path / "gan", resume=True, progress=False)


def test_training_refuses_bad_data(tmp_path):
    from PIL import Image

    from paintscape.data.io import DataError

    data = make_data(tmp_path / "data", count=4)
    Image.new("L", (48, 32), 40).save(data / "labels" / "scene_000001.png")
    with pytest.raises(DataError, match=r"scene_000001\.png: label ids outside 0\.\.28: 40"):
        train(tiny_config(data), tmp_path / "run", progress=False)


KILL_SCRIPT = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[3])
import paintscape.checkpoint as ck
from train_helpers import tiny_config
from paintscape.train.trainer import train

mode = sys.argv[4]
original_save = ck.save_training_state
original_gen = ck.save_generator
def kill_in_state(path, state):
    if state["step"] == 3:
        # die half way through writing the temporary file of the training state
        import io, torch
        buffer = io.BytesIO(); torch.save(state, buffer)
        tmp = path.parent / f".{path.name}.partial.tmp"
        tmp.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    original_save(path, state)
def kill_in_generator(path, generator, spec):
    if "00000003" in str(path):
        os.kill(os.getpid(), signal.SIGKILL)  # the .pt is complete, the generator and pointer are not
    original_gen(path, generator, spec)
if mode == "state":
    ck.save_training_state = kill_in_state
else:
    ck.save_generator = kill_in_generator
train(tiny_config(sys.argv[1], "train.checkpoint_every=1", "train.phases[0].steps=5"), sys.argv[2], progress=False)
"""


@pytest.mark.parametrize("mode", ["state", "generator"])
def test_sigkill_while_saving_resumes_from_last_complete_checkpoint(data, tmp_path, mode):
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(script), str(data), str(run), str(REPO / "tests"), mode], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert json.loads((run / "latest.json").read_text())["step"] == 2
    result = train(tiny_config(data, "train.checkpoint_every=1", "train.phases[0].steps=5"), run, progress=False, resume=True)
    assert result.steps == 5
    assert final_state(run)["step"] == 5
    assert not list((run / "checkpoints").glob(".*.tmp"))  # leftovers of the killed write are cleaned


DDP_SCRIPT = r"""
import os, sys, hashlib
sys.path.insert(0, sys.argv[3])
import torch
from train_helpers import tiny_config
from paintscape.train.trainer import Trainer
from paintscape.train.distributed import unwrap

trainer = Trainer(tiny_config(sys.argv[1], "train.phases=[{batch_size: 4, lr: 0.0002, steps: 3}]", "model.generator.args.norm=syncbatch"), sys.argv[2], progress=False)
trainer.fit()
digest = hashlib.sha256()
for role in trainer.state.roles.values():
    for key, value in sorted(unwrap(role.module).named_parameters()):
        digest.update(key.encode()); digest.update(value.detach().cpu().numpy().tobytes())
has_sync = any(isinstance(m, torch.nn.SyncBatchNorm) for m in trainer.state.roles["generator"].module.modules())
with open(os.path.join(sys.argv[2], f"rank{trainer.info.rank}.txt"), "w") as f:
    f.write(f"{digest.hexdigest()} {trainer.info.world_size} {has_sync} {trainer.state.step}")
"""


@pytest.mark.slow
def test_two_process_ddp_keeps_ranks_identical(data, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    run = tmp_path / "run"
    run.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29517", str(script), str(data), str(run), str(REPO / "tests")],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0 = (run / "rank0.txt").read_text().split()
    rank1 = (run / "rank1.txt").read_text().split()
    assert rank0[1:] == ["2", "False", "3"]  # SyncBatchNorm is GPU-only; on CPU plain batch norm stays
    assert rank0[0] == rank1[0], "ranks hold different weights after DDP training"
    assert (run / "latest.json").is_file()


def test_speed_and_memory_switches_train(data, tmp_path, monkeypatch, caplog):
    config = tiny_config(data, "train.precision=bf16", "train.channels_last=true", "train.grad_accumulation=2",
                         "train.phases=[{batch_size: 4, lr: 0.0002, steps: 2}]")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")  # this machine's CPU
    with caplog.at_level("WARNING", logger="paintscape.train"):
        result = train(config, tmp_path / "run", progress=False)
    assert result.steps == 2 and all(v == v for v in result.last_terms.values())
    assert "without native bfloat16 (AVX2)" in caplog.text and "train.precision=fp32" in caplog.text
    with pytest.raises(ValueError, match="multiple of world size x grad_accumulation"):
        train(tiny_config(data, "train.grad_accumulation=3"), tmp_path / "run2", progress=False)


def test_fp16_steps_every_role_through_one_gradient_scaler(data, tmp_path):
    config = tiny_config(data, "train.precision=fp16", "train.max_grad_norm=1.0", "train.phases[0].steps=2")
    result = train(config, tmp_path / "run", progress=False)
    assert result.steps == 2 and all(v == v for v in result.last_terms.values())
    state = final_state(tmp_path / "run")
    assert 0 < state["scaler"]["scale"] <= 65536.0  # the scaler ran (and backed off on early overflows)
    assert set(state["optimizers"]) == {"generator", "discriminator"}


def test_progress_bar_ends_where_the_run_is_told_to_stop(data, tmp_path, capsys):
    """A run stopped early (the benchmark's chunks, validate's checkpoints) counts towards its stop,
    not towards the config's last step (which is 10,000,000 in the benchmark configs)."""
    train(tiny_config(data, family="pix2pix"), tmp_path / "run", progress=True, stop_after=1)
    bar = capsys.readouterr().err
    assert "1/1 " in bar and "/4 " not in bar


def test_bf16_warning_only_where_bf16_is_emulated():
    from paintscape.devices import slow_bf16_warning

    assert slow_bf16_warning(torch.device("cpu"), "AVX2") is not None
    assert slow_bf16_warning(torch.device("cpu"), "AVX512") is None  # not measured: no warning
    assert slow_bf16_warning(torch.device("cuda"), "AVX2") is None
