"""build_samples: raw impression and playback logs of day D -> weighted samples and quarantine (Delta).

The rules are CONTRACT.md "build_samples" 1-6. The transforms below are pure (DataFrame in, DataFrame
out); ``build_samples`` reads, calls them, checks the report's two identities and only then commits.

Shape of the computation (each arrow at most one shuffle, keyed so the next step can reuse it):
  impressions D   --classify (window by impression_id)-----------------------> accepted + rejected
  impressions D-1 --valid, earliest ts per impression_id (hash aggregate)----> keys for `carried`
  playbacks D,D+1 --classify (window by event_id)--> join keys on impression_id --> per-play status
  per-play status --sum play_ms of D's matches by impression_id--> watch time --> samples (w, duplicated)
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from wce_spark.config import Config
from wce_spark.errors import UserError
from wce_spark.lake.snapshot import quarantine_table, samples_table
from wce_spark.spark import delta_io
from wce_spark.spark.columns import weight_col
from wce_spark.spark.raw_logs import (IMPRESSION_COLUMNS, PLAYBACK_COLUMNS, RawDay, empty_day,
                                      partition_path, path_exists, read_partition)
from wce_spark.storage import write_json_atomic

# Quarantine reasons (CONTRACT rules 1, 2 and 5) and playback outcomes.
MISSING_KEY, BAD_DURATION, BAD_PLAY_MS, DUPLICATE = "missing_key", "bad_duration", "bad_play_ms", "duplicate"
ORPHAN, OUT_OF_WINDOW = "orphan", "out_of_window"
USED, CARRIED = "used", "carried"

SAMPLE_COLUMNS = ["dt", "impression_id", "label", "weight", "watch_time_s", "user_id", "video_id",
                  "author_id", "video_duration_s", "hour", "event_ts", "holdout_bucket"]
DERIVED_COLUMNS = {"dt", "label", "weight", "watch_time_s", "hour", "holdout_bucket"}
HOLDOUT_BUCKETS = 1000
SERIALIZED = StorageLevel.MEMORY_AND_DISK  # in PySpark: serialized bytes, no per-row objects for the GC


def holdout_bucket(impression_id: Column) -> Column:
    """A stable bucket in [0, 1000) per impression: rows with bucket < 1000 * retrain.holdout_fraction
    are held out of training for evaluation. Both copies of an impression share it."""
    return F.pmod(F.xxhash64(impression_id), F.lit(HOLDOUT_BUCKETS)).cast("int")


@dataclass(frozen=True)
class BuildParams:
    day: dt.date
    lookahead_s: float
    cap_s: float
    weight_fn: str
    mode: str

    @classmethod
    def from_config(cls, cfg: Config, day: dt.date) -> "BuildParams":
        return cls(day=day, lookahead_s=float(cfg["watch_time.lookahead_hours"]) * 3600.0,
                   cap_s=float(cfg["watch_time.cap_s"]), weight_fn=cfg["weight.fn"], mode=cfg["samples.mode"])


# ----------------------------------------------------------------------------------------- transforms
def _missing(c: str) -> Column:
    col = F.col(c)
    return col.isNull() | (F.trim(col.cast("string")) == "")


def _any_failed(rules: list[tuple[str, Column]]) -> Column:
    failed = F.lit(False)
    for _, rule in rules:
        failed = failed | F.coalesce(rule, F.lit(False))
    return failed


def classify_rows(df: DataFrame, id_col: str, validity: list[tuple[str, Column]]) -> DataFrame:
    """Add ``reason``: the first failing validity rule, else ``duplicate`` for all but the earliest
    valid row of each ``id_col``, else null (accepted). Ties on event_ts are broken by the other
    columns so that reruns keep the same row."""
    reason = F.lit(None).cast("string")
    for name, failed in reversed(validity):
        reason = F.when(failed, F.lit(name)).otherwise(reason)
    flagged = df.withColumn("reason", reason)
    tiebreak = [F.col(c).asc_nulls_last() for c in df.columns if c not in (id_col, "event_ts")
                and not dict(df.dtypes)[c].startswith(("map", "array", "struct", "binary"))]
    # Valid rows sort first inside each id, so their rank counts only valid rows.
    order = Window.partitionBy(id_col).orderBy(F.col("reason").isNotNull(), F.col("event_ts"), *tiebreak)
    return (flagged
            .withColumn("_rank", F.row_number().over(order))
            .withColumn("reason", F.when(F.col("reason").isNull() & (F.col("_rank") > 1), F.lit(DUPLICATE))
                        .otherwise(F.col("reason")))
            .drop("_rank"))


def impression_rules() -> list[tuple[str, Column]]:
    """CONTRACT rule 1's validity checks, in order."""
    duration = F.col("video_duration_s")
    return [
        (MISSING_KEY, _missing("impression_id") | _missing("user_id") | _missing("video_id")
         | F.col("event_ts").isNull()),
        # NaN and infinity are not durations; NaN compares as the largest double in Spark, so test it explicitly.
        (BAD_DURATION, duration.isNull() | F.isnan(duration) | (duration <= 0) | (duration == float("inf"))),
    ]


