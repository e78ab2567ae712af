"""Metrics against hand values and a brute-force pair count (NumPy only: no Spark, no TensorFlow)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from wce_spark.evaluate import metrics

EXACT = 10**12  # a max_pairs no test data reaches: always the exact path


def brute_xauc(actual, predicted) -> tuple[float, int]:
    """The definition, pair by pair: pairs with equal actual are skipped, equal predictions count 1/2."""
    credit, pairs = 0.0, 0
    for i in range(len(actual)):
        for j in range(i + 1, len(actual)):
            if actual[i] == actual[j]:
                continue
            pairs += 1
            if predicted[i] == predicted[j]:
                credit += 0.5
            elif (actual[i] < actual[j]) == (predicted[i] < predicted[j]):
                credit += 1.0
    return (credit / pairs if pairs else math.nan), pairs


def brute_xgauc(users, actual, predicted) -> tuple[float, int]:
    values, weights = [], []
    for user in np.unique(users):
        mine = users == user
        value, pairs = brute_xauc(actual[mine], predicted[mine])
        if pairs:
            values.append(value)
            weights.append(mine.sum())
    return (float(np.average(values, weights=weights)) if values else math.nan), len(values)


def tied_data(seed: int, n: int):
    """Few distinct values on both sides, so ties in actual, in predicted and in both are frequent."""
    rng = np.random.default_rng(seed)
    actual = rng.integers(0, 6, n).astype(float) * 2.5
    predicted = np.round(0.6 * actual + rng.integers(0, 5, n), 1)
    users = rng.choice(np.array(["u1", "u2", "u3", "u4", "u5"]), n)
    return actual, predicted, users


@pytest.mark.parametrize("seed", range(8))
def test_xauc_and_xgauc_equal_brute_force_pair_count(seed):
    actual, predicted, users = tied_data(seed, n=int(np.random.default_rng(seed).integers(2, 90)))
    want, want_pairs = brute_xauc(actual, predicted)
    got = metrics.xauc(actual, predicted, EXACT, seed=0)
    assert not got.sampled
    assert got.pairs == want_pairs
    assert got.value == pytest.approx(want, abs=1e-12)
    want_g, want_users = brute_xgauc(users, actual, predicted)
    got_g, got_users = metrics.xgauc(users, actual, predicted)
    assert got_users == want_users
    assert got_g == pytest.approx(want_g, abs=1e-12)


def test_xauc_hand_values_and_tie_rules():
    assert metrics.xauc([1, 2, 3], [1, 3, 2], EXACT, 0).value == pytest.approx(2 / 3)
    assert metrics.xauc([1, 2, 3], [3, 2, 1], EXACT, 0).value == 0.0
    assert metrics.xauc([1, 2, 3], [0.1, 0.2, 0.3], EXACT, 0).value == 1.0
    # Actual ties are no pair at all; a prediction tie is half right.
    tied = metrics.xauc([1, 1, 2], [5, 4, 5], EXACT, 0)
    assert (tied.pairs, tied.value) == (2, pytest.approx(0.75))
    assert metrics.xauc(np.arange(50.0), np.full(50, 7.0), EXACT, 0).value == 0.5
    nothing = metrics.xauc([3, 3, 3], [1, 2, 3], EXACT, 0)
    assert nothing.pairs == 0 and math.isnan(nothing.value)


def test_xgauc_weights_users_by_impressions_and_skips_users_without_pairs():
    users = np.array(["a", "a", "a", "b", "b", "c"])
    actual = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 9.0])
    predicted = np.array([1.0, 2.0, 3.0, 2.0, 1.0, 0.0])
    value, n_users = metrics.xgauc(users, actual, predicted)
    # a: 1.0 over 3 impressions, b: 0.0 over 2, c has no pair.
    assert n_users == 2
    assert value == pytest.approx(3 / 5)


def test_sampled_xauc_is_close_to_exact_states_its_pairs_and_repeats():
    rng = np.random.default_rng(3)
    actual = np.round(rng.exponential(20.0, 4000), 0)
    predicted = actual + rng.normal(0.0, 15.0, 4000)
    exact = metrics.xauc(actual, predicted, EXACT, 0)
    sampled = metrics.xauc(actual, predicted, 300_000, seed=11)
    assert exact.pairs > 300_000 and not exact.sampled
    assert sampled.sampled
    assert 250_000 < sampled.pairs <= 300_000  # equal-actual draws are dropped, the rest counted
    assert sampled.value == pytest.approx(exact.value, abs=0.005)
    assert metrics.xauc(actual, predicted, 300_000, seed=11) == sampled


def test_mae_rmse_means_hand_values():
    out = metrics.summary(np.array([0.0, 10.0, 20.0]), np.array([1.0, 10.0, 26.0]),
                          np.array(["u", "u", "v"]), EXACT, 0)
    assert out["n"] == 3
    assert out["mae"] == pytest.approx(7 / 3)
    assert out["rmse"] == pytest.approx(math.sqrt(37 / 3))
    assert out["mean_predicted"] == pytest.approx(37 / 3)
    assert out["mean_actual"] == pytest.approx(10.0)
    assert out["xauc"] == 1.0 and out["xauc_pairs"] == 3
    assert out["xgauc"] == 1.0 and out["xgauc_users"] == 1


def test_non_finite_predictions_make_every_prediction_metric_nan():
    out = metrics.summary(np.array([1.0, 2.0, 3.0]), np.array([1.0, np.nan, np.inf]),
                          np.array(["u", "u", "u"]), EXACT, 0)
    assert out["nonfinite_predictions"] == 2
    assert all(math.isnan(out[k]) for k in ("mae", "rmse", "xauc", "xgauc", "mean_predicted"))
    assert out["mean_actual"] == 2.0


def test_duration_buckets_are_left_closed():
    durations = np.array([0.5, 6.99, 7.0, 14.9, 15.0, 30.0, 59.9, 60.0, 179.9, 180.0, 5000.0])
    assert metrics.duration_bucket(durations).tolist() == [0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 5]
    assert len(metrics.DURATION_LABELS) == len(metrics.DURATION_EDGES_S) - 1


def test_all_metrics_by_duration_calibration_and_histogram():
    rng = np.random.default_rng(5)
    n = 1000
    actual = rng.exponential(30.0, n)
    predicted = actual * 0.8 + 2.0
    durations = rng.choice([3.0, 10.0, 20.0, 45.0, 100.0, 600.0], n)
    users = rng.integers(0, 40, n).astype(str)
    out = metrics.all_metrics(actual, predicted, users, durations, EXACT, 0)
    assert out["xauc"] == 1.0  # a strictly increasing map of the truth orders every pair right
    assert [row["bucket"] for row in out["by_duration"]] == list(metrics.DURATION_LABELS)
    assert sum(row["n"] for row in out["by_duration"]) == n
    short = out["by_duration"][0]
    assert short["n"] == int((durations < 7).sum())
    assert short["mae"] == pytest.approx(np.abs(predicted - actual)[durations < 7].mean())
    deciles = out["calibration"]
    assert [row["n"] for row in deciles] == [100] * 10
    assert deciles[0]["mean_predicted"] == pytest.approx(np.sort(predicted)[:100].mean())
    assert deciles[-1]["mean_actual"] == pytest.approx(np.sort(actual)[-100:].mean())
    histogram = out["histogram"]
    assert sum(histogram["actual"]) == n and sum(histogram["predicted"]) == n
    assert len(histogram["edges_s"]) == len(histogram["actual"]) + 1
