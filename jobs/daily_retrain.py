"""daily_retrain: build D's samples, train a candidate on the train.days window ending at D (never on the
holdout), evaluate it and the published model on D's held-out impressions, publish when it is finite and
not worse than retrain.tolerance in XAUC, and append a line to <paths.reports>/daily_retrain/history.jsonl
(CONTRACT "daily_retrain"). Publishing moves the candidate to <paths.models>/<D> (or <D>.<k> on a rerun)
and then replaces <paths.models>/latest by a rename. Exit code 0: published or rejected; non-zero: failed
(the published model keeps serving).

  .venv/bin/python jobs/daily_retrain.py --conf conf/local.yaml --date 2026-03-07
  .venv/bin/python jobs/daily_retrain.py --conf conf/local.yaml --start 2026-03-01 --end 2026-03-07
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wce_spark.cli import config_from_args, job_parser, parse_date, run_job  # noqa: E402


def main() -> int:
    parser = job_parser("daily_retrain", __doc__, with_date=False)
    parser.add_argument("--date", type=parse_date, metavar="YYYY-MM-DD", help="the day to retrain for (UTC)")
    parser.add_argument("--start", type=parse_date, metavar="YYYY-MM-DD", help="first day of a backfill")
    parser.add_argument("--end", type=parse_date, metavar="YYYY-MM-DD", help="last day of a backfill")
    args = parser.parse_args()
    if args.date and (args.start or args.end):
        parser.error("give either --date or --start/--end, not both")
    if not args.date and not (args.start and args.end):
        parser.error("give --date, or both --start and --end")
    cfg = config_from_args(args)

    from wce_spark.pipeline.daily import run_days

    run_days(cfg, args.date or args.start, args.date or args.end)
    return 0


if __name__ == "__main__":
    run_job("daily_retrain", main)
