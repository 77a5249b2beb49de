"""Importing this package registers every network in paintscape.registry."""

from paintscape.models import encoders, multiscale, patchgan, pix2pix, remapped, spade, tsit  # noqa: F401
