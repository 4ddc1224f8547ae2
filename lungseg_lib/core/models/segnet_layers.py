"""SegNet's index pooling and unpooling as Keras layers, registered for loading saved models
(imported when a SegNet is built or a saved run is loaded: :func:`register_custom_layers`)."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


@keras.saving.register_keras_serializable(package="lungseg")
class MaxPoolingWithArgmax(layers.Layer):
    """2x2/2 max pooling that also returns the flat argmax indices (batch included)."""

    def call(self, x):
        pooled, argmax = tf.nn.max_pool_with_argmax(
            x, ksize=2, strides=2, padding="SAME", include_batch_in_index=True)
        return pooled, argmax

    def compute_output_spec(self, x):
        s = x.shape
        out = (s[0], s[1] and s[1] // 2, s[2] and s[2] // 2, s[3])
        return keras.KerasTensor(out, x.dtype), keras.KerasTensor(out, "int64")


@keras.saving.register_keras_serializable(package="lungseg")
class MaxUnpoolingWithArgmax(layers.Layer):
    """Inverse of `MaxPoolingWithArgmax`: scatter each value to its argmax in a 2x larger zero map."""

    def call(self, inputs):
        x, argmax = inputs
        b, h, w, c = tf.unstack(tf.shape(x))
        flat = tf.scatter_nd(tf.reshape(argmax, (-1, 1)), tf.reshape(x, (-1,)),
                             tf.cast(tf.reshape(b * 2 * h * 2 * w * c, (1,)), argmax.dtype))
        return tf.reshape(flat, (b, 2 * h, 2 * w, c))

    def compute_output_shape(self, shapes):
        s = shapes[0]
        return (s[0], s[1] and 2 * s[1], s[2] and 2 * s[2], s[3])
