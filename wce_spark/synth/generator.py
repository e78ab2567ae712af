"""Generate raw impression and playback logs (CONTRACT "Raw logs"), their truth and their manifest.

For each generated day D this writes, overwriting only those partitions:
- ``<paths.impressions>/dt=D/``: the clean impressions (+ the dirty rows with ``dirty``),
- ``<paths.truth>/dt=D/``: per clean impression the exact E[w | x] for every weight.fn, the mean and
  the realised watch time, and the latent engagement,
- ``<paths.playbacks>/dt=P/`` for P = D and the day(s) after the last D that plays cross into (written
  even when empty, so every generated day has the ``dt=D+1`` partition build_samples reads),
- ``<paths.reports>/synth/manifest.json``: per day, the counts build_samples must report, aggregated
  from the outcome each generated row was made to have (merged with the days of earlier runs).

A run is one world: plays in ``dt=start`` come only from ``start``'s impressions (carried = 0 there),
so generate adjacent days in one run. The truth's realised watch time is what build_samples measures
when the lookahead covers cap + a few seconds (true for the default conf).
"""
from __future__ import annotations

import datetime as dt
import json
import math
from contextlib import contextmanager
from typing import Iterator

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from wce_spark import storage
from wce_spark.config import Config
from wce_spark.errors import UserError
from wce_spark.spark.raw_logs import IMPRESSION_COLUMNS, PLAYBACK_COLUMNS, partition_path
from wce_spark.synth.dirt import LINKED, dirty_impression_structs, dirty_play_structs, impression_struct
from wce_spark.synth.world import (DAY_MS, MAX_SEGMENTS, PAUSE_MS, START_DELAY_MS, SynthParams,
                                   clean_impressions, day_number, truth, watch_segments)

JOB = "generate_logs"
IMPRESSION_OUTPUT = [*IMPRESSION_COLUMNS, "device"]
PLAYBACK_OUTPUT = list(PLAYBACK_COLUMNS)
IMPRESSION_REASONS = ("missing_key", "bad_duration", "duplicate")
PLAYBACK_REASONS = ("missing_key", "bad_play_ms", "duplicate", "orphan", "out_of_window")
ROWS_PER_PARTITION = 2_000_000
JIT_METHOD_LIMIT = 8000
LATEST_DIRTY_AFTER_MS = 23 * 3_600_000 + 1_800_000  # an "after" play: impression by 23:00 + L + 30 min


def manifest_path(cfg: Config) -> str:
    return f"{cfg['paths.reports'].rstrip('/')}/synth/manifest.json"


def playback_outcome(lookahead_ms: int) -> Column:
    """What build_samples must make of a generated play in partition ``_day``: its fixed reason, or for a
    play of a valid impression, used / carried inside [imp.ts, imp.ts + L] on the impression's day /
    the day after, out_of_window outside it, orphan when it lands 2+ days later (no impression of D or D-1)."""
    in_window = (F.col("_ts_ms") >= F.col("_imp_ts_ms")) & (F.col("_ts_ms") <= F.col("_imp_ts_ms") + lookahead_ms)
    days_after = F.col("_day") - F.col("_imp_day")
    return (F.when(F.col("_kind") != LINKED, F.col("_kind"))
            .when(in_window & (days_after == 0), "used")
            .when(in_window & (days_after == 1), "carried")
            .when(days_after.isin(0, 1), "out_of_window")
            .otherwise("orphan"))


def _spill_days(p: SynthParams) -> int:
    """How many days after its impression's day a generated play can land."""
    latest_clean_ms = DAY_MS + START_DELAY_MS + math.ceil(p.cap_s * 1000) + (MAX_SEGMENTS - 1) * PAUSE_MS
    return (max(latest_clean_ms, LATEST_DIRTY_AFTER_MS + p.lookahead_ms) - 1) // DAY_MS


def _exploded(rows: list[Column]) -> Column:
    """One output row per non-null struct (compacting first is cheaper than exploding the nulls)."""
    return F.explode(F.array_compact(F.array(*rows))).alias("_row")


def _impression_rows(impressions: DataFrame, p: SynthParams, dirty: bool) -> DataFrame:
    """The day's impression log rows with ``_expect``: each clean row, and with ``dirty`` the extra ones."""
    rows = [impression_struct("accepted"), *(dirty_impression_structs(p) if dirty else [])]
    return impressions.select(_exploded(rows)).select("_row.*")


