"""Training objectives, one file each, registered in ``paintscape.registry.OBJECTIVES``.

Importing this package registers them; ``base`` holds the contract (see its docstring).
``diffusion`` imports no diffusers until its generator is built.
"""

from paintscape.train.objectives import diffusion, distill, gan, oasis  # noqa: F401
