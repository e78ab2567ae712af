"""Train DeepFM with the WCE loss on the samples of the train.days days ending at --date, read from the
Delta table's live snapshot through Petastorm, and export the SavedModel to <paths.models>/<D>/
(CONTRACT.md "train"). The loss follows the table's samples mode; a conf that disagrees is refused.
A killed run resumes from its last finished epoch when rerun. Writes <paths.reports>/train/<D>.json.
With train.num_workers N > 1, N TensorFlow workers train in one Spark barrier stage (one task slot each),
each on its own shard, and worker 0 exports; their progress lines are in the executors' stderr.

Examples:
  .venv/bin/python jobs/train.py --conf conf/local.yaml --date 2026-03-07
  .venv/bin/python jobs/train.py --conf conf/local.yaml --date 2026-03-07 --set train.num_workers=2
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wce_spark.cli import config_from_args, job_parser, run_job  # noqa: E402


def main() -> int:
    args = job_parser("train", __doc__).parse_args()
    cfg = config_from_args(args)

    from wce_spark.train.loop import train_day

    summary = train_day(cfg, args.date)
    print(f"train: model {summary['model_dir']}, final loss {summary['final_loss']}, "
          f"{summary['rows_per_s']} rows/s")
    return 0


if __name__ == "__main__":
    run_job("train", main)
