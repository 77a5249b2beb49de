"""``--device`` / ``train.device`` values: ``auto``, ``cpu``, ``cuda``, ``cuda:N``."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` -> the GPU when there is one, else the CPU; a CUDA device without CUDA is an error."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name} was asked for but no CUDA device is available; use cpu or auto")
    return device


def slow_bf16_warning(device: torch.device, capability: str | None = None) -> str | None:
    """Why bf16 autocast would slow this run down, or None.

    An x86 CPU whose best vector unit is AVX2 (torch.backends.cpu.get_cpu_capability()) has no
    bfloat16 arithmetic, so oneDNN emulates it: measured on a 2-core AVX2 EPYC, a 128->64 channel
    4x4 convolution's forward and backward took 0.48 s in bf16 against 0.019 s in fp32
    (docs/benchmarks.md). GPUs and AVX-512/AMX CPUs are not measured here and get no warning.
    """
    if device.type != "cpu":
        return None
    capability = capability or torch.backends.cpu.get_cpu_capability()
    if capability != "AVX2":
        return None
    return (
        f"train.precision=bf16 on a CPU without native bfloat16 ({capability}): convolutions run emulated, "
        "10-25x slower than fp32 here; use train.precision=fp32 on this machine (bf16 is the recipe for GPUs)"
    )
