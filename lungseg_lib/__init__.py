"""lungseg: reproducible companion to *Lung Segmentation with NASNet-Large-Decoder Net*.

The library is split in small modules with one job each; see the README's architecture
section for the map.
"""

__version__ = "0.1.0"
