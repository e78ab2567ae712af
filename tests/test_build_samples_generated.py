"""build_samples on generated dirty logs: the generator's manifest, reruns, neighbouring days, no
partial commits. The generator knows which outcome each row was made to have, independently of
build_samples, so equality with its manifest checks every rule at once."""
from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from tests.conftest import config_under
from wce_spark.errors import UserError

START = dt.date(2026, 3, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(3)]


@pytest.fixture(scope="module")
def generated(spark, tmp_path_factory):
    from wce_spark.synth.generator import generate_logs

    cfg = config_under(tmp_path_factory.mktemp("generated"), "synth.dirty_fraction=0.02")
    summary = generate_logs(spark, cfg, START, len(DAYS), dirty=True, impressions_per_day=3000)
    return cfg, summary


def _rows(spark, cfg, day):
    df = spark.read.format("delta").load(f"{cfg['paths.lake']}/samples").where(f"dt = DATE'{day}'")
    return sorted(tuple(r) for r in df.collect())


def test_reports_equal_manifest_and_rerun_is_idempotent(spark, generated):
    from wce_spark.spark.build_samples import build_samples
    from wce_spark.spark.delta_io import table_version

    cfg, summary = generated
    for day in DAYS:
        report = build_samples(spark, cfg, day)
        expected = summary["days"][day.isoformat()]
        assert report["impressions"] == expected["impressions"], day
        assert report["playbacks"] == expected["playbacks"], day
        for reason in ("missing_key", "bad_duration", "duplicate"):
            assert report["impressions"]["quarantined"].get(reason, 0) > 0, (day, reason)
    assert summary["days"][DAYS[1].isoformat()]["playbacks"]["carried"] > 0  # plays crossed midnight

    middle = DAYS[1]
    before = {day: _rows(spark, cfg, day) for day in DAYS}
    version = table_version(spark, f"{cfg['paths.lake']}/samples")
    build_samples(spark, cfg, middle)
    assert table_version(spark, f"{cfg['paths.lake']}/samples") == version + 1
    after = {day: _rows(spark, cfg, day) for day in DAYS}
    assert after == before and len(after[middle]) == 2 * summary["days"][middle.isoformat()]["impressions"]["accepted"]


def test_building_next_day_leaves_day_unchanged(spark, generated, tmp_path):
    from wce_spark.spark.build_samples import build_samples

    cfg, _ = generated
    cfg = cfg.with_overrides({"paths.lake": str(tmp_path / "lake"), "paths.reports": str(tmp_path / "reports")})
    build_samples(spark, cfg, DAYS[0])
    first = _rows(spark, cfg, DAYS[0])
    quarantine = spark.read.format("delta").load(f"{cfg['paths.lake']}/quarantine")
    q_first = quarantine.where(f"dt = DATE'{DAYS[0]}'").count()
    build_samples(spark, cfg, DAYS[1])
    assert _rows(spark, cfg, DAYS[0]) == first and first
    assert spark.read.format("delta").load(f"{cfg['paths.lake']}/quarantine").where(
        f"dt = DATE'{DAYS[0]}'").count() == q_first


def test_failed_reconciliation_commits_nothing(spark, generated, tmp_path, monkeypatch):
    """A run that fails before its commit leaves both tables at their previous version and writes no
    report. The failure is a real one of the run's own checks: a reason's rows go missing from the
    counts, so impressions.read no longer equals accepted + quarantined."""
    from wce_spark.spark import build_samples as bs
    from wce_spark.spark.delta_io import table_version

    cfg, _ = generated
    cfg = cfg.with_overrides({"paths.lake": str(tmp_path / "lake"), "paths.reports": str(tmp_path / "reports")})
    bs.build_samples(spark, cfg, DAYS[0])
    samples, quarantine = f"{cfg['paths.lake']}/samples", f"{cfg['paths.lake']}/quarantine"
    versions = (table_version(spark, samples), table_version(spark, quarantine))
    rows = _rows(spark, cfg, DAYS[0])
    report_path = os.path.join(cfg["paths.reports"], "build_samples", f"{DAYS[0]}.json")
    report_before = json.load(open(report_path))

    real_counts = bs.counts_by
    monkeypatch.setattr(bs, "counts_by", lambda df, col: {k: v for k, v in real_counts(df, col).items()
                                                          if k != "duplicate"})
    with pytest.raises(UserError, match="reconciliation failed, nothing written: impressions read"):
        bs.build_samples(spark, cfg, DAYS[0])
    assert (table_version(spark, samples), table_version(spark, quarantine)) == versions
    assert _rows(spark, cfg, DAYS[0]) == rows
    assert json.load(open(report_path)) == report_before
