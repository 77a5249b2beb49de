"""Load checkpoints of EndlessSora/TSIT into :class:`paintscape.models.tsit.TSITGenerator`.

The reference saves plain state dicts: ``latest_net_G.pth`` (generator with its content stream and,
for non-SIS tasks, its style stream) and, with ``--use_vae``, ``latest_net_E.pth`` (the VAE
encoder, SPADE's ConvEncoder). Our generator keeps the reference's module names, so the generator
map is the identity; the encoder's ``layer{n}.*`` become ``encoder.convs.{n-1}.*`` and
``fc_mu`` / ``fc_var`` become ``encoder.fc_mu`` / ``encoder.fc_var``.

Every reference key must land somewhere and every one of ours must be filled, with equal shapes;
otherwise :class:`TSITCheckpointError` names the key and suggests the constructor argument that
fixes it. Checkpoints saved from ``DataParallel`` (``module.`` prefix) and from PyTorch < 0.4 (no
``num_batches_tracked``; running stats on instance norms) are accepted. Files are read with
``torch.load(weights_only=True)``: no pickled code runs.

A released SIS model (``--task SIS``) has no style stream (the reference's option parser forces
``no_ss``) and its one-hot input has ``label_nc + 1`` channels with ``--contain_dontcare_label``:
build the generator with ``style_stream=False`` and ``input_channels=label_nc + 1``
(:func:`reference_generator_kwargs` reads these from the state dict).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

from torch import Tensor

from paintscape.labels import NUM_CLASSES
from paintscape.models.encoders import ConvEncoder
from paintscape.models.reference_state import (
    ReferenceWeightsError,
    convert_with_key_map,
    read_reference_state,
    strip_data_parallel,
)
from paintscape.models.tsit import SIZE_MULTIPLE, TSITGenerator

logger = logging.getLogger(__name__)



class TSITCheckpointError(ReferenceWeightsError):
    """A reference TSIT state dict does not fit the paintscape network it is loaded into."""


def generator_key_map(model: TSITGenerator) -> dict[str, str]:
    """Our generator key -> the reference's key, for every entry except the encoder's."""
    return {key: key for key in model.state_dict() if not key.startswith("encoder.")}


def encoder_key_map(encoder: ConvEncoder) -> dict[str, str]:
    """Our encoder key (without the ``encoder.`` prefix) -> the reference ConvEncoder's key."""
    mapping: dict[str, str] = {}
    for key in encoder.state_dict():
        match = re.fullmatch(r"convs\.(\d+)\.(.+)", key)
        mapping[key] = f"layer{int(match[1]) + 1}.{match[2]}" if match else key
    return mapping


def _hint(reference_key: str) -> str:
    if reference_key.startswith("style_stream."):
        return "the checkpoint has a style stream: build the generator with style_stream=True"
    if reference_key.startswith("fc."):
        return "fc is a Linear on z with use_vae=True and a Conv2d on the label without: check use_vae, z_dim and image_size"
    if reference_key.startswith("content_stream.res_0."):
        return "check num_classes / input_channels (label_nc, + 1 with --contain_dontcare_label)"
    return "check base_channels (ngf), norm (norm_G), stream_norm (norm_S) and spectral"


def _missing_or_mismatch_hint(reference_key: str, missing: bool) -> str:
    if missing and reference_key.startswith("style_stream."):
        return "the checkpoint has no style stream: build the generator with style_stream=False"
    return _hint(reference_key)


def _convert(
    state: Mapping[str, Tensor], ours: Mapping[str, Tensor], key_map: Mapping[str, str], what: str
) -> dict[str, Tensor]:
    return convert_with_key_map(state, ours, key_map, what, _missing_or_mismatch_hint, TSITCheckpointError)


def convert_generator_state_dict(state: Mapping[str, Tensor], model: TSITGenerator) -> dict[str, Tensor]:
    """A reference ``net_G`` state dict -> ours (encoder keys excluded), shapes checked."""
    ours = model.state_dict()
    return _convert(state, ours, generator_key_map(model), "TSIT generator (net_G)")


def convert_encoder_state_dict(state: Mapping[str, Tensor], encoder: ConvEncoder) -> dict[str, Tensor]:
    """A reference ``net_E`` state dict -> our ConvEncoder's (no ``encoder.`` prefix), shapes checked."""
    return _convert(state, encoder.state_dict(), encoder_key_map(encoder), "TSIT encoder (net_E)")


