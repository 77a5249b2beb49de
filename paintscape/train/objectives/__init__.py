"""Training objectives, one file each, registered in ``paintscape.registry.OBJECTIVES``.

Importing this package registers them; ``base`` holds the contract (see its docstring).
"""

from paintscape.train.objectives import distill, gan  # noqa: F401
