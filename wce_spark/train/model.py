"""DeepFM over the configured features: one logit per row, whose exp is the WCE odds estimate E[w | x].

Every field (a hashed sparse column, or a transformed dense column) has one embedding vector: a sparse
field looks its vector up by bucket, a dense field scales its own vector by its value. The logit sums
- the first-order term: a weight per bucket and per dense column, plus a bias,
- the FM second-order term over the field embeddings,
- a DNN over the same embeddings (flattened) and the dense values.
"""
from __future__ import annotations

from typing import Any, Sequence

import tensorflow as tf
import tf_keras as keras

from wce_spark.config import Config
from wce_spark.errors import UserError
from wce_spark.train.features import FeatureSpec
from wce_spark.train.layers import DenseTransform, FactorizationMachine, HashBucket


@keras.saving.register_keras_serializable(package="wce_spark")
class DeepFM(keras.Model):
    """Inputs: a dict of 1-D column tensors (extra keys are ignored). Output: logits, shape (B,).

    ``sparse``: ``[{"name", "buckets"}]``; ``dense``: ``[{"name", "transform"}]`` (the conf's
    ``features.*`` entries). ``l2`` penalises the embeddings looked up by a batch (not whole tables,
    which would make every step's gradient dense) and the DNN kernels; the penalty reaches the training
    loop through ``self.losses``.
    """

    def __init__(self, sparse: Sequence[dict[str, Any]], dense: Sequence[dict[str, Any]] = (),
                 embedding_dim: int = 16, hidden_units: Sequence[int] = (64, 32), dropout: float = 0.1,
                 l2: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.spec = FeatureSpec.from_json({"sparse": list(sparse), "dense": list(dense)})
        self.embedding_dim = int(embedding_dim)
        self.hidden_units = [int(u) for u in hidden_units]
        self.dropout_rate = float(dropout)
        self.l2 = float(l2)
        self.seed = seed
        self.hashers = [HashBucket(f.buckets, name=f"hash_{f.name}") for f in self.spec.sparse]
        self.transforms = [DenseTransform(f.transform, name=f"transform_{f.name}") for f in self.spec.dense]
        self.fm = FactorizationMachine(name="fm")
        regularizer = keras.regularizers.L2(self.l2) if self.l2 else None
        self.hidden = [keras.layers.Dense(u, activation="relu", kernel_regularizer=regularizer,
                                          name=f"hidden_{i}") for i, u in enumerate(self.hidden_units)]
        self.dropouts = [keras.layers.Dropout(self.dropout_rate, seed=None if seed is None else seed + i)
                         for i in range(len(self.hidden_units))]
        self.deep_logit = keras.layers.Dense(1, kernel_regularizer=regularizer, name="deep_logit")

    @property
    def num_fields(self) -> int:
        return len(self.spec.sparse) + len(self.spec.dense)

    def build(self, input_shape: Any = None) -> None:
        """Weights depend on the conf only, so the model can be built (and restored) before any data."""
        emb_init = keras.initializers.RandomNormal(stddev=0.01, seed=self.seed)
        self.embeddings = [self.add_weight(shape=(f.buckets, self.embedding_dim), initializer=emb_init,
                                           name=f"embedding_{f.name}") for f in self.spec.sparse]
        self.linear = [self.add_weight(shape=(f.buckets,), initializer="zeros", name=f"linear_{f.name}")
                       for f in self.spec.sparse]
        n_dense = len(self.spec.dense)
        self.dense_embedding = self.add_weight(shape=(n_dense, self.embedding_dim), initializer=emb_init,
                                               name="dense_embedding")
        self.dense_linear = self.add_weight(shape=(n_dense,), initializer="zeros", name="dense_linear")
        self.bias = self.add_weight(shape=(), initializer="zeros", name="bias")
        width = self.num_fields * self.embedding_dim + n_dense
        for layer in self.hidden:
            layer.build((None, width))
            width = layer.units
        self.deep_logit.build((None, width))
        self.built = True

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        ids = [hasher(inputs[f.name]) for hasher, f in zip(self.hashers, self.spec.sparse)]
        sparse_vectors = [tf.gather(table, i) for table, i in zip(self.embeddings, ids)]  # F_s x (B, K)
        sparse_weights = [tf.gather(w, i) for w, i in zip(self.linear, ids)]  # F_s x (B,)
        batch = tf.shape(ids[0])[0]
        if self.spec.dense:
            values = tf.stack([t(inputs[f.name]) for t, f in zip(self.transforms, self.spec.dense)], axis=1)
        else:
            values = tf.zeros((batch, 0), tf.float32)
        fields = tf.concat([tf.stack(sparse_vectors, axis=1),
                            values[:, :, None] * self.dense_embedding[None, :, :]], axis=1)  # (B, F, K)

        first_order = tf.add_n(sparse_weights) + tf.reduce_sum(values * self.dense_linear, axis=1) + self.bias
        second_order = self.fm(fields)
        deep = tf.concat([tf.reshape(fields, (batch, self.num_fields * self.embedding_dim)), values], axis=1)
        for layer, dropout in zip(self.hidden, self.dropouts):
            deep = dropout(layer(deep), training=training)
        deep = tf.squeeze(self.deep_logit(deep), axis=1)

        if training and self.l2:
            looked_up = tf.add_n([tf.reduce_sum(tf.square(v), axis=1) for v in sparse_vectors]
                                 + [tf.square(w) for w in sparse_weights])
            self.add_loss(self.l2 * tf.reduce_mean(looked_up))
        return first_order + second_order + deep

    def get_config(self) -> dict:
        spec = self.spec.to_json()
        return {**super().get_config(), "sparse": spec["sparse"], "dense": spec["dense"],
                "embedding_dim": self.embedding_dim, "hidden_units": list(self.hidden_units),
                "dropout": self.dropout_rate, "l2": self.l2, "seed": self.seed}


def model_config(cfg: Config, spec: FeatureSpec) -> dict[str, Any]:
    """DeepFM constructor arguments from the conf's ``features.*`` and ``model.*`` keys."""
    hidden = cfg["model.hidden_units"]
    if not all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in hidden):
        raise UserError(f"model.hidden_units must be a list of positive integers, got {hidden!r}")
    return {**spec.to_json(), "embedding_dim": cfg["model.embedding_dim"], "hidden_units": list(hidden),
            "dropout": float(cfg["model.dropout"]), "l2": float(cfg["model.l2"]), "seed": cfg["train.seed"]}
