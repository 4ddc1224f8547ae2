"""Floating-point operations per image of a built model, counted from its layers.

The convention: 2 operations per multiply-add of the convolutions (plain, transposed,
depthwise, separable) and dense layers, biases, normalisation, activations and pooling left out
(they are a few percent of a segmentation network's work). Time per image roughly follows this
count on a CPU, so ``achieved GFLOP/s = count / time`` beside the machine's matrix-multiply rate
says how close to the hardware a model runs (the speed benchmark's roofline ratio).
"""

from __future__ import annotations

import math


def _hw(shape) -> int:
    """Height x width of a (batch, height, width, channels) shape."""
    return int(shape[1]) * int(shape[2])


def layer_flops(layer) -> int:
    """Operations of one layer for one image (0 for a layer without multiply-adds)."""
    name = type(layer).__name__
    if name not in ("Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "Dense"):
        return 0
    out, inp = layer.output.shape, layer.input.shape
    if name == "Dense":
        return 2 * math.prod(int(d) for d in out[1:-1]) * int(inp[-1]) * int(out[-1])
    k = math.prod(layer.kernel_size)
    c_in, c_out = int(inp[-1]), int(out[-1])
    if name == "Conv2D":
        return 2 * _hw(out) * c_out * k * c_in // getattr(layer, "groups", 1)
    if name == "Conv2DTranspose":
        return 2 * _hw(inp) * c_in * k * c_out
    multiplier = getattr(layer, "depth_multiplier", 1)
    depthwise = 2 * _hw(out) * c_in * multiplier * k
    return depthwise + (2 * _hw(out) * c_in * multiplier * c_out if name == "SeparableConv2D" else 0)


def count_flops(model) -> int:
    """Operations per image of ``model`` (nested models included), by :func:`layer_flops`."""
    from .blocks import iter_layers

    return sum(layer_flops(layer) for layer in iter_layers(model))
