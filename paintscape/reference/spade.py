"""NVlabs/SPADE weights (e.g. NVIDIA's released ``latest_net_G.pth``) on paintscape's networks.

The reference saves plain state dicts (``torch.save(net.state_dict())``); they load with
``torch.load(weights_only=True)``, so no pickle code runs. Parameter names map one to one
(:data:`GENERATOR_RENAMES` for the generator's top-level blocks, the shared encoder map, and
:func:`discriminator_key_map`); every tensor is checked against the target network and any mismatch
raises :class:`~paintscape.reference.state.ReferenceWeightsError` naming the reference key, our
key, both shapes and the likely fix.

Two presets: ``spade`` (a reference generator trained on the 29 landscape classes, 29 or 30 label
channels) and ``spade-ade20k`` (NVIDIA's released ADE20K generator, fed landscape label maps
through :data:`paintscape.labels.LANDSCAPE_TO_ADE20K`; its convolutional stem does not depend on
the size, so it renders at the track's 384x512 too). NVIDIA's released models and the arguments
that rebuild them are in :data:`RELEASED`; :func:`ade20k_generator_input` turns a landscape label
map into the 151-channel input of the ADE20K model exactly as the reference ``test.py`` builds it
(see docs/parity_spade.md for why no shift).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from paintscape.labels import NUM_CLASSES, to_ade20k
from paintscape.models.multiscale import MultiscaleDiscriminator
from paintscape.models.spade import UPSAMPLINGS, SPADEGenerator, latent_size
from paintscape.reference.state import (
    ReferenceConverter,
    ReferenceWeightsError,
    convert_with_key_map,
    encoder_key_map,
    with_encoder_state,
)
from paintscape.registry import CONVERTERS

#: Reference generator prefixes -> ours (everything below a block keeps its name).
GENERATOR_RENAMES = {
    "fc.": "stem.",
    "head_0.": "head.",
    "G_middle_0.": "middle_0.",
    "G_middle_1.": "middle_1.",
    "conv_img.": "to_rgb.",
}

#: NVIDIA's released checkpoints (SPADE README, "Generating Images Using Pretrained Model"): the
#: options ``test.py`` runs them with (base_options defaults + the dataset's ``set_defaults``),
#: as :class:`SPADEGenerator` arguments. All: ngf 64, norm_G spectralspadesyncbatch3x3, no VAE.
RELEASED: dict[str, dict] = {
    # label_nc 150 + don't-care channel, no instance map; crop 256, aspect 1, normal upsampling
    "ade20k": dict(num_classes=150, extra_label_channels=1, image_size=(256, 256), num_upsampling_layers="normal"),
    # label_nc 182 + don't-care + instance-edge channel; crop 256, aspect 1
    "coco": dict(num_classes=182, extra_label_channels=2, image_size=(256, 256), num_upsampling_layers="normal"),
    # label_nc 35 + instance-edge channel; crop 512, aspect 2, "more" upsampling
    "cityscapes": dict(num_classes=35, extra_label_channels=1, image_size=(256, 512), num_upsampling_layers="more"),
}
for _kwargs in RELEASED.values():
    _kwargs.update(base_channels=64, norm="syncbatch", spectral=True, use_vae=False)


def generator_key_map(generator: SPADEGenerator) -> dict[str, str]:
    """Our generator key -> the reference ``netG``'s, for every entry but the encoder's."""
    ours_to_reference = {new: old for old, new in GENERATOR_RENAMES.items()}
    mapping = {}
    for key in generator.state_dict():
        if key.startswith("encoder."):
            continue
        prefix = next((p for p in ours_to_reference if key.startswith(p)), "")
        mapping[key] = ours_to_reference.get(prefix, "") + key[len(prefix) :]
    return mapping


def discriminator_key_map(discriminator: MultiscaleDiscriminator) -> dict[str, str]:
    """Our key -> the reference ``netD``'s. The reference wraps each middle conv and its norm in one
    more ``Sequential``: ours ``scales.S.layers.L.P.*`` is its ``discriminator_S.modelL.0.P.*``; the
    first and last layers (a bare conv) are ``discriminator_S.modelL.0.*``."""
    mapping = {}
    for key in discriminator.state_dict():
        scale, layer, position, rest = re.fullmatch(r"scales\.(\d+)\.layers\.(\d+)\.(\d+)\.(.+)", key).groups()
        last = len(discriminator.scales[int(scale)].layers) - 1
        middle = 0 < int(layer) < last
        mapping[key] = f"discriminator_{scale}.model{layer}.0." + (f"{position}.{rest}" if middle else rest)
    return mapping


def _hint(reference_key: str, shape: tuple[int, ...] | None) -> str:
    if shape is not None and len(shape) > 1 and (reference_key.endswith("mlp_shared.0.weight") or reference_key == "fc.weight" and len(shape) == 4):
        return f"dimension 1 is the number of label channels ({shape[1]} in the reference): build with num_classes + extra_label_channels = {shape[1]}"
    if reference_key.startswith("up_4."):
        return "the reference has up_4: it was built with num_upsampling_layers 'most'"
    if reference_key == "fc.weight":
        return "fc is a Linear on z with use_vae and a conv on the label without; with use_vae its size is 16 * ngf * sh * sw: check use_vae, z_dim, image_size and num_upsampling_layers"
    return "check base_channels (ngf), num_upsampling_layers, use_vae, norm, spectral, hidden_channels and kernel_size"


def load_generator_state(generator: SPADEGenerator, state: Mapping[str, Tensor], encoder_state: Mapping[str, Tensor] | None = None) -> SPADEGenerator:
    """A reference ``netG`` (and ``netE`` for a VAE generator) into ``generator``, which is returned.
    Without ``encoder_state`` a VAE generator's encoder keeps its weights (z then comes from N(0, I))."""
    converted = convert_with_key_map(state, generator.state_dict(), generator_key_map(generator), "SPADE generator (netG)", _hint)
    generator.load_state_dict(with_encoder_state(converted, generator, encoder_state, "SPADE encoder (netE)", _hint))
    return generator


