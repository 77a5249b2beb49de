"""``convert-reference``: a released reference checkpoint (NVIDIA's SPADE, TSIT, pix2pix) as a
paintscape generator file that ``generate``, ``paint`` and ``Painter`` use like any trained run.

Every preset is a converter of the registry (``paintscape.registry.CONVERTERS``); this module is
the one loop over them: read the file, read the generator's arguments off its tensors, build it,
load the tensors, write the file with its spec.

A VAE generator's style encoder lives in a second reference file (``latest_net_E.pth``): without
it the encoder would keep random weights and a style photo would steer nothing. So such a file
converts only with ``encoder=`` or, explicitly, ``no_encoder=True``; the spec then records that
the encoder is absent and ``Painter`` refuses style photos for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from paintscape.checkpoint import build_generator, save_generator
from paintscape.models.base import STYLE_ENCODER_ABSENT, GeneratorSpec
from paintscape.reference.state import ReferenceConverter, ReferenceWeightsError
from paintscape.registry import CONVERTERS


@dataclass(frozen=True)
class Conversion:
    spec: GeneratorSpec
    notes: list[str] = field(default_factory=list)  # what had to be assumed, to tell the user


def converter(preset: str) -> ReferenceConverter:
    import paintscape.reference  # noqa: F401  (registers the converters)

    return CONVERTERS.build(preset)


def convert_reference(
    preset: str,
    path: str | Path,
    out: str | Path,
    image_size: tuple[int, int] = (384, 512),
    encoder: str | Path | None = None,
    *,
    no_encoder: bool = False,
    num_upsampling_layers: str | None = None,
) -> Conversion:
    """Convert the reference generator file ``path`` with ``preset``'s converter and write ``out``.

    ``image_size`` (H, W) is the size to render at (the tensors do not tell it); ``encoder`` the
    reference encoder file of a VAE generator, or ``no_encoder=True`` to convert one without it;
    ``num_upsampling_layers`` (SPADE, TSIT) when the tensors cannot tell it.
    """
    conv = converter(preset)
    state = conv.read(path)  # its errors name the file and say what it is
    try:
        kwargs, notes = conv.kwargs_from_state(state, tuple(image_size), num_upsampling_layers=num_upsampling_layers)
    except ReferenceWeightsError as error:
        raise ReferenceWeightsError(f"{path}: {error} (is it a {preset} generator?)") from None
    extra = {"converted_from": str(path), "preset": preset}
    if conv.has_encoder(kwargs):
        if encoder is None and not no_encoder:
            raise ReferenceWeightsError(
                f"{path}: a VAE generator, whose style encoder is the reference's second file: pass --encoder "
                "latest_net_E.pth, or --no-encoder to convert it without one (style photos are then refused)"
            )
        if encoder is not None and no_encoder:
            raise ValueError("--encoder and --no-encoder contradict each other; give one")
        if no_encoder:
            extra["style_encoder"] = STYLE_ENCODER_ABSENT
    elif encoder is not None or no_encoder:
        raise ValueError(f"{path}: not a VAE generator, so it has no style encoder; drop --encoder / --no-encoder")
    spec = GeneratorSpec(conv.family, kwargs, tuple(image_size), extra=extra)
    try:
        generator = build_generator(spec)
    except (TypeError, ValueError) as exc:  # tensors that happen to carry the right first key, nothing more
        raise ReferenceWeightsError(f"{path}: its tensors do not describe a {preset} generator ({exc})") from None
    try:
        conv.load_into(generator, state, None if encoder is None else conv.read(encoder))
    except ReferenceWeightsError as error:
        raise ReferenceWeightsError(f"{path}: {error}") from None
    save_generator(out, generator.eval(), spec)
    return Conversion(spec, notes)
