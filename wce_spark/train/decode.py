"""The serving head: logit -> p, odds, watch_time_s, using ``wce_spark.weighting``'s one formula.

``TfOps`` gives ``weighting.inverse`` its TensorFlow ops, as ``wce_spark.spark.columns.SparkOps`` does
for Spark, so the exported graph and the Spark side decode with the same definition.
"""
from __future__ import annotations

import math

import tensorflow as tf

from wce_spark import weighting

# exp(80) ~ 5.5e34 stays finite in float32 (max ~3.4e38); p is 1 or 0 to float32 precision long before.
LOGIT_LIMIT = 80.0


class TfOps:
    """``weighting`` ops on TensorFlow tensors."""

    @staticmethod
    def log2(x: tf.Tensor) -> tf.Tensor:
        return tf.math.log(x) / math.log(2.0)

    @staticmethod
    def exp2(x: tf.Tensor) -> tf.Tensor:
        return tf.math.pow(tf.constant(2.0, x.dtype), x)

    @staticmethod
    def clip_min0(x: tf.Tensor) -> tf.Tensor:
        return tf.maximum(x, tf.zeros_like(x))


def decode(logit: tf.Tensor, weight_fn: str) -> dict[str, tf.Tensor]:
    """``p`` = sigmoid(z); ``odds`` = exp(z) (= p / (1 - p), without the cancellation), the estimate of
    E[w | x]; ``watch_time_s`` = inverse(odds) in seconds, >= 0 and finite."""
    z = tf.clip_by_value(tf.cast(logit, tf.float32), -LOGIT_LIMIT, LOGIT_LIMIT)
    odds = tf.exp(z)
    watch_time = weighting.inverse(odds, weight_fn, TfOps)
    # 2^odds overflows float32 once odds > 128 (watch time beyond 1e38 s): saturate instead of inf.
    watch_time = tf.minimum(watch_time, tf.float32.max)
    return {"p": tf.sigmoid(z), "odds": odds, "watch_time_s": watch_time}
