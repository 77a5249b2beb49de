"""The run's two Adam optimisers, built from the config, and what they keep in memory.

A GAN step holds, per generator parameter, the weight, its gradient and Adam's two moments: for
TSIT's 332 M-parameter generator that is 4 x 1.33 GB in fp32, most of a training step's memory.
Three switches of ``train`` cut it down (docs/benchmarks.md has what each saves):

* ``optimizer_in_backward: true`` — the generator's Adam step runs for each parameter as soon as
  its gradient is complete (``Tensor.register_post_accumulate_grad_hook``) and the gradient is freed
  at once, so the generator's gradients never exist all together. The update is the same,
  bitwise: the same kernel on the same numbers. With gradient accumulation the hook steps only in
  the last micro-batch's backward. It is refused where it cannot be the same update: gradient
  clipping (``train.max_grad_norm``, which needs every gradient first), fp16 loss scaling
  (``train.precision=fp16``, which must check every gradient for inf first) and several processes
  (DDP averages gradients after the hook would have used them; ``train.shard_optimizer`` splits the
  state there instead). The discriminator keeps its step after the G step: its update must not
  change the discriminator that the G step evaluates.
* ``adam_moment_dtype: bf16`` — Adam's moments are stored in bfloat16 (the update is computed in
  float32 and rounded when stored): half their memory, not the same numbers (opt-in). Refused for a
  beta whose per-step change ``1 - beta`` is below bf16's resolution (1/128, e.g. pix2pix's 0.999),
  where rounding would freeze the moment.
* ``shard_optimizer: true`` — under torchrun, PyTorch's ``ZeroRedundancyOptimizer`` keeps each
  parameter's Adam state on one rank only and broadcasts the updated weights: the state per rank is
  divided by the number of ranks, the update is the same.

With either of the first two switches the optimiser is :class:`LeanAdam`, which also never stores
the first moment when ``beta1 == 0`` (SPADE's and TSIT's ``betas (0, 0.9)``): Adam's first moment is
then exactly the current gradient. Without any switch the optimiser is torch's fused Adam, as before.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.adam import adam as adam_update

from paintscape.config import ConfigError, TrainConfig

log = logging.getLogger("paintscape.train")

#: ``train.adam_moment_dtype`` values.
MOMENT_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
#: The smallest ``1 - beta`` a bf16 moment follows: its significand has 8 bits, so a change below
#: 1/128 of the moment's value can round away every step.
BF16_MIN_STEP = 1 / 128


def _flat(t: Tensor | None) -> Tensor | None:
    """A 1-D view of a dense tensor's elements in memory order (any dense layout), or None."""
    if t is None:
        return None
    if t.is_contiguous():
        return t.view(-1)
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).reshape(-1)  # a view: NHWC is contiguous
    return None


def _fused_available(device: torch.device) -> bool:
    return device.type in ("cpu", "cuda")