def _playbacks_from(impressions: DataFrame, p: SynthParams, dirty: bool) -> DataFrame:
    """All plays of one day's impressions, whatever partition they land in (``_day``), with ``_expect``."""
    segments = watch_segments(p, LINKED)
    staged = impressions.select("impression_id", "_day", "_ts_ms", "_hour",
                                *[s.alias(f"_segment{j}") for j, s in enumerate(segments)])
    rows = [F.col(f"_segment{j}") for j in range(len(segments))]
    if dirty:
        rows += dirty_play_structs(p, rows)
    exploded = staged.select(F.col("_day").alias("_imp_day"), F.col("_ts_ms").alias("_imp_ts_ms"), _exploded(rows))
    return exploded.select(
        "_imp_day", "_imp_ts_ms", "_row.*",
        # A play without a timestamp is logged in its impression's day.
        F.coalesce(F.floor(F.col("_row._ts_ms") / DAY_MS), F.col("_imp_day")).alias("_day"),
        F.timestamp_millis("_row._ts_ms").alias("event_ts"),
    ).withColumn("_expect", playback_outcome(p.lookahead_ms))


def _write_counted(rows: DataFrame, output: list[str], path: str, outcomes: tuple[str, ...],
                   partitions: int) -> dict[str, int]:
    """Write ``output`` of ``rows`` to ``path`` and count the rows per ``_expect`` in the same pass
    (an Observation: only these few numbers come back to the driver)."""
    observation = Observation()
    observed = rows.observe(observation, F.count(F.lit(1)).alias("_rows"),
                            *[F.count(F.when(F.col("_expect") == o, 1)).alias(o) for o in outcomes])
    _write(observed.select(*output), path, partitions)
    counts = dict(observation.get)
    total = counts.pop("_rows")
    if total != sum(counts.values()):  # an outcome outside the contract's list would break the manifest
        raise RuntimeError(f"{path}: {total} rows but {sum(counts.values())} with a known outcome")
    return counts


def _impression_entry(counts: dict[str, int]) -> dict:
    quarantined = {r: counts[r] for r in IMPRESSION_REASONS if counts.get(r)}
    accepted = counts.get("accepted", 0)
    return {"read": accepted + sum(quarantined.values()), "accepted": accepted, "quarantined": quarantined}


def _playback_entry(counts: dict[str, int]) -> dict:
    quarantined = {r: counts[r] for r in PLAYBACK_REASONS if counts.get(r)}
    used, carried = counts.get("used", 0), counts.get("carried", 0)
    return {"read": used + carried + sum(quarantined.values()), "used": used, "carried": carried,
            "quarantined": quarantined}


def _write_impressions(impressions: DataFrame, cfg: Config, p: SynthParams, day: dt.date, dirty: bool,
                       partitions: int) -> dict:
    """The day's impressions (+ dirt) and truth; returns the manifest's impressions entry."""
    rows = _impression_rows(impressions, p, dirty)
    counts = _write_counted(rows, IMPRESSION_OUTPUT, partition_path(cfg["paths.impressions"], day),
                            ("accepted", *IMPRESSION_REASONS), partitions)
    _write(truth(impressions, p), partition_path(cfg["paths.truth"], day), partitions)
    entry = _impression_entry(counts)
    print(f"{JOB}: {day} impressions: {entry['read']} rows, {entry['accepted']} clean, "
          f"quarantine-bound {entry['quarantined']}", flush=True)
    return entry


def _write_playbacks(plays_by_source: list[DataFrame], p: SynthParams, cfg: Config, day: dt.date,
                     partitions: int) -> dict:
    """Partition ``day`` of the playbacks: every play of the source days that lands there (written even
    when empty); returns the manifest's playbacks entry."""
    plays = plays_by_source[0]
    for more in plays_by_source[1:]:
        plays = plays.unionByName(more)
    plays = plays.where(F.col("_day") == day_number(day))
    entry = _playback_entry(_write_counted(plays, PLAYBACK_OUTPUT, partition_path(cfg["paths.playbacks"], day),
                                           ("used", "carried", *PLAYBACK_REASONS), partitions))
    print(f"{JOB}: {day} playbacks: {entry['read']} rows, used {entry['used']}, carried {entry['carried']}, "
          f"quarantine-bound {entry['quarantined']}", flush=True)
    return entry


