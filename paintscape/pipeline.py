"""The old home of :class:`Painter`, kept so that ``from paintscape.pipeline import Painter`` works;
it lives in :mod:`paintscape.inference.painter`."""

from paintscape.inference.painter import Painter, StyleRefused, StyleRequired

__all__ = ["Painter", "StyleRefused", "StyleRequired"]
