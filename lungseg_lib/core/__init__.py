"""The thin library of the brief: the models (``models/``: one file per family and the
registry), the losses, the metrics with their statistics (``stats``: bootstrap CIs and paired
tests, used by the evaluation and by the book alike) and the post-processing layer.

The core imports nothing else of the package: the data, the engine, the report side and the
command line build on it, never the other way round (``tests/test_layout.py`` checks it).
"""
