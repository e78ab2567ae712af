"""Watch-time metrics in seconds: NumPy only, no Spark, no TensorFlow.

Definitions (the one place they are written down):

* MAE, RMSE: over all rows, predicted vs actual watch time in seconds.
* XAUC: over all unordered pairs of rows whose *actual* watch times differ, the share ordered the same
  way by the prediction. Pairs with equal actual watch time are excluded (nothing to order); a pair
  whose predictions are equal counts 1/2. So a constant predictor scores exactly 0.5.
* XGAUC: XAUC inside each user, over users with at least one valid pair, averaged with weights equal
  to the user's number of impressions (all of them, not only the ones in valid pairs).
* Calibration: rows split into ten equal-size groups by predicted watch time (deciles); per decile the
  mean predicted and the mean actual watch time.
* Histogram: counts of actual and predicted watch time on shared edges, [0, 0.1) s then log-spaced.
* Duration buckets: video_duration_s in [0, 7), [7, 15), [15, 30), [30, 60), [60, 180), [180, inf)
  seconds (left-closed), each with the metrics above.

XAUC is computed exactly in O(n log n): with rows sorted by (actual, predicted), every pair that the
prediction orders the wrong way is an inversion of the predicted ranks, counted level by level over
the rank's bits (see ``_inversions_per_group``); ties are counted from run lengths. Above
``max_pairs`` valid pairs the overall XAUC is instead estimated from ``max_pairs`` uniformly drawn
pairs with a fixed seed, and the number of pairs it used is reported. XGAUC is always exact.

Any non-finite prediction makes every prediction metric NaN (a model emitting NaN has no quality to
measure); ``nonfinite_predictions`` counts them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DURATION_EDGES_S: tuple[float, ...] = (0.0, 7.0, 15.0, 30.0, 60.0, 180.0, float("inf"))
DURATION_LABELS: tuple[str, ...] = ("<7s", "7-15s", "15-30s", "30-60s", "60-180s", ">=180s")
CALIBRATION_GROUPS = 10
HISTOGRAM_BINS = 40


@dataclass(frozen=True)
class Xauc:
    value: float   # NaN when there is no valid pair
    pairs: int     # valid pairs behind the value: all of them (exact) or the sampled ones
    sampled: bool


def _pairs(counts: np.ndarray) -> np.ndarray:
    counts = counts.astype(np.int64)
    return counts * (counts - 1) // 2


def _run_starts(*sorted_keys: np.ndarray) -> np.ndarray:
    """True where any of the (jointly sorted) keys changes: the first row of each run."""
    n = len(sorted_keys[0])
    start = np.zeros(n, dtype=bool)
    if n:
        start[0] = True
    for key in sorted_keys:
        start[1:] |= key[1:] != key[:-1]
    return start


def _inversions_per_group(group: np.ndarray, ranks: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group: pairs i < j (sequence order, same group) with ranks[i] > ranks[j].

    ``group`` must be non-decreasing. A pair is an inversion at exactly one bit level k: the highest
    bit where the two ranks differ (i has 1, j has 0, higher bits equal). At level k the rows are kept
    stably ordered by (group, rank >> (k + 1)), sequence order inside; for each 0-bit row we add the
    1-bit rows before it in its block. Then a stable partition by bit k prepares level k - 1. Each
    level is a few linear passes, so the whole count is O(n log n) with no Python loop over rows.
    """
    counts = np.zeros(n_groups, dtype=np.int64)
    if len(ranks) < 2:
        return counts
    levels = max(1, int(ranks.max()).bit_length())
    seq_group, seq_rank = group.copy(), ranks.copy()
    index = np.arange(len(ranks))
    for k in range(levels - 1, -1, -1):
        bit = ((seq_rank >> k) & 1).astype(np.int64)
        is_block_start = _run_starts(seq_group, seq_rank >> (k + 1))
        block_start = np.flatnonzero(is_block_start)
        block_of = np.cumsum(is_block_start) - 1
        ones_before_row = np.cumsum(bit) - bit
        ones_before_in_block = ones_before_row - ones_before_row[block_start][block_of]
        zero = bit == 0
        counts += np.bincount(seq_group[zero], weights=ones_before_in_block[zero],
                              minlength=n_groups).astype(np.int64)
        # Stable partition inside each block: its 0-bit rows first, then its 1-bit rows.
        zeros_before_in_block = (index - block_start[block_of]) - ones_before_in_block
        block_len = np.diff(np.append(block_start, len(ranks)))
        ones_in_block = np.add.reduceat(bit, block_start)
        zeros_in_block = (block_len - ones_in_block)[block_of]
        position = block_start[block_of] + np.where(zero, zeros_before_in_block,
                                                    zeros_in_block + ones_before_in_block)
        new_group, new_rank = np.empty_like(seq_group), np.empty_like(seq_rank)
        new_group[position], new_rank[position] = seq_group, seq_rank
        seq_group, seq_rank = new_group, new_rank
    return counts


