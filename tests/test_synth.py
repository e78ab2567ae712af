"""The synthetic log generator: contract layout, determinism, skew, exact truth, midnight crossings,
and the dirty rows with their manifest. Tiny days (2000 impressions) on the session's local Spark."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pytest
from pyspark.sql import functions as F

from tests.conftest import ROOT, config_under
from wce_spark.spark.raw_logs import IMPRESSION_COLUMNS, PLAYBACK_COLUMNS, partition_path

START = dt.date(2026, 3, 1)
DAYS = [START, START + dt.timedelta(days=1)]
AFTER_LAST = START + dt.timedelta(days=2)
N = 2000


@pytest.fixture(scope="module")
def clean(spark, tmp_path_factory):
    from wce_spark.synth import generate_logs

    cfg = config_under(tmp_path_factory.mktemp("synth_clean"))
    return cfg, generate_logs(spark, cfg, START, len(DAYS), dirty=False, impressions_per_day=N)


@pytest.fixture(scope="module")
def dirty(spark, tmp_path_factory):
    from wce_spark.synth import generate_logs

    cfg = config_under(tmp_path_factory.mktemp("synth_dirty"))
    return cfg, generate_logs(spark, cfg, START, len(DAYS), dirty=True, impressions_per_day=N)


def _read(spark, cfg, log: str):
    return spark.read.parquet(cfg[f"paths.{log}"])


def _same_rows(a, b) -> bool:
    return a.exceptAll(b).count() == 0 and b.exceptAll(a).count() == 0


def test_layout_types_and_partitions_follow_the_contract(spark, clean, dirty):
    for cfg, _ in (clean, dirty):
        impressions, playbacks = _read(spark, cfg, "impressions"), _read(spark, cfg, "playbacks")
        types = dict(impressions.dtypes)
        for name, dtype in IMPRESSION_COLUMNS.items():
            assert types[name] == dtype.simpleString(), name
        assert types["device"] == "string" and types["dt"] == "date"
        types = dict(playbacks.dtypes)
        for name, dtype in PLAYBACK_COLUMNS.items():
            assert types[name] == dtype.simpleString(), name
        # dt is the UTC date of event_ts for every row that has one
        for df in (impressions, playbacks):
            assert df.where(F.col("event_ts").isNotNull() & (F.to_date("event_ts") != F.col("dt"))).count() == 0
        assert sorted(r.dt for r in impressions.select("dt").distinct().collect()) == DAYS
        assert sorted(r.dt for r in playbacks.select("dt").distinct().collect()) == [*DAYS, AFTER_LAST]
    cfg, summary = clean
    truth = spark.read.parquet(partition_path(cfg["paths.truth"], START))
    assert set(truth.columns) >= {"impression_id", "expected_w_log2", "expected_w_log2_plus1", "expected_w_linear",
                                  "expected_watch_time_s", "watch_time_s"}
    assert truth.count() == N == summary["days"][START.isoformat()]["impressions"]["accepted"]
    ids = _read(spark, cfg, "impressions")
    assert ids.select("impression_id").distinct().count() == ids.count() == 2 * N
    assert ids.where(~F.col("user_id").rlike("^u[0-9]+$") | ~F.col("video_id").rlike("^v[0-9]+$")
                     | ~F.col("author_id").rlike("^a[0-9]+$")).count() == 0
    # each video has one author and one duration, within [3, 7200] s
    per_video = ids.groupBy("video_id").agg(F.countDistinct("author_id").alias("a"),
                                           F.countDistinct("video_duration_s").alias("d"),
                                           F.min("video_duration_s").alias("lo"), F.max("video_duration_s").alias("hi"))
    row = per_video.agg(F.max("a"), F.max("d"), F.min("lo"), F.max("hi")).first()
    assert tuple(row)[:2] == (1, 1) and 3 <= row[2] and row[3] <= 7200


def test_same_seed_same_rows_other_seed_other_rows(spark, clean, tmp_path):
    from wce_spark.synth import generate_logs

    cfg, _ = clean
    again = config_under(tmp_path / "again")
    generate_logs(spark, again, START, 1, dirty=False, impressions_per_day=N)
    for log in ("impressions", "playbacks", "truth"):  # day 1's plays come only from day 1 in both runs
        assert _same_rows(spark.read.parquet(partition_path(cfg[f"paths.{log}"], START)),
                          spark.read.parquet(partition_path(again[f"paths.{log}"], START))), log

    other = config_under(tmp_path / "other", "synth.seed=8")
    generate_logs(spark, other, START, 1, dirty=False, impressions_per_day=200)
    first = spark.read.parquet(partition_path(cfg["paths.impressions"], START))
    second = spark.read.parquet(partition_path(other["paths.impressions"], START))
    assert first.join(second, "impression_id").count() == 0


def test_traffic_is_skewed_towards_popular_videos_and_active_users(spark, clean):
    cfg, _ = clean
    impressions = _read(spark, cfg, "impressions")
    total = impressions.count()

    def top_decile_share(column: str, catalogue: int) -> float:
        counts = [r["count"] for r in impressions.groupBy(column).count().orderBy(F.desc("count")).collect()]
        return sum(counts[: catalogue // 10]) / total

    assert top_decile_share("video_id", cfg["synth.videos"]) > 0.4
    assert top_decile_share("user_id", cfg["synth.users"]) > 0.25
    hours = {r["h"]: r["count"] for r in impressions.groupBy(F.hour("event_ts").alias("h")).count().collect()}
    assert hours[21] > 3 * hours[9]  # evening peak


def test_truth_is_the_mean_weight_over_the_k_outcomes(spark, clean):
    """Recompute E[w | x] for a few impressions in NumPy through wce_spark.weighting."""
    from wce_spark import weighting
    from wce_spark.synth import world

    cfg, _ = clean
    truth = spark.read.parquet(partition_path(cfg["paths.truth"], START))
    impressions = spark.read.parquet(partition_path(cfg["paths.impressions"], START))
    rows = (truth.join(impressions.select("impression_id", "video_duration_s"), "impression_id")
            .orderBy("impression_id").limit(25).toPandas())
    cap = float(cfg["watch_time.cap_s"])
    for r in rows.itertuples():
        fraction = world.FRACTION_MAX / (1.0 + np.exp(-(r.engagement + np.array(world.SHIFTS))))
        watched = np.minimum(cap, r.video_duration_s * fraction)
        outcomes = np.where(watched < world.SKIP_BELOW_S, 0.0, np.floor(watched * 1000.0 + 0.5) / 1000.0)
        assert len(outcomes) == world.K == 16
        assert r.expected_w_log2 == pytest.approx(weighting.weight(outcomes, "log2").mean(), abs=1e-9)
        assert r.expected_w_log2_plus1 == pytest.approx(weighting.weight(outcomes, "log2_plus1").mean(), abs=1e-9)
        assert r.expected_w_linear == pytest.approx(outcomes.mean(), abs=1e-9)
        assert r.expected_watch_time_s == pytest.approx(outcomes.mean(), abs=1e-9)
        assert np.isclose(outcomes, r.watch_time_s, atol=1e-9).any()  # the realised one is one of the K


def test_plays_sum_to_the_truth_and_realised_weights_match_expectation(spark, clean):
    """The play segments of each impression (both partitions) sum to its watch time exactly, and the
    mean realised log2(wt+1) agrees with the mean E[w] within 4 standard errors."""
    from wce_spark.spark.columns import weight_col

    cfg, _ = clean
    truth = _read(spark, cfg, "truth")
    played = _read(spark, cfg, "playbacks").groupBy("impression_id").agg(F.sum("play_ms").alias("ms"))
    joined = truth.join(played, "impression_id", "left").fillna({"ms": 0})
    assert joined.count() == 2 * N
    assert joined.where(F.col("ms") != F.round(F.col("watch_time_s") * 1000)).count() == 0
    skipped = joined.where(F.col("ms") == 0).count()
    assert 0 < skipped < 0.5 * 2 * N  # some scroll-pasts, without plays; most impressions are watched
    diff = joined.select((weight_col(F.col("ms") / 1000.0, "log2") - F.col("expected_w_log2")).alias("d"))
    stats = diff.agg(F.mean("d").alias("mean"), F.stddev("d").alias("sd"), F.count("d").alias("n")).first()
    assert abs(stats["mean"]) < 4 * stats["sd"] / np.sqrt(stats["n"])
    expected = truth.agg(F.mean("expected_w_log2")).first()[0]
    assert 1.0 < expected < 8.0  # a watch time of seconds to minutes, not a degenerate model


def test_plays_cross_midnight_and_the_day_after_is_written(spark, clean):
    cfg, summary = clean
    days = summary["days"]
    assert days[DAYS[1].isoformat()]["playbacks"]["carried"] > 0
    assert days[START.isoformat()]["playbacks"]["carried"] == 0  # nothing before the first day
    after = days[AFTER_LAST.isoformat()]
    assert after["complete"] is False and after["impressions"] is None
    tail = spark.read.parquet(partition_path(cfg["paths.playbacks"], AFTER_LAST))
    assert tail.count() == after["playbacks"]["read"] == after["playbacks"]["carried"] > 0
    assert tail.where(F.col("event_ts") < F.lit(AFTER_LAST.isoformat()).cast("timestamp")).count() == 0


def test_clean_manifest_counts_everything_used(clean):
    cfg, summary = clean
    for day in DAYS:
        entry = summary["days"][day.isoformat()]
        assert entry["impressions"] == {"read": N, "accepted": N, "quarantined": {}}
        assert entry["playbacks"]["quarantined"] == {}
        assert entry["playbacks"]["read"] == entry["playbacks"]["used"] + entry["playbacks"]["carried"]


def test_dirty_manifest_names_every_reason_and_adds_up(spark, clean, dirty):
    cfg, summary = dirty
    on_disk = json.loads(open(f"{cfg['paths.reports']}/synth/manifest.json").read())["days"]
    assert on_disk == json.loads(json.dumps(summary["days"]))
    for day in DAYS:
        entry = summary["days"][day.isoformat()]
        imp, pb = entry["impressions"], entry["playbacks"]
        assert set(imp["quarantined"]) == {"missing_key", "bad_duration", "duplicate"}
        assert set(pb["quarantined"]) == {"missing_key", "bad_play_ms", "duplicate", "orphan", "out_of_window"}
        assert all(n > 0 for n in [*imp["quarantined"].values(), *pb["quarantined"].values()])
        assert imp["accepted"] == N and imp["read"] == imp["accepted"] + sum(imp["quarantined"].values())
        assert pb["read"] == pb["used"] + pb["carried"] + sum(pb["quarantined"].values())
        for log in ("impressions", "playbacks"):
            rows = spark.read.parquet(partition_path(cfg[f"paths.{log}"], day)).count()
            assert rows == entry[log]["read"], (day, log)
        # the dirt is extra rows: the clean impressions, plays and truth are all still there
        clean_cfg = clean[0]
        for log in ("impressions", "playbacks", "truth"):
            clean_rows = spark.read.parquet(partition_path(clean_cfg[f"paths.{log}"], day))
            assert clean_rows.exceptAll(spark.read.parquet(partition_path(cfg[f"paths.{log}"], day))).count() == 0
        assert pb["used"] == clean[1]["days"][day.isoformat()]["playbacks"]["used"]
    bad = spark.read.parquet(partition_path(cfg["paths.impressions"], START))
    durations = {r[0] for r in bad.where(~(F.col("video_duration_s") > 0) | F.col("video_duration_s").isNull()
                                         | F.isnan("video_duration_s"))
                 .select(F.when(F.isnan("video_duration_s"), "nan").when(F.col("video_duration_s").isNull(), "null")
                         .when(F.col("video_duration_s") == 0, "zero").otherwise("negative")).collect()}
    assert durations == {"nan", "null", "zero", "negative"}


def test_job_rejects_bad_arguments_in_one_line():
    for args in (["--days", "0"], ["--start", "2026-02-30"], ["--impressions-per-day", "x"]):
        done = subprocess.run([sys.executable, str(ROOT / "jobs" / "generate_logs.py"), "--conf",
                               str(ROOT / "conf" / "local.yaml"), *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, args
        assert len(done.stderr.strip().splitlines()) == 1 and "error" in done.stderr, done.stderr
