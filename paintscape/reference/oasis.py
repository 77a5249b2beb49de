"""Load state dicts of boschresearch/OASIS into :mod:`paintscape.models.oasis`.

The reference saves plain state dicts: ``{iter}_G.pth``, ``{iter}_EMA.pth`` (the EMA generator, the
one its ``test.py`` renders with) and ``{iter}_D.pth``. Our module names are the reference's except:

* generator: SPADE's normalisation is ``param_free_norm`` here and ``first_norm`` there
  (``body.{i}.norm_{0,1,s}.first_norm.*``); everything else (``fc``, ``body.{i}.conv_{0,1,s}``,
  ``...mlp_shared.0``, ``mlp_gamma``, ``mlp_beta``, ``conv_img``) is the same key;
* discriminator: the reference wraps each block conv in an ``nn.Sequential`` with its activation
  and resampling, so ``conv1`` is ``conv1.0`` in the first block, ``conv1.1`` in the other down
  blocks and ``conv1.2`` in up blocks, and ``conv2`` is ``conv2.1``; ``conv_s`` and
  ``layer_up_last`` are the same key.

Every reference key must land somewhere and every one of ours must be filled with an equal shape,
or :class:`OASISCheckpointError` names the key and the constructor argument to check. A
``DataParallel`` ``module.`` prefix is stripped. Files are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from torch import Tensor

from paintscape.labels import NUM_CLASSES
from paintscape.models.oasis import OASISDiscriminator, OASISGenerator
from paintscape.reference.state import (
    ReferenceConverter,
    ReferenceWeightsError,
    convert_with_key_map,
    read_reference_state,
    strip_data_parallel,
)
from paintscape.registry import CONVERTERS


class OASISCheckpointError(ReferenceWeightsError):
    """A reference OASIS state dict does not fit the paintscape network it is loaded into."""


def generator_key_map(model: OASISGenerator) -> dict[str, str]:
    """Our generator key -> the reference ``OASIS_Generator``'s key."""
    return {key: key.replace(".param_free_norm.", ".first_norm.") for key in model.state_dict()}


def discriminator_key_map(model: OASISDiscriminator) -> dict[str, str]:
    """Our discriminator key -> the reference ``OASIS_Discriminator``'s key."""
    mapping: dict[str, str] = {}
    for key in model.state_dict():
        match = re.fullmatch(r"(body_(down|up)\.(\d+))\.(conv1|conv2)\.(.+)", key)
        if match is None:  # conv_s, layer_up_last
            mapping[key] = key
            continue
        block, side, index, conv, name = match[1], match[2], int(match[3]), match[4], match[5]
        if conv == "conv2":
            slot = 1  # (LeakyReLU, conv)
        elif side == "up":
            slot = 2  # (LeakyReLU, Upsample, conv)
        else:
            slot = 0 if index == 0 else 1  # the first block has no activation before its conv
        mapping[key] = f"{block}.{conv}.{slot}.{name}"
    return mapping


def _generator_hint(reference_key: str, shape: tuple[int, ...] | None) -> str:
    if reference_key.startswith(("fc.", "body.0.norm_0.mlp_shared")):
        return (
            "check num_classes (semantic_nc: label_nc + 1 with a don't-care label), z_dim (0 for --no_3dnoise) "
            "and base_channels (--channels_G)"
        )
    if "first_norm" in reference_key:
        return "check norm (--param_free_norm: syncbatch/batch keep running statistics, instance does not)"
    return "check base_channels (--channels_G), channel_multipliers, hidden_channels, kernel_size (--spade_ks) and spectral"


def _discriminator_hint(reference_key: str, shape: tuple[int, ...] | None) -> str:
    if reference_key.startswith("layer_up_last."):
        return "check num_classes (semantic_nc: the D outputs semantic_nc + 1 channels)"
    return "check base_channels, channel_multipliers and spectral"


def convert_generator_state_dict(state: Mapping[str, Tensor], model: OASISGenerator) -> dict[str, Tensor]:
    """A reference ``OASIS_Generator`` state dict (``*_G.pth`` or ``*_EMA.pth``) -> ours, shapes checked."""
    return convert_with_key_map(
        state, model.state_dict(), generator_key_map(model), "OASIS generator", _generator_hint, OASISCheckpointError
    )


def convert_discriminator_state_dict(state: Mapping[str, Tensor], model: OASISDiscriminator) -> dict[str, Tensor]:
    """A reference ``OASIS_Discriminator`` state dict (``*_D.pth``) -> ours, shapes checked."""
    return convert_with_key_map(
        state,
        model.state_dict(),
        discriminator_key_map(model),
        "OASIS discriminator",
        _discriminator_hint,
        OASISCheckpointError,
    )


def load_reference_state(
    model: OASISGenerator | OASISDiscriminator, state: Mapping[str, Tensor]
) -> OASISGenerator | OASISDiscriminator:
    """Copy a reference state dict into ``model`` (generator or discriminator, in place); returns it."""
    if isinstance(model, OASISGenerator):
        converted = convert_generator_state_dict(state, model)
    elif isinstance(model, OASISDiscriminator):
        converted = convert_discriminator_state_dict(state, model)
    else:
        raise TypeError(f"expected an OASISGenerator or OASISDiscriminator, got {type(model).__name__}")
    model.load_state_dict(converted, strict=True)
    return model


