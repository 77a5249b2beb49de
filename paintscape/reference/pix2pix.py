"""junyanz/pytorch-CycleGAN-and-pix2pix weights on :mod:`paintscape.models.pix2pix` (preset ``pix2pix``).

The reference saves plain state dicts (``latest_net_G.pth``, ``latest_net_D.pth``) of its recursive
``UnetGenerator`` and sequential ``NLayerDiscriminator``. Key layout of the U-Net, level ``k``
(1 = outermost) living under ``model.model.`` + ``1.model.`` + ``3.model.`` * (k - 2)::

    outermost  [0 downconv, 1 submodule, 2 ReLU, 3 upconv, 4 Tanh]
    middle     [0 LeakyReLU, 1 downconv, 2 downnorm, 3 submodule, 4 ReLU, 5 upconv, 6 upnorm, 7 Dropout]
    innermost  [0 LeakyReLU, 1 downconv, 2 ReLU, 3 upconv, 4 upnorm]

and of the PatchGAN: ``model.0`` first conv, ``model.{3n-1}`` / ``model.{3n}`` conv / norm of layer
``n``, ``model.{3N+2}`` the 1-channel classifier. Checkpoints saved from ``DataParallel``
(``module.`` prefix) and from PyTorch < 0.4 (no ``num_batches_tracked``; running stats on
instance norms) are accepted, as the reference's own loader accepts them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor

from paintscape.models.patchgan import PatchGANDiscriminator
from paintscape.models.pix2pix import UNetGenerator
from paintscape.reference.state import (
    ReferenceConverter,
    ReferenceWeightsError,
    convert_with_key_map,
    strip_data_parallel,
)
from paintscape.registry import CONVERTERS


def _unet_prefix(level: int) -> str:
    """Reference key prefix of U-Net level ``level`` (0-based, 0 = outermost)."""
    if level == 0:
        return "model.model."
    return "model.model.1.model." + "3.model." * (level - 1)


def generator_key_map(model: UNetGenerator) -> dict[str, str]:
    """Our state-dict key -> the reference's key, for every entry of ``model.state_dict()``."""
    mapping: dict[str, str] = {}
    depth = model.depth
    for level in range(depth):
        prefix = _unet_prefix(level)
        outermost, innermost = level == 0, level == depth - 1
        if outermost:
            slots = {"down.conv": 0, "up.conv": 3}
        elif innermost:
            slots = {"down.conv": 1, "up.conv": 3, "up.norm": 4}
        else:
            slots = {"down.conv": 1, "down.norm": 2, "up.conv": 5, "up.norm": 6}
        for ours, index in slots.items():
            side, part = ours.split(".")
            mapping_prefix = f"{side}.{level}.{part}."
            for key in model.state_dict():
                if key.startswith(mapping_prefix):
                    mapping[key] = f"{prefix}{index}.{key[len(mapping_prefix) :]}"
    missing = set(model.state_dict()) - set(mapping)
    assert not missing, f"unmapped generator keys {sorted(missing)}"
    return mapping


def discriminator_key_map(model: PatchGANDiscriminator) -> dict[str, str]:
    """Our state-dict key -> the reference's key (``NLayerDiscriminator``)."""
    num_layers = len(model.blocks) - 1
    mapping: dict[str, str] = {}
    for key in model.state_dict():
        if key.startswith("classifier."):
            mapping[key] = f"model.{3 * num_layers + 2}.{key[len('classifier.') :]}"
            continue
        match = re.fullmatch(r"blocks\.(\d+)\.(\d+)\.(.+)", key)
        assert match, key
        block, slot, name = int(match[1]), int(match[2]), match[3]
        index = 0 if block == 0 else 3 * block - 1 + slot
        mapping[key] = f"model.{index}.{name}"
    return mapping


def reference_unet_depth(state: Mapping[str, Tensor]) -> int:
    """The ``num_downs`` of a reference U-Net state dict: how many nested levels have a down-conv."""
    state = strip_data_parallel(state)
    depth = 0
    while f"{_unet_prefix(depth)}{0 if depth == 0 else 1}.weight" in state:
        depth += 1
    return depth


def _convert(
    state: Mapping[str, Tensor], ours: Mapping[str, Tensor], key_map: Mapping[str, str], what: str, hint: str
) -> dict[str, Tensor]:
    return convert_with_key_map(state, ours, key_map, what, lambda key, shape: hint)


def convert_generator_state(state: Mapping[str, Tensor], model: UNetGenerator) -> dict[str, Tensor]:
    """A reference ``UnetGenerator`` state dict -> a state dict for ``model``.

    Raises :class:`ReferenceWeightsError` naming the first key that is missing, has the wrong
    shape or is left over, with the network settings that would fit.
    """
    ref_depth = reference_unet_depth(state)
    hint = (
        f"the checkpoint is a U-Net with {ref_depth} down-samplings, ours has {model.depth}"
        if ref_depth != model.depth
        else "build UNetGenerator with the checkpoint's input_channels, base_channels (ngf) and norm"
    )
    return _convert(state, model.state_dict(), generator_key_map(model), "pix2pix generator (net_G)", hint)


def convert_discriminator_state(state: Mapping[str, Tensor], model: PatchGANDiscriminator) -> dict[str, Tensor]:
    """A reference ``NLayerDiscriminator`` state dict -> a state dict for ``model``."""
    hint = "build PatchGANDiscriminator with the checkpoint's input_channels, base_channels (ndf), num_layers and norm"
    return _convert(state, model.state_dict(), discriminator_key_map(model), "pix2pix discriminator (net_D)", hint)


def load_generator_state(generator: UNetGenerator, state: Mapping[str, Tensor]) -> UNetGenerator:
    """A reference ``latest_net_G.pth`` state dict into ``generator`` (returned), every key and shape checked."""
    generator.load_state_dict(convert_generator_state(state, generator))
    return generator


def load_discriminator_state(discriminator: PatchGANDiscriminator, state: Mapping[str, Tensor]) -> PatchGANDiscriminator:
    """A reference ``latest_net_D.pth`` state dict into ``discriminator`` (returned), every key and shape checked."""
    discriminator.load_state_dict(convert_discriminator_state(state, discriminator))
    return discriminator


@CONVERTERS.register("pix2pix", description="a junyanz/pytorch-CycleGAN-and-pix2pix U-Net generator (label channels and depth read off the weights)")
class Pix2PixConverter(ReferenceConverter):
    family = "pix2pix"

    def kwargs_from_state(self, state, image_size, *, num_upsampling_layers=None):
        if num_upsampling_layers is not None:
            raise ValueError("pix2pix has no num_upsampling_layers: its U-Net depth is read off the weights")
        first_conv = state.get("model.model.0.weight")
        if first_conv is None:
            raise ReferenceWeightsError("not a pix2pix U-Net state dict: no key 'model.model.0.weight'")
        kwargs = {
            "image_size": tuple(image_size), "input_channels": int(first_conv.shape[1]),
            "num_downsampling": reference_unet_depth(state), "base_channels": int(first_conv.shape[0]),
        }  # fmt: skip
        return kwargs, []

    def load_into(self, generator, state, encoder_state=None):
        if encoder_state is not None:
            raise ReferenceWeightsError("pix2pix has no encoder")
        load_generator_state(generator, state)