class LeanAdam(torch.optim.Optimizer):
    """Adam (no weight decay, no AMSGrad) with torch's update, storing less.

    * ``betas[0] == 0``: no first moment is stored. Adam's ``exp_avg`` is then ``0 * exp_avg + grad``,
      i.e. the gradient itself; the gradient tensor is passed to torch's kernel in its place, so
      the result is torch's, bitwise.
    * ``moment_dtype``: float32 (torch's kernels, fused where torch fuses) or bfloat16 (the update
      computed in float32 from the stored moments, the new moments rounded to bfloat16).

    :meth:`step` steps every parameter that has a gradient; :meth:`step_parameter` steps one and is
    what :func:`step_in_backward` calls from the gradient hooks.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        *,
        lr: float,
        betas: tuple[float, float],
        eps: float = 1e-8,
        moment_dtype: torch.dtype = torch.float32,
        fused: bool | None = None,
    ) -> None:
        beta1, beta2 = (float(b) for b in betas)
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"Adam betas must lie in [0, 1), got {betas}")
        if moment_dtype not in MOMENT_DTYPES.values():
            raise ValueError(f"moment_dtype must be torch.float32 or torch.bfloat16, got {moment_dtype}")
        defaults = dict(lr=lr, betas=(beta1, beta2), eps=eps)
        super().__init__(params, defaults)
        self.moment_dtype = moment_dtype
        self.fused = fused
        self._scratch: dict[torch.device, Tensor] = {}  # float32 moments of one parameter (bf16 moments)
        self._groups = {p: group for group in self.param_groups for p in group["params"]}

    def _state_for(self, p: Tensor, beta1: float) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            # torch's Adam: a float32 step counter (on the parameter's device when fused)
            fused = self._use_fused(p)
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device if fused else "cpu")
            state["exp_avg_sq"] = torch.zeros_like(p, dtype=self.moment_dtype, memory_format=torch.preserve_format)
            if beta1 != 0.0:
                state["exp_avg"] = torch.zeros_like(p, dtype=self.moment_dtype, memory_format=torch.preserve_format)
        return state

    def _use_fused(self, p: Tensor) -> bool:
        if self.fused is not None:
            return self.fused
        return _fused_available(p.device) and p.dtype == torch.float32

    @torch.no_grad()
    def step_parameter(self, p: Tensor) -> None:
        """One Adam step of ``p`` with its current gradient (nothing when it has none)."""
        grad = p.grad
        if grad is None:
            return
        if grad.is_sparse or p.dtype != torch.float32:
            raise RuntimeError(
                f"LeanAdam steps dense float32 parameters, got a {'sparse ' if grad.is_sparse else ''}{p.dtype} one"
            )
        group = self._groups[p]
        beta1, beta2 = group["betas"]
        state = self._state_for(p, beta1)
        exp_avg = state.get("exp_avg", grad)  # beta1 == 0: exp_avg = grad exactly, see the class doc
        if self.moment_dtype == torch.float32:
            adam_update(
                [p], [grad], [exp_avg], [state["exp_avg_sq"]], [], [state["step"]],
                foreach=False, fused=self._use_fused(p) or None,
                amsgrad=False, beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=0.0, eps=group["eps"],
                maximize=False,
            )  # fmt: skip
            return
        self._low_precision_step(p, grad, state, group)
        state["step"] += 1

    def _low_precision_step(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Adam with moments stored in ``moment_dtype``: they are widened into float32 scratch
        buffers (reused for every parameter, so nothing is allocated per step), torch's Adam kernel
        updates them and the parameter, and they are rounded back."""
        beta1, beta2 = group["betas"]
        flat = [_flat(t) for t in (p, grad, state["exp_avg_sq"], state.get("exp_avg"))]
        if any(t is None for t in flat[:3]) or (beta1 != 0 and flat[3] is None):
            raise RuntimeError(
                f"LeanAdam: parameter, gradient and moments must share one dense layout, got strides "
                f"{p.stride()} and {grad.stride()}"
            )
        param, gradient, exp_avg_sq, exp_avg = flat
        n, pieces = param.numel(), 1 if beta1 == 0 else 2
        scratch = self._scratch.get(p.device)
        if scratch is None or scratch.numel() < pieces * n:
            largest = max(q.numel() for group in self.param_groups for q in group["params"])
            scratch = self._scratch[p.device] = torch.empty(pieces * largest, dtype=torch.float32, device=p.device)
        v = scratch[:n].copy_(exp_avg_sq)
        m = scratch[n : 2 * n].copy_(exp_avg) if beta1 != 0 else gradient  # beta1 == 0: exp_avg = grad
        # torch's functional Adam counts the step itself (on the copy)
        adam_update(
            [param], [gradient], [m], [v], [], [state["step"].clone()],
            foreach=False, fused=self._use_fused(p) or None, amsgrad=False, beta1=beta1, beta2=beta2,
            lr=group["lr"], weight_decay=0.0, eps=group["eps"], maximize=False,
        )  # fmt: skip
        exp_avg_sq.copy_(v)
        if beta1 != 0:
            exp_avg.copy_(m)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                self.step_parameter(p)
        return loss

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Also torch Adam's state dicts; moments are kept in ``moment_dtype``, no stored first moment
        when ``beta1 == 0`` (it is not needed: it is multiplied by 0)."""
        super().load_state_dict(state_dict)
        self._groups = {p: group for group in self.param_groups for p in group["params"]}
        for p, state in self.state.items():
            beta1 = self._groups[p]["betas"][0]
            if beta1 == 0.0:
                state.pop("exp_avg", None)
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    state[key] = state[key].to(self.moment_dtype)
            state.pop("max_exp_avg_sq", None)


class Adam(torch.optim.Adam):
    """torch's Adam that also loads :class:`LeanAdam`'s state dicts (a run resumed without the
    switches): a first moment that was not stored because ``beta1 == 0`` is zeros, which Adam
    multiplies by 0, and bf16 moments are cast back by torch."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # LeanAdam's groups lack torch Adam's other options (weight_decay, fused...): keep this one's
        groups = [
            {**{k: v for k, v in current.items() if k != "params"}, **saved}
            for current, saved in zip(self.param_groups, state_dict["param_groups"])
        ]
        super().load_state_dict({**state_dict, "param_groups": groups})
        for p, state in self.state.items():
            if "exp_avg_sq" in state and "exp_avg" not in state:
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def _check_switches(train: TrainConfig, world_size: int) -> None:
    if train.adam_moment_dtype not in MOMENT_DTYPES:
        raise ConfigError(
            f"train.adam_moment_dtype must be one of {', '.join(MOMENT_DTYPES)}, got {train.adam_moment_dtype!r}"
        )
    if train.adam_moment_dtype == "bf16":
        for name, beta in zip(("beta1", "beta2"), train.betas):
            if beta != 0 and 1 - beta < BF16_MIN_STEP:
                raise ConfigError(
                    f"train.adam_moment_dtype=bf16 with train.betas {name}={beta}: a bf16 moment cannot follow a "
                    f"per-step change of 1 - {beta} = {1 - beta:g} (below bf16's resolution 1/128), so it would "
                    f"stall; keep train.adam_moment_dtype=fp32 for these betas"
                )
    if not train.optimizer_in_backward:
        return
    refusals = []
    if train.max_grad_norm:
        refusals.append("train.max_grad_norm (clipping needs every gradient before any step)")
    if train.precision == "fp16":
        refusals.append("train.precision=fp16 (the loss scaler checks every gradient for inf before any step)")
    if world_size > 1:
        refusals.append(
            f"{world_size} processes (DDP averages gradients after the hook would use them; "
            f"use train.shard_optimizer=true to split the optimiser state across ranks instead)"
        )
    if refusals:
        raise ConfigError("train.optimizer_in_backward=true cannot give the same update with " + "; ".join(refusals))


