"""The experiments' pure parts (wce_spark/experiments): baselines, the day split, and reading learning
curves at equal quality / equal time. No Spark, no TensorFlow."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from wce_spark.errors import UserError
from wce_spark.experiments import baselines
from wce_spark.experiments.common import split_days
from wce_spark.experiments.schemes import quality_at, time_to_reach

TRAIN = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3"],
                      "video_duration_s": [5.0, 20.0, 5.0, 200.0, 20.0],
                      "watch_time_s": [4.0, 10.0, 2.0, 60.0, 14.0]})
TEST = pd.DataFrame({"user_id": ["u1", "u2", "u9"], "video_duration_s": [6.0, 25.0, 500.0],
                     "watch_time_s": [1.0, 2.0, 3.0]})


def test_baselines_fit_on_training_rows_only():
    assert baselines.global_mean(TRAIN, TEST).tolist() == [18.0] * 3
    # Buckets <7 s: (4 + 2) / 2; 15-30 s: (10 + 14) / 2; >=180 s: 60.
    assert baselines.duration_bucket_mean(TRAIN, TEST).tolist() == [3.0, 12.0, 60.0]
    # A user not seen in training gets the global mean.
    assert baselines.user_mean(TRAIN, TEST).tolist() == [7.0, 31.0, 18.0]


def test_an_empty_duration_bucket_falls_back_to_the_global_mean():
    test = pd.DataFrame({"video_duration_s": [45.0], "user_id": ["u1"], "watch_time_s": [1.0]})
    assert baselines.duration_bucket_mean(TRAIN, test).tolist() == [18.0]


def test_split_days_keeps_the_last_three_for_the_test():
    days = [dt.date(2022, 4, 22) + dt.timedelta(days=i) for i in range(17)]
    train, test = split_days(list(reversed(days)))
    assert (train[0], train[-1], len(train)) == (days[0], days[13], 14)
    assert test == days[14:]
    with pytest.raises(UserError):
        split_days(days[:3])


CURVE = [{"epoch": 1, "train_seconds": 10.0, "q": 0.5}, {"epoch": 2, "train_seconds": 20.0, "q": 0.7},
         {"epoch": 3, "train_seconds": 30.0, "q": 0.8}]


def test_time_to_reach_interpolates_between_epochs():
    assert time_to_reach(CURVE, "q", 0.6) == pytest.approx(15.0)
    assert time_to_reach(CURVE, "q", 0.8) == pytest.approx(30.0)
    assert time_to_reach(CURVE, "q", 0.4) == pytest.approx(10.0)  # reached by the first epoch
    assert math.isnan(time_to_reach(CURVE, "q", 0.9))


def test_quality_at_a_time_interpolates_and_holds_the_last_value():
    assert quality_at(CURVE, "q", 25.0) == pytest.approx(0.75)
    assert quality_at(CURVE, "q", 5.0) == pytest.approx(0.5)
    assert quality_at(CURVE, "q", 99.0) == pytest.approx(0.8)
    assert np.isfinite(quality_at(CURVE, "q", 10.0))
