"""Checkpoints that survive crashes and never execute code when loaded.

A run directory holds::

    RUN/config.yaml                       resolved config of the run
    RUN/checkpoints/step_00000500.pt      full training state (torch.save of tensors and plain data;
                                          loaded with weights_only=True, so no pickle code runs)
    RUN/checkpoints/step_00000500.safetensors   the inference generator (EMA when enabled) with its
                                          JSON spec in the metadata: rebuildable with no pickle at all
    RUN/latest.json                       names the newest complete pair (written last, atomically)

Each file is written to a temporary file, fsynced and renamed; ``latest.json`` moves only after
both files of a checkpoint are complete, so a process killed while saving leaves the previous
checkpoint as ``latest``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save
from torch import nn

from paintscape.io_atomic import atomic_write, atomic_write_bytes, atomic_write_text
from paintscape.models.base import Generator, GeneratorSpec
from paintscape.registry import GENERATORS

SPEC_KEY = "paintscape_spec"


class CheckpointError(ValueError):
    """A checkpoint path is missing, incomplete or does not match the network it is loaded into."""


def save_generator(path: str | Path, weights: nn.Module | dict[str, torch.Tensor], spec: GeneratorSpec) -> None:
    """Generator weights (a module or its state dict) as safetensors, ``spec`` as JSON in the metadata."""
    state = weights.state_dict() if isinstance(weights, nn.Module) else weights
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    atomic_write_bytes(path, safetensors_save(tensors, metadata={SPEC_KEY: spec.to_json()}))


def read_generator_file(path: str | Path) -> tuple[dict[str, torch.Tensor], GeneratorSpec]:
    """The weights and the spec of a generator file (this version's spec or an older one)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: generator file not found")
    data = path.read_bytes()
    try:
        tensors = safetensors_load(data)
        header_len = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + header_len]).get("__metadata__", {})
        text = metadata[SPEC_KEY]
    except (SafetensorError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a paintscape generator file ({exc})") from None
    try:
        return tensors, GeneratorSpec.from_json(text, source=str(path))
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None


def build_generator(spec: GeneratorSpec) -> Generator:
    """A fresh generator of ``spec``'s family and arguments (random weights)."""
    import paintscape.models  # noqa: F401  (registers the networks)

    return GENERATORS.build(spec.family, **spec.build_kwargs())


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[Generator, GeneratorSpec]:
    """Rebuild a generator from a ``.safetensors`` file or a run directory (its latest checkpoint)."""
    path = resolve_generator_path(path)
    tensors, spec = read_generator_file(path)
    try:
        generator = build_generator(spec)
    except (TypeError, ValueError, KeyError) as exc:  # arguments of the wrong type or name, an unknown family
        raise CheckpointError(f"{path}: its generator spec does not build a network ({exc})") from None
    load_state_strict(generator, tensors, str(path))
    return generator.to(device).eval(), spec


def load_state_strict(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``load_state_dict`` whose error names the file, the missing/unexpected keys and bad shapes."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append(f"shape mismatches {shapes[:5]}")
        raise CheckpointError(f"{source}: does not match the network: {'; '.join(parts)}")
    module.load_state_dict(state)


def save_training_state(path: str | Path, state: dict[str, Any]) -> None:
    def write(handle: io.BufferedWriter) -> None:
        torch.save(state, handle)

    atomic_write(path, write)


def load_training_state(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        # weights_only: tensors and plain containers only; a file that needs code to load is refused.
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot be loaded as a paintscape training checkpoint ({_load_failure(exc)})") from None


def _load_failure(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in a few words. Never PyTorch's own advice, which
    suggests ``weights_only=False``: that runs the file's code, the one thing an untrusted file must not do."""
    text = str(exc)
    if "weights_only" in text or "unsupported global" in text.lower():
        return "it holds pickled Python objects besides tensors, and loading them would run code from the file: refused"
    first = text.strip().splitlines()[0].split(". ")[0].strip() if text.strip() else ""
    return first or type(exc).__name__


def latest_record(run_dir: str | Path) -> dict[str, Any] | None:
    pointer = Path(run_dir) / "latest.json"
    if not pointer.is_file():
        return None
    try:
        record = json.loads(pointer.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # cannot happen with atomic writes, but say so clearly
        raise CheckpointError(f"{pointer}: corrupt ({exc})") from None
    if not isinstance(record, dict):
        raise CheckpointError(f"{pointer}: corrupt (expected an object naming the state and generator files, got {type(record).__name__})")
    return record


def _recorded_path(run_dir: Path, record: dict[str, Any], key: str) -> Path:
    """The file ``latest.json`` names under ``key``; written by hand or another program, it may not."""
    value = record.get(key)
    if not isinstance(value, str) or not value:
        found = "nothing" if key not in record else repr(value)
        raise CheckpointError(f"{run_dir / 'latest.json'}: corrupt ({key!r} must name a file in the run, got {found})")
    return run_dir / value


def resolve_generator_path(path: str | Path) -> Path:
    """A run directory -> its latest generator; ``RUN/latest`` works too; a file -> itself."""
    path = Path(path)
    if path.name == "latest" and not path.exists():
        path = path.parent
    if path.is_dir():
        record = latest_record(path)
        if record is None:
            raise CheckpointError(f"{path}: no latest.json; this run has no complete checkpoint yet")
        return _recorded_path(path, record, "generator")
    if path.suffix == ".pt":
        sibling = path.with_suffix(".safetensors")
        if sibling.is_file():
            return sibling
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (give a run directory or a .safetensors generator file)")
    return path


class CheckpointManager:
    """Writes ``step_N.pt`` + ``step_N.safetensors``, moves ``latest.json``, keeps the last K."""

    def __init__(self, run_dir: str | Path, keep_last: int = 3) -> None:
        self.run_dir = Path(run_dir)
        self.directory = self.run_dir / "checkpoints"
        self.keep_last = keep_last

    def save(self, step: int, state: dict[str, Any], generator: nn.Module, spec: GeneratorSpec, tag: str | None = None) -> Path:
        stem = tag or f"step_{step:08d}"
        state_path = self.directory / f"{stem}.pt"
        generator_path = self.directory / f"{stem}.safetensors"
        save_training_state(state_path, state)
        save_generator(generator_path, generator, spec)
        record = {"step": step, "state": str(state_path.relative_to(self.run_dir)), "generator": str(generator_path.relative_to(self.run_dir))}
        atomic_write_text(self.run_dir / "latest.json", json.dumps(record, indent=1))
        if tag is None:
            self._prune()
        return state_path

    def _prune(self) -> None:
        if self.keep_last <= 0:
            return
        steps = sorted(self.directory.glob("step_*.pt"))
        for old in steps[: -self.keep_last]:
            for path in (old, old.with_suffix(".safetensors")):
                path.unlink(missing_ok=True)
        # leftovers of a process killed mid-write: checkpoint files and the run root's latest.json
        for tmp in [*self.directory.glob(".*.tmp"), *self.run_dir.glob(".latest.json.*.tmp")]:
            tmp.unlink(missing_ok=True)

    def latest_state_path(self) -> Path | None:
        record = latest_record(self.run_dir)
        return None if record is None else _recorded_path(self.run_dir, record, "state")