def build_optimizer(
    params: Iterable[Tensor],
    train: TrainConfig,
    *,
    lr: float,
    betas: tuple[float, float] | None = None,
    weight_decay: float = 0.0,
    device: torch.device,
    world_size: int = 1,
    in_backward: bool = False,
) -> torch.optim.Optimizer:
    """One role's Adam as ``train`` asks (see the module doc); ``betas`` default to ``train.betas``.
    ``in_backward``: this optimiser steps inside its loss's backward (``train.optimizer_in_backward``
    applies to the generator, whose gradients are the large ones).

    Raises :class:`ConfigError` naming the keys when switches are combined that cannot be honoured.
    """
    _check_switches(train, world_size)
    betas = (float((betas or train.betas)[0]), float((betas or train.betas)[1]))
    lean = in_backward or train.adam_moment_dtype != "fp32"
    params = list(params)
    if lean and weight_decay > 0:
        raise ConfigError(
            "train.optimizer_in_backward / train.adam_moment_dtype=bf16 use a plain Adam step; this objective's "
            f"optimiser has weight decay {weight_decay}: keep train.optimizer_in_backward=false and train.adam_moment_dtype=fp32"
        )
    if lean:
        kwargs: dict[str, Any] = dict(lr=lr, betas=betas, moment_dtype=MOMENT_DTYPES[train.adam_moment_dtype])
        optimizer_class: type[torch.optim.Optimizer] = LeanAdam
    else:
        # fused Adam: one kernel over all parameters, less temporary memory than foreach
        kwargs = dict(lr=lr, betas=betas, **({"fused": True} if _fused_available(device) else {}))
        if weight_decay > 0:
            kwargs["weight_decay"] = weight_decay
            optimizer_class = torch.optim.AdamW
        else:
            optimizer_class = Adam
    if train.shard_optimizer and world_size > 1:
        from torch.distributed.optim import ZeroRedundancyOptimizer

        optimizer: torch.optim.Optimizer = ZeroRedundancyOptimizer(params, optimizer_class=optimizer_class, **kwargs)
    else:
        optimizer = optimizer_class(params, **kwargs)
    if in_backward:
        assert isinstance(optimizer, LeanAdam)
        _InBackward(optimizer)
    return optimizer


