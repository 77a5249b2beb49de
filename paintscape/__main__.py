"""``python -m paintscape`` (and ``torchrun -m paintscape train ...``)."""

import sys

from paintscape.cli import main

sys.exit(main())
