"""The networks a config names: ``model.generator`` with its spec, ``model.discriminator``.

Objectives build their networks here; ``num_classes`` and ``image_size`` (the config's
``data.size``) are filled in for the networks whose constructors take them.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from paintscape.checkpoint import build_generator
from paintscape.config import Config
from paintscape.labels import NUM_CLASSES
from paintscape.models.base import Generator, GeneratorSpec, constructor_kwargs
from paintscape.registry import DISCRIMINATORS, GENERATORS, Registry


def network_args(registry: Registry, name: str, args: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """The config's args plus ``num_classes``/``image_size`` when the network takes them."""
    import paintscape.models  # noqa: F401  (registers the networks)

    accepted = registry.accepted_arguments(name)
    full = dict(args)
    if "num_classes" in accepted:
        full.setdefault("num_classes", NUM_CLASSES)
    if "image_size" in accepted:
        full.setdefault("image_size", list(size))
    return full


def generator_spec(config: Config) -> GeneratorSpec:
    name = config.model.generator.name
    return GeneratorSpec(name, network_args(GENERATORS, name, config.model.generator.args, config.data.size), config.data.size)


def build_generator_from_config(config: Config) -> tuple[Generator, GeneratorSpec]:
    spec = generator_spec(config)
    return build_generator(spec), spec


def build_discriminator(config: Config) -> nn.Module:
    if config.model.discriminator is None:
        raise ValueError(
            f"loss.objective {config.loss.objective!r} trains a discriminator and model.discriminator is null: "
            "name one (e.g. model.discriminator={name: multiscale})"
        )
    name = config.model.discriminator.name
    args = network_args(DISCRIMINATORS, name, config.model.discriminator.args, config.data.size)
    return DISCRIMINATORS.build(name, **constructor_kwargs(args))
