"""Watch-time baselines fitted on the training impressions, predicting for the test impressions.

Pure NumPy/pandas (one row per impression): the global mean, the mean per video-duration bucket (the
buckets of wce_spark.evaluate.metrics), and the per-user mean (users unseen in training get the global
mean). A model that cannot beat these on XAUC has learnt nothing beyond them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from wce_spark.evaluate.metrics import duration_bucket


def global_mean(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    return np.full(len(test), float(train["watch_time_s"].mean()))


def duration_bucket_mean(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Mean watch time of the test row's duration bucket in training (global mean for an empty bucket)."""
    means = train.groupby(duration_bucket(train["video_duration_s"]))["watch_time_s"].mean()
    buckets = pd.Series(duration_bucket(test["video_duration_s"]))
    return buckets.map(means).fillna(train["watch_time_s"].mean()).to_numpy(dtype=np.float64)


def user_mean(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Mean watch time of the test row's user in training (global mean for a new user)."""
    means = train.groupby("user_id")["watch_time_s"].mean()
    return test["user_id"].map(means).fillna(train["watch_time_s"].mean()).to_numpy(dtype=np.float64)


BASELINES = {
    "global mean": global_mean,
    "mean by duration bucket": duration_bucket_mean,
    "per-user mean": user_mean,
}
