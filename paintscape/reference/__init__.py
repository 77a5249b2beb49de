"""Reference weights: converters of the reference implementations' checkpoints (NVlabs/SPADE,
EndlessSora/TSIT, junyanz/pytorch-CycleGAN-and-pix2pix, boschresearch/OASIS), one per ``convert-reference`` preset,
registered in ``paintscape.registry.CONVERTERS``; ``released`` turns a released checkpoint into a
paintscape generator file. Importing this package registers the converters.
"""

from paintscape.reference import oasis, pix2pix, spade, tsit  # noqa: F401
