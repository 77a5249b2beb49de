"""Converting released reference checkpoints (NVIDIA's SPADE, TSIT, pix2pix) into paintscape
generator files that ``generate``, ``paint`` and ``Painter`` use like any trained run."""

from __future__ import annotations

from pathlib import Path

from paintscape.checkpoint import build_generator, save_generator
from paintscape.labels import NUM_CLASSES
from paintscape.models.base import GeneratorSpec

PRESETS = ("spade-ade20k", "spade", "tsit", "pix2pix")


def convert_reference(preset: str, path: str | Path, out: str | Path, image_size: tuple[int, int] = (384, 512), encoder: str | Path | None = None) -> GeneratorSpec:
    """See :func:`_convert`; a file that lacks an expected tensor is reported with its name."""
    try:
        return _convert(preset, path, out, image_size, encoder)
    except KeyError as exc:
        raise ValueError(f"{path}: not a {preset} reference generator state dict (no tensor {exc}); check the preset") from None


def _convert(preset: str, path: str | Path, out: str | Path, image_size: tuple[int, int] = (384, 512), encoder: str | Path | None = None) -> GeneratorSpec:
    """Read a reference ``latest_net_G.pth`` (weights only) and write ``out`` (.safetensors + spec).

    ``spade-ade20k``: NVIDIA's released ADE20K SPADE generator, fed landscape label maps through
    ``paintscape.labels.LANDSCAPE_TO_ADE20K``; its convolutional stem does not depend on the size,
    so it renders at the track's 384x512 too. ``spade``/``tsit``/``pix2pix``: a reference generator
    trained on the 29 landscape classes (29 or 30 input channels), rebuilt from its tensors.
    """
    import paintscape.models  # noqa: F401

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    size = [int(image_size[0]), int(image_size[1])]
    if preset in ("spade-ade20k", "spade"):
        from paintscape.models.spade_reference import (
            generator_kwargs_from_reference,
            load_reference_generator,
            load_reference_state,
        )

        state = load_reference_state(path)
        kwargs = generator_kwargs_from_reference(state, tuple(size))
        kwargs["image_size"] = size
        if preset == "spade-ade20k":
            family, args = "remapped", {"inner": "spade", "inner_args": kwargs, "table": "ade20k"}
        else:
            channels = kwargs.pop("num_classes")
            kwargs.update(num_classes=NUM_CLASSES, extra_label_channels=channels - NUM_CLASSES)
            family, args = "spade", kwargs
        spec = GeneratorSpec(family, args, tuple(size), extra={"converted_from": str(path), "preset": preset})
        generator = build_generator(spec)
        load_reference_generator(generator.inner if preset == "spade-ade20k" else generator, state, encoder)
    elif preset == "tsit":
        from paintscape.models.tsit_reference import load_reference_state, read_checkpoint, reference_generator_kwargs

        state = read_checkpoint(path)
        kwargs = {**reference_generator_kwargs(state, tuple(size)), "image_size": size}
        spec = GeneratorSpec("tsit", kwargs, tuple(size), extra={"converted_from": str(path), "preset": preset})
        generator = build_generator(spec)
        load_reference_state(generator, state, None if encoder is None else read_checkpoint(encoder))
    else:
        from paintscape.models.pix2pix_reference import load_reference_generator, read_checkpoint, reference_unet_depth
        from paintscape.models.reference_state import ReferenceWeightsError

        state = read_checkpoint(path)
        first_conv = next(v for k, v in state.items() if k.endswith("weight") and v.dim() == 4)
        kwargs = {"image_size": size, "input_channels": int(first_conv.shape[1]),
                  "num_downsampling": reference_unet_depth(state), "base_channels": int(first_conv.shape[0])}
        spec = GeneratorSpec("pix2pix", kwargs, tuple(size), extra={"converted_from": str(path), "preset": preset})
        generator = build_generator(spec)
        try:
            load_reference_generator(state, generator)
        except ReferenceWeightsError as error:
            raise type(error)(f"{path}: {error}") from None
    save_generator(out, generator.eval(), spec)
    return spec