def playback_rules() -> list[tuple[str, Column]]:
    """CONTRACT rule 2's validity checks, in order."""
    return [
        (MISSING_KEY, _missing("event_id") | _missing("impression_id") | F.col("event_ts").isNull()),
        (BAD_PLAY_MS, F.col("play_ms").isNull() | (F.col("play_ms") < 0)),
    ]


def classify_impressions(df: DataFrame) -> DataFrame:
    return classify_rows(df, "impression_id", impression_rules())


def classify_playbacks(df: DataFrame) -> DataFrame:
    return classify_rows(df, "event_id", playback_rules())


def accepted_playbacks(df: DataFrame) -> DataFrame:
    """The plays classify_playbacks would accept (used for D+1, whose rejects are D+1's own business)."""
    return classify_playbacks(df).where(F.col("reason").isNull())


def impression_keys(impressions: DataFrame, ts_name: str) -> DataFrame:
    """(impression_id, <ts_name>) of the accepted impressions of raw ``impressions``: a valid row's id,
    with the earliest valid event_ts (the row de-duplication keeps). A hash aggregate: no sort needed."""
    valid = ~_any_failed(impression_rules())
    return impressions.where(valid).groupBy("impression_id").agg(F.min("event_ts").alias(ts_name))


def accepted_keys(classified: DataFrame, ts_name: str) -> DataFrame:
    """The same keys taken from already classified impressions (no second pass over the raw rows)."""
    return classified.where(F.col("reason").isNull()).select("impression_id", F.col("event_ts").alias(ts_name))


