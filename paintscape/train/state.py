"""The training state: an objective's networks on the device with their optimisers, the gradient
scaler, the EMA of the inference generator and the counters; what a checkpoint holds.

:class:`TrainingState` knows nothing of any one objective: it reads the roles and frozen modules
an objective declares (see :mod:`paintscape.train.objectives.base`), places them (device, memory
format, synchronised batch norm and DDP under torchrun, ``torch.compile``), builds one optimiser
per role and saves / restores all of it. Checkpoints of earlier versions (``generator`` /
``discriminator`` / ``opt_g`` / ``opt_d`` / ``scaler_g`` keys) load too.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from paintscape.checkpoint import CheckpointError, load_state_strict
from paintscape.config import Config, config_to_dict
from paintscape.layers.norms import SyncableBatchNorm2d
from paintscape.models.base import Generator
from paintscape.train.distributed import DistInfo, unwrap
from paintscape.train.ema import EMA
from paintscape.train.objectives.base import Objective, Role
from paintscape.train.optimizers import build_optimizer

log = logging.getLogger("paintscape.train")


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]), "python_pos": random.getstate()[2]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _legacy_layout(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint of the GAN trainer before objectives (one optimiser and scaler per network)."""
    if "networks" in state or "generator" not in state:
        return state
    state = dict(state)
    state["networks"] = {"generator": state.pop("generator"), "discriminator": state.pop("discriminator")}
    state["optimizers"] = {"generator": state.pop("opt_g"), "discriminator": state.pop("opt_d")}
    state["scaler"] = state.pop("scaler_g")
    state.pop("scaler_d", None)
    return state


class TrainingState:
    """See the module docstring. ``networks`` maps each role to its training forward as the
    objective calls it (DDP- and compile-wrapped where enabled)."""

    def __init__(self, objective: Objective, config: Config, device: torch.device, info: DistInfo) -> None:
        self.objective = objective
        self.config = config
        self.device = device
        self.info = info
        train = config.train
        self.memory_format = torch.channels_last if train.channels_last else torch.contiguous_format
        self.roles: dict[str, Role] = objective.roles()
        if objective.inference_role not in self.roles:
            raise ValueError(f"objective: inference role {objective.inference_role!r} is not among its roles {list(self.roles)}")
        for role in self.roles.values():
            if info.enabled:
                self._sync_batchnorm(role.module)
            role.module.to(device, memory_format=self.memory_format)
        self.frozen: dict[str, nn.Module] = objective.frozen()
        for module in self.frozen.values():
            module.to(device, memory_format=self.memory_format).eval().requires_grad_(False)

        if train.shard_optimizer and info.world_size == 1:
            log.warning("train.shard_optimizer=true on one process: nothing to shard, the optimiser state stays whole")
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            # a role's frozen parts (a diffusion model's base) are neither optimised nor given optimiser state
            name: build_optimizer(
                [p for p in role.module.parameters() if p.requires_grad], train, lr=0.0, betas=role.betas, weight_decay=role.weight_decay, device=device,
                world_size=info.world_size, in_backward=train.optimizer_in_backward and name == objective.inference_role,
            )  # fmt: skip
            for name, role in self.roles.items()
        }
        # One scaler for every loss and optimiser: PyTorch's pattern for several models and losses.
        self.scaler = torch.amp.GradScaler(device.type, enabled=train.precision == "fp16")
        inference = self.roles[objective.inference_role].module
        self.ema = EMA(inference, train.ema_half_life_images, train.ema_rampup) if train.ema_half_life_images > 0 else None
        self.step = 0
        self.images_seen = 0
        #: ``refresh(ema_generator, step)`` -> the generator to sample, evaluate and write (the trainer's
        #: BatchNormRefresh with train.ema_bn_refresh_batches); None: the EMA generator itself.
        self.refresh: Callable[[Generator, int], Generator] | None = None

        self.networks: dict[str, nn.Module] = {}
        for name, role in self.roles.items():
            module = role.training_forward()
            if info.enabled:
                ids = [device.index] if device.type == "cuda" else None
                module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
            if train.compile:
                module = torch.compile(module)
            self.networks[name] = module

    def _sync_batchnorm(self, module: nn.Module) -> None:
        if not any(isinstance(m, SyncableBatchNorm2d) for m in module.modules()):
            return
        if self.device.type != "cuda":
            # PyTorch's SyncBatchNorm runs on GPUs only; on CPU (gloo) each process keeps its own
            # statistics and DDP broadcasts rank 0's buffers at every forward.
            log.warning("norm=syncbatch: SyncBatchNorm needs CUDA; on %s each process normalises over its own batch", self.device)
            return
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        assert converted is module, "a role's top module must not itself be a batch norm"

    # --- the step ---------------------------------------------------------------------------
    def train_mode(self) -> None:
        for role in self.roles.values():
            role.module.train()

    def set_lr(self, base_lr: float) -> dict[str, float]:
        """Each role's rate is ``base_lr`` times its ``lr_scale``; returns ``{"lr/<short name>": lr}``."""
        logged = {}
        for name, role in self.roles.items():
            lr = base_lr * role.lr_scale
            for group in self.optimizers[name].param_groups:
                group["lr"] = lr
            logged[f"lr/{role.short_name or name}"] = lr
        return logged

    def zero_grad(self) -> None:
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)

    def step_optimizers(self, max_grad_norm: float | None) -> None:
        for name, optimizer in self.optimizers.items():
            if max_grad_norm:
                self.scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(self.roles[name].module.parameters(), max_grad_norm)
            self.scaler.step(optimizer)
        self.scaler.update()

    def advance(self, batch_images: int) -> None:
        """One optimiser step done: count it and move the EMA."""
        self.step += 1
        self.images_seen += batch_images
        if self.ema is not None:
            self.ema.update(unwrap(self.roles[self.objective.inference_role].module), batch_images, self.images_seen)

    def inference_generator(self) -> Generator:
        """The EMA generator when enabled (through ``refresh`` when set), else the trained one."""
        if self.ema is None:
            return unwrap(self.objective.generator())
        return self.ema.model if self.refresh is None else self.refresh(self.ema.model, self.step)

    # --- checkpoints ------------------------------------------------------------------------
    def state_dict(self, best: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "networks": {name: unwrap(role.module).state_dict() for name, role in self.roles.items()},
            "optimizers": {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()},
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.model.state_dict() if self.ema else {},
            "step": self.step,
            "images_seen": self.images_seen,
            "rng": rng_state(),
            "config": json.dumps(config_to_dict(self.config)),
            "spec": self.objective.spec.to_json(),
            "best": json.dumps(best),
        }

    def load_state_dict(self, state: dict[str, Any], source: str) -> dict[str, Any] | None:
        """Restore networks, optimisers, scaler, EMA, counters and (one process) the RNG; returns the best record."""
        state = _legacy_layout(state)
        if set(state["networks"]) != set(self.roles):
            raise CheckpointError(f"{source}: holds the networks {sorted(state['networks'])}, this objective trains {sorted(self.roles)}")
        for name, role in self.roles.items():
            load_state_strict(unwrap(role.module), state["networks"][name], source)
            self.optimizers[name].load_state_dict(state["optimizers"][name])
        if self.ema and state["ema"]:
            load_state_strict(self.ema.model, state["ema"], source)
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.images_seen = int(state["images_seen"])
        if self.info.world_size == 1:
            set_rng_state(state["rng"])
        else:  # other ranks had other streams; re-seed deterministically from the step
            torch.manual_seed(self.config.train.seed + self.info.rank + 7919 * self.step)
        return json.loads(state.get("best", "null"))
