"""The synthetic world: who is shown which video when, how long they watch, and the exact E[w | x].

Every random draw is a column expression: xxhash64 of (seed, salt, keys) mapped to [0, 1), so a day
is a pure function of (seed, conf, day) built on ``spark.range`` -- no Python loop, no UDF.

Model, per impression x = (user, video, hour):
  e(x)  = BIAS + user affinity + video quality + hour effect - DURATION_SLOPE * ln(duration / 30)
  k     ~ uniform on {0 .. K-1}
  f_k   = FRACTION_MAX * sigmoid(e(x) + SPREAD * logit((k + 0.5) / K))      (share of the video watched)
  wt    = min(cap, duration * f_k), rounded to whole milliseconds (the playback log's unit), and 0
          below SKIP_BELOW_S (a scroll past: no play is logged)
so E[w | x] = (1/K) * sum_k weight.fn(wt_k) holds exactly for the watch time build_samples measures.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from wce_spark.config import Config
from wce_spark.errors import UserError
from wce_spark.spark.columns import weight_col
from wce_spark.weighting import WEIGHT_FNS

# Watch-time model (the truth the tests and the model quality checks rely on).
K = 16
SPREAD = 1.5                 # s: how far apart the K watch-time outcomes of one impression lie
FRACTION_MAX = 1.5           # replays let the watched fraction exceed 1
SKIP_BELOW_S = 0.5           # shorter watches are scroll-pasts: watch time 0, no play logged
BIAS = -0.3
USER_SD = 0.8                # spread of user affinity
VIDEO_SD = 0.8               # spread of video quality
HOUR_ENGAGEMENT = 0.3        # evening viewers watch longer
DURATION_SLOPE = 0.35        # long videos are watched to a smaller fraction
DURATION_MEDIAN_S = 25.0
DURATION_SIGMA = 1.0         # of ln(duration)
DURATION_MIN_S, DURATION_MAX_S = 3.0, 7200.0
# Traffic.
USER_ZIPF = 0.6              # exponent of the power law over user index (active users come back)
VIDEO_ZIPF = 0.9             # ... over video index (popular videos are shown a lot)
PEAK_HOUR = 21               # UTC hour of the evening peak, for traffic and engagement
TRAFFIC_AMPLITUDE = 0.8      # traffic at the peak / mean - 1
LATE_SHARE = 1 / 2000        # impressions pinned to the day's last LATE_WINDOW_MS, so that every day
LATE_MIN = 5                 # (even a tiny one) has plays that cross midnight
LATE_WINDOW_MS = 30_000
DEVICES = (("android", 0.55), ("ios", 0.35), ("web", 0.10))
# Playback segments.
START_DELAY_MS = 2_000       # from impression to play start: uniform below this
PAUSE_MS = 3_000             # pause between segments: uniform below this
MAX_SEGMENTS = 3
SPLIT_MIN_MS = 3_000         # shorter watches are one segment

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MAX_IMPRESSIONS_PER_DAY = 1 << 28  # the day-local sequence number inside impression_id

# Outcome shift of the k-th draw: SPREAD * logit((k + 0.5) / K).
SHIFTS = tuple(SPREAD * math.log((k + 0.5) / (K - k - 0.5)) for k in range(K))


@dataclass(frozen=True)
class SynthParams:
    seed: int
    impressions_per_day: int
    users: int
    videos: int
    authors: int
    cap_s: float
    lookahead_ms: int
    dirty_fraction: float

    @classmethod
    def from_config(cls, cfg: Config, impressions_per_day: int | None = None) -> "SynthParams":
        n = cfg["synth.impressions_per_day"] if impressions_per_day is None else impressions_per_day
        if not 0 < n < MAX_IMPRESSIONS_PER_DAY:
            raise UserError(f"impressions per day must be in [1, {MAX_IMPRESSIONS_PER_DAY}); got {n}")
        return cls(seed=cfg["synth.seed"], impressions_per_day=n, users=cfg["synth.users"],
                   videos=cfg["synth.videos"], authors=cfg["synth.authors"],
                   cap_s=float(cfg["watch_time.cap_s"]),
                   lookahead_ms=round(cfg["watch_time.lookahead_hours"] * HOUR_MS),
                   dirty_fraction=float(cfg["synth.dirty_fraction"]))


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01: the UTC day of a timestamp in ms is ts_ms // DAY_MS."""
    return (day - dt.date(1970, 1, 1)).days


def uniform(seed: int, salt: str, *keys: Column | str) -> Column:
    """Deterministic U[0, 1) per (seed, salt, keys): the top 53 bits of xxhash64."""
    return F.shiftrightunsigned(F.xxhash64(F.lit(seed), F.lit(salt), *keys), 11) / float(1 << 53)


