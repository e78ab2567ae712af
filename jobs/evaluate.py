"""evaluate: score the impressions of --date with a SavedModel through its serving signature and
write <paths.reports>/evaluate/<D>.json, <D>.md and plots (CONTRACT "evaluate").

    .venv/bin/python jobs/evaluate.py --conf conf/local.yaml --date 2026-03-07 --model data/models/2026-03-07
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wce_spark.cli import config_from_args, job_parser, run_job  # noqa: E402


def main() -> int:
    parser = job_parser("evaluate", __doc__)
    parser.add_argument("--model", required=True, metavar="DIR", help="SavedModel directory to evaluate")
    args = parser.parse_args()
    cfg = config_from_args(args)
    from wce_spark.evaluate.day import evaluate_day

    result = evaluate_day(cfg, args.date, args.model)
    print(f"evaluate: report at {result['report']['markdown']}")
    return 0


if __name__ == "__main__":
    run_job("evaluate", main)
