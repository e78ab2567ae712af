"""generate_logs: write synthetic raw impression and playback logs, their truth and their manifest."""
from __future__ import annotations

import argparse

from wce_spark.cli import config_from_args, job_parser, parse_date, run_job
from wce_spark.errors import UserError

DESCRIPTION = """\
Write synthetic raw logs in the contract's layout (Parquet, dt=YYYY-MM-DD partitions) for DAYS days
from START: <paths.impressions>/dt=D, <paths.playbacks>/dt=D (and the day after the last, holding
the plays that cross its midnight), the exact E[w | x] per clean impression under <paths.truth>/dt=D,
and <paths.reports>/synth/manifest.json with the counts build_samples must report for each day.
Deterministic for a given synth.seed and conf; rerunning a day overwrites its partitions.

--dirty adds every bad case the build_samples rules name (duplicates, missing keys, bad durations,
bad play_ms, orphans, plays outside the window), synth.dirty_fraction of the impressions per case.

examples:
  .venv/bin/python jobs/generate_logs.py --conf conf/local.yaml
  .venv/bin/python jobs/generate_logs.py --conf conf/local.yaml --start 2026-03-01 --days 2 --dirty
"""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main() -> int:
    parser = job_parser("generate_logs", DESCRIPTION, with_date=False)
    parser.add_argument("--start", type=parse_date, metavar="YYYY-MM-DD",
                        help="first day to generate (UTC); default: synth.start_date")
    parser.add_argument("--days", type=positive_int, metavar="N", help="how many days; default: synth.days")
    parser.add_argument("--impressions-per-day", type=positive_int, metavar="N",
                        help="clean impressions per day; default: synth.impressions_per_day")
    parser.add_argument("--dirty", action="store_true", help="inject the bad rows build_samples must quarantine")
    args = parser.parse_args()
    cfg = config_from_args(args)
    try:
        start = args.start or parse_date(cfg["synth.start_date"])
    except argparse.ArgumentTypeError as exc:
        raise UserError(f"synth.start_date: {exc}") from None

    from wce_spark.spark.session import get_spark
    from wce_spark.synth import generate_logs

    spark = get_spark(cfg, app_name="generate_logs")
    summary = generate_logs(spark, cfg, start, args.days or cfg["synth.days"], args.dirty,
                            args.impressions_per_day)
    print(f"generate_logs: done, {len(summary['days'])} day(s); manifest {summary['manifest']}")
    return 0


if __name__ == "__main__":
    run_job("generate_logs", main)
