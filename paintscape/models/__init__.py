"""Importing this package registers every network in paintscape.registry.

The ``controlnet`` family registers here too, but its module imports no diffusers: building it does
(the optional extra ``paintscape[diffusion]``)."""

from paintscape.models import encoders, multiscale, oasis, patchgan, pix2pix, remapped, spade, tsit  # noqa: F401
from paintscape.models.diffusion import controlnet  # noqa: F401
