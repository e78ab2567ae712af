"""The exported SavedModel's two signatures, TF only (no Spark, no training): ``serving_default``
decodes the same logit that ``logit`` returns. (The decode of each weight function is checked against
NumPy in test_train_decode.py; one export here, as a SavedModel write costs seconds.)"""
from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from wce_spark import weighting
from wce_spark.train.export import LOGIT_SIGNATURE, META_FILE, SIGNATURE, export_model
from wce_spark.train.model import DeepFM

SPARSE = [{"name": "user_id", "buckets": 101}, {"name": "video_id", "buckets": 211},
          {"name": "author_id", "buckets": 31}, {"name": "hour", "buckets": 24}]
DENSE = [{"name": "video_duration_s", "transform": "log1p"}]
DTYPES = {"user_id": tf.string, "video_id": tf.string, "author_id": tf.string, "hour": tf.int32,
          "video_duration_s": tf.float64}


def _batch(n: int) -> dict[str, tf.Tensor]:
    rng = np.random.default_rng(0)
    return {"user_id": tf.constant([f"u{i}" for i in rng.integers(0, 500, n)]),
            "video_id": tf.constant([f"v{i}" for i in rng.integers(0, 900, n)]),
            "author_id": tf.constant([f"a{i}" for i in rng.integers(0, 60, n)]),
            "hour": tf.constant(rng.integers(0, 24, n), tf.int32),
            "video_duration_s": tf.constant(rng.uniform(1.0, 300.0, n), tf.float64)}


def test_logit_signature_is_what_serving_default_decodes(tmp_path):
    weight_fn = "log2"
    # Large random weights, so the logits spread well away from 0 and a wrong decode would show.
    model = DeepFM(SPARSE, DENSE, embedding_dim=4, hidden_units=[8], dropout=0.0, seed=3)
    model.build()
    for variable in model.trainable_variables:
        variable.assign(tf.random.stateless_normal(variable.shape, seed=[1, 2], stddev=0.7))
    batch = _batch(257)
    export_dir = str(tmp_path / "model")
    export_model(model, weight_fn, DTYPES, export_dir, {"weight_fn": weight_fn}, batch)

    loaded = tf.saved_model.load(export_dir)
    served = {k: v.numpy().astype(np.float64) for k, v in loaded.signatures[SIGNATURE](**batch).items()}
    logit = loaded.signatures[LOGIT_SIGNATURE](**batch)["logit"].numpy().astype(np.float64)
    assert logit.shape == (257,) and logit.std() > 1.0
    np.testing.assert_allclose(logit, model(batch).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(served["odds"], np.exp(logit), rtol=1e-5)
    np.testing.assert_allclose(served["p"], 1.0 / (1.0 + np.exp(-logit)), rtol=1e-5, atol=1e-7)
    # decode saturates at float32's largest value where 2^odds overflows
    expected_watch = np.minimum(np.maximum(weighting.inverse(np.exp(logit), weight_fn, weighting.NumpyOps), 0.0),
                                np.finfo(np.float32).max)
    np.testing.assert_allclose(served["watch_time_s"], expected_watch, rtol=1e-4, atol=1e-4)
    with open(os.path.join(export_dir, META_FILE)) as fh:
        meta = json.load(fh)
    assert (meta["signature"], meta["logit_signature"]) == (SIGNATURE, LOGIT_SIGNATURE)
