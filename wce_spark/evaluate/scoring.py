"""Scoring through an exported model's serving signature: the same path a server takes.

The model is loaded with ``tf.saved_model.load(dir).signatures["serving_default"]``; its declared
inputs (names and dtypes from ``structured_input_signature``) decide which columns are fed and how they
are cast, one 1-D tensor each, in batches. TensorFlow is imported only when a model is loaded, so the
rest of the evaluate room works without it.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from wce_spark.errors import UserError

SERVING_SIGNATURE = "serving_default"
SERVING_OUTPUTS = ("p", "odds", "watch_time_s")
SCORE_BATCH_ROWS = 8192


class ServingModel:
    """A loaded SavedModel's serving signature with its declared inputs."""

    def __init__(self, model_dir: str):
        import tensorflow as tf

        if not tf.io.gfile.exists(os.path.join(model_dir, "saved_model.pb")):
            raise UserError(f"no SavedModel at {model_dir} (missing saved_model.pb)")
        self.model_dir = model_dir
        self._loaded = tf.saved_model.load(model_dir)  # holds the variables the signature reads
        if SERVING_SIGNATURE not in self._loaded.signatures:
            raise UserError(f"model {model_dir} has no '{SERVING_SIGNATURE}' signature "
                            f"(has: {', '.join(self._loaded.signatures) or 'none'})")
        self._signature = self._loaded.signatures[SERVING_SIGNATURE]
        _, specs = self._signature.structured_input_signature
        bad_rank = [name for name, spec in specs.items() if spec.shape.rank != 1]
        if bad_rank:
            raise UserError(f"model {model_dir}: inputs {', '.join(bad_rank)} are not 1-D tensors, "
                            "as the serving contract requires")
        self.inputs: dict[str, Any] = {name: spec.dtype for name, spec in specs.items()}
        missing = [o for o in SERVING_OUTPUTS if o not in self._signature.structured_outputs]
        if missing:
            raise UserError(f"model {model_dir}: serving signature lacks output(s) {', '.join(missing)}")

    def _column(self, frame: pd.DataFrame, name: str) -> np.ndarray:
        import tensorflow as tf

        dtype = self.inputs[name]
        values = frame[name]
        if dtype == tf.string:
            return values.fillna("").astype(str).to_numpy(dtype=object)
        if values.isna().any():
            raise UserError(f"column {name} has {int(values.isna().sum())} null value(s); "
                            f"the model needs a {dtype.name} in every row")
        return values.to_numpy().astype(dtype.as_numpy_dtype)

    def score(self, frame: pd.DataFrame, batch_rows: int = SCORE_BATCH_ROWS) -> pd.DataFrame:
        """``p``, ``odds`` and ``watch_time_s`` for every row of ``frame``, in its order."""
        import tensorflow as tf

        missing = [name for name in self.inputs if name not in frame.columns]
        if missing:
            raise UserError(f"model {self.model_dir} needs input column(s) the rows lack: {', '.join(missing)}")
        columns = {name: self._column(frame, name) for name in self.inputs}
        parts: dict[str, list[np.ndarray]] = {o: [] for o in SERVING_OUTPUTS}
        for start in range(0, len(frame), batch_rows):
            batch = {name: tf.constant(col[start:start + batch_rows], dtype=self.inputs[name])
                     for name, col in columns.items()}
            outputs = self._signature(**batch)
            for o in SERVING_OUTPUTS:
                parts[o].append(outputs[o].numpy().reshape(-1).astype(np.float64))
        scores = {o: np.concatenate(chunks) if chunks else np.zeros(0) for o, chunks in parts.items()}
        wrong = [o for o, values in scores.items() if len(values) != len(frame)]
        if wrong:
            raise UserError(f"model {self.model_dir}: output(s) {', '.join(wrong)} do not hold one value per row")
        return pd.DataFrame(scores, index=frame.index)
