"""The synthetic quality benchmark (docs/quality.md): a fixed kit of synthetic scenes with its own
judge network, measures of realism, faithfulness, colour and diversity, their validation, and a
leaderboard of families trained at equal CPU budgets.

* :mod:`~paintscape.benchmark.kit` -- prepare / load a kit (sets, judge, manifest, floors);
* :mod:`~paintscape.benchmark.judge` -- the judge network (segmenter + scene attributes + features);
* :mod:`~paintscape.benchmark.measure` -- every measure of a set of photos against the kit;
* :mod:`~paintscape.benchmark.runner` -- CPU-budgeted, round-robin training; render; measure;
* :mod:`~paintscape.benchmark.validate` -- do the measures order checkpoints of one run?
* :mod:`~paintscape.benchmark.leaderboard` -- the table and the gallery.
"""
