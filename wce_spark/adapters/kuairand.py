"""KuaiRand interaction logs (CSV, one row per video shown) -> the contract's raw logs.

Each CSV row becomes
- one impression: ``impression_id`` = ``<user_id>-<video_id>-<time_ms>`` (stable: the log's exact repeat
  of a row gets the same id, so build_samples quarantines it as ``duplicate``), ``event_ts`` from
  ``time_ms``, ``video_duration_s`` = ``duration_ms`` / 1000 (0 stays 0: build_samples quarantines it as
  ``bad_duration``), ``author_id`` null (the log has none), ``local_hour`` = the hour of ``event_ts`` in
  China time (UTC+8, the log's local time; build_samples' ``hour`` is the UTC hour), and every other
  CSV column carried as it is;
- one playback: ``event_id`` = ``<impression_id>-play`` (the repeated row's play is a ``duplicate`` too),
  ``play_ms`` = ``play_time_ms``, ``event_ts`` = the impression's time + ``min(play_ms, lookahead)``,
  when the play ended, clipped so it always falls inside build_samples' window.

Both are written as Parquet under their roots, Hive-partitioned by ``dt`` = UTC date of ``event_ts``,
replacing only the days written (dynamic partition overwrite). A map-only Spark job: the CSV is read
with a fixed schema (no inference pass), nothing is shuffled or collected but a few counts, so it runs
on the full KuaiRand logs (hundreds of millions of rows) as on the 1k excerpt.

The last day: every play of an adapted impression is in the same CSV row, so the adapter knows all
plays of its days. The day after the last impression day holds the plays that cross its midnight;
when none do it is written as an empty partition, which is the truth (no play of these impressions
ends there), so build_samples needs no ``--allow-incomplete``. Adapt adjacent periods in one run
(several ``--input`` files): a later run of the next period would replace that day's plays.

The feedback columns (is_click, long_view, play_time_ms, ...) are outcomes of the very impression:
carried for analysis, never to be used as model features (they leak the label).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, LongType, StructField, StructType

from wce_spark.errors import UserError
from wce_spark.spark.raw_logs import IMPRESSION_COLUMNS, PLAYBACK_COLUMNS, partition_path, path_exists

# The interaction logs' columns (log_random_*.csv and log_standard_*.csv of KuaiRand-Pure/1K/27K).
LOG_SCHEMA = StructType([StructField(name, kind) for name, kind in [
    ("user_id", LongType()), ("video_id", LongType()), ("date", IntegerType()), ("hourmin", IntegerType()),
    ("time_ms", LongType()), ("is_click", IntegerType()), ("is_like", IntegerType()),
    ("is_follow", IntegerType()), ("is_comment", IntegerType()), ("is_forward", IntegerType()),
    ("is_hate", IntegerType()), ("long_view", IntegerType()), ("play_time_ms", LongType()),
    ("duration_ms", LongType()), ("profile_stay_time", LongType()), ("comment_stay_time", LongType()),
    ("is_profile_enter", IntegerType()), ("is_rand", IntegerType()), ("tab", IntegerType()),
]])
LOCAL_TIMEZONE = "Asia/Shanghai"  # UTC+8 all year: the log's local time
# The CSV columns that become contract columns; the others are carried as they are.
MAPPED = ("user_id", "video_id")


@dataclass(frozen=True)
class AdaptedLogs:
    rows: int
    undated_rows: int  # rows without a parsable time_ms: in the dt=__HIVE_DEFAULT_PARTITION__ folders
    impression_days: list[str]
    playback_days: list[str]
    empty_playback_days: list[str]

    def to_json(self) -> dict:
        return {"rows": self.rows, "undated_rows": self.undated_rows, "impression_days": self.impression_days,
                "playback_days": self.playback_days, "empty_playback_days_written": self.empty_playback_days}


def read_log(spark: SparkSession, inputs: Sequence[str]) -> DataFrame:
    """The CSV files with the KuaiRand log schema; a header that does not match is a UserError. A value
    that does not parse becomes null (PERMISSIVE), which build_samples then quarantines."""
    try:
        log = (spark.read.option("header", True).option("enforceSchema", False).option("mode", "PERMISSIVE")
               .schema(LOG_SCHEMA).csv(list(inputs)))
        log.limit(1).collect()  # the header check runs when a file is first read
    except Exception as exc:  # noqa: BLE001 - Spark raises AnalysisException / SparkException here
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot read the KuaiRand log {', '.join(inputs)}: {first[:300]}") from None
    return log


def impression_id(log: DataFrame) -> Column:
    """Stable per (user, video, time): null when any part is null (build_samples: missing_key)."""
    return F.concat(log["user_id"].cast("string"), F.lit("-"), log["video_id"].cast("string"), F.lit("-"),
                    log["time_ms"].cast("string"))


def _ts(millis: Column) -> Column:
    return F.timestamp_millis(millis)


def to_impressions(log: DataFrame) -> DataFrame:
    """One impression per CSV row (contract columns, then ``local_hour`` and the carried columns, ``dt``)."""
    carried = [c for c in log.columns if c not in MAPPED]
    event_ts = _ts(F.col("time_ms"))
    return log.select(
        impression_id(log).alias("impression_id"),
        F.col("user_id").cast("string").alias("user_id"),
        F.col("video_id").cast("string").alias("video_id"),
        F.lit(None).cast(IMPRESSION_COLUMNS["author_id"]).alias("author_id"),
        event_ts.alias("event_ts"),
        (F.col("duration_ms").cast("double") / 1000.0).alias("video_duration_s"),
        F.hour(F.from_utc_timestamp(event_ts, LOCAL_TIMEZONE)).alias("local_hour"),
        *carried,
        F.to_date(event_ts).alias("dt"),
    )


def to_playbacks(log: DataFrame, lookahead_s: float) -> DataFrame:
    """One playback per CSV row; it ends ``min(play_time_ms, lookahead)`` after its impression."""
    lookahead_ms = int(lookahead_s * 1000)
    event_ts = _ts(F.col("time_ms") + F.least(F.greatest(F.col("play_time_ms"), F.lit(0)), F.lit(lookahead_ms)))
    return log.select(
        F.concat(impression_id(log), F.lit("-play")).alias("event_id"),
        impression_id(log).alias("impression_id"),
        event_ts.alias("event_ts"),
        F.col("play_time_ms").cast(PLAYBACK_COLUMNS["play_ms"]).alias("play_ms"),
        F.to_date(event_ts).alias("dt"),
    )


def _write_days(spark: SparkSession, df: DataFrame, root: str) -> tuple[int, int, list[str]]:
    """Write ``df`` partitioned by dt under ``root`` (replacing those days only); (rows, rows without a
    dt, days written), the counts observed during the write."""
    observation = Observation()
    observed = df.observe(observation, F.count(F.lit(1)).alias("rows"),
                          F.count(F.when(F.col("dt").isNull(), 1)).alias("undated"),
                          # as text: Observation hands dates over as raw Java objects
                          F.min(F.col("dt").cast("string")).alias("first"),
                          F.max(F.col("dt").cast("string")).alias("last"))
    (observed.write.mode("overwrite").option("partitionOverwriteMode", "dynamic")
     .partitionBy("dt").parquet(root))
    got = observation.get
    days = []
    if got["first"] is not None:
        first, last = dt.date.fromisoformat(got["first"]), dt.date.fromisoformat(got["last"])
        days = [d.isoformat() for d in (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
                if path_exists(spark, partition_path(root, d))]
    return int(got["rows"]), int(got["undated"]), days


def adapt(spark: SparkSession, inputs: Sequence[str], impressions_root: str, playbacks_root: str,
          lookahead_s: float, log=print) -> AdaptedLogs:
    """Write the impressions and playbacks of the KuaiRand CSV ``inputs``; return what was written."""
    source = read_log(spark, inputs)
    rows, undated, imp_days = _write_days(spark, to_impressions(source), impressions_root)
    log(f"kuairand: {rows:,} impressions written to {impressions_root} ({len(imp_days)} days)")
    _, _, play_days = _write_days(spark, to_playbacks(source, lookahead_s), playbacks_root)
    log(f"kuairand: {rows:,} playbacks written to {playbacks_root} ({len(play_days)} days)")
    if undated:
        log(f"kuairand: WARNING {undated:,} row(s) have no parsable time_ms, so no UTC day: they are kept "
            "under dt=__HIVE_DEFAULT_PARTITION__, which no daily build reads")
    empty = []
    for day in sorted({dt.date.fromisoformat(d) + dt.timedelta(days=1) for d in imp_days}):
        path = partition_path(playbacks_root, day)
        if not path_exists(spark, path):
            empty_plays = spark.createDataFrame([], to_playbacks(source, lookahead_s).drop("dt").schema)
            empty_plays.write.mode("overwrite").parquet(path)
            empty.append(day.isoformat())
    if empty:
        log(f"kuairand: no play ends on {', '.join(empty)}: written as empty playback day(s), so "
            "build_samples of the day before needs no --allow-incomplete")
    return AdaptedLogs(rows, undated, imp_days, sorted(set(play_days) | set(empty)), empty)