def _dense_rank(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(rank of each value among the distinct values, number of distinct values)."""
    distinct, rank = np.unique(values, return_inverse=True)
    return rank.astype(np.int64).ravel(), len(distinct)


def _runs_per_group(group: np.ndarray, rank: np.ndarray, n_ranks: int, n_groups: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(dense rank of each row's (group, rank), per group the pairs of rows sharing their rank).
    Keys stay below n_groups * n_ranks <= n^2, far inside int64."""
    keys, combined, counts = np.unique(group * n_ranks + rank, return_inverse=True, return_counts=True)
    tied = np.bincount(keys // n_ranks, weights=_pairs(counts), minlength=n_groups).astype(np.int64)
    return combined.astype(np.int64).ravel(), tied


def xauc_per_group(group: np.ndarray, actual: np.ndarray, predicted: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-group XAUC. ``group`` holds ints 0..G-1. Returns (valid pairs, XAUC; NaN without pairs)."""
    group = np.asarray(group, dtype=np.int64)
    n_groups = int(group.max()) + 1 if len(group) else 0
    actual_rank, n_actual = _dense_rank(np.asarray(actual, dtype=np.float64))
    pred_rank, n_pred = _dense_rank(np.asarray(predicted, dtype=np.float64))
    group_actual, tied_actual = _runs_per_group(group, actual_rank, n_actual, n_groups)
    _, tied_pred = _runs_per_group(group, pred_rank, n_pred, n_groups)
    # Sorted by (group, actual, predicted): a pair with different actuals is discordant exactly when
    # it is an inversion of the predicted ranks; same-actual pairs are never inversions.
    key = group_actual * n_pred + pred_rank
    order = np.argsort(key)
    sorted_group = group[order]
    starts = np.flatnonzero(_run_starts(key[order]))
    tied_both = np.bincount(sorted_group[starts], weights=_pairs(np.diff(np.append(starts, len(key)))),
                            minlength=n_groups).astype(np.int64)
    discordant = _inversions_per_group(sorted_group, pred_rank[order], n_groups)
    valid = _pairs(np.bincount(group, minlength=n_groups)) - tied_actual
    credit = valid - discordant - 0.5 * (tied_pred - tied_both)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(valid > 0, credit / np.maximum(valid, 1), np.nan)
    return valid, value


def xauc_sampled(actual: np.ndarray, predicted: np.ndarray, pairs: int, seed: int) -> Xauc:
    """XAUC over ``pairs`` uniformly drawn row pairs (equal-actual draws dropped), fixed seed."""
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(actual), size=pairs)
    j = rng.integers(0, len(actual), size=pairs)
    keep = actual[i] != actual[j]
    i, j = i[keep], j[keep]
    agree = np.sign(actual[i] - actual[j]) == np.sign(predicted[i] - predicted[j])
    credit = np.where(predicted[i] == predicted[j], 0.5, agree.astype(np.float64))
    return Xauc(float(credit.mean()) if len(credit) else float("nan"), int(len(credit)), True)


def xauc(actual: np.ndarray, predicted: np.ndarray, max_pairs: int, seed: int) -> Xauc:
    """Exact XAUC, or the sampled estimate when there are more than ``max_pairs`` valid pairs."""
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    n = len(actual)
    _, actual_counts = np.unique(actual, return_counts=True)
    valid = int(_pairs(np.array([n]))[0] - _pairs(actual_counts).sum())
    if valid > max_pairs:
        return xauc_sampled(actual, predicted, max_pairs, seed)
    if valid == 0:
        return Xauc(float("nan"), 0, False)
    _, value = xauc_per_group(np.zeros(n, dtype=np.int64), actual, predicted)
    return Xauc(float(value[0]), valid, False)


def xgauc(users: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> tuple[float, int]:
    """(XGAUC, number of users with at least one valid pair)."""
    _, user_index = np.unique(np.asarray(users), return_inverse=True)
    user_index = user_index.ravel()
    if len(user_index) == 0:
        return float("nan"), 0
    valid, value = xauc_per_group(user_index, actual, predicted)
    impressions = np.bincount(user_index)
    scored = valid > 0
    if not scored.any():
        return float("nan"), 0
    return float(np.average(value[scored], weights=impressions[scored])), int(scored.sum())


def calibration(actual: np.ndarray, predicted: np.ndarray, groups: int = CALIBRATION_GROUPS) -> list[dict]:
    """Mean predicted vs mean actual per predicted-quantile group (ties split by row order)."""
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    n = len(actual)
    if n == 0:
        return []
    decile = np.empty(n, dtype=np.int64)
    decile[np.argsort(predicted, kind="stable")] = np.arange(n) * groups // n
    rows = []
    for g in range(groups):
        member = decile == g
        if member.any():
            rows.append({"decile": g + 1, "n": int(member.sum()),
                         "mean_predicted": float(predicted[member].mean()),
                         "mean_actual": float(actual[member].mean())})
    return rows


def summary(actual: np.ndarray, predicted: np.ndarray, users: np.ndarray,
            max_pairs: int, seed: int) -> dict:
    """n, MAE, RMSE, XAUC (+ pairs, sampled), XGAUC (+ users), mean predicted and mean actual."""
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    n = len(actual)
    nonfinite = int((~np.isfinite(predicted)).sum())
    nan = float("nan")
    out = {"n": n, "nonfinite_predictions": nonfinite, "mean_actual": float(actual.mean()) if n else nan}
    if n == 0 or nonfinite:
        return {**out, "mae": nan, "rmse": nan, "xauc": nan, "xauc_pairs": 0, "xauc_sampled": False,
                "xgauc": nan, "xgauc_users": 0, "mean_predicted": nan}
    error = predicted - actual
    x = xauc(actual, predicted, max_pairs, seed)
    xg, xg_users = xgauc(users, actual, predicted)
    return {**out, "mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error ** 2).mean())),
            "xauc": x.value, "xauc_pairs": x.pairs, "xauc_sampled": x.sampled,
            "xgauc": xg, "xgauc_users": xg_users, "mean_predicted": float(predicted.mean())}


def watch_time_histogram(actual: np.ndarray, predicted: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict:
    """Counts of actual and predicted watch time on shared edges: [0, 0.1) s, then log-spaced bins up
    to the largest value (non-finite predictions left out)."""
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    predicted = predicted[np.isfinite(predicted)]
    top = max([1.0, *(float(v.max()) for v in (actual, predicted) if len(v))])
    edges = np.concatenate([[0.0], np.geomspace(0.1, top, bins)])
    return {"edges_s": edges.tolist(),
            "actual": np.histogram(actual, edges)[0].tolist(),
            "predicted": np.histogram(predicted, edges)[0].tolist()}


def duration_bucket(video_duration_s: np.ndarray) -> np.ndarray:
    """Index into DURATION_LABELS for each duration (left-closed edges)."""
    inner_edges = np.asarray(DURATION_EDGES_S[1:-1])
    return np.searchsorted(inner_edges, np.asarray(video_duration_s, dtype=np.float64), side="right")


def all_metrics(actual: np.ndarray, predicted: np.ndarray, users: np.ndarray,
                video_duration_s: np.ndarray, max_pairs: int, seed: int) -> dict:
    """The overall summary, plus ``by_duration`` (one summary per bucket) and ``calibration``."""
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    users = np.asarray(users)
    bucket = duration_bucket(video_duration_s)
    by_duration = []
    for b, label in enumerate(DURATION_LABELS):
        member = bucket == b
        by_duration.append({"bucket": label, "min_s": DURATION_EDGES_S[b], "max_s": DURATION_EDGES_S[b + 1],
                            **summary(actual[member], predicted[member], users[member], max_pairs, seed)})
    finite = np.isfinite(predicted)
    return {**summary(actual, predicted, users, max_pairs, seed),
            "by_duration": by_duration,
            "calibration": calibration(actual[finite], predicted[finite]),
            "histogram": watch_time_histogram(actual, predicted)}