def load_reference_checkpoint(
    model: OASISGenerator | OASISDiscriminator, path: str | Path
) -> OASISGenerator | OASISDiscriminator:
    """Load a reference ``*_G.pth`` / ``*_EMA.pth`` / ``*_D.pth`` file into ``model``."""
    return load_reference_state(model, read_reference_state(path, OASISCheckpointError))


def reference_generator_kwargs(
    state: Mapping[str, Tensor], image_size: tuple[int, int], num_classes: int
) -> dict[str, object]:
    """Constructor arguments of :class:`OASISGenerator` that fit a reference generator state dict.

    The weights hold the noise and the label channels only as their sum, so ``num_classes`` (the
    reference's ``semantic_nc``: 151 for ADE20K, 35 for Cityscapes, 183 for COCO-Stuff) is given and
    ``z_dim`` is the rest; ``image_size`` is not in the weights either. The widths, SPADE's hidden
    width and kernel size, spectral norm and the norm kind (batch norm when running statistics are
    stored) are read from the state dict.
    """
    state = strip_data_parallel(state)
    spectral = "body.0.conv_0.weight_orig" in state
    weight = "weight_orig" if spectral else "weight"
    try:
        fc = state["fc.weight"]
        conv_img = state["conv_img.weight"]
        shared = state["body.0.norm_0.mlp_shared.0.weight"]
    except KeyError as missing:
        raise OASISCheckpointError(f"not an OASIS generator state dict: no key {missing}") from None
    z_dim = int(fc.shape[1]) - num_classes
    if z_dim < 0:
        raise OASISCheckpointError(
            f"the generator's first conv takes {fc.shape[1]} channels, fewer than num_classes={num_classes}"
        )
    base = int(conv_img.shape[1])
    widths = [int(fc.shape[0])]
    i = 0
    while f"body.{i}.conv_1.{weight}" in state:
        widths.append(int(state[f"body.{i}.conv_1.{weight}"].shape[0]))
        i += 1
    if any(w % base for w in widths):
        raise OASISCheckpointError(f"block widths {widths} are not multiples of the last width {base}")
    return dict(
        num_classes=num_classes,
        image_size=(int(image_size[0]), int(image_size[1])),
        base_channels=base,
        channel_multipliers=tuple(w // base for w in widths),
        z_dim=z_dim,
        norm="syncbatch" if "body.0.norm_0.first_norm.running_mean" in state else "instance",
        spectral=spectral,
        hidden_channels=int(shared.shape[0]),
        kernel_size=int(shared.shape[2]),
    )


OASIS_ADE20K_CLASSES = 151  # the reference's semantic_nc for ADE20K: 150 classes + "unknown" (file value 0)


def _no_upsampling_choice(num_upsampling_layers: str | None) -> None:
    if num_upsampling_layers is not None:
        raise ValueError("--num-upsampling-layers is SPADE's and TSIT's: an OASIS generator's depth is read from its weights")


@CONVERTERS.register("oasis", description="a boschresearch/OASIS generator (*_EMA.pth, *_G.pth) trained on the 29 landscape classes")
class OASISConverter(ReferenceConverter):
    """The 29 landscape classes as ``semantic_nc`` (no don't-care label); ``z_dim`` is the rest of the first conv's input."""

    family = "oasis"

    def read(self, path):
        return read_reference_state(path, OASISCheckpointError)

    def kwargs_from_state(self, state, image_size, *, num_upsampling_layers=None):
        _no_upsampling_choice(num_upsampling_layers)
        kwargs = reference_generator_kwargs(state, image_size, NUM_CLASSES)
        return kwargs, [f"{NUM_CLASSES} label channels (the landscape classes), so z_dim = {kwargs['z_dim']}"]

    def load_into(self, generator, state, encoder_state=None):
        load_reference_state(generator, state)


@CONVERTERS.register("oasis-ade20k", description="an ADE20K boschresearch/OASIS generator, fed landscape label maps through a class table")
class OASISADE20KConverter(OASISConverter):
    """The released ADE20K model: 151 label channels, channel = ADE20K file value as its loader feeds it."""

    family = "remapped"

    def kwargs_from_state(self, state, image_size, *, num_upsampling_layers=None):
        _no_upsampling_choice(num_upsampling_layers)
        inner = reference_generator_kwargs(state, image_size, OASIS_ADE20K_CLASSES)
        notes = [f"{OASIS_ADE20K_CLASSES} label channels (ADE20K with its don't-care label), so z_dim = {inner['z_dim']}"]
        return {"inner": "oasis", "inner_args": inner, "table": "ade20k"}, notes

    def load_into(self, generator, state, encoder_state=None):
        load_reference_state(generator.inner, state)


__all__ = [
    "OASISConverter",
    "OASISADE20KConverter",
    "OASISCheckpointError",
    "generator_key_map",
    "discriminator_key_map",
    "convert_generator_state_dict",
    "convert_discriminator_state_dict",
    "load_reference_state",
    "load_reference_checkpoint",
    "reference_generator_kwargs",
]