def load_encoder_state(encoder: nn.Module, state: Mapping[str, Tensor]) -> nn.Module:
    """A reference ``netE`` into a :class:`~paintscape.models.encoders.ConvEncoder`, which is returned."""
    encoder.load_state_dict(convert_with_key_map(state, encoder.state_dict(), encoder_key_map(encoder), "SPADE encoder (netE)", _hint))
    return encoder


def load_discriminator_state(discriminator: MultiscaleDiscriminator, state: Mapping[str, Tensor]) -> MultiscaleDiscriminator:
    """A reference ``netD`` (multiscale, n-layer sub-discriminators) into ``discriminator``, which is returned."""
    hint = lambda key, shape: "check num_classes + extra_label_channels, base_channels (ndf), num_layers (n_layers_D), num_scales and norm"  # noqa: E731
    converted = convert_with_key_map(state, discriminator.state_dict(), discriminator_key_map(discriminator), "SPADE discriminator (netD)", hint)
    discriminator.load_state_dict(converted)
    return discriminator


def generator_kwargs_from_state(
    state: Mapping[str, Tensor], image_size: tuple[int, int], num_upsampling_layers: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """:class:`SPADEGenerator` keyword arguments read off a reference ``netG`` state dict, and what
    had to be assumed.

    Widths, label channels, VAE, norm and spectral norm are in the tensors; the image size is not.
    ``num_upsampling_layers``: "most" adds ``up_4``; with a VAE the size of ``fc`` tells "normal"
    from "more" at the given image size; without one the two have the same tensors and "normal"
    is assumed (say ``num_upsampling_layers`` if the model was trained with "more"). The label
    channels come back as ``num_classes`` with ``extra_label_channels=0``: split them yourself (e.g.
    ADE20K: 150 + 1) if the difference matters.
    """
    try:
        stem = state["fc.weight"]
        shared = state["head_0.norm_0.mlp_shared.0.weight"]  # (hidden, label_channels, k, k)
        top = state["head_0.norm_0.mlp_gamma.weight"].shape[0]  # 16 * ngf
    except KeyError as missing:
        raise ReferenceWeightsError(f"not a SPADE generator state dict: no key {missing}") from None
    use_vae = stem.dim() == 2
    notes = []
    if num_upsampling_layers is None:
        num_upsampling_layers, notes = _upsampling_from_state(state, tuple(image_size), top, use_vae)
    kwargs: dict[str, Any] = dict(
        num_classes=shared.shape[1],
        extra_label_channels=0,
        image_size=tuple(image_size),
        base_channels=top // 16,
        num_upsampling_layers=num_upsampling_layers,
        norm="syncbatch" if "head_0.norm_0.param_free_norm.running_mean" in state else "instance",
        spectral="head_0.conv_0.weight_orig" in state,
        use_vae=use_vae,
        hidden_channels=shared.shape[0],
        kernel_size=shared.shape[-1],
    )
    if use_vae:
        kwargs["z_dim"] = stem.shape[1]
    return kwargs, notes


def _upsampling_from_state(state: Mapping[str, Tensor], image_size: tuple[int, int], top: int, use_vae: bool) -> tuple[str, list[str]]:
    if any(k.startswith("up_4.") for k in state):
        return "most", []
    if not use_vae:
        note = "num_upsampling_layers=normal: 'normal' and 'more' have the same tensors without a VAE (pass --num-upsampling-layers more if the model was trained with it)"
        return "normal", [note]
    cells = state["fc.weight"].shape[0] // top  # sh * sw of the first feature map
    for choice in ("normal", "more"):
        try:
            sh, sw = latent_size(image_size, choice)
        except ValueError:
            continue
        if sh * sw == cells:
            return choice, []
    raise ReferenceWeightsError(
        f"reference key 'fc.weight' starts from {cells} cells, which no num_upsampling_layers gives at image_size "
        f"{image_size}: pass the (height, width) the model was trained at (--size WIDTHxHEIGHT)"
    )


def ade20k_generator_input(label: Tensor | np.ndarray, shift_unlabeled: bool = False) -> Tensor:
    """Landscape class ids ``(B, H, W)`` -> the ``(B, 151, H, W)`` one-hot input of SPADE's ADE20K model.

    Landscape ids go to ADE20K file values with :func:`paintscape.labels.to_ade20k` (``other`` and
    ignored pixels -> 0, ADE20K's unlabeled value). Then, as the reference ``test.py`` really does it,
    channel = file value: ``ADE20KDataset.postprocess`` means to shift ids by -1 and move 0 to the
    don't-care channel 150, but it rebinds a local variable and changes nothing (see
    docs/parity_spade.md). ``shift_unlabeled=True`` applies the intended shift instead (value v ->
    channel v - 1, unlabeled -> 150).
    """
    ids = torch.as_tensor(np.asarray(to_ade20k(np.asarray(label))), dtype=torch.long)
    if shift_unlabeled:
        ids = torch.where(ids == 0, torch.full_like(ids, 150), ids - 1)
    out = torch.zeros(ids.shape[0], 151, *ids.shape[1:])
    return out.scatter_(1, ids.unsqueeze(1), 1.0)


@CONVERTERS.register("spade", description="a NVlabs/SPADE generator trained on the 29 landscape classes (29 or 30 label channels)")
class SpadeConverter(ReferenceConverter):
    family = "spade"

    def kwargs_from_state(self, state, image_size, *, num_upsampling_layers=None):
        if num_upsampling_layers is not None and num_upsampling_layers not in UPSAMPLINGS:
            raise ValueError(f"num_upsampling_layers must be one of {', '.join(UPSAMPLINGS)}, got {num_upsampling_layers!r}")
        kwargs, notes = generator_kwargs_from_state(state, image_size, num_upsampling_layers)
        channels = kwargs.pop("num_classes")
        if channels not in (NUM_CLASSES, NUM_CLASSES + 1):
            raise ReferenceWeightsError(
                f"the generator takes {channels} label channels, not the {NUM_CLASSES} landscape classes (+ 1 don't-care): "
                "is it NVIDIA's ADE20K model? use the spade-ade20k preset"
            )
        kwargs.update(num_classes=NUM_CLASSES, extra_label_channels=channels - NUM_CLASSES)
        return kwargs, notes

    def load_into(self, generator, state, encoder_state=None):
        load_generator_state(generator, state, encoder_state)


@CONVERTERS.register("spade-ade20k", description="NVIDIA's released ADE20K SPADE generator, fed landscape label maps through a class table")
class SpadeADE20KConverter(SpadeConverter):
    family = "remapped"

    def kwargs_from_state(self, state, image_size, *, num_upsampling_layers=None):
        inner, notes = generator_kwargs_from_state(state, image_size, num_upsampling_layers)
        return {"inner": "spade", "inner_args": inner, "table": "ade20k"}, notes

    def has_encoder(self, kwargs):
        return bool(kwargs["inner_args"].get("use_vae", False))

    def load_into(self, generator, state, encoder_state=None):
        load_generator_state(generator.inner, state, encoder_state)
