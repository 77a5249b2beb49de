"""paintscape: semantic label maps to landscape photographs (pix2pix, SPADE/GauGAN, TSIT).

``from paintscape import Painter`` is :class:`paintscape.inference.painter.Painter` (imported on
first use, so that ``import paintscape`` stays light).
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Painter":
        from paintscape.inference.painter import Painter

        return Painter
    raise AttributeError(f"module 'paintscape' has no attribute {name!r}")
