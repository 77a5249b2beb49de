"""The divergence guard (paintscape/train/divergence.py) and what a resumed run records.

The guard end to end (pix2pix tiny at lr=1e6: a BatchNorm running_var overflows while every loss
stays finite; the run fails naming it and ``latest`` stays the last good checkpoint) runs as the case
``train/diverges-at-lr-1e6`` of tests/bad_inputs.py, through the CLI.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from train_helpers import make_data, tiny_config

from paintscape.checkpoint import CheckpointManager, load_training_state
from paintscape.train.distributed import DistInfo
from paintscape.train.divergence import TrainingDiverged, check_weights_finite, non_finite_tensors
from paintscape.train.logs import drop_records_after
from paintscape.train.trainer import train

ONE_PROCESS = DistInfo()  # one process: no all-reduce


def small_networks() -> dict[str, nn.Module]:
    return {"generator": nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), "discriminator": nn.Linear(4, 1)}


def test_finite_networks_pass() -> None:
    networks = small_networks()
    assert non_finite_tensors(networks) == []
    check_weights_finite(networks, ONE_PROCESS, step=7, run_dir="runs/x")  # no error


def test_a_non_finite_buffer_or_parameter_is_named() -> None:
    networks = small_networks()
    networks["generator"][1].running_var[2] = float("inf")  # a buffer: no loss would show it
    networks["discriminator"].weight.data[0, 1] = float("nan")
    assert non_finite_tensors(networks) == ["generator.1.running_var", "discriminator.weight"]
    with pytest.raises(TrainingDiverged) as caught:
        check_weights_finite(networks, ONE_PROCESS, step=7, run_dir="runs/x")
    message = str(caught.value)
    assert message.startswith("step 7: generator.1.running_var, discriminator.weight is not finite (NaN or Inf)")
    assert "runs/x is intact" in message and "--resume" in message and "\n" not in message


def test_a_finite_tensor_whose_sum_overflows_is_finite() -> None:
    """The fast screen sums each tensor; large finite values that overflow the sum are not divergence."""
    networks = small_networks()
    networks["generator"][1].running_var.fill_(3e38)  # finite, but the sum of four is Inf in fp32
    networks["discriminator"].weight.data.fill_(-3e38)
    assert non_finite_tensors(networks) == []
    networks["generator"][1].running_var[0] = float("nan")
    assert non_finite_tensors(networks) == ["generator.1.running_var"]


def test_frozen_parameters_are_not_checked() -> None:
    """Parameters that do not train (a frozen diffusion base) cannot diverge; reading them every step would cost
    a pass over the whole base."""
    networks = small_networks()
    networks["discriminator"].weight.requires_grad_(False)
    networks["discriminator"].weight.data[0, 0] = float("nan")
    assert non_finite_tensors(networks) == []


def test_integer_buffers_are_not_checked() -> None:
    networks = small_networks()
    networks["generator"][1].num_batches_tracked.fill_(2**62)
    assert non_finite_tensors(networks) == []


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("syn") / "data", count=6)


def test_divergence_after_resume_keeps_the_last_good_checkpoint_and_its_ema(data, tmp_path) -> None:
    """Two good steps, then the learning rate of a diverging run: the run stops naming the tensor
    at the step it went non-finite, and ``latest`` is the step before, every tensor (networks, EMA) finite."""
    run = tmp_path / "run"
    train(tiny_config(data, "train.checkpoint_every=1", family="pix2pix"), run, progress=False, stop_after=2)
    diverging = tiny_config(data, "train.checkpoint_every=1", "train.phases[0].lr=1000000.0", family="pix2pix")
    with pytest.raises(TrainingDiverged, match=r"^step \d: generator\.\S+\.running_var.* is not finite") as caught:
        train(diverging, run, resume=True, progress=False)
    stopped = int(str(caught.value).split(":")[0].removeprefix("step "))  # measured: step 3 or 4
    assert stopped >= 3 and json.loads((run / "latest.json").read_text())["step"] == stopped - 1
    state = load_training_state(CheckpointManager(run).latest_state_path())
    tensors = [*state["ema"].values(), *(t for n in state["networks"].values() for t in n.values())]
    assert state["ema"] and all(torch.isfinite(t).all() for t in tensors if t.is_floating_point())


def test_a_resumed_run_logs_each_step_once_and_leaves_no_temporary_files(data, tmp_path) -> None:
    """A run killed after step 3 whose last checkpoint is step 2 (and a latest.json write cut short)
    resumes from step 2: log.jsonl ends with steps 1..4, each once; the temporary file is gone."""
    run = tmp_path / "run"
    config = tiny_config(data, "train.checkpoint_every=2", family="pix2pix")
    train(config, run, progress=False, stop_after=3)  # checkpoints at 2 and 3 (a stop saves)
    manager = CheckpointManager(run)
    (run / "latest.json").write_text(json.dumps({**json.loads((run / "latest.json").read_text()), "step": 2,
                                                 "state": "checkpoints/step_00000002.pt",
                                                 "generator": "checkpoints/step_00000002.safetensors"}))  # fmt: skip
    assert manager.latest_state_path().name == "step_00000002.pt"
    (run / ".latest.json.k1ll3d.tmp").write_text('{"step": 3')  # the kill came mid-write
    with open(run / "log.jsonl", "a") as handle:
        handle.write('{"step": 4, "G/l1"')  # and mid-line
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()[:-1]] == [1, 2, 3]

    train(config, run, resume=True, progress=False)
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert not list(run.glob(".*.tmp")) and not list(run.glob("checkpoints/.*.tmp"))


def test_drop_records_after(tmp_path) -> None:
    log = tmp_path / "evals.jsonl"
    log.write_text('{"step": 5, "l1": 0.3}\n{"step": 10, "l1": 0.2}\n\n{"step": 15, "l1": 0.1}\n{"step": 20, "l')
    drop_records_after(log, 10)
    assert log.read_text() == '{"step": 5, "l1": 0.3}\n{"step": 10, "l1": 0.2}\n'
    drop_records_after(tmp_path / "absent.jsonl", 10)  # nothing to do
    assert not (tmp_path / "absent.jsonl").exists()
