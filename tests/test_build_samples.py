"""build_samples on tiny hand-written logs: every CONTRACT rule, with real Parquet and Delta."""
from __future__ import annotations

import datetime as dt
import json
import math
import os

import pytest

from wce_spark.errors import UserError

D = dt.date(2026, 3, 2)
PREV, NEXT = D - dt.timedelta(days=1), D + dt.timedelta(days=1)
IMP_SCHEMA = ("impression_id string, user_id string, video_id string, author_id string, "
              "event_ts timestamp, video_duration_s double, device string")
PB_SCHEMA = "event_id string, impression_id string, event_ts timestamp, play_ms long"


def ts(day: dt.date, hh: int, mm: int = 0, ss: int = 0, us: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, ss, us)


def imp(iid, t, dur=30.0, user="u1", video="v1", author="a1", device="ios"):
    return (iid, user, video, author, t, dur, device)


def write(spark, root, day, rows, schema):
    spark.createDataFrame(rows, schema).coalesce(1).write.mode("overwrite").parquet(f"{root}/dt={day}")


# D's impressions: accepted i1..i5, i12; every impression quarantine reason; i5 logged twice.
IMPRESSIONS_D = [
    imp("i1", ts(D, 10)),
    imp("i2", ts(D, 12), dur=20.0),
    imp("i3", ts(D, 23, 59), dur=60.0),           # its play ends after midnight
    imp("i4", ts(D, 14), dur=900.0),              # watch time above the cap
    imp("i5", ts(D, 9)),                          # duplicate: the later copy
    imp("i5", ts(D, 8)),                          # ... and the earliest, which is kept
    imp("i12", ts(D, 15)),                        # no play: watch time 0
    imp("i6", ts(D, 10), user=None),              # missing_key
    imp("i7", ts(D, 10), video=""),               # missing_key (empty)
    imp(None, ts(D, 10)),                         # missing_key (no id)
    imp("i13", None),                             # missing_key (no time)
    imp("i8", ts(D, 10), dur=0.0),                # bad_duration
    imp("i9", ts(D, 10), dur=float("nan")),       # bad_duration
    imp("i10", ts(D, 10), dur=None),              # bad_duration
    imp("i11", ts(D, 10), dur=-5.0),              # bad_duration
]
PLAYBACKS_D = [
    ("p1", "i1", ts(D, 10, 0, 10), 10_000),
    ("p2", "i1", ts(D, 10, 0, 30), 20_000),
    ("p2", "i1", ts(D, 10, 0, 31), 20_000),       # duplicate event, later copy
    ("p3", "i2", ts(D, 12), 1_000),               # exactly at the impression: inside
    ("p4", "i2", ts(D, 18), 2_000),               # exactly at impression + 6 h: inside
    ("p5", "i2", ts(D, 18, 0, 0, 1), 5_000),      # 1 us after the window: out_of_window
    ("p6", "i2", ts(D, 11, 59, 59), 7_000),       # before the impression: out_of_window
    ("p11", "i4", ts(D, 14, 30), 500_000),        # 500 s, capped at 100 s
    ("p12", "i5", ts(D, 8, 30), 4_000),           # only inside the kept (earliest) copy's window
    ("p8", "i8", ts(D, 10, 1), 3_000),            # its impression was quarantined: orphan
    ("p9", "nope", ts(D, 10, 1), 3_000),          # unknown impression: orphan
    (None, "i1", ts(D, 10, 2), 1_000),            # missing_key
    ("p13", "", ts(D, 10, 2), 1_000),             # missing_key (empty impression_id)
    ("p14", "i1", ts(D, 10, 3), -1),              # bad_play_ms
    ("p15", "i1", ts(D, 10, 3), None),            # bad_play_ms
    ("p10", "i0", ts(D, 0, 30), 8_000),           # belongs to D-1's i0: carried
]
IMPRESSIONS_PREV = [imp("i0", ts(PREV, 23))]
PLAYBACKS_PREV = [("p0", "i0", ts(PREV, 23, 10), 1_000)]
IMPRESSIONS_NEXT = [imp("j1", ts(NEXT, 10))]
PLAYBACKS_NEXT = [("p7", "i3", ts(NEXT, 0, 1), 60_000)]  # i3's play, after midnight


@pytest.fixture
def logs(spark, make_cfg):
    cfg = make_cfg("watch_time.cap_s=100")
    for day, rows in ((PREV, IMPRESSIONS_PREV), (D, IMPRESSIONS_D), (NEXT, IMPRESSIONS_NEXT)):
        write(spark, cfg["paths.impressions"], day, rows, IMP_SCHEMA)
    for day, rows in ((PREV, PLAYBACKS_PREV), (D, PLAYBACKS_D), (NEXT, PLAYBACKS_NEXT)):
        write(spark, cfg["paths.playbacks"], day, rows, PB_SCHEMA)
    return cfg


def samples_of(spark, cfg, day=D):
    rows = (spark.read.format("delta").load(f"{cfg['paths.lake']}/samples")
            .where(f"dt = DATE'{day}'").collect())
    return rows


def test_report_counts_every_rule(spark, logs):
    from wce_spark.spark.build_samples import build_samples

    report = build_samples(spark, logs, D)
    assert report["impressions"] == {
        "read": 15, "accepted": 6,
        "quarantined": {"missing_key": 4, "bad_duration": 4, "duplicate": 1}}
    assert report["playbacks"] == {
        "read": 16, "used": 6, "carried": 1,
        "quarantined": {"duplicate": 1, "out_of_window": 2, "orphan": 2, "missing_key": 2, "bad_play_ms": 2}}
    assert report["samples"]["written"] == 12
    on_disk = json.load(open(os.path.join(logs["paths.reports"], "build_samples", f"{D}.json")))
    assert on_disk["impressions"] == report["impressions"]
    assert on_disk["samples"]["table_version"] == report["samples"]["table_version"]