def normal(seed: int, salt: str, *keys: Column | str) -> Column:
    """Deterministic N(0, 1) by Box-Muller from two uniforms (1 - u is in (0, 1], so the log is finite)."""
    radius = F.sqrt(-2.0 * F.log(1.0 - uniform(seed, salt + "/r", *keys)))
    return radius * F.cos(2.0 * math.pi * uniform(seed, salt + "/a", *keys))


def hex_id(*parts: Column) -> Column:
    return F.lpad(F.lower(F.hex(F.xxhash64(*parts))), 16, "0")


def power_law_index(u: Column, n: int, exponent: float) -> Column:
    """Index in [0, n) with density ~ (index + 1)^-exponent: the inverse CDF on [1, n + 1)."""
    a = 1.0 - exponent
    x = F.pow((1.0 - u) + u * float((n + 1) ** a), 1.0 / a)
    return F.least(F.greatest(F.floor(x) - 1, F.lit(0)), F.lit(n - 1)).cast("long")


def traffic_cdf() -> list[float]:
    weights = [1.0 + TRAFFIC_AMPLITUDE * math.cos(2 * math.pi * (h - PEAK_HOUR) / 24) for h in range(24)]
    total = sum(weights)
    return [sum(weights[: h + 1]) / total for h in range(24)]


def _hour_of(u: Column) -> Column:
    """Draw the UTC hour from the day's traffic curve: count the CDF steps at or below u (a column, so
    its hash is computed once)."""
    return reduce(lambda acc, c: acc + (u >= c).cast("int"), traffic_cdf()[:-1], F.lit(0))


def _device_of(u: Column) -> Column:
    pick, edge = F, 0.0
    for name, share in DEVICES[:-1]:
        edge += share
        pick = pick.when(u < edge, name)
    return pick.otherwise(DEVICES[-1][0])


def _sigmoid(x: Column) -> Column:
    return 1.0 / (1.0 + F.exp(-x))


def watch_ms(engagement: Column, duration_s: Column, shift: Column, cap_s: float) -> Column:
    """Watch time in whole ms for one outcome: min(cap, duration * f), f = FRACTION_MAX * sigmoid(e + shift);
    0 (a scroll past, no play logged) below SKIP_BELOW_S."""
    watched_s = F.least(F.lit(cap_s), duration_s * (FRACTION_MAX * _sigmoid(engagement + shift)))
    return F.when(watched_s < SKIP_BELOW_S, F.lit(0)).otherwise(F.floor(watched_s * 1000.0 + 0.5)).cast("long")


def clean_impressions(spark: SparkSession, p: SynthParams, day: dt.date, partitions: int) -> DataFrame:
    """One day's valid impressions: contract columns plus ``device``, and ``_`` columns the generator
    keeps for plays, truth and dirt: _day, _ts_ms, _hour, _engagement, the realised watch _wt_ms and
    how it is played (_segments, _delay_ms before the first, _pause_ms between them)."""
    s = p.seed
    day_no = day_number(day)
    idx = F.col("id")
    key = (F.lit(day_no), idx)
    late = idx < max(LATE_MIN, int(p.impressions_per_day * LATE_SHARE))
    hour = F.when(late, F.lit(23)).otherwise(_hour_of(F.col("_u_hour")))
    offset_ms = F.when(late, DAY_MS - 1 - F.floor(uniform(s, "late", *key) * LATE_WINDOW_MS)).otherwise(
        F.col("_hour") * HOUR_MS + F.floor(uniform(s, "second", *key) * HOUR_MS))
    draws = spark.range(p.impressions_per_day, numPartitions=partitions).select(
        "id", uniform(s, "hour", *key).alias("_u_hour")).select(
        "id",
        hour.alias("_hour"),
        power_law_index(uniform(s, "user", *key), p.users, USER_ZIPF).alias("_user"),
        power_law_index(uniform(s, "video", *key), p.videos, VIDEO_ZIPF).alias("_video"))
    video = F.col("_video")
    duration = F.least(F.greatest(
        F.exp(math.log(DURATION_MEDIAN_S) + DURATION_SIGMA * normal(s, "duration", video)),
        F.lit(DURATION_MIN_S)), F.lit(DURATION_MAX_S))
    duration = F.floor(duration * 10.0 + 0.5) / 10.0  # a tenth of a second, as players report it
    ts_ms = (F.lit(day_no * DAY_MS) + offset_ms).cast("long")
    impressions = draws.select(
        F.concat(hex_id(F.lit(s), F.lit("impression"), *key),
                 F.lpad(F.lower(F.hex(F.lit(day_no * MAX_IMPRESSIONS_PER_DAY) + idx)), 12, "0")
                 ).alias("impression_id"),
        F.concat(F.lit("u"), "_user").alias("user_id"),
        F.concat(F.lit("v"), video).alias("video_id"),
        F.concat(F.lit("a"), F.pmod(F.xxhash64(F.lit(s), F.lit("author"), video), F.lit(p.authors))
                 ).alias("author_id"),
        F.timestamp_millis(ts_ms).alias("event_ts"),
        duration.alias("video_duration_s"),
        _device_of(uniform(s, "device", "_user")).alias("device"),
        F.lit(day_no).alias("_day"),
        ts_ms.alias("_ts_ms"),
        "_hour",
        (F.lit(BIAS) + USER_SD * normal(s, "affinity", "_user") + VIDEO_SD * normal(s, "quality", video)
         + HOUR_ENGAGEMENT * F.cos(2 * math.pi * (F.col("_hour") - PEAK_HOUR) / 24)
         - DURATION_SLOPE * F.log(duration / 30.0)).alias("_engagement"),
        F.element_at(F.array(*[F.lit(x) for x in SHIFTS]),
                     F.floor(uniform(s, "k", *key) * K).cast("int") + 1).alias("_shift"))
    realised = watch_ms(F.col("_engagement"), F.col("video_duration_s"), F.col("_shift"), p.cap_s)
    total = F.col("_wt_ms")
    split = 1 + F.floor(uniform(s, "segments", "impression_id") * MAX_SEGMENTS).cast("int")
    return impressions.withColumn("_wt_ms", realised).drop("_shift").select(
        "*",
        F.when(total <= 0, F.lit(0)).when(total < SPLIT_MIN_MS, F.lit(1)).otherwise(split).alias("_segments"),
        F.floor(uniform(s, "delay", "impression_id") * START_DELAY_MS).cast("long").alias("_delay_ms"),
        F.floor(uniform(s, "pause", "impression_id") * PAUSE_MS).cast("long").alias("_pause_ms"))