def build_optimizers(
    generator: nn.Module,
    discriminator: nn.Module,
    train: TrainConfig,
    *,
    lr_g: float,
    lr_d: float,
    device: torch.device,
    world_size: int = 1,
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """The generator's and the discriminator's Adam (the GAN pair; benchmarks build them this way)."""
    if train.shard_optimizer and world_size == 1:
        log.warning("train.shard_optimizer=true on one process: nothing to shard, the optimiser state stays whole")
    common = dict(device=device, world_size=world_size)
    opt_g = build_optimizer(generator.parameters(), train, lr=lr_g, in_backward=train.optimizer_in_backward, **common)
    opt_d = build_optimizer(discriminator.parameters(), train, lr=lr_d, **common)
    return opt_g, opt_d


class _InBackward:
    """Post-accumulate-grad hooks on an optimiser's parameters that step and free each gradient
    while the optimiser is armed (:func:`step_in_backward`)."""

    def __init__(self, optimizer: LeanAdam) -> None:
        self.optimizer = optimizer
        self.armed = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.requires_grad:
                    p.register_post_accumulate_grad_hook(self._hook)
        optimizer.in_backward = self  # type: ignore[attr-defined]

    def _hook(self, p: Tensor) -> None:
        if self.armed:
            self.optimizer.step_parameter(p)
            p.grad = None


@contextlib.contextmanager
def step_in_backward(optimizer: torch.optim.Optimizer, armed: bool = True) -> Iterator[None]:
    """Around a backward: an optimiser built with ``optimizer_in_backward`` steps each parameter as
    its gradient is complete (when ``armed``: the last micro-batch of an accumulated step) and frees
    the gradient. Parameters it did not reach keep their gradients for ``optimizer.step()``, which
    steps whatever still has one. For any other optimiser: nothing."""
    hooks: _InBackward | None = getattr(optimizer, "in_backward", None)
    if hooks is None or not armed:
        yield
        return
    hooks.armed = True
    try:
        yield
    finally:
        hooks.armed = False


def consolidate(*optimizers: torch.optim.Optimizer) -> None:
    """Gather sharded optimiser state on rank 0 before its ``state_dict()``; every rank must call
    this (a collective). A no-op for unsharded optimisers."""
    from torch.distributed.optim import ZeroRedundancyOptimizer

    for optimizer in optimizers:
        if isinstance(optimizer, ZeroRedundancyOptimizer):
            optimizer.consolidate_state_dict(to=0)


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the optimiser state held by this process (moments and step counters)."""
    inner = getattr(optimizer, "optim", optimizer)  # ZeroRedundancyOptimizer: this rank's shard
    return sum(
        t.numel() * t.element_size() for state in inner.state.values() for t in state.values() if isinstance(t, Tensor)
    )
