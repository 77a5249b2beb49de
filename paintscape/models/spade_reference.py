"""Load NVlabs/SPADE weights (e.g. NVIDIA's released ``latest_net_G.pth``) into paintscape's networks.

The reference saves plain state dicts (``torch.save(net.state_dict())``); they load here with
``torch.load(weights_only=True)``, so no pickle code runs. Parameter names map one to one
(see :data:`GENERATOR_RENAMES` and the rules in :func:`convert_discriminator_state`); every tensor
is checked against the target network and any mismatch raises :class:`ReferenceWeightsError`
naming the reference key, our key, both shapes and the likely fix.

NVIDIA's released models and the paintscape arguments that rebuild them are in :data:`RELEASED`;
:func:`ade20k_generator_input` turns a landscape label map into the 151-channel input of the ADE20K
model exactly as the reference ``test.py`` builds it (see docs/parity_spade.md for why no shift).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from ..labels import to_ade20k
from .encoders import ConvEncoder
from .patchgan import MultiscaleDiscriminator
from .reference_state import ReferenceWeightsError, read_reference_state
from .spade import SPADEGenerator

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


def load_reference_state(path: str | os.PathLike) -> dict[str, Tensor]:
    """A reference ``.pth`` (or ``.safetensors``) state dict, read with ``weights_only=True`` onto the CPU.

    A ``module.`` prefix (a model saved while wrapped in DataParallel) is removed.
    """
    return {key.removeprefix("module."): value for key, value in read_reference_state(path).items()}


def _rename_generator_key(key: str) -> str:
    for old, new in GENERATOR_RENAMES.items():
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def _rename_encoder_key(key: str) -> str:
    match = re.fullmatch(r"layer(\d+)\.(?:(\d)\.)?(.+)", key)
    if match is None:
        return key  # fc_mu.*, fc_var.*
    index, position, rest = match.groups()
    return f"convs.{int(index) - 1}.{position or 0}.{rest}"  # "norm none" layers are a bare conv


def _rename_discriminator_key(key: str) -> str:
    # middle layers: discriminator_i.model{n}.0.{0 conv | 1 norm}.*; first/last: discriminator_i.model{n}.0.*
    match = re.fullmatch(r"discriminator_(\d+)\.model(\d+)\.0\.([01])\.(.+)", key)
    if match:
        scale, layer, position, rest = match.groups()
        return f"scales.{scale}.layers.{layer}.{position}.{rest}"
    match = re.fullmatch(r"discriminator_(\d+)\.model(\d+)\.0\.(.+)", key)
    if match:
        scale, layer, rest = match.groups()
        return f"scales.{scale}.layers.{layer}.0.{rest}"
    return key


def convert_generator_state(
    state: Mapping[str, Tensor], encoder_state: Mapping[str, Tensor] | None = None
) -> dict[str, Tensor]:
    """Reference ``netG`` (and optionally ``netE``) state dicts -> one :class:`SPADEGenerator` state dict."""
    out = {_rename_generator_key(k): v for k, v in state.items()}
    if encoder_state is not None:
        out.update({"encoder." + k: v for k, v in convert_encoder_state(encoder_state).items()})
    return out


def convert_encoder_state(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Reference ``netE`` (ConvEncoder) state dict -> :class:`ConvEncoder` state dict."""
    return {_rename_encoder_key(k): v for k, v in state.items()}


