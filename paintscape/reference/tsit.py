"""EndlessSora/TSIT weights on :class:`paintscape.models.tsit.TSITGenerator` (preset ``tsit``).

The reference saves plain state dicts: ``latest_net_G.pth`` (generator with its content stream and,
for non-SIS tasks, its style stream) and, with ``--use_vae``, ``latest_net_E.pth`` (the VAE
encoder, SPADE's ConvEncoder). Our generator keeps the reference's module names, so the generator
map is the identity; the encoder's keys follow the shared encoder map
(:func:`~paintscape.reference.state.encoder_key_map`).

Every reference key must land somewhere and every one of ours must be filled, with equal shapes;
otherwise :class:`~paintscape.reference.state.ReferenceWeightsError` names the key and suggests
the constructor argument that fixes it. Checkpoints saved from ``DataParallel`` (``module.``
prefix) and from PyTorch < 0.4 (no ``num_batches_tracked``; running stats on instance norms) are
accepted. Files are read with ``torch.load(weights_only=True)``: no pickled code runs.

A released SIS model (``--task SIS``) has no style stream (the reference's option parser forces
``no_ss``) and its one-hot input has ``label_nc + 1`` channels with ``--contain_dontcare_label``:
build the generator with ``style_stream=False`` and ``input_channels=label_nc + 1``
(:func:`generator_kwargs_from_state` reads these from the state dict).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from paintscape.labels import NUM_CLASSES
from paintscape.models.tsit import NUM_UPSAMPLINGS, SIZE_MULTIPLE, TSITGenerator
from paintscape.reference.state import (
    ReferenceConverter,
    ReferenceWeightsError,
    convert_with_key_map,
    with_encoder_state,
)
from paintscape.registry import CONVERTERS


def generator_key_map(generator: TSITGenerator) -> dict[str, str]:
    """Our generator key -> the reference's, for every entry except the encoder's (the identity)."""
    return {key: key for key in generator.state_dict() if not key.startswith("encoder.")}


def _hint(reference_key: str, shape: tuple[int, ...] | None) -> str:
    if reference_key.startswith("style_stream."):
        if shape is None:
            return "the checkpoint has no style stream: build the generator with style_stream=False"
        return "the checkpoint has a style stream: build the generator with style_stream=True"
    if reference_key.startswith("fc."):
        return "fc is a Linear on z with use_vae=True and a Conv2d on the label without: check use_vae, z_dim and image_size"
    if reference_key.startswith("content_stream.res_0."):
        return "check num_classes / input_channels (label_nc, + 1 with --contain_dontcare_label)"
    if reference_key.startswith(("layer", "fc_mu", "fc_var")):
        return "the encoder (net_E) must match the generator's base_channels, z_dim and spectral"
    return "check base_channels (ngf), norm (norm_G), stream_norm (norm_S) and spectral"


def convert_generator_state(state: Mapping[str, Tensor], generator: TSITGenerator) -> dict[str, Tensor]:
    """A reference ``net_G`` state dict -> ours (encoder keys excluded), shapes checked."""
    return convert_with_key_map(state, generator.state_dict(), generator_key_map(generator), "TSIT generator (net_G)", _hint)


def load_generator_state(generator: TSITGenerator, state: Mapping[str, Tensor], encoder_state: Mapping[str, Tensor] | None = None) -> TSITGenerator:
    """A reference ``net_G`` (and ``net_E`` for a VAE generator) into ``generator``, which is returned. Without
    ``encoder_state`` a VAE generator's encoder keeps its weights (z then comes from N(0, I))."""
    converted = convert_generator_state(state, generator)
    generator.load_state_dict(with_encoder_state(converted, generator, encoder_state, "TSIT encoder (net_E)", _hint))
    return generator


def generator_kwargs_from_state(state: Mapping[str, Tensor], image_size: tuple[int, int]) -> dict[str, object]:
    """Constructor arguments of :class:`TSITGenerator` that fit a reference ``net_G`` state dict.

    ``image_size`` cannot be read from the weights (with ``use_vae`` only its area is); the rest is:
    ``num_classes`` / ``input_channels`` from the first stream convolution (assuming the don't-care
    channel when it has 30 = 29 + 1 inputs), ``base_channels``, ``use_vae`` / ``z_dim`` from ``fc``,
    ``style_stream``, ``spectral``, and ``norm`` / ``stream_norm`` (batch norm when running statistics
    are stored, instance norm otherwise; ``syncbatch`` as in the reference's default).
    """
    spectral = "content_stream.res_0.conv_0.weight_orig" in state
    weight = "weight_orig" if spectral else "weight"
    try:
        first = state[f"content_stream.res_0.conv_0.{weight}"]
        base = state[f"content_stream.res_0.conv_1.{weight}"]
        fc = state["fc.weight"]
    except KeyError as missing:
        raise ReferenceWeightsError(f"not a TSIT generator state dict: no key {missing}") from None
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
            raise ReferenceWeightsError(
                f"reference key 'fc.weight' has {fc.shape[0]} outputs, but image_size {tuple(image_size)} needs "
                f"{expected}; pass the image_size (H, W) the model was trained at"
            )
    return kwargs


@CONVERTERS.register("tsit", description="an EndlessSora/TSIT generator trained on the landscape classes (SIS, with or without a style stream)")
class TSITConverter(ReferenceConverter):
    family = "tsit"

    def kwargs_from_state(self, state, image_size, *, num_upsampling_layers=None) -> tuple[dict[str, Any], list[str]]:
        kwargs = generator_kwargs_from_state(state, image_size)
        if num_upsampling_layers is None:
            return kwargs, [f"num_upsampling_layers=more: TSIT's only setting ({NUM_UPSAMPLINGS} doublings)"]
        return {**kwargs, "num_upsampling_layers": num_upsampling_layers}, []  # the generator refuses all but "more"

    def load_into(self, generator, state, encoder_state=None):
        load_generator_state(generator, state, encoder_state)
