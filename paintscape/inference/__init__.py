"""Generators at work: ``painter`` (a label map, optionally a style photo -> a photo), ``generate``
(folders and submission archives), ``ensemble`` (``select``: the best of several renderings per
label map, by a metric of the registry) and ``export`` (ONNX)."""
