"""WCE losses per row, from the logit z (never from a probability, for stability).

Scheme B (samples.mode ``duplicated``): each row is (label y, weight w) and costs
    w * [y * softplus(-z) + (1 - y) * softplus(z)],
i.e. weighted logloss; an impression's positive row (w) and negative row (1) together cost
    w * softplus(-z) + softplus(z),
which is scheme A's (samples.mode ``weighted``) cost of its single row. Both are minimised at
exp(z) = odds = E[w | x].

Written per row on purpose: Keras' BinaryCrossentropy averages over the last axis, so with 1-D labels
its sample weights no longer weigh rows (the bug that once kept the odds stuck near 1).
"""
from __future__ import annotations

import tensorflow as tf

from wce_spark.errors import UserError

MODES = ("duplicated", "weighted")


def duplicated_row_loss(label: tf.Tensor, weight: tf.Tensor, logit: tf.Tensor) -> tf.Tensor:
    """Scheme B: weighted logloss of each row, shape (B,)."""
    y = tf.cast(label, logit.dtype)
    w = tf.cast(weight, logit.dtype)
    return w * (y * tf.math.softplus(-logit) + (1.0 - y) * tf.math.softplus(logit))


def weighted_row_loss(label: tf.Tensor, weight: tf.Tensor, logit: tf.Tensor) -> tf.Tensor:
    """Scheme A: a positive of weight w plus the implicit negative of weight 1, shape (B,).

    ``label`` is 1 on every row of a ``weighted`` table and is not needed; it is taken so both schemes
    share one signature."""
    w = tf.cast(weight, logit.dtype)
    return w * tf.math.softplus(-logit) + tf.math.softplus(logit)


def row_loss_for_mode(mode: str):
    """The per-row loss of a samples table built in ``mode``."""
    if mode == "duplicated":
        return duplicated_row_loss
    if mode == "weighted":
        return weighted_row_loss
    raise UserError(f"unknown samples mode {mode!r}; expected one of {', '.join(MODES)}")


def constant_logit(mode: str, label: tf.Tensor, weight: tf.Tensor) -> float:
    """The logit of the best constant model under ``mode``'s loss, log(E[w]) on the rows given: the
    starting bias, so training begins calibrated on average instead of at odds 1."""
    w = tf.cast(weight, tf.float64)
    if mode == "weighted":
        positive, negative = tf.reduce_sum(w), tf.cast(tf.size(w), tf.float64)
    else:
        y = tf.cast(label, tf.float64)
        positive, negative = tf.reduce_sum(w * y), tf.reduce_sum(w * (1.0 - y))
    if not (float(positive) > 0 and float(negative) > 0):
        return 0.0
    return float(tf.math.log(positive / negative))
