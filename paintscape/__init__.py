"""paintscape: semantic label maps to landscape photographs (pix2pix, SPADE/GauGAN, TSIT)."""

__version__ = "0.1.0"
