"""diffusers is an optional extra: ``import paintscape`` and ``paintscape.models`` stay lean, and a
user without it gets one line saying what to install."""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = "the controlnet family needs `pip install paintscape[diffusion]`"


class MissingExtra(ImportError, ValueError):
    """An optional dependency is not installed. A ValueError too, so the CLI prints it as one line."""


def diffusion_components() -> ModuleType:
    """:mod:`paintscape.models.diffusion.components`, imported on first use (it imports diffusers).

    ``diffusers`` is imported here first, every time, so that its absence is reported as
    :class:`MissingExtra` even when the components module was imported before."""
    try:
        importlib.import_module("diffusers")
    except ModuleNotFoundError as exc:
        raise MissingExtra(f"{INSTALL_HINT} (no module {exc.name!r})") from None
    return importlib.import_module("paintscape.models.diffusion.components")