def plays_in_reach(plays_next: DataFrame, day: dt.date, lookahead_s: float) -> DataFrame:
    """The plays of D+1 that can still fall in the window of an impression of D (event_ts <= D+1 00:00
    + L), before de-duplication: of the copies of one event_id, the earliest is kept whenever any is."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    cutoff_us = int(midnight.timestamp()) * 1_000_000 + int(round(lookahead_s * 1_000_000))
    return plays_next.where(F.unix_micros(F.col("event_ts")) <= F.lit(cutoff_us))


def match_playbacks(plays_d: DataFrame, plays_next: DataFrame, keys_d: DataFrame, keys_prev: DataFrame,
                    lookahead_s: float) -> DataFrame:
    """Every play of D and every accepted play of D+1 with ``outcome`` (CONTRACT rules 2, 3 and 5: its
    quarantine ``reason`` if it has one, else used / carried / orphan / out_of_window) and ``of_day``
    (True for D's own plays). For D+1's plays only ``used`` matters: they add watch time to D.
    ``plays_d`` is classify_playbacks' output; its other columns are kept for the quarantine record.
    The keys are joined by hash on impression_id (one shuffle of the plays, no sort)."""
    lookahead_us = int(round(lookahead_s * 1_000_000))
    plays = (plays_d.withColumn("of_day", F.lit(True))
             .unionByName(plays_next.select("event_id", "impression_id", "event_ts", "play_ms",
                                            F.lit(None).cast("string").alias("reason"), F.lit(False).alias("of_day")),
                          allowMissingColumns=True))
    play_us = F.unix_micros(F.col("event_ts"))

    def within(ts: str) -> Column:
        start = F.unix_micros(F.col(ts))
        return F.col(ts).isNotNull() & (play_us >= start) & (play_us <= start + F.lit(lookahead_us))

    outcome = (F.when(F.col("reason").isNotNull(), F.col("reason"))
               .when(within("ts_d"), F.lit(USED))
               .when(within("ts_prev"), F.lit(CARRIED))
               .when(F.col("ts_d").isNull() & F.col("ts_prev").isNull(), F.lit(ORPHAN))
               .otherwise(F.lit(OUT_OF_WINDOW)))
    return (plays.join(keys_d.hint("shuffle_hash"), "impression_id", "left")
            .join(keys_prev.hint("shuffle_hash"), "impression_id", "left")
            .withColumn("outcome", outcome).drop("ts_d", "ts_prev"))


def watch_times(matched: DataFrame, cap_s: float) -> DataFrame:
    """(impression_id, watch_time_s) for impressions of D with at least one used play (rule 4).
    play_ms is summed as double: a huge logged value must not overflow the job."""
    return (matched.where(F.col("outcome") == USED)
            .groupBy("impression_id")
            .agg(F.least(F.lit(cap_s), F.sum(F.col("play_ms").cast("double")) / 1000.0).alias("watch_time_s")))


def to_samples(accepted: DataFrame, params: BuildParams) -> DataFrame:
    """Accepted impressions of D with their ``watch_time_s`` (null: no play) -> training rows:
    ``duplicated`` gives a positive (weight w) and a negative (weight 1) per impression, ``weighted``
    one positive with weight w."""
    extras = [c for c in accepted.columns if c not in SAMPLE_COLUMNS and not c.startswith("_")]
    base = (accepted
            .withColumn("watch_time_s", F.coalesce(F.col("watch_time_s"), F.lit(0.0)))
            .withColumn("author_id", F.coalesce(F.col("author_id"), F.lit("")))
            .withColumn("hour", F.hour("event_ts"))
            .withColumn("holdout_bucket", holdout_bucket(F.col("impression_id")))
            .withColumn("dt", F.lit(params.day).cast("date"))
            .withColumn("_w", weight_col(F.col("watch_time_s"), params.weight_fn)))
    copies = [F.struct(F.lit(1).alias("label"), F.col("_w").alias("weight"))]
    if params.mode == "duplicated":
        copies.append(F.struct(F.lit(0).alias("label"), F.lit(1.0).alias("weight")))
    return (base.withColumn("_copy", F.explode(F.array(*copies)))
            .select(*[F.col(f"_copy.{c}").alias(c) if c in ("label", "weight") else F.col(c)
                      for c in SAMPLE_COLUMNS], *extras))


def to_quarantine(rejected: DataFrame, source: str, day: dt.date) -> DataFrame:
    return rejected.select(F.lit(day).cast("date").alias("dt"), F.lit(source).alias("source"),
                           F.col("reason"), F.col("record"))


# ------------------------------------------------------------------------------------------- the job
class _Progress:
    def __init__(self, day: dt.date):
        self.day, self.t0 = day, time.monotonic()

    def __call__(self, msg: str) -> None:
        print(f"build_samples[{self.day}] {time.monotonic() - self.t0:6.1f}s  {msg}", flush=True)


def _read(spark: SparkSession, root: str, day: dt.date, columns: dict, what: str,
          required: bool, allow_missing: bool, why: str) -> RawDay:
    path = partition_path(root, day)
    if path_exists(spark, path):
        return read_partition(spark, root, day, columns, what)
    if required or not allow_missing:
        hint = "" if required else " (pass --allow-incomplete to build without it)"
        raise UserError(f"{what} for {day} not found at {path}: {why}{hint}")
    return empty_day(spark, columns)


def _drop_checkpoint(df: DataFrame) -> None:
    """Free a local checkpoint's blocks now, not at the JVM's next GC (daily_retrain builds day after
    day in one session). PySpark has no public call for it; the plan's LogicalRDD holds the RDD."""
    df._jdf.queryExecution().analyzed().rdd().unpersist(False)


def counts_by(df: DataFrame, column: str) -> dict[str, int]:
    """Small aggregate to the driver: one row per distinct value."""
    return {row[0]: int(row[1]) for row in df.groupBy(column).count().collect()}


def check_identities(report: dict) -> None:
    imp, pb = report["impressions"], report["playbacks"]
    problems = []
    if imp["read"] != imp["accepted"] + sum(imp["quarantined"].values()):
        problems.append(f"impressions read {imp['read']} != accepted {imp['accepted']} + quarantined "
                        f"{sum(imp['quarantined'].values())}")
    if pb["read"] != pb["used"] + pb["carried"] + sum(pb["quarantined"].values()):
        problems.append(f"playbacks read {pb['read']} != used {pb['used']} + carried {pb['carried']} + "
                        f"quarantined {sum(pb['quarantined'].values())}")
    if problems:
        raise UserError("reconciliation failed, nothing written: " + "; ".join(problems))


def build_samples(spark: SparkSession, cfg: Config, day: dt.date, allow_incomplete: bool = False) -> dict:
    """Build day ``day`` into ``<paths.lake>/samples`` and ``/quarantine`` and return the run report.
    Nothing is committed unless both reconciliation identities hold."""
    params = BuildParams.from_config(cfg, day)
    log = _Progress(day)
    imp_root, pb_root = cfg["paths.impressions"], cfg["paths.playbacks"]
    samples_path, quarantine_path = samples_table(cfg), quarantine_table(cfg)
    prev, nxt = day - dt.timedelta(days=1), day + dt.timedelta(days=1)

    imp_raw = _read(spark, imp_root, day, IMPRESSION_COLUMNS, "impressions", True, False, "nothing to build")
    clash = sorted(DERIVED_COLUMNS & set(imp_raw.df.columns))
    if clash:
        raise UserError(f"impressions for {day} carry column(s) {', '.join(clash)}, which build_samples derives")
    pb_raw = _read(spark, pb_root, day, PLAYBACK_COLUMNS, "playbacks", False, allow_incomplete,
                   "watch times would be missing")
    pb_next_raw = (_read(spark, pb_root, nxt, PLAYBACK_COLUMNS, "playbacks", False, allow_incomplete,
                         "plays that end after midnight count for this day (lookahead > 0)")
                   if params.lookahead_s > 0 else empty_day(spark, PLAYBACK_COLUMNS))
    imp_prev_path = partition_path(imp_root, prev)
    imp_prev = (read_partition(spark, imp_root, prev, IMPRESSION_COLUMNS, "impressions")
                if path_exists(spark, imp_prev_path) else empty_day(spark, IMPRESSION_COLUMNS))
    log("inputs found; classifying and joining")

    # The two results every output and count is taken from, computed once and kept: the classified
    # impressions (all raw columns; the JSON record is made later, for quarantined rows only) and one
    # narrow row per play. The counts are taken from them, checked, and only then is anything written.
    # Kept as local checkpoints (the rows as computed, serialized, in executor memory spilling to disk):
    # about half the cost of persist()'s compressed columnar cache for data read back once, in full.
    # Like a cache they live on the executors: a lost executor fails the run, before any commit.
    impressions = classify_impressions(imp_raw.df).localCheckpoint(eager=False, storageLevel=SERIALIZED)
    matched = match_playbacks(classify_playbacks(pb_raw.df),
                              accepted_playbacks(plays_in_reach(pb_next_raw.df, day, params.lookahead_s)),
                              accepted_keys(impressions, "ts_d"), impression_keys(imp_prev.df, "ts_prev"),
                              params.lookahead_s)
    quarantined_play = F.col("of_day") & ~F.col("outcome").isin(USED, CARRIED)
    plays = (matched.where(F.col("of_day") | (F.col("outcome") == USED))  # D+1's other plays: D+1's business
             .select("impression_id", "play_ms", "of_day", "outcome",
                     F.when(quarantined_play, pb_raw.record).alias("record"))
             .localCheckpoint(eager=False, storageLevel=SERIALIZED))
    try:
        imp_counts = counts_by(impressions, "reason")
        play_counts = counts_by(plays.where(F.col("of_day")), "outcome")
        accepted = imp_counts.pop(None, 0)
        report = {
            "date": day.isoformat(),
            "impressions": {"read": imp_raw.df.count(), "accepted": accepted, "quarantined": imp_counts},
            "playbacks": {"read": pb_raw.df.count(), "used": play_counts.pop(USED, 0),
                          "carried": play_counts.pop(CARRIED, 0), "quarantined": play_counts},
            "samples": {"written": accepted * (2 if params.mode == "duplicated" else 1), "mode": params.mode,
                        "weight_fn": params.weight_fn},
            "inputs": {"impressions": partition_path(imp_root, day), "playbacks": partition_path(pb_root, day),
                       "playbacks_next_day_present": path_exists(spark, partition_path(pb_root, nxt))},
        }
        check_identities(report)
        log(f"reconciled: {report['impressions']['read']} impressions, {report['playbacks']['read']} playbacks")

        accepted_rows = (impressions.where(F.col("reason").isNull()).drop("reason")
                         .join(watch_times(plays, params.cap_s).hint("shuffle_hash"), "impression_id", "left"))
        samples = to_samples(accepted_rows, params)
        quarantine = (to_quarantine(impressions.where(F.col("reason").isNotNull())
                                    .withColumn("record", imp_raw.record), "impressions", day)
                      .unionByName(to_quarantine(plays.where(quarantined_play).withColumnRenamed("outcome", "reason"),
                                                 "playbacks", day)))
        delta_io.ensure_table(spark, samples_path, samples,
                              {delta_io.PROP_MODE: params.mode, delta_io.PROP_WEIGHT_FN: params.weight_fn})
        delta_io.ensure_table(spark, quarantine_path, quarantine, {})
        delta_io.replace_day(samples, samples_path, day)
        log(f"committed {report['samples']['written']} sample rows to {samples_path}")
        delta_io.replace_day(quarantine, quarantine_path, day)
        log(f"committed {sum(report['impressions']['quarantined'].values()) + sum(play_counts.values())} "
            f"quarantined rows to {quarantine_path}")
    finally:
        _drop_checkpoint(impressions)
        _drop_checkpoint(plays)

    report["samples"]["table_version"] = delta_io.table_version(spark, samples_path)
    report["quarantine"] = {"table_version": delta_io.table_version(spark, quarantine_path)}
    report_path = f"{cfg['paths.reports'].rstrip('/')}/build_samples/{day.isoformat()}.json"
    write_json_atomic(report_path, report)
    log(f"report at {report_path}")
    return report
