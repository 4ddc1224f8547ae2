"""lungseg: reproducible companion to *Lung Segmentation with NASNet-Large-Decoder Net*.

One subpackage per part of the pipeline: ``core`` (models, losses, metrics, statistics,
post-processing), ``data``, ``engine`` (configuration, training, evaluation, inference, the
run-folder contract), ``report`` (what the book computes from run folders, without TensorFlow)
and ``bench``; ``book`` and ``cli`` on top. The README's architecture section has the map.
"""

__version__ = "0.1.0"
