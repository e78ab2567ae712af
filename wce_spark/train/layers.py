"""Keras layers that turn raw sample columns into model inputs, and the FM interaction.

Hashing and dense transforms are layers of the model itself, so the exported SavedModel carries them
and serving cannot drift from training. Style of tensorflow/recommenders: typed constructor arguments,
weights (if any) created in ``build``, ``get_config`` for a round trip, no Lambda layers.

Keras here is ``tf_keras`` (Keras 2), not Keras 3: see ``wce_spark.train.loop`` for why.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from wce_spark.train.features import DENSE_TRANSFORMS


@keras.saving.register_keras_serializable(package="wce_spark")
class HashBucket(keras.layers.Layer):
    """An id column of any type -> bucket index in ``[0, buckets)``, hashing its string form.

    Integers are hashed as their decimal string, so an id hashes the same whether a source stores it
    as a number or as text. Training nulls arrive from Petastorm as the string ``"None"`` (one bucket).
    """

    def __init__(self, buckets: int, **kwargs):
        super().__init__(**kwargs)
        if buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {buckets}")
        self.buckets = buckets

    def call(self, values: tf.Tensor) -> tf.Tensor:
        if values.dtype != tf.string:
            values = tf.strings.as_string(values)
        return tf.strings.to_hash_bucket_fast(values, self.buckets)

    def get_config(self) -> dict:
        return {**super().get_config(), "buckets": self.buckets}


@keras.saving.register_keras_serializable(package="wce_spark")
class DenseTransform(keras.layers.Layer):
    """A numeric column -> float32 model input; non-finite values (nulls arrive as NaN) become 0.

    ``log1p``: log(1 + max(x, 0)), for heavy-tailed non-negative values such as durations.
    """

    def __init__(self, transform: str = "identity", **kwargs):
        super().__init__(**kwargs)
        if transform not in DENSE_TRANSFORMS:
            raise ValueError(f"transform must be one of {DENSE_TRANSFORMS}, got {transform!r}")
        self.transform = transform

    def call(self, values: tf.Tensor) -> tf.Tensor:
        x = tf.cast(values, tf.float32)
        x = tf.where(tf.math.is_finite(x), x, tf.zeros_like(x))
        if self.transform == "log1p":
            x = tf.math.log1p(tf.maximum(x, 0.0))
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "transform": self.transform}


@keras.saving.register_keras_serializable(package="wce_spark")
class FactorizationMachine(keras.layers.Layer):
    """FM second-order term: sum over field pairs i < j of <v_i, v_j>, for inputs of shape (B, F, K).

    Computed in O(F K) as 0.5 * sum_k [(sum_i v_ik)^2 - sum_i v_ik^2]; returns shape (B,).
    """

    def call(self, field_embeddings: tf.Tensor) -> tf.Tensor:
        summed = tf.reduce_sum(field_embeddings, axis=1)
        squared_sum = tf.reduce_sum(tf.square(field_embeddings), axis=1)
        return 0.5 * tf.reduce_sum(tf.square(summed) - squared_sum, axis=1)
