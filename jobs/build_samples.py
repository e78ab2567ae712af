"""Build one day's weighted WCE samples from the raw logs (CONTRACT.md "build_samples").

Reads impressions/dt=D (and D-1, to credit plays carried over midnight) and playbacks/dt=D and D+1,
quarantines bad rows with a reason, joins plays to impressions within the lookahead window, and
replaces day D in the Delta tables <paths.lake>/samples and <paths.lake>/quarantine in atomic commits.
Writes the run report to <paths.reports>/build_samples/D.json and prints it.

Example:
  .venv/bin/python jobs/build_samples.py --conf conf/local.yaml --date 2026-03-03
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wce_spark.cli import config_from_args, job_parser, run_job  # noqa: E402


def main() -> int:
    parser = job_parser("build_samples", __doc__)
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="build even when playbacks of D or D+1 are missing (their plays count as none)")
    args = parser.parse_args()
    cfg = config_from_args(args)

    from wce_spark.spark.build_samples import build_samples
    from wce_spark.spark.session import get_spark

    report = build_samples(get_spark(cfg, "build_samples"), cfg, args.date, args.allow_incomplete)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    run_job("build_samples", main)
