"""The divergence guard: a run whose weights stop being finite stops, as a NaN loss does.

A loss can stay finite while the network is already broken: at a huge learning rate a batch norm's
``running_var`` overflows to Inf, which training-mode forwards never read (they normalise with the
batch's statistics), so every later checkpoint, the EMA copy included, renders garbage. After each
optimiser step the trainer checks every floating-point parameter and buffer of every trained
network here, before the EMA moves and before anything is saved, so the last checkpoint written
stays the last good one.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import torch
from torch import nn

from paintscape.train.distributed import DistInfo, all_ranks_finite


class TrainingDiverged(RuntimeError):
    """A loss, parameter or buffer became NaN or infinite; the last good checkpoint is left untouched."""


def non_finite_tensors(modules: Mapping[str, nn.Module]) -> list[str]:
    """``"role.tensor name"`` of every floating-point parameter or buffer holding NaN or Inf.

    One device sync in the common case: the per-tensor flags are stacked and read once."""
    names: list[str] = []
    flags: list[torch.Tensor] = []
    for role, module in modules.items():
        for name, tensor in itertools.chain(module.named_parameters(), module.named_buffers()):
            if tensor.is_floating_point():
                names.append(f"{role}.{name}")
                flags.append(torch.isfinite(tensor.detach()).all())
    if not flags:
        return []
    finite = torch.stack(flags)
    if bool(finite.all()):
        return []
    return [name for name, ok in zip(names, finite.tolist()) if not ok]


def check_weights_finite(modules: Mapping[str, nn.Module], info: DistInfo, step: int, run_dir: object) -> None:
    """Raise :class:`TrainingDiverged` naming the first non-finite tensor (on any rank: all stop together)."""
    bad = non_finite_tensors(modules)
    flag = torch.tensor(float("inf") if bad else 0.0, device=_device(modules))
    if all_ranks_finite(flag, info):
        return
    shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "") if bad else "a tensor on another rank"
    raise TrainingDiverged(
        f"step {step}: {shown} is not finite (NaN or Inf) after the optimiser step; training stopped. "
        f"The last good checkpoint in {run_dir} is intact: lower the learning rate, use precision fp32/bf16, "
        "or check the data, then continue with --resume"
    )


def _device(modules: Mapping[str, nn.Module]) -> torch.device:
    for module in modules.values():
        for tensor in itertools.chain(module.parameters(), module.buffers()):
            return tensor.device
    return torch.device("cpu")
