"""DeepFM building blocks: the FM term, hashing and dense transforms, the model's shape and config."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import tensorflow as tf

from wce_spark.errors import UserError
from wce_spark.train.features import FeatureSpec
from wce_spark.train.layers import DenseTransform, FactorizationMachine, HashBucket
from wce_spark.train.model import DeepFM

SPEC = {"sparse": [{"name": "user_id", "buckets": 50}, {"name": "video_id", "buckets": 80},
                   {"name": "hour", "buckets": 24}],
        "dense": [{"name": "video_duration_s", "transform": "log1p"}]}


def _batch(n: int = 6) -> dict[str, tf.Tensor]:
    return {"user_id": tf.constant([f"u{i % 4}" for i in range(n)]),
            "video_id": tf.constant([f"v{i}" for i in range(n)]),
            "hour": tf.constant(np.arange(n) % 24, tf.int32),
            "video_duration_s": tf.constant(np.linspace(5.0, 600.0, n), tf.float64)}


def test_fm_equals_brute_force_sum_over_field_pairs():
    v = np.random.default_rng(3).normal(size=(5, 4, 3)).astype(np.float32)
    brute = [sum(float(v[b, i] @ v[b, j]) for i, j in itertools.combinations(range(4), 2)) for b in range(5)]
    got = FactorizationMachine()(tf.constant(v)).numpy()
    assert got.shape == (5,)
    np.testing.assert_allclose(got, brute, rtol=1e-5, atol=1e-5)


def test_hash_bucket_hashes_the_string_form_into_range():
    layer = HashBucket(24)
    as_int = layer(tf.constant([0, 7, 23, 1234], tf.int32)).numpy()
    as_str = layer(tf.constant(["0", "7", "23", "1234"])).numpy()
    assert as_int.tolist() == as_str.tolist()
    assert ((as_int >= 0) & (as_int < 24)).all()
    assert HashBucket.from_config(layer.get_config()).buckets == 24


def test_dense_transform_log1p_and_non_finite_inputs():
    out = DenseTransform("log1p")(tf.constant([0.0, np.e - 1.0, -5.0, np.nan, np.inf], tf.float64)).numpy()
    np.testing.assert_allclose(out, [0.0, 1.0, 0.0, 0.0, 0.0], atol=1e-6)
    assert DenseTransform.from_config(DenseTransform("identity").get_config()).transform == "identity"


def test_deepfm_output_shape_and_get_config_round_trip():
    model = DeepFM(**SPEC, embedding_dim=4, hidden_units=[8, 4], dropout=0.0, l2=1e-4, seed=1)
    logits = model(_batch(6))
    assert logits.shape == (6,) and logits.dtype == tf.float32

    config = model.get_config()
    json.dumps(config)  # plain JSON: it goes into model_meta.json
    clone = DeepFM.from_config(config)
    clone.build()
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(_batch(6)).numpy(), logits.numpy(), rtol=1e-6)
    assert clone.get_config() == config


def test_deepfm_reads_extra_conf_columns_and_ignores_unused_inputs():
    spec = {"sparse": SPEC["sparse"] + [{"name": "device", "buckets": 8}],
            "dense": SPEC["dense"] + [{"name": "age_days", "transform": "identity"}]}
    model = DeepFM(**spec, embedding_dim=4, hidden_units=[8], dropout=0.0, seed=1)
    batch = {**_batch(3), "device": tf.constant(["ios", "web", "ios"]),
             "age_days": tf.constant([1.0, 2.0, 3.0]), "unused": tf.constant([9, 9, 9])}
    assert model(batch).shape == (3,)
    changed = {**batch, "device": tf.constant(["web", "ios", "web"])}
    assert not np.allclose(model(batch).numpy(), model(changed).numpy())  # the extra column is used


def test_l2_penalty_reaches_losses_only_in_training():
    model = DeepFM(**SPEC, embedding_dim=4, hidden_units=[8], l2=1e-2, seed=1)
    model(_batch(), training=True)
    assert model.losses and float(tf.add_n(model.losses)) > 0


@pytest.mark.parametrize("tree, fragment", [
    ({"sparse": [{"name": "a", "buckets": 3}, {"name": "a", "buckets": 4}]}, "listed twice"),
    ({"sparse": [{"name": "a", "buckets": 0}]}, "positive integer"),
    ({"sparse": [{"name": "a", "buckets": 3}], "dense": [{"name": "d", "transform": "cube"}]}, "transform"),
    ({"sparse": [{"name": "label", "buckets": 3}]}, "training target"),
    ({"sparse": [], "dense": [{"name": "d"}]}, "at least one id column"),
    ({"sparse": [{"name": "a", "bucket": 3}]}, "unknown key"),
])
def test_feature_spec_rejects_bad_conf(tree, fragment):
    with pytest.raises(UserError, match=fragment):
        FeatureSpec.from_json(tree)