def truth(impressions: DataFrame, p: SynthParams) -> DataFrame:
    """E[w | x] for every weight.fn, exactly: the mean over the K equally likely watch times (K plain
    columns, not an array lambda, so Spark compiles it)."""
    outcomes = [F.col(f"_wt{k}") for k in range(K)]

    def mean_over_outcomes(term) -> Column:
        return reduce(lambda acc, wt: acc + term(wt), outcomes, F.lit(0.0)) / K

    staged = impressions.select(
        "impression_id", "_engagement", "_wt_ms",
        *[(watch_ms(F.col("_engagement"), F.col("video_duration_s"), F.lit(shift), p.cap_s) / 1000.0)
          .alias(f"_wt{k}") for k, shift in enumerate(SHIFTS)])
    return staged.select(
        "impression_id",
        *[mean_over_outcomes(lambda wt, fn=fn: weight_col(wt, fn)).alias(f"expected_w_{fn}") for fn in WEIGHT_FNS],
        mean_over_outcomes(lambda wt: wt).alias("expected_watch_time_s"),
        (F.col("_wt_ms") / 1000.0).alias("watch_time_s"),
        F.col("_engagement").alias("engagement"),
    )


def play_struct(event_id: Column, impression_id: Column, ts_ms: Column, play_ms: Column, kind: str) -> Column:
    """One playback row as a struct: a day's plays, clean and dirty, are an array of these per
    impression (null where there is no such play), exploded once instead of a union of many plans."""
    return F.struct(event_id.cast("string").alias("event_id"), impression_id.cast("string").alias("impression_id"),
                    ts_ms.cast("long").alias("_ts_ms"), play_ms.cast("long").alias("play_ms"),
                    F.lit(kind).alias("_kind"))


def _segment_end_ms(j: int, seed: int) -> Column:
    """Played ms at the end of segment j (0 at j = 0, the total at j = _segments): cuts jittered
    within +-0.4 of an even split, so segments never overlap or vanish."""
    segments, total = F.col("_segments"), F.col("_wt_ms")
    if j == 0:
        return F.lit(0).cast("long")
    jitter = 0.8 * (uniform(seed, "cut", "impression_id", F.lit(j)) - 0.5)
    return F.when(segments <= j, total).otherwise(F.floor(total * (j + jitter) / segments).cast("long"))


def watch_segments(p: SynthParams, kind: str) -> list[Column]:
    """An impression row's watch as MAX_SEGMENTS play structs, null beyond ``_segments`` (all null when
    wt = 0), whose play_ms sum to its ms exactly; a segment's event_ts is the impression's plus the
    delay, the played ms so far and the pauses."""
    ends = [_segment_end_ms(j, p.seed) for j in range(MAX_SEGMENTS + 1)]
    return [F.when(F.col("_segments") >= j, play_struct(
        F.concat("impression_id", F.lit(f"-{j}")), F.col("impression_id"),
        F.col("_ts_ms") + F.col("_delay_ms") + ends[j] + (j - 1) * F.col("_pause_ms"),
        ends[j] - ends[j - 1], kind)) for j in range(1, MAX_SEGMENTS + 1)]
