"""WCE losses: scheme A's one row equals scheme B's two rows, rows are weighed, and the optimum is E[w]."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from wce_spark.errors import UserError
from wce_spark.train.losses import constant_logit, duplicated_row_loss, row_loss_for_mode, weighted_row_loss

WEIGHTS = [0.0, 0.7, 1.0, 3.5, 11.8]
LOGITS = [-4.0, -0.3, 0.0, 1.2, 6.0]


def _value_and_grad(fn, z0: float):
    z = tf.Variable([z0], dtype=tf.float32)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(fn(z))
    return float(value), float(tape.gradient(value, z)[0])


@pytest.mark.parametrize("w", WEIGHTS)
@pytest.mark.parametrize("z0", LOGITS)
def test_scheme_a_row_equals_scheme_b_pair_in_value_and_gradient(w, z0):
    a = _value_and_grad(lambda z: weighted_row_loss(tf.constant([1]), tf.constant([w]), z), z0)
    b = _value_and_grad(lambda z: duplicated_row_loss(tf.constant([1, 0]), tf.constant([w, 1.0]),
                                                      tf.concat([z, z], axis=0)), z0)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_scheme_b_is_weighted_logloss_per_row():
    labels, weights = np.array([1, 0, 1, 0]), np.array([2.5, 1.0, 0.5, 1.0])
    logits = np.array([0.4, -1.0, 2.0, 3.0])
    p = 1 / (1 + np.exp(-logits))
    expected = -weights * (labels * np.log(p) + (1 - labels) * np.log(1 - p))
    got = duplicated_row_loss(tf.constant(labels), tf.constant(weights), tf.constant(logits, tf.float32))
    assert got.shape == (4,)  # one loss per row: weights are not averaged away over a last axis
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("mode", ["duplicated", "weighted"])
def test_best_constant_logit_is_log_mean_weight(mode):
    w = np.random.default_rng(0).gamma(2.0, 2.0, size=500)
    if mode == "duplicated":
        labels = np.concatenate([np.ones(500), np.zeros(500)]).astype(np.int32)
        weights = np.concatenate([w, np.ones(500)])
    else:
        labels, weights = np.ones(500, np.int32), w
    z_star = constant_logit(mode, tf.constant(labels), tf.constant(weights))
    assert z_star == pytest.approx(np.log(w.mean()), rel=1e-9)
    loss = row_loss_for_mode(mode)
    _, grad = _value_and_grad(lambda z: loss(tf.constant(labels), tf.constant(weights),
                                             tf.repeat(z, len(labels))), z_star)
    assert abs(grad) < 1e-2  # stationary: exp(z*) = E[w]
    _, grad_off = _value_and_grad(lambda z: loss(tf.constant(labels), tf.constant(weights),
                                                 tf.repeat(z, len(labels))), z_star + 0.5)
    assert grad_off > 10


def test_unknown_mode_is_a_user_error():
    with pytest.raises(UserError, match="unknown samples mode"):
        row_loss_for_mode("triplicated")
