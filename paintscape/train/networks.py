"""The networks a config names: ``model.generator`` with its spec, ``model.discriminator``.

Objectives build their networks here; ``num_classes`` (the dataset's class table:
``DATA/classes.yaml`` or the landscape classes) and ``image_size`` (the config's ``data.size``) are
filled in for the networks whose constructors take them; the generator's spec stores the table.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from paintscape.checkpoint import build_generator
from paintscape.class_table import ClassTable, dataset_class_table, table_of_size
from paintscape.config import Config
from paintscape.models.base import Generator, GeneratorSpec, constructor_kwargs
from paintscape.registry import DISCRIMINATORS, GENERATORS, Registry


def class_table(config: Config) -> ClassTable:
    """The dataset's class table; a ``num_classes`` set in the generator's args must agree with it."""
    table = dataset_class_table(config.data.root)
    wanted = config.model.generator.args.get("num_classes")
    if wanted is not None and wanted != table.num_classes:
        if table.source != "landscape29":
            raise ValueError(f"model.generator.args.num_classes={wanted}, but {table.source} lists {table.num_classes} classes")
        table = table_of_size(int(wanted))
    return table


def network_args(registry: Registry, name: str, args: dict[str, Any], size: tuple[int, int], num_classes: int = 29) -> dict[str, Any]:
    """The config's args plus ``num_classes``/``image_size`` when the network takes them."""
    import paintscape.models  # noqa: F401  (registers the networks)

    accepted = registry.accepted_arguments(name)
    full = dict(args)
    if "num_classes" in accepted:
        full.setdefault("num_classes", num_classes)
    if "image_size" in accepted:
        full.setdefault("image_size", list(size))
    return full


def generator_spec(config: Config) -> GeneratorSpec:
    name = config.model.generator.name
    table = class_table(config)
    args = network_args(GENERATORS, name, config.model.generator.args, config.data.size, table.num_classes)
    return GeneratorSpec(name, args, config.data.size, class_names=table.names, palette=table.palette)


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
    args = network_args(DISCRIMINATORS, name, config.model.discriminator.args, config.data.size, class_table(config).num_classes)
    return DISCRIMINATORS.build(name, **constructor_kwargs(args))
