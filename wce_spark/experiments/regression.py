"""The regression baseline: the same DeepFM (layers, features, sizes) with a linear head trained on
watch time in seconds with mean squared error, in memory (tf_keras ``fit``): what WCE is compared with."""
from __future__ import annotations

import numpy as np
import pandas as pd

from wce_spark.config import Config
from wce_spark.experiments.common import model_inputs, predict_logit
from wce_spark.train.features import FeatureSpec
from wce_spark.train.model import DeepFM, model_config


def train_regression(cfg: Config, train: pd.DataFrame, epochs: int | None = None) -> DeepFM:
    """DeepFM whose output is the predicted watch time (s), fitted by MSE; the conf's model.*, train.*
    (batch size, learning rate, seed, epochs unless given). The bias starts at the mean watch time."""
    import tensorflow as tf
    import tf_keras as keras

    spec = FeatureSpec.from_config(cfg)
    keras.utils.set_random_seed(cfg["train.seed"])
    model = DeepFM(**model_config(cfg, spec))
    model.build()
    target = train["watch_time_s"].to_numpy(dtype=np.float32)
    model.bias.assign(float(target.mean()))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cfg["train.learning_rate"]),
                  loss=keras.losses.MeanSquaredError())
    data = (tf.data.Dataset.from_tensor_slices((model_inputs(train, spec.columns), target))
            .shuffle(len(train), seed=cfg["train.seed"], reshuffle_each_iteration=True)
            .batch(cfg["train.batch_size"]))
    model.fit(data, epochs=epochs or cfg["train.epochs"], verbose=0)
    return model


def predict_regression(model: DeepFM, cfg: Config, test: pd.DataFrame) -> np.ndarray:
    """Predicted watch time (s), never below 0 (as the WCE model's decoding)."""
    return np.maximum(predict_logit(model, test, FeatureSpec.from_config(cfg).columns), 0.0)