def convert_discriminator_state(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Reference ``netD`` (MultiscaleDiscriminator of NLayerDiscriminators) -> ours."""
    return {_rename_discriminator_key(k): v for k, v in state.items()}


def _check_and_load(model: nn.Module, converted: dict[str, Tensor], origin: dict[str, str], what: str) -> None:
    """Shape-check ``converted`` against ``model`` and load it; errors name the offending key."""
    target = model.state_dict()
    for key, value in converted.items():
        ref = origin.get(key, key)
        if key not in target:
            # spectral norm saved before PyTorch 1.1: "weight" stands in for "weight_v"; torch's own
            # load hook rebuilds weight_v from it, so let it through
            if key.endswith(".weight") and key + "_orig" in target and key + "_v" not in converted:
                continue
            raise ReferenceWeightsError(
                f"{what}: reference key {ref!r} (as {key!r}) has no counterpart in {type(model).__name__}; "
                f"the reference was built with options this network was not (e.g. num_upsampling_layers "
                f"'most' adds up_4, use_vae adds the encoder, spectral/norm change the parameter names)"
            )
        if tuple(value.shape) != tuple(target[key].shape):
            hint = ""
            if key.endswith("mlp_shared.0.weight") or key == "stem.weight":
                hint = (
                    f"; dimension 1 is the number of label channels ({value.shape[1]} in the reference): build "
                    f"with num_classes + extra_label_channels = {value.shape[1]}"
                )
            raise ReferenceWeightsError(
                f"{what}: shape mismatch at reference key {ref!r} (ours {key!r}): reference {tuple(value.shape)}, "
                f"{type(model).__name__} {tuple(target[key].shape)}{hint}"
            )
    missing = [
        k
        for k in target
        if k not in converted
        and not k.endswith("num_batches_tracked")  # absent from some old checkpoints; a counter only
        and not (k.endswith(".weight_v") and k[: -len("_v")] in converted)
    ]
    if missing:
        raise ReferenceWeightsError(
            f"{what}: the reference state dict lacks {len(missing)} tensors of {type(model).__name__}, "
            f"first {missing[:5]}; was it saved from a network built with other options?"
        )
    model.load_state_dict(converted, strict=False)


def _as_state(state_or_path: Mapping[str, Tensor] | str | os.PathLike) -> dict[str, Tensor]:
    if isinstance(state_or_path, (str, os.PathLike)):
        return load_reference_state(state_or_path)
    return {key.removeprefix("module."): value for key, value in state_or_path.items()}


def load_reference_generator(
    generator: SPADEGenerator,
    state_or_path: Mapping[str, Tensor] | str | os.PathLike,
    encoder: Mapping[str, Tensor] | str | os.PathLike | None = None,
) -> SPADEGenerator:
    """Load a reference ``netG`` (plus ``netE`` for a VAE generator) into ``generator``; returns it."""
    state = _as_state(state_or_path)
    origin = {_rename_generator_key(k): k for k in state}
    encoder_state = None
    if encoder is not None:
        encoder_state = _as_state(encoder)
        origin.update({"encoder." + _rename_encoder_key(k): "netE:" + k for k in encoder_state})
    converted = convert_generator_state(state, encoder_state)
    if encoder_state is None and generator.encoder is not None:
        # netG alone is usable (z from N(0, I)); the encoder keeps its current weights
        converted.update({"encoder." + k: v for k, v in generator.encoder.state_dict().items()})
    _check_and_load(generator, converted, origin, "SPADE generator")
    return generator


def load_reference_encoder(
    encoder: ConvEncoder, state_or_path: Mapping[str, Tensor] | str | os.PathLike
) -> ConvEncoder:
    """Load a reference ``netE`` into ``encoder``; returns it."""
    state = _as_state(state_or_path)
    origin = {_rename_encoder_key(k): k for k in state}
    _check_and_load(encoder, convert_encoder_state(state), origin, "SPADE encoder")
    return encoder


def load_reference_discriminator(
    discriminator: MultiscaleDiscriminator, state_or_path: Mapping[str, Tensor] | str | os.PathLike
) -> MultiscaleDiscriminator:
    """Load a reference ``netD`` (multiscale, n_layer sub-discriminators) into ``discriminator``; returns it."""
    state = _as_state(state_or_path)
    origin = {_rename_discriminator_key(k): k for k in state}
    _check_and_load(discriminator, convert_discriminator_state(state), origin, "SPADE discriminator")
    return discriminator


def generator_kwargs_from_reference(
    state: Mapping[str, Tensor], image_size: tuple[int, int], num_upsampling_layers: str | None = None
) -> dict:
    """:class:`SPADEGenerator` keyword arguments read off a reference ``netG`` state dict.

    Widths, label channels, VAE, norm and spectral norm are in the tensors; the image size is not,
    and "normal" vs "more" upsampling differ only in it, so ``image_size`` is required and
    ``num_upsampling_layers`` defaults to "most" when ``up_4`` exists, else "normal".
    The label channels come back as ``num_classes`` with ``extra_label_channels=0``: split them
    yourself (e.g. ADE20K: 150 + 1) if the difference matters to you.
    """
    state = _as_state(state)
    stem = state["fc.weight"]
    use_vae = stem.dim() == 2
    shared = state["head_0.norm_0.mlp_shared.0.weight"]  # (hidden, label_channels, k, k)
    top = state["head_0.norm_0.mlp_gamma.weight"].shape[0]  # 16 * ngf
    kwargs = dict(
        num_classes=shared.shape[1],
        extra_label_channels=0,
        image_size=tuple(image_size),
        base_channels=top // 16,
        num_upsampling_layers=num_upsampling_layers
        or ("most" if any(k.startswith("up_4.") for k in state) else "normal"),
        norm="syncbatch" if "head_0.norm_0.param_free_norm.running_mean" in state else "instance",
        spectral="head_0.conv_0.weight_orig" in state,
        use_vae=use_vae,
        hidden_channels=shared.shape[0],
        kernel_size=shared.shape[-1],
    )
    if use_vae:
        kwargs["z_dim"] = stem.shape[1]
    return kwargs


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


__all__ = [
    "RELEASED",
    "ReferenceWeightsError",
    "ade20k_generator_input",
    "convert_discriminator_state",
    "convert_encoder_state",
    "convert_generator_state",
    "generator_kwargs_from_reference",
    "load_reference_discriminator",
    "load_reference_encoder",
    "load_reference_generator",
    "load_reference_state",
]
