"""The exported model (CONTRACT "The exported model"): a SavedModel whose ``serving_default`` takes one
1-D tensor per raw feature column and returns ``p``, ``odds`` and ``watch_time_s``, with
``model_meta.json`` beside ``saved_model.pb``. A second signature, ``logit``, takes the same inputs and
returns only the raw ``logit`` (for callers that rank by score and need no decoding, and to measure
what the decoding costs: scripts/bench_serving.py).

The export is written to a hidden temporary folder next to its destination, loaded back and checked,
and only then renamed into place, so ``<paths.models>/<D>/`` is either absent or complete.
"""
from __future__ import annotations

import json
import os
import uuid
from typing import Any

import tensorflow as tf

from wce_spark.errors import UserError
from wce_spark.train.decode import decode
from wce_spark.train.features import FeatureSpec
from wce_spark.train.model import DeepFM

META_FILE = "model_meta.json"
SIGNATURE = "serving_default"
LOGIT_SIGNATURE = "logit"
# Input dtypes for contract columns a conf leaves out (accepted, unused): the samples table's types.
DEFAULT_INPUT_DTYPES = {"user_id": tf.string, "video_id": tf.string, "author_id": tf.string,
                        "video_duration_s": tf.float64, "hour": tf.int32}
# DeepFM arguments that decide the variables' shapes: a warm start needs them equal.
SHAPE_KEYS = ("sparse", "dense", "embedding_dim", "hidden_units")


class ServingModule(tf.Module):
    """What the SavedModel holds: the trained DeepFM (as attribute ``model``, so a checkpoint of
    ``tf.train.Checkpoint(model=...)`` restores from the SavedModel's variables) and the serving head."""

    def __init__(self, model: DeepFM, weight_fn: str, input_dtypes: dict[str, tf.DType]):
        super().__init__()
        self.model = model
        self.weight_fn = weight_fn
        specs = {name: tf.TensorSpec([None], dtype, name=name) for name, dtype in input_dtypes.items()}
        self.serve = tf.function(self._serve, input_signature=[specs])
        self.serve_logit = tf.function(self._serve_logit, input_signature=[specs])

    def _serve(self, columns: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return decode(self.model(columns, training=False), self.weight_fn)

    def _serve_logit(self, columns: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {"logit": tf.cast(self.model(columns, training=False), tf.float32)}


def serving_input_dtypes(spec: FeatureSpec, feature_dtypes: dict[str, tf.DType]) -> dict[str, tf.DType]:
    """Each serving column's dtype: as the training data had it, else the samples table's type."""
    return {name: feature_dtypes.get(name, DEFAULT_INPUT_DTYPES.get(name, tf.string))
            for name in spec.serving_columns()}


def export_model(model: DeepFM, weight_fn: str, input_dtypes: dict[str, tf.DType], export_dir: str,
                 meta: dict[str, Any], example: dict[str, tf.Tensor]) -> None:
    """Write the SavedModel and ``model_meta.json`` to a temporary sibling of ``export_dir``, check the
    reloaded signature on ``example`` (a batch of training columns), then move it into place."""
    parent, name = os.path.split(export_dir.rstrip("/"))
    tmp_dir = os.path.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
    tf.io.gfile.makedirs(parent)
    try:
        module = ServingModule(model, weight_fn, input_dtypes)
        tf.saved_model.save(module, tmp_dir,
                            signatures={SIGNATURE: module.serve, LOGIT_SIGNATURE: module.serve_logit})
        meta = {**meta, "inputs": {n: d.name for n, d in input_dtypes.items()},
                "outputs": ["p", "odds", "watch_time_s"], "signature": SIGNATURE,
                "logit_signature": LOGIT_SIGNATURE}
        with tf.io.gfile.GFile(os.path.join(tmp_dir, META_FILE), "w") as fh:
            fh.write(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
        _check_export(tmp_dir, input_dtypes, example)
        _replace_dir(tmp_dir, export_dir)
    finally:
        if tf.io.gfile.exists(tmp_dir):
            tf.io.gfile.rmtree(tmp_dir)


def _check_export(model_dir: str, input_dtypes: dict[str, tf.DType], example: dict[str, tf.Tensor]) -> None:
    """The reloaded signatures must give finite outputs of the batch's length."""
    signatures = tf.saved_model.load(model_dir).signatures
    n = int(next(iter(example.values())).shape[0])
    feed = {name: example[name] if name in example else tf.zeros([n], dtype) for name, dtype in input_dtypes.items()}
    out = {**signatures[SIGNATURE](**feed), **signatures[LOGIT_SIGNATURE](**feed)}
    for key in ("p", "odds", "watch_time_s", "logit"):
        value = out[key]
        if value.shape != (n,) or not bool(tf.reduce_all(tf.math.is_finite(value))):
            raise RuntimeError(f"exported model at {model_dir} gives a bad {key!r}: shape {value.shape}")


def _replace_dir(src: str, dst: str) -> None:
    """Move ``src`` to ``dst``; an existing ``dst`` (a rerun of the day) is swapped out first."""
    old = None
    if tf.io.gfile.exists(dst):
        parent, name = os.path.split(dst.rstrip("/"))
        old = os.path.join(parent, f".{name}.old-{uuid.uuid4().hex[:8]}")
        tf.io.gfile.rename(dst, old)
    tf.io.gfile.rename(src, dst)
    if old:
        tf.io.gfile.rmtree(old)


def read_meta(model_dir: str) -> dict[str, Any]:
    path = os.path.join(model_dir, META_FILE)
    if not tf.io.gfile.exists(path):
        raise UserError(f"{model_dir} is not an exported model (no {META_FILE})")
    with tf.io.gfile.GFile(path) as fh:
        return json.load(fh)


def warm_start(model: DeepFM, model_dir: str) -> None:
    """Load an exported model's weights into ``model``; their feature spec and sizes must match."""
    previous = read_meta(model_dir).get("model", {})
    current = model.get_config()
    differ = [k for k in SHAPE_KEYS if previous.get(k) != current[k]]
    if differ:
        raise UserError(f"cannot warm start from {model_dir}: its {', '.join(differ)} differ from the conf "
                        "(set train.warm_start to '' to train from scratch)")
    status = tf.train.Checkpoint(model=model).read(os.path.join(model_dir, "variables", "variables"))
    status.assert_existing_objects_matched()
