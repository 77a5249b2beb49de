"""Automatic training-subset selection (the landscape report's Selection I / Selection II).

One job per module: :mod:`~paintscape.curation.config` (thresholds), :mod:`~.measure` (reads a pair
at a reduced resolution and measures it), :mod:`~.label_quality`, :mod:`~.exposure`,
:mod:`~.agreement` (label/photo disagreement), :mod:`~.duplicates` (near-identical label maps) and
:mod:`~.report` (the files written). :func:`paintscape.curation.pipeline.curate` runs them in order.
"""

from paintscape.curation.config import CurationConfig, load_curation_config

__all__ = ["CurationConfig", "load_curation_config"]
