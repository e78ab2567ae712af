"""The serving head decodes with weighting.py's one formula: TF, Spark and NumPy give the same seconds."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from wce_spark import weighting
from wce_spark.train.decode import decode

FNS = sorted(weighting.WEIGHT_FNS)
WATCH_TIMES = [0.0, 0.25, 1.0, 3.0, 17.5, 60.0, 600.0, 3600.0]


@pytest.mark.parametrize("fn, seconds", [("log2", 1.0), ("log2_plus1", 0.0), ("linear", 1.0)])
def test_p_one_half_decodes_to_the_boundary(fn, seconds):
    out = decode(tf.constant([0.0]), fn)
    assert float(out["p"][0]) == 0.5 and float(out["odds"][0]) == 1.0
    assert float(out["watch_time_s"][0]) == pytest.approx(seconds, abs=1e-6)


def test_outputs_stay_finite_and_non_negative_at_extreme_logits():
    for fn in FNS:
        out = decode(tf.constant([-1e4, -50.0, 50.0, 1e4]), fn)
        for key in ("p", "odds", "watch_time_s"):
            values = out[key].numpy()
            assert np.isfinite(values).all() and (values >= 0).all(), (fn, key, values)


def test_odds_is_p_over_one_minus_p():
    logits = np.linspace(-8.0, 8.0, 33)
    out = decode(tf.constant(logits, tf.float32), "log2")
    p = out["p"].numpy().astype(np.float64)
    np.testing.assert_allclose(out["odds"].numpy(), p / (1 - p), rtol=2e-4)


@pytest.mark.parametrize("fn", FNS)
def test_weight_odds_watch_time_round_trip_spark_and_tf_agree(spark, fn):
    from pyspark.sql import functions as F

    from wce_spark.spark.columns import inverse_col, weight_col

    df = spark.createDataFrame([(t,) for t in WATCH_TIMES], "watch_time_s double")
    rows = (df.withColumn("w", weight_col(F.col("watch_time_s"), fn))
            .withColumn("back", inverse_col(F.col("w"), fn))
            .orderBy("watch_time_s").collect())
    spark_w = np.array([r["w"] for r in rows])
    spark_back = np.array([r["back"] for r in rows])
    np.testing.assert_allclose(spark_w, weighting.weight(np.array(WATCH_TIMES), fn), rtol=1e-12)
    np.testing.assert_allclose(spark_back, WATCH_TIMES, rtol=1e-9, atol=1e-9)

    # A model whose odds equal the Spark weight (logit = ln w) must serve the original watch time.
    logits = [math.log(w) if w > 0 else -80.0 for w in spark_w]
    out = decode(tf.constant(logits, tf.float32), fn)
    np.testing.assert_allclose(out["odds"].numpy(), spark_w, rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(out["watch_time_s"].numpy(), spark_back, rtol=1e-4, atol=1e-4)