def load_reference_state(
    model: TSITGenerator,
    generator_state: Mapping[str, Tensor],
    encoder_state: Mapping[str, Tensor] | None = None,
) -> TSITGenerator:
    """Copy reference state dicts into ``model`` (in place) and return it."""
    converted = convert_generator_state_dict(generator_state, model)
    if model.encoder is not None:
        if encoder_state is None:
            logger.warning("TSIT checkpoint loaded without net_E: the VAE encoder keeps its initial weights")
            converted.update({f"encoder.{k}": v for k, v in model.encoder.state_dict().items()})
        else:
            encoder = convert_encoder_state_dict(encoder_state, model.encoder)
            converted.update({f"encoder.{k}": v for k, v in encoder.items()})
    elif encoder_state is not None:
        raise TSITCheckpointError("an encoder state dict was given but the generator has no encoder; use use_vae=True")
    model.load_state_dict(converted, strict=True)
    return model


def read_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """A reference ``latest_net_G.pth`` / ``latest_net_E.pth`` as a state dict (no pickled code runs)."""
    return read_reference_state(path, TSITCheckpointError)


def load_reference_checkpoint(
    model: TSITGenerator, generator_path: str | Path, encoder_path: str | Path | None = None
) -> TSITGenerator:
    """Load the reference's ``latest_net_G.pth`` (and ``latest_net_E.pth``) into ``model``."""
    encoder_state = read_checkpoint(encoder_path) if encoder_path is not None else None
    return load_reference_state(model, read_checkpoint(generator_path), encoder_state)


def reference_generator_kwargs(state: Mapping[str, Tensor], image_size: tuple[int, int]) -> dict[str, object]:
    """Constructor arguments of :class:`TSITGenerator` that fit a reference ``net_G`` state dict.

    ``image_size`` cannot be read from the weights (with ``use_vae`` only its area is); the rest is:
    ``num_classes`` / ``input_channels`` from the first stream convolution (assuming the don't-care
    channel when it has 30 = 29 + 1 inputs), ``base_channels``, ``use_vae`` / ``z_dim`` from ``fc``,
    ``style_stream``, ``spectral``, and ``norm`` / ``stream_norm`` (batch norm when running statistics
    are stored, instance norm otherwise; ``syncbatch`` as in the reference's default).
    """
    state = strip_data_parallel(state)
    spectral = "content_stream.res_0.conv_0.weight_orig" in state
    weight = "weight_orig" if spectral else "weight"
    try:
        first = state[f"content_stream.res_0.conv_0.{weight}"]
        base = state[f"content_stream.res_0.conv_1.{weight}"]
        fc = state["fc.weight"]
    except KeyError as missing:
        raise TSITCheckpointError(f"not a TSIT generator state dict: no key {missing}") from None
    input_channels = int(first.shape[1])
    num_classes = NUM_CLASSES if input_channels == NUM_CLASSES + 1 else input_channels
    use_vae = fc.dim() == 2
    base_channels = int(base.shape[0])
    kwargs: dict[str, object] = dict(
        num_classes=num_classes,
        input_channels=input_channels,
        image_size=tuple(image_size),
        base_channels=base_channels,
        num_upsampling_layers="more",
        norm="syncbatch" if "head_0.norm_0.param_free_norm.running_mean" in state else "instance",
        stream_norm="syncbatch" if "content_stream.res_0.norm_layer_in.running_mean" in state else "instance",
        spectral=spectral,
        style_stream=any(k.startswith("style_stream.") for k in state),
        use_vae=use_vae,
    )
    if use_vae:
        kwargs["z_dim"] = int(fc.shape[1])
        height, width = image_size
        expected = 16 * base_channels * (height // SIZE_MULTIPLE) * (width // SIZE_MULTIPLE)
        if fc.shape[0] != expected:
            raise TSITCheckpointError(
                f"reference key 'fc.weight' has {fc.shape[0]} outputs, but image_size {tuple(image_size)} needs "
                f"{expected}; pass the image_size (H, W) the model was trained at"
            )
    return kwargs


__all__ = [
    "TSITCheckpointError",
    "generator_key_map",
    "encoder_key_map",
    "convert_generator_state_dict",
    "convert_encoder_state_dict",
    "load_reference_state",
    "load_reference_checkpoint",
    "reference_generator_kwargs",
]
