"""lungseg: reproducible companion to *Lung Segmentation with NASNet-Large-Decoder Net*.

One subpackage per part of the pipeline: ``core`` (models, losses, metrics, statistics,
post-processing), ``data``, ``engine`` (configuration, training, evaluation, inference, the
run-folder contract), ``report`` (what the book computes from run folders, without TensorFlow)
and ``bench``; ``book`` and ``cli`` on top. The README's architecture section has the map.
For users: ``from lungseg_lib import segment, load_model`` (loaded on first use, so that
``import lungseg_lib`` stays light).
"""

__version__ = "0.1.0"

_API = {"segment": "api", "load_model": "api", "Segmentation": "api", "predict_images": "api"}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    """Import the user API lazily: ``lungseg_lib.segment`` loads :mod:`lungseg_lib.api` then."""
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