def test_watch_times_windows_cap_midnight_and_weights(spark, logs):
    from wce_spark.spark.build_samples import build_samples

    build_samples(spark, logs, D)
    rows = samples_of(spark, logs)
    positives = {r.impression_id: r for r in rows if r.label == 1}
    negatives = {r.impression_id: r for r in rows if r.label == 0}
    expected = {"i1": 30.0, "i2": 3.0, "i3": 60.0, "i4": 100.0, "i5": 4.0, "i12": 0.0}
    assert {k: v.watch_time_s for k, v in positives.items()} == expected
    for iid, wt in expected.items():
        assert positives[iid].weight == pytest.approx(math.log2(wt + 1))
        assert negatives[iid].weight == 1.0 and negatives[iid].watch_time_s == wt
        assert positives[iid].holdout_bucket == negatives[iid].holdout_bucket  # an impression is held out whole
    buckets = {r.holdout_bucket for r in rows}
    assert all(0 <= b < 1000 for b in buckets) and len(buckets) > 1
    assert positives["i5"].event_ts == ts(D, 8)          # de-dup kept the earliest copy
    assert positives["i3"].hour == 23 and positives["i1"].hour == 10
    assert positives["i1"].device == "ios"              # other impression columns are carried
    assert {r.dt for r in rows} == {D}


def test_quarantine_table_keeps_original_rows(spark, logs):
    from wce_spark.spark.build_samples import build_samples

    build_samples(spark, logs, D)
    q = spark.read.format("delta").load(f"{logs['paths.lake']}/quarantine").where(f"dt = DATE'{D}'").collect()
    by_reason = {}
    for r in q:
        by_reason.setdefault((r.source, r.reason), []).append(json.loads(r.record))
    orphans = sorted(rec["event_id"] for rec in by_reason[("playbacks", "orphan")])
    assert orphans == ["p8", "p9"]
    dup = by_reason[("impressions", "duplicate")]
    assert [rec["impression_id"] for rec in dup] == ["i5"] and dup[0]["event_ts"].startswith("2026-03-02T09:00")
    assert sorted(rec["event_id"] for rec in by_reason[("playbacks", "out_of_window")]) == ["p5", "p6"]
    assert len(q) == 9 + 9


def test_play_across_midnight_is_carried_by_next_day(spark, logs):
    from wce_spark.spark.build_samples import build_samples

    report = build_samples(spark, logs, NEXT, allow_incomplete=True)  # dt=D+2 playbacks do not exist
    assert report["playbacks"]["carried"] == 1 and report["playbacks"]["used"] == 0
    assert report["impressions"]["accepted"] == 1


@pytest.mark.parametrize("fn,mode,expected_w,rows_per_impression", [
    ("log2", "weighted", math.log2(31), 1),
    ("log2_plus1", "duplicated", math.log2(31) + 1, 2),
    ("linear", "weighted", 30.0, 1),
])
def test_weight_functions_and_modes(spark, make_cfg, fn, mode, expected_w, rows_per_impression):
    from wce_spark.spark.build_samples import build_samples

    cfg = make_cfg(f"weight.fn={fn}", f"samples.mode={mode}", "watch_time.lookahead_hours=0")
    write(spark, cfg["paths.impressions"], D, [imp("i1", ts(D, 10)), imp("i2", ts(D, 11))], IMP_SCHEMA)
    write(spark, cfg["paths.playbacks"], D, [("p1", "i1", ts(D, 10), 30_000)], PB_SCHEMA)
    report = build_samples(spark, cfg, D)  # lookahead 0: D+1 is not needed
    rows = samples_of(spark, cfg)
    assert report["samples"]["written"] == len(rows) == 2 * rows_per_impression
    w = {(r.impression_id, r.label): r.weight for r in rows}
    assert w[("i1", 1)] == pytest.approx(expected_w)
    assert w[("i2", 1)] == pytest.approx(0.0 if fn != "log2_plus1" else 1.0)
    if mode == "duplicated":
        assert w[("i1", 0)] == 1.0 and w[("i2", 0)] == 1.0


def test_missing_next_day_refused_unless_allowed(spark, make_cfg):
    from wce_spark.spark.build_samples import build_samples

    cfg = make_cfg()
    write(spark, cfg["paths.impressions"], D, [imp("i1", ts(D, 10))], IMP_SCHEMA)
    write(spark, cfg["paths.playbacks"], D, [("p1", "i1", ts(D, 10), 3_000)], PB_SCHEMA)
    with pytest.raises(UserError, match="--allow-incomplete"):
        build_samples(spark, cfg, D)
    assert not os.path.exists(f"{cfg['paths.lake']}/samples")
    report = build_samples(spark, cfg, D, allow_incomplete=True)
    assert report["playbacks"]["used"] == 1


def test_missing_impressions_is_always_an_error(spark, make_cfg):
    from wce_spark.spark.build_samples import build_samples

    cfg = make_cfg()
    with pytest.raises(UserError, match="impressions for 2026-03-02 not found"):
        build_samples(spark, cfg, D, allow_incomplete=True)


def test_mode_mismatch_with_existing_table_is_refused(spark, logs):
    from wce_spark.spark.build_samples import build_samples

    build_samples(spark, logs, D)
    weighted = logs.with_overrides({"samples.mode": "weighted"})
    with pytest.raises(UserError, match="wce.samples.mode"):
        build_samples(spark, weighted, D)
