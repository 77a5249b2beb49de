"""The optimiser switches (paintscape/train/optimizers.py): the exact ones give torch Adam's weights
bit for bit, the lower-precision moments stay within a run's noise, the sharded state splits across
ranks, and combinations that cannot be exact are refused with the keys named."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import torch
from train_helpers import REPO, make_data, tiny_config

from paintscape.checkpoint import CheckpointManager, load_training_state
from paintscape.config import ConfigError, TrainConfig
from paintscape.train.optimizers import Adam, LeanAdam, build_optimizer, build_optimizers, state_bytes, step_in_backward
from paintscape.train.trainer import Trainer, train


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("syn") / "data")


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3))


def _steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer, steps: int, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        (model(torch.randn(2, 3, 9, 9, generator=gen)) ** 2).mean().backward()
        optimizer.step()


@pytest.mark.parametrize("beta1", [0.0, 0.5])
@pytest.mark.parametrize("fused", [True, False])
def test_lean_adam_is_torch_adam_bit_for_bit(beta1: float, fused: bool) -> None:
    torch.manual_seed(0)
    reference = _net()
    lean = copy.deepcopy(reference)
    kwargs = dict(fused=True) if fused else dict(foreach=False)
    _steps(reference, torch.optim.Adam(reference.parameters(), lr=1e-2, betas=(beta1, 0.9), **kwargs), 5)
    optimizer = LeanAdam(lean.parameters(), lr=1e-2, betas=(beta1, 0.9), fused=fused)
    _steps(lean, optimizer, 5)
    for a, b in zip(reference.parameters(), lean.parameters()):
        assert torch.equal(a, b)
    keys = set(optimizer.state[next(lean.parameters())])
    # beta1 = 0: Adam's first moment is the gradient itself, so none is stored
    assert keys == ({"step", "exp_avg_sq"} if beta1 == 0 else {"step", "exp_avg", "exp_avg_sq"})


def test_state_dicts_move_between_torch_adam_and_lean_adam() -> None:
    """A run can switch optimizer keys when it resumes: each loads the other's state, and continuing
    gives the weights of an uninterrupted torch Adam run."""
    torch.manual_seed(0)
    straight = _net()
    start = copy.deepcopy(straight)
    _steps(straight, torch.optim.Adam(straight.parameters(), lr=1e-2, betas=(0.0, 0.9), fused=True), 6)

    first = copy.deepcopy(start)
    lean = LeanAdam(first.parameters(), lr=1e-2, betas=(0.0, 0.9))
    _steps(first, lean, 3)
    second = copy.deepcopy(first)
    plain = Adam(second.parameters(), lr=1e-2, betas=(0.0, 0.9), fused=True)
    plain.load_state_dict(lean.state_dict())  # no exp_avg stored: zeros, multiplied by beta1 = 0
    back = LeanAdam(second.parameters(), lr=1e-2, betas=(0.0, 0.9), moment_dtype=torch.bfloat16)
    back.load_state_dict(plain.state_dict())  # torch's state into bf16 moments, exp_avg dropped
    assert set(back.state[next(second.parameters())]) == {"step", "exp_avg_sq"}
    assert back.state[next(second.parameters())]["exp_avg_sq"].dtype == torch.bfloat16
    # (the gradient steps 4..6 continue the same seeded stream)
    gen_state = torch.Generator().manual_seed(0)
    for _ in range(3):
        torch.randn(2, 3, 9, 9, generator=gen_state)
    for _ in range(3):
        plain.zero_grad(set_to_none=True)
        (second(torch.randn(2, 3, 9, 9, generator=gen_state)) ** 2).mean().backward()
        plain.step()
    for a, b in zip(straight.parameters(), second.parameters()):
        assert torch.equal(a, b)


def test_bf16_moments_are_stored_in_bf16_and_track_fp32() -> None:
    torch.manual_seed(0)
    a = _net()
    b = copy.deepcopy(a)
    fp32 = LeanAdam(a.parameters(), lr=1e-3, betas=(0.5, 0.9))
    bf16 = LeanAdam(b.parameters(), lr=1e-3, betas=(0.5, 0.9), moment_dtype=torch.bfloat16)
    _steps(a, fp32, 10)
    _steps(b, bf16, 10)
    state = bf16.state[next(b.parameters())]
    assert state["exp_avg"].dtype == state["exp_avg_sq"].dtype == torch.bfloat16
    assert state_bytes(bf16) < 0.51 * state_bytes(fp32) + 64
    for p, q in zip(a.parameters(), b.parameters()):
        # 10 steps of lr 1e-3 move a weight by up to 1e-2; the two runs stay within 2 % of that
        assert (p - q).abs().max() < 2e-4


def test_refusals_name_the_keys() -> None:
    g, d = _net(), _net()

    def build(world_size: int = 1, **changes) -> None:
        build_optimizers(
            g, d, TrainConfig(**changes), lr_g=1e-4, lr_d=4e-4, device=torch.device("cpu"), world_size=world_size
        )

    with pytest.raises(ConfigError, match=r"optimizer_in_backward=true .*train\.max_grad_norm"):
        build(optimizer_in_backward=True, max_grad_norm=1.0)
    with pytest.raises(ConfigError, match=r"optimizer_in_backward=true .*train\.precision=fp16"):
        build(optimizer_in_backward=True, precision="fp16")
    with pytest.raises(ConfigError, match=r"2 processes .*train\.shard_optimizer=true"):
        build(world_size=2, optimizer_in_backward=True)
    with pytest.raises(ConfigError, match=r"adam_moment_dtype=bf16 with train\.betas beta2=0\.999"):
        build(adam_moment_dtype="bf16", betas=(0.5, 0.999))
    with pytest.raises(ConfigError, match=r"train\.adam_moment_dtype must be one of fp32, bf16"):
        build(adam_moment_dtype="fp16")
    with pytest.raises(ConfigError, match=r"betas\[1\]: must be in \[0, 1\), got 1\.0"):  # the config's own rule
        build(betas=(0.5, 1.0))
    opt_g, opt_d = build_optimizers(g, d, TrainConfig(), lr_g=1e-4, lr_d=4e-4, device=torch.device("cpu"))
    assert type(opt_g) is Adam and opt_g.defaults["fused"]  # no switch: torch's fused Adam, as before
    # an objective whose role asks for weight decay (Role.weight_decay > 0) gets AdamW, never a lean Adam
    decayed = build_optimizer(g.parameters(), TrainConfig(), lr=1e-4, weight_decay=0.01, device=torch.device("cpu"))
    assert type(decayed) is torch.optim.AdamW and decayed.defaults["weight_decay"] == 0.01
    with pytest.raises(ConfigError, match=r"weight decay 0.01: keep train.optimizer_in_backward=false and train.adam_moment_dtype=fp32"):
        build_optimizer(g.parameters(), TrainConfig(adam_moment_dtype="bf16", betas=(0.0, 0.99)), lr=1e-4, weight_decay=0.01,
                        device=torch.device("cpu"))  # fmt: skip


def test_shard_optimizer_on_one_process_warns_and_keeps_the_state_whole(caplog) -> None:
    g, d = _net(), _net()
    with caplog.at_level("WARNING", logger="paintscape.train"):
        opt_g, _ = build_optimizers(
            g, d, TrainConfig(shard_optimizer=True), lr_g=1e-4, lr_d=4e-4, device=torch.device("cpu")
        )
    assert type(opt_g) is Adam  # one process: nothing to shard
    assert "train.shard_optimizer=true on one process: nothing to shard" in caplog.text


def test_lean_adam_refuses_what_it_cannot_step() -> None:
    params = list(_net().parameters())
    with pytest.raises(ValueError, match=r"Adam betas must lie in \[0, 1\), got \(0\.5, 1\.0\)"):
        LeanAdam(params, lr=1e-3, betas=(0.5, 1.0))
    with pytest.raises(ValueError, match=r"moment_dtype must be torch\.float32 or torch\.bfloat16, got torch\.float16"):
        LeanAdam(params, lr=1e-3, betas=(0.0, 0.9), moment_dtype=torch.float16)
    half = torch.nn.Parameter(torch.zeros(3, dtype=torch.bfloat16))
    half.grad = torch.ones(3, dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match=r"LeanAdam steps dense float32 parameters, got a torch\.bfloat16 one"):
        LeanAdam([half], lr=1e-3, betas=(0.0, 0.9)).step()
    weight = torch.nn.Parameter(torch.zeros(2, 3, 4, 4).to(memory_format=torch.channels_last))
    weight.grad = torch.ones(2, 3, 4, 4).permute(0, 1, 3, 2)  # a transposed view: neither NCHW nor NHWC dense
    with pytest.raises(RuntimeError, match=r"parameter, gradient and moments must share one dense layout"):
        LeanAdam([weight], lr=1e-3, betas=(0.0, 0.9), moment_dtype=torch.bfloat16).step()


@pytest.mark.parametrize("beta1", [0.0, 0.5])
def test_bf16_moments_give_the_same_weights_in_channels_last(beta1: float) -> None:
    """train.channels_last keeps NHWC weights and gradients: the bf16-moment update is elementwise, so
    the same gradients give the NCHW run's numbers exactly."""
    torch.manual_seed(0)
    nchw = _net()
    nhwc = copy.deepcopy(nchw).to(memory_format=torch.channels_last)
    optimizers = [
        LeanAdam(model.parameters(), lr=1e-2, betas=(beta1, 0.9), moment_dtype=torch.bfloat16) for model in (nchw, nhwc)
    ]
    gen = torch.Generator().manual_seed(1)
    for _ in range(4):
        for a, b in zip(nchw.parameters(), nhwc.parameters()):
            grad = torch.randn(a.shape, generator=gen)
            a.grad = grad.clone()
            b.grad = grad.to(memory_format=torch.channels_last) if grad.dim() == 4 else grad.clone()
        for optimizer in optimizers:
            optimizer.step()
    assert nhwc[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert optimizers[1].state[nhwc[0].weight]["exp_avg_sq"].is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(nchw.parameters(), nhwc.parameters()):
        assert torch.equal(a, b)


def _final(run):
    return load_training_state(CheckpointManager(run).latest_state_path())


def _same_weights(a, b) -> bool:
    parts = [a["networks"]["generator"], a["networks"]["discriminator"], a["ema"]], [b["networks"]["generator"], b["networks"]["discriminator"], b["ema"]]
    return all(torch.equal(x[k], y[k]) for x, y in zip(*parts) for k in x)


@pytest.mark.parametrize("family", ["spade", "tsit"])
def test_optimizer_in_backward_gives_plain_adams_weights(data, tmp_path, family) -> None:
    """Bit for bit, with and without gradient accumulation (the hooks step only in the last micro-batch)."""
    steps = "train.phases=[{batch_size: 2, lr: 0.0002, steps: 3}]"
    for accumulation in (1, 2):
        common = [steps, f"train.grad_accumulation={accumulation}"]
        train(tiny_config(data, *common, family=family), tmp_path / f"plain{accumulation}", progress=False)
        config = tiny_config(data, *common, "train.optimizer_in_backward=true", family=family)
        train(config, tmp_path / f"lean{accumulation}", progress=False)
        plain, lean = _final(tmp_path / f"plain{accumulation}"), _final(tmp_path / f"lean{accumulation}")
        assert _same_weights(plain, lean), f"grad_accumulation={accumulation}"
        assert "exp_avg" not in lean["optimizers"]["generator"]["state"][0]  # betas (0, 0.9): no first moment stored
        assert lean["optimizers"]["generator"]["state"][0]["exp_avg_sq"].equal(plain["optimizers"]["generator"]["state"][0]["exp_avg_sq"])


def test_in_backward_frees_each_gradient_at_once(data, tmp_path) -> None:
    """While G's backward runs, no generator gradient is alive after its parameter stepped; with the
    plain optimiser they pile up until the step."""
    alive = {}
    for name, overrides in (("plain", []), ("lean", ["train.optimizer_in_backward=true"])):
        trainer = Trainer(tiny_config(data, *overrides), tmp_path / name, progress=False, check_data=False)
        trainer.setup()
        params = [p for p in trainer.state.roles["generator"].module.parameters() if p.requires_grad]
        peak = [0]

        def count(_p, params=params, peak=peak):
            peak[0] = max(peak[0], sum(p.grad is not None for p in params))

        for p in params:  # registered after the optimiser's hooks: runs once a parameter has stepped
            p.register_post_accumulate_grad_hook(count)
        batch = {"image": torch.rand(2, 3, 32, 64) * 2 - 1, "label": torch.randint(0, 29, (2, 32, 64))}
        trainer.train_step(batch, dict(trainer.config.loss.weights))
        alive[name] = peak[0]
        if name == "lean":
            assert all(p.grad is None for p in params)
        trainer.log.close()
    assert alive["lean"] == 0
    assert alive["plain"] == len(params)  # every gradient alive at once before the step


def test_step_in_backward_is_a_no_op_for_other_optimizers() -> None:
    model = _net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with step_in_backward(optimizer):
        model(torch.randn(1, 3, 9, 9)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_resume_with_the_switches_is_exact(data, tmp_path) -> None:
    switches = ["train.optimizer_in_backward=true", "train.adam_moment_dtype=bf16"]
    config = tiny_config(data, *switches)
    train(config, tmp_path / "straight", progress=False)
    train(config, tmp_path / "resumed", progress=False, stop_after=2)
    train(config, tmp_path / "resumed", progress=False, resume=True)
    a, b = _final(tmp_path / "straight"), _final(tmp_path / "resumed")
    assert _same_weights(a, b)
    assert a["optimizers"]["generator"]["state"][0]["exp_avg_sq"].dtype == torch.bfloat16
    assert a["optimizers"]["generator"]["state"][0]["exp_avg_sq"].equal(b["optimizers"]["generator"]["state"][0]["exp_avg_sq"])


def _losses(run) -> list[float]:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [r["G/adv"] + 10 * r["G/feat"] + r["D/real"] + r["D/fake"] for r in records]


def test_bf16_moments_keep_a_short_runs_losses_within_its_noise(data, tmp_path) -> None:
    """12 steps of tiny SPADE: the bf16-moment run's losses differ from the fp32-moment run's (same
    seed) by less than two fp32 runs with different seeds differ from each other."""
    steps = "train.phases=[{batch_size: 2, lr: 0.0002, steps: 12}]"
    runs = {
        "fp32": tiny_config(data, steps),
        "fp32_seed1": tiny_config(data, steps, "train.seed=1"),
        "bf16": tiny_config(data, steps, "train.adam_moment_dtype=bf16"),
    }
    losses = {}
    for name, config in runs.items():
        train(config, tmp_path / name, progress=False)
        losses[name] = torch.tensor(_losses(tmp_path / name))
    moment_effect = (losses["bf16"] - losses["fp32"]).abs().mean()
    seed_noise = (losses["fp32_seed1"] - losses["fp32"]).abs().mean()
    assert moment_effect < 0.5 * seed_noise, (moment_effect, seed_noise)


SHARD_SCRIPT = r"""
import hashlib, json, os, sys
sys.path.insert(0, sys.argv[3])
import torch
from train_helpers import tiny_config
from paintscape.train.trainer import Trainer
from paintscape.train.distributed import unwrap
from paintscape.train.optimizers import state_bytes

torch.distributed.init_process_group("gloo")  # one group for the four runs below: the trainers leave it open
result = {}
for name, extra in (("plain", []), ("sharded", ["train.shard_optimizer=true"])):
    config = tiny_config(sys.argv[1], "train.phases=[{batch_size: 4, lr: 0.0002, steps: 4}]", *extra)
    run = os.path.join(sys.argv[2], name)
    Trainer(config, run, progress=False, stop_after=2).fit()
    # fit() ends with a barrier: rank 0 has written the checkpoint both ranks resume from
    trainer = Trainer(config, run, progress=False, resume=True)
    trainer.fit()
    digest = hashlib.sha256()
    for module in (unwrap(trainer.state.roles[role].module) for role in ("generator", "discriminator")):
        for key, value in sorted(module.named_parameters()):
            digest.update(key.encode()); digest.update(value.detach().cpu().numpy().tobytes())
    result[name] = {"digest": digest.hexdigest(), "state_bytes": state_bytes(trainer.state.optimizers["generator"]), "type": type(trainer.state.optimizers["generator"]).__name__}
with open(os.path.join(sys.argv[2], f"rank{trainer.info.rank}.json"), "w") as f:
    json.dump(result, f)
"""


@pytest.mark.slow
def test_sharded_optimizer_splits_the_state_and_gives_the_same_weights(data, tmp_path):
    """2-process gloo: ZeroRedundancyOptimizer holds about half of Adam's state per rank, trains (and
    resumes from its consolidated checkpoint) to the same weights as unsharded DDP."""
    script = tmp_path / "shard.py"
    script.write_text(SHARD_SCRIPT)
    out = tmp_path / "runs"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29519", str(script), str(data), str(out), str(REPO / "tests")],
        capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    for rank in ranks:
        assert rank["sharded"]["type"] == "ZeroRedundancyOptimizer"
        assert rank["sharded"]["digest"] == rank["plain"]["digest"] == ranks[0]["plain"]["digest"]
    whole = ranks[0]["plain"]["state_bytes"]
    assert ranks[0]["sharded"]["state_bytes"] + ranks[1]["sharded"]["state_bytes"] == pytest.approx(whole, rel=0.01)
    assert max(r["sharded"]["state_bytes"] for r in ranks) < 0.75 * whole
    state = _final(out / "sharded")  # the checkpoint holds every parameter's state, gathered on rank 0
    assert len(state["optimizers"]["generator"]["state"]) == len(_final(out / "plain")["optimizers"]["generator"]["state"])