def _write(df: DataFrame, path: str, partitions: int) -> None:
    df.coalesce(partitions).write.mode("overwrite").parquet(path)


@contextmanager
def _jit_sized_methods(spark: SparkSession) -> Iterator[None]:
    """The truth's K outcomes and the dirt's candidate rows make whole-stage methods larger than
    HotSpot's 8000-byte JIT limit, so they would run interpreted, several times slower; with this
    limit Spark falls back to per-expression code in small, compiled methods (Spark's advice for
    HotSpot). Set for the generator's queries only: the session is shared."""
    key = "spark.sql.codegen.hugeMethodLimit"
    before = spark.conf.get(key)
    if int(before) > JIT_METHOD_LIMIT:
        spark.conf.set(key, str(JIT_METHOD_LIMIT))
    try:
        yield
    finally:
        spark.conf.set(key, before)


def _read_manifest(path: str) -> dict:
    if not storage.exists(path):
        return {}
    try:
        return json.loads(storage.read_text(path))
    except json.JSONDecodeError:
        raise UserError(f"{path} is not valid JSON; delete it to start a new manifest") from None


def generate_logs(spark: SparkSession, cfg: Config, start: dt.date, days: int, dirty: bool,
                  impressions_per_day: int | None = None) -> dict:
    """Write ``days`` days of raw logs from ``start`` (see the module doc); return a summary with the
    manifest entries per day and the paths written."""
    if days < 1:
        raise UserError(f"days must be >= 1; got {days}")
    p = SynthParams.from_config(cfg, impressions_per_day)
    partitions = max(spark.sparkContext.defaultParallelism, math.ceil(p.impressions_per_day / ROWS_PER_PARTITION))
    generated = [start + dt.timedelta(days=i) for i in range(days)]
    spill = _spill_days(p)
    play_days = generated + [generated[-1] + dt.timedelta(days=i) for i in range(1, spill + 1)]
    settings = {"seed": p.seed, "dirty": dirty, "dirty_fraction": p.dirty_fraction,
                "impressions_per_day": p.impressions_per_day, "users": p.users, "videos": p.videos,
                "authors": p.authors, "cap_s": p.cap_s, "lookahead_hours": cfg["watch_time.lookahead_hours"],
                "run_start": start.isoformat(), "run_days": days}
    entries: dict[str, dict] = {}
    # Impressions of the days whose plays are still to write (cached: truth, dirt and plays read them),
    # and those plays, built once for the partitions they land in.
    cached: dict[dt.date, DataFrame] = {}
    plays_of: dict[dt.date, DataFrame] = {}
    try:
        with _jit_sized_methods(spark):
            for day in play_days:
                if day in generated:
                    cached[day] = clean_impressions(spark, p, day, partitions).persist()
                    plays_of[day] = _playbacks_from(cached[day], p, dirty)
                    entries[day.isoformat()] = {
                        "impressions": _write_impressions(cached[day], cfg, p, day, dirty, partitions),
                        "complete": True, "generated": settings}
                else:
                    entries[day.isoformat()] = {
                        "impressions": None, "complete": False, "generated": settings,
                        "note": f"only the plays that crossed midnight from {generated[-1]}; no impressions "
                                "were generated for this day"}
                for source in [d for d in cached if (day - d).days > spill]:
                    cached.pop(source).unpersist()
                    plays_of.pop(source)
                entries[day.isoformat()]["playbacks"] = _write_playbacks(list(plays_of.values()), p, cfg, day,
                                                                         partitions)
    finally:
        for impressions in cached.values():
            impressions.unpersist()

    path = manifest_path(cfg)
    manifest = _read_manifest(path)
    manifest.setdefault("days", {}).update(entries)
    manifest["about"] = ("per dt, what build_samples must report for that day's raw partitions "
                         "(quarantined lists only reasons with rows); days with complete=false lack impressions")
    storage.write_json_atomic(path, manifest)
    print(f"{JOB}: manifest {path}", flush=True)
    return {"days": entries, "manifest": path,
            "paths": {name: cfg[f"paths.{name}"] for name in ("impressions", "playbacks", "truth")}}
