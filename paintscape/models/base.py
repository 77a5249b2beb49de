"""The generator contract every family implements, and the spec a checkpoint stores.

Everything outside ``models/`` (objective, trainer, Painter, export, inspect, the paint page) talks
to a generator through :class:`Generator` alone: how many label channels it takes, whether it has a
latent and of what shape, whether it needs a style photo, its style encoder, and how to draw a
latent from per-image seeds. No caller asks ``getattr(generator, ...)``.

A :class:`GeneratorSpec` is what a checkpoint stores next to the weights: the registry name, the
constructor arguments, the size it renders at and the class table its label ids index. It is plain
JSON, so a generator is rebuilt with no pickle.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..labels import CLASS_NAMES, PALETTE


class Generator(nn.Module):
    """Base class of every registered generator.

    Subclasses set, in ``__init__``:

    * ``num_classes`` — classes of the class table the label ids index;
    * ``label_channels`` — channels of the one-hot input the network takes (``num_classes`` plus a
      don't-care or instance-edge channel where the reference has one); ``forward`` accepts a
      ``num_classes``-channel one-hot and adds the extras itself;
    * ``z_dim`` — latent channels; 0 when the output is a function of the label (and style) alone;
    * ``spatial_latent`` — True when the latent is ``(B, z_dim, H, W)`` (OASIS's 3D noise, a
      diffusion model's starting noise at its latent size): a region can then be re-sampled by
      replacing the latent inside a mask; False for a flat ``(B, z_dim)`` latent (SPADE's VAE);
    * ``uses_style`` — True when ``forward`` needs a style photo (TSIT's style stream);
    * ``encoder`` — a VAE style encoder ``encoder(photo) -> (mu, logvar)`` of shape ``(B, z_dim)``,
      or None;
    * ``sampling_option_names`` — for a generator whose forward runs an iterative sampler (diffusion), the
      option names :meth:`sampling` accepts (steps, guidance, noise prior, ``progress(step, total)``
      called after each step); empty (the default) for one forward pass.

    ``forward(label, z=None, style=None)``: ``label (B, C, H, W)`` one-hot float, ``z`` as
    :meth:`latent_shape` says (None draws it from the global RNG), ``style (B, 3, H, W)`` in
    [-1, 1]; returns ``(B, 3, H, W)`` in [-1, 1]. A generator never encodes ``style`` into ``z``
    by itself: the caller runs ``encoder`` and passes ``z`` (training needs ``mu, logvar``).
    """

    num_classes: int
    label_channels: int
    z_dim: int = 0
    spatial_latent: bool = False
    uses_style: bool = False
    encoder: nn.Module | None
    sampling_option_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        # An instance attribute, not a class one: nn.Module keeps submodules outside ``__dict__``, so
        # a class-level ``encoder = None`` would hide the encoder a subclass assigns.
        self.encoder = None

    @contextlib.contextmanager
    def sampling(self, **options: Any) -> Iterator[Generator]:
        """A block in which ``forward`` samples with ``options`` (names from :attr:`sampling_option_names`).
        A one-pass generator takes none: any option is an error naming the family."""
        if options:
            raise ValueError(
                f"{type(self).__name__} renders in one forward pass: sampling options ({', '.join(sorted(options))}) "
                "apply to diffusion models only"
            )
        yield self

    def latent_shape(self, batch: int, size: tuple[int, int]) -> tuple[int, ...] | None:
        """Shape of ``z`` for ``batch`` label maps of ``size`` (H, W); None when there is no latent."""
        if self.z_dim == 0:
            return None
        return (batch, self.z_dim, *size) if self.spatial_latent else (batch, self.z_dim)

    def latent_for(
        self,
        seeds: Sequence[int],
        size: tuple[int, int],
        *,
        mu: Tensor | None = None,
        logvar: Tensor | None = None,
        device: torch.device | str = "cpu",
    ) -> Tensor | None:
        """One latent per seed, each drawn from its own ``torch.Generator``: an image is the same
        whatever batch it is rendered in. With ``mu, logvar`` (a style photo's encoding) the draw is
        ``mu + eps * exp(logvar / 2)``; without, ``N(0, I)``. Families whose noise is not a
        standard normal (a diffusion prior) override this."""
        shape = self.latent_shape(1, size)
        if shape is None:
            return None
        noise = torch.cat([torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds]).to(device)
        if mu is None:
            return noise
        if logvar is None:
            raise ValueError("latent_for: mu given without logvar")
        return mu + noise * torch.exp(0.5 * logvar)


#: ``GeneratorSpec.extra["style_encoder"]`` of a VAE generator converted without its encoder file.
STYLE_ENCODER_ABSENT = "absent"


@dataclass(frozen=True)
class GeneratorSpec:
    """What a checkpoint stores to rebuild its generator: plain JSON, no pickle.

    ``family`` is the registry name; ``args`` the constructor's keyword arguments as JSON data
    (sizes as ``[H, W]`` lists); ``image_size`` the ``(H, W)`` it renders at; ``class_names`` and
    ``palette`` the class table its label ids index; ``extra`` free provenance (what a converted
    file came from, whether it has a style encoder, ...), never read to build the network.
    """

    family: str
    args: Mapping[str, Any]
    image_size: tuple[int, int]
    class_names: tuple[str, ...] = CLASS_NAMES
    palette: tuple[tuple[int, int, int], ...] = tuple(tuple(int(v) for v in c) for c in PALETTE)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def style_encoder_absent(self) -> bool:
        """True for a VAE generator converted without its encoder (``convert-reference --no-encoder``):
        its encoder holds untrained weights, so no style photo may steer it."""
        return self.extra.get("style_encoder") == STYLE_ENCODER_ABSENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.family,
            "args": _jsonable(dict(self.args)),
            "image_size": [int(self.image_size[0]), int(self.image_size[1])],
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "palette": [list(c) for c in self.palette],
            **({"extra": _jsonable(dict(self.extra))} if self.extra else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "spec") -> GeneratorSpec:
        """Reads this format and the older one (``name``/``args``/``image_size``/``num_classes``
        with provenance keys beside them). A wrong shape raises ``ValueError`` naming ``source``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: the generator spec must be a JSON object, got {type(data).__name__}")
        try:
            family = data["name"]
            args = data.get("args", {})
            size = data.get("image_size") or args.get("image_size")
            if not isinstance(family, str) or not isinstance(args, Mapping):
                raise TypeError("'name' must be a string and 'args' an object")
            if not (isinstance(size, Sequence) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
                raise TypeError(f"'image_size' must be [height, width] positive integers, got {size!r}")
            names = tuple(data.get("class_names") or CLASS_NAMES[: int(data.get("num_classes", len(CLASS_NAMES)))])
            palette = tuple(tuple(int(v) for v in c) for c in (data.get("palette") or PALETTE[: len(names)].tolist()))
            if len(palette) != len(names) or not all(isinstance(n, str) for n in names):
                raise TypeError("'class_names' must be strings, one palette colour each")
            known = {"name", "args", "image_size", "num_classes", "class_names", "palette", "extra"}
            extra = dict(data.get("extra") or {}) | {k: v for k, v in data.items() if k not in known}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: not a valid generator spec ({exc})") from None
        return cls(family, dict(args), (int(size[0]), int(size[1])), names, palette, extra)

    @classmethod
    def from_json(cls, text: str, source: str = "spec") -> GeneratorSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: the generator spec is not JSON ({exc})") from None
        return cls.from_dict(data, source)

    def build_kwargs(self) -> dict[str, Any]:
        """``args`` as the constructor takes them: every ``image_size``, also inside nested argument
        mappings (a remapped generator's ``inner_args``), as an ``(H, W)`` tuple."""
        return constructor_kwargs(self.args)


def constructor_kwargs(args: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments stored as JSON data -> as constructors take them: every ``image_size`` (also in
    nested mappings) an ``(H, W)`` tuple. The one place sizes turn from lists back into tuples."""
    return _constructor_value(dict(args))


def _constructor_value(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {str(k): _constructor_value(v, str(k)) for k, v in value.items()}
    if key == "image_size" and isinstance(value, Sequence):
        return (int(value[0]), int(value[1]))
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value
