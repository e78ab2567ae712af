"""The KuaiRand adapter on a 50-row excerpt of the real log (tests/data/kuairand_excerpt_50.csv: rows of
UTC days 2022-05-02, 05-03 and 05-05, with 4 duration-0 rows, the log's one exactly repeated row and
its original, and the one play that crosses UTC midnight), then the normal build_samples on its output."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tests.conftest import ROOT

EXCERPT = ROOT / "tests" / "data" / "kuairand_excerpt_50.csv"
DAYS = [dt.date(2022, 5, 2), dt.date(2022, 5, 3), dt.date(2022, 5, 5)]


@pytest.fixture(scope="module")
def adapted(spark, tmp_path_factory):
    from tests.conftest import config_under
    from wce_spark.adapters.kuairand import adapt
    from wce_spark.spark.build_samples import build_samples

    cfg = config_under(tmp_path_factory.mktemp("kuairand"))
    written = adapt(spark, [str(EXCERPT)], cfg["paths.impressions"], cfg["paths.playbacks"],
                    float(cfg["watch_time.lookahead_hours"]) * 3600)
    reports = {day: build_samples(spark, cfg, day) for day in DAYS}  # no --allow-incomplete needed
    return cfg, written, reports


def test_one_impression_and_one_playback_per_row_partitioned_by_utc_day(spark, adapted):
    cfg, written, _ = adapted
    source = pd.read_csv(EXCERPT)
    impressions = spark.read.parquet(cfg["paths.impressions"]).toPandas()
    playbacks = spark.read.parquet(cfg["paths.playbacks"]).toPandas()
    assert written.rows == len(impressions) == len(playbacks) == 50 == len(source)
    assert written.undated_rows == 0
    assert written.impression_days == ["2022-05-02", "2022-05-03", "2022-05-05"]
    # 05-04 holds only the play that crossed midnight; 05-06 is written empty: no play ends there.
    assert written.playback_days == ["2022-05-02", "2022-05-03", "2022-05-04", "2022-05-05", "2022-05-06"]
    assert written.empty_playback_days == ["2022-05-06"]
    assert playbacks["dt"].astype(str).value_counts().to_dict() == {"2022-05-02": 25, "2022-05-03": 22,
                                                                    "2022-05-04": 1, "2022-05-05": 2}
    assert impressions["impression_id"].nunique() == 49  # the exact repeat shares its id
    first = impressions.merge(source, on="time_ms", suffixes=("", "_csv")).iloc[0]
    assert first["impression_id"] == f"{first['user_id']}-{first['video_id']}-{first['time_ms']}"
    assert first["video_duration_s"] == first["duration_ms"] / 1000
    utc_hour = pd.to_datetime(impressions["time_ms"], unit="ms").dt.hour
    assert ((utc_hour + 8) % 24 == impressions["local_hour"]).all()
    assert {"is_click", "long_view", "tab", "play_time_ms", "hourmin"} <= set(impressions.columns)
    plays = playbacks.merge(impressions[["impression_id", "event_ts"]], on="impression_id", suffixes=("", "_imp"))
    assert (plays["event_ts"] >= plays["event_ts_imp"]).all()
    assert ((plays["event_ts"] - plays["event_ts_imp"]).dt.total_seconds() <= 6 * 3600).all()


def test_build_samples_quarantines_zero_durations_and_the_repeat_and_keeps_watch_times(spark, adapted):
    from pyspark.sql import functions as F

    cfg, _, reports = adapted
    bad_duration = sum(r["impressions"]["quarantined"].get("bad_duration", 0) for r in reports.values())
    duplicates = sum(r["impressions"]["quarantined"].get("duplicate", 0) for r in reports.values())
    accepted = sum(r["impressions"]["accepted"] for r in reports.values())
    assert (bad_duration, duplicates, accepted) == (4, 1, 45)
    # Their plays: the repeat's play is a duplicate event, the zero-duration rows' plays are orphans.
    assert sum(r["playbacks"]["quarantined"].get("duplicate", 0) for r in reports.values()) == 1
    assert sum(r["playbacks"]["quarantined"].get("orphan", 0) for r in reports.values()) == 4
    assert sum(r["playbacks"]["used"] for r in reports.values()) == 44  # + 1 play of 05-04, read as D+1

    quarantine = spark.read.format("delta").load(f"{cfg['paths.lake']}/quarantine").toPandas()
    bad = quarantine[quarantine["reason"] == "bad_duration"]
    assert len(bad) == 4 and bad["record"].str.contains('"duration_ms":0').all()

    samples = (spark.read.format("delta").load(f"{cfg['paths.lake']}/samples")
               .where(F.col("label") == 1).toPandas())
    assert len(samples) == 45 and samples["impression_id"].is_unique
    cap = cfg["watch_time.cap_s"]
    expected = (samples["play_time_ms"] / 1000).clip(upper=cap)
    assert (samples["watch_time_s"] - expected).abs().max() < 1e-9
    crossing = samples[samples["time_ms"] == 1651622337798]  # its play ends after UTC midnight
    assert len(crossing) == 1 and crossing["watch_time_s"].iloc[0] == pytest.approx(71.795)
    assert (samples["hour"] == pd.to_datetime(samples["time_ms"], unit="ms").dt.hour).all()  # UTC hour


def test_a_csv_that_is_not_a_kuairand_log_is_a_user_error(spark, tmp_path):
    from wce_spark.adapters.kuairand import adapt
    from wce_spark.errors import UserError

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("user,video,when\n1,2,3\n")
    with pytest.raises(UserError, match="cannot read the KuaiRand log"):
        adapt(spark, [str(wrong)], str(tmp_path / "imp"), str(tmp_path / "pb"), 3600.0)
    assert not (tmp_path / "imp").exists()
