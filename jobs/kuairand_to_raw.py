"""kuairand_to_raw: turn KuaiRand interaction-log CSVs into the contract's raw logs.

One impression and one playback per CSV row, written as Parquet under <paths.impressions> and
<paths.playbacks>, Hive-partitioned by dt = UTC date of event_ts (only the days written are replaced).
impression_id = <user_id>-<video_id>-<time_ms>; video_duration_s = duration_ms / 1000 (0 rows end in
quarantine as bad_duration through build_samples; the log's exact repeat as duplicate); play_ms =
play_time_ms; local_hour = hour in China time (UTC+8), next to build_samples' UTC hour. The day after
the last impression day gets an (empty, if no play crosses midnight) playback partition, so every day
builds without --allow-incomplete. Give adjacent periods' files in one run. See
wce_spark/adapters/kuairand.py. Writes a summary to <paths.reports>/kuairand/adapt.json.

Example:
  .venv/bin/python jobs/kuairand_to_raw.py --conf conf/kuairand.yaml \\
      --input ../shared/data/kuairand/log_random_4_22_to_5_08_1k.csv
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wce_spark.cli import config_from_args, job_parser, run_job  # noqa: E402


def main() -> int:
    parser = job_parser("kuairand_to_raw", __doc__, with_date=False)
    parser.add_argument("--input", action="append", required=True, metavar="CSV",
                        help="a KuaiRand log CSV (log_random_*.csv or log_standard_*.csv); repeatable, "
                             "or a glob/folder Spark understands")
    args = parser.parse_args()
    cfg = config_from_args(args)

    from wce_spark.adapters.kuairand import adapt
    from wce_spark.spark.session import get_spark
    from wce_spark.storage import write_json_atomic

    spark = get_spark(cfg, app_name="kuairand_to_raw")
    written = adapt(spark, args.input, cfg["paths.impressions"], cfg["paths.playbacks"],
                    float(cfg["watch_time.lookahead_hours"]) * 3600.0)
    summary = {"inputs": args.input, "impressions": cfg["paths.impressions"],
               "playbacks": cfg["paths.playbacks"], **written.to_json()}
    report = f"{cfg['paths.reports'].rstrip('/')}/kuairand/adapt.json"
    write_json_atomic(report, summary)
    print(json.dumps(summary, indent=2))
    print(f"kuairand_to_raw: summary at {report}")
    return 0


if __name__ == "__main__":
    run_job("kuairand_to_raw", main)
