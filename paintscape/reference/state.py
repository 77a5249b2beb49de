"""What every reference converter shares: reading a reference checkpoint file, moving its tensors
onto a paintscape network through a key map with every key and shape checked, the VAE encoder's
key map (SPADE's ``ConvEncoder``, which TSIT reuses), one error type and the converter contract.

A converter (one per ``convert-reference`` preset, registered in
``paintscape.registry.CONVERTERS``) implements :class:`ReferenceConverter`: ``read`` a file,
``kwargs_from_state`` (the paintscape generator that fits the tensors) and ``load_into`` (the
tensors into that generator).
"""

from __future__ import annotations

import os
import pickle
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from paintscape.checkpoint import SPEC_KEY

_BN_BOOKKEEPING = re.compile(r"(running_mean|running_var|num_batches_tracked)$")

#: ``hint(reference key, its shape or None when the reference lacks the key)`` -> what to check.
Hint = Callable[[str, "tuple[int, ...] | None"], str]


class ReferenceWeightsError(ValueError):
    """A reference checkpoint does not fit the paintscape network it is loaded into (or is no
    reference checkpoint at all); the message names the file or key and the argument to check."""


def strip_data_parallel(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop the ``module.`` prefix of a model saved while wrapped in (Distributed)DataParallel."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def read_reference_state(path: str | os.PathLike, error: type[ReferenceWeightsError] = ReferenceWeightsError) -> dict[str, Tensor]:
    """A reference checkpoint file as a state dict on the CPU: a ``.pth`` read with
    ``weights_only=True`` (no pickled code runs) or a ``.safetensors`` file of the same keys; a
    ``module.`` prefix (DataParallel) is removed.

    A file that is empty, truncated, not a checkpoint, or holds pickled objects other than tensors
    raises ``error`` in one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise error(f"{path}: empty file (0 bytes)")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise error(f"{path}: not a readable .safetensors file, truncated or corrupt ({exc})") from None
        _refuse_paintscape_file(path, _safetensors_metadata(path), error)
        return strip_data_parallel(state)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" in str(exc).lower():  # the pickle names a class or function to call
            raise error(
                f"{path}: refused: the file holds pickled Python objects besides tensors, and loading them "
                "would run code from the file; save a plain state dict (torch.save(net.state_dict())) "
                "or a .safetensors file"
            ) from None
        raise error(f"{path}: not a PyTorch checkpoint written by torch.save (it cannot be read as tensors)") from None
    except (RuntimeError, EOFError, KeyError, ValueError, IndexError, OSError) as exc:
        # torch's own text ends with advice about internal errors: keep its first sentence only.
        reason = "not a pickle or zip file" if isinstance(exc, KeyError | IndexError) else str(exc).split(". ")[0].strip()
        reason = reason or type(exc).__name__
        raise error(f"{path}: not a readable PyTorch checkpoint, truncated or corrupt ({reason})") from None
    if not isinstance(state, Mapping):
        raise error(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
    _refuse_paintscape_file(path, state, error)
    not_tensors = [key for key, value in state.items() if not isinstance(value, Tensor)]
    if not_tensors:
        key = not_tensors[0]
        raise error(f"{path}: expected a state dict (name -> tensor), but {key!r} holds a {type(state[key]).__name__}")
    return strip_data_parallel(state)


def _safetensors_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata() or {}


def _refuse_paintscape_file(path: Path, contents: Mapping[str, Any], error: type[ReferenceWeightsError]) -> None:
    """A file paintscape wrote is no reference checkpoint: say what it is instead of failing on its keys."""
    if SPEC_KEY in contents:
        raise error(
            f"{path}: already a paintscape generator file, not a reference checkpoint: "
            "use it as it is with paintscape generate / paint / export (no conversion needed)"
        )
    if {"networks", "spec", "step"} <= set(contents):
        raise error(
            f"{path}: a paintscape training checkpoint, not a reference checkpoint: its generator is "
            f"{path.with_suffix('.safetensors').name} beside it, usable as it is with paintscape generate / paint"
        )


def convert_with_key_map(
    state: Mapping[str, Tensor],
    ours: Mapping[str, Tensor],
    key_map: Mapping[str, str],
    what: str,
    hint: Hint,
    error: type[ReferenceWeightsError] = ReferenceWeightsError,
) -> dict[str, Tensor]:
    """``{our key: reference tensor}`` for every ``our key -> reference key`` of ``key_map``.

    A missing reference key, a shape mismatch or a reference key left over raises
    ``error`` (:class:`ReferenceWeightsError`) naming the keys, both shapes and ``hint(reference key, shape)``.
    Accepted as the references' own loaders accept them: no ``num_batches_tracked`` (PyTorch <
    0.4), running statistics on instance norms, and spectral norm saved before PyTorch 1.1 (the
    normalised ``weight`` instead of ``weight_v``; our layer's load hook rebuilds ``weight_v``).
    """
    state = strip_data_parallel(state)
    wanted = set(key_map.values())
    legacy = {k[: -len("_v")] for k in wanted if k.endswith(".weight_v") and k not in state}
    # Keys the network has no place for first: they name the option that differs (an extra block),
    # where a shape mismatch further down would only be its consequence.
    unused = sorted(k for k in state if k not in wanted and k not in legacy and not _BN_BOOKKEEPING.search(k))
    if unused:
        shown = ", ".join(map(repr, unused[:5])) + (f" and {len(unused) - 5} more" if len(unused) > 5 else "")
        raise error(f"{what}: reference has keys our network does not use: {shown}; {hint(unused[0], tuple(state[unused[0]].shape))}")
    converted: dict[str, Tensor] = {}
    for our_key, reference_key in key_map.items():
        expected = ours[our_key]
        if reference_key not in state:
            if our_key.endswith("num_batches_tracked"):
                converted[our_key] = torch.zeros_like(expected)
                continue
            if reference_key[: -len("_v")] in legacy and reference_key[: -len("_v")] in state:
                converted[our_key[: -len("_v")]] = state[reference_key[: -len("_v")]].detach().to(dtype=expected.dtype)
                continue
            raise error(f"{what}: reference has no key {reference_key!r} (for our {our_key!r}); {hint(reference_key, None)}")
        value = state[reference_key]
        if tuple(value.shape) != tuple(expected.shape):
            raise error(
                f"{what}: reference key {reference_key!r} has shape {tuple(value.shape)}, but our {our_key!r} "
                f"needs {tuple(expected.shape)}; {hint(reference_key, tuple(value.shape))}"
            )
        converted[our_key] = value.detach().to(dtype=expected.dtype)
    return converted


def with_encoder_state(
    converted: dict[str, Tensor], generator: nn.Module, encoder_state: Mapping[str, Tensor] | None, what: str, hint: Hint
) -> dict[str, Tensor]:
    """``converted`` (a generator's tensors, encoder excluded) completed with its VAE encoder's:
    from the reference ``encoder_state`` (SPADE's and TSIT's ``netE``), or, without one, the
    encoder's current weights. An encoder state for a generator without encoder is an error."""
    encoder = generator.encoder
    if encoder is None:
        if encoder_state is not None:
            raise ReferenceWeightsError("an encoder state dict was given but the generator has no encoder; build it with use_vae=True")
        return converted
    ours = generator.state_dict()
    if encoder_state is None:
        return {**converted, **{k: v for k, v in ours.items() if k.startswith("encoder.")}}
    return {**converted, **convert_with_key_map(encoder_state, ours, encoder_key_map(encoder, "encoder."), what, hint)}


def encoder_key_map(encoder: nn.Module, prefix: str = "") -> dict[str, str]:
    """Our :class:`~paintscape.models.encoders.ConvEncoder` key (with ``prefix``) -> the reference's.

    NVlabs/SPADE and EndlessSora/TSIT name its convolutions ``layer1 .. layerN`` (each a conv, or
    a spectral conv and a norm), the heads ``fc_mu`` / ``fc_var``; ours are ``convs.0 .. convs.N-1``.
    """
    mapping: dict[str, str] = {}
    for key in encoder.state_dict():
        match = re.fullmatch(r"convs\.(\d+)\.(.+)", key)
        mapping[prefix + key] = f"layer{int(match[1]) + 1}.{match[2]}" if match else key
    return mapping


class ReferenceConverter(ABC):
    """One ``convert-reference`` preset: a reference ``latest_net_G.pth`` -> a paintscape generator.

    ``family`` is the registry name of the generator it builds.
    """

    family: str

    def read(self, path: str | os.PathLike) -> dict[str, Tensor]:
        """The reference file as a state dict (no pickled code runs)."""
        return read_reference_state(path)

    @abstractmethod
    def kwargs_from_state(
        self, state: Mapping[str, Tensor], image_size: tuple[int, int], *, num_upsampling_layers: str | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """``(constructor arguments of a generator that fits state, what had to be assumed)``.

        The image size is not in the tensors and is given; ``num_upsampling_layers`` (SPADE,
        TSIT) is read off the tensors where they tell it, else assumed and said so.
        """

    def has_encoder(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether the generator these arguments build has a VAE encoder (its weights come from
        the reference's second file, ``latest_net_E.pth``)."""
        return bool(kwargs.get("use_vae", False))

    @abstractmethod
    def load_into(self, generator: nn.Module, state: Mapping[str, Tensor], encoder_state: Mapping[str, Tensor] | None = None) -> None:
        """Copy ``state`` (and the encoder's, when given) into ``generator``, every key and shape
        checked. Without ``encoder_state`` a VAE generator's encoder keeps its current weights."""
