"""Scheme A (samples.mode weighted) vs scheme B (duplicated), issue 7 item 3 / issue 6 item 3.

On generated logs (the truth gives E[w | x]) and on KuaiRand, trains with the production trainer from
the same raw logs, model and seed: A, B, B with the learning rate doubled, B with both copies of an
impression in one batch, and A and B under log2_plus1 and linear; after every epoch scores held-out
impressions (corr(odds, E[w | x]), XAUC, calibration, MAE) and records seconds and rows/s. Writes
schemes_<dataset>.{json,md} and plots to --out; prints the A-vs-B comparison.
(wce_spark/experiments/schemes.py has the logic.)

Example (about 30 min on 2 shared cores):
  .venv/bin/python scripts/compare_schemes.py --conf conf/local.yaml --root /tmp/schemes \\
      --set train.epochs=8 --set train.batch_size=512 --set spark.shuffle_partitions=1 \\
      --kuairand-conf conf/kuairand.yaml --kuairand-set train.epochs=8 --kuairand-set spark.shuffle_partitions=1 \\
      --input ../shared/data/kuairand/log_random_4_22_to_5_08_1k.csv
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wce_spark.cli import config_from_args, job_parser, run_job  # noqa: E402


def main() -> int:
    parser = job_parser("compare_schemes", __doc__, with_date=False)
    parser.add_argument("--root", required=True, metavar="DIR", help="scratch folder for logs, lakes, models")
    parser.add_argument("--out", default="docs/experiments", metavar="DIR")
    parser.add_argument("--impressions-per-day", type=int, default=20000, metavar="N")
    parser.add_argument("--train-days", type=int, default=2, metavar="N")
    parser.add_argument("--kuairand-conf", metavar="PATH", help="also compare on KuaiRand with this conf")
    parser.add_argument("--input", action="append", default=[], metavar="CSV", help="KuaiRand log CSV(s)")
    parser.add_argument("--kuairand-root", metavar="DIR", help="KuaiRand scratch (default ROOT/kuairand); a "
                        "lake built there by scripts/kuairand_experiment.py --root is reused")
    parser.add_argument("--kuairand-set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the KuaiRand conf (--set applies to the generated logs)")
    parser.add_argument("--only", choices=("generated", "kuairand"), help="run one dataset only")
    parser.add_argument("--timing-pairs", type=int, default=0, metavar="N",
                        help="on the generated logs, instead of the comparison: N alternating A/B runs for "
                             "the per-epoch time (schemes_generated_timing.*)")
    args = parser.parse_args()
    cfg = config_from_args(args)
    root = os.path.abspath(args.root)

    from wce_spark.config import load_config
    from wce_spark.experiments import schemes
    from wce_spark.spark.session import get_spark

    spark = get_spark(cfg, "compare_schemes")
    documents = []
    if args.only != "kuairand":
        runs = schemes.standard_runs(cfg["train.learning_rate"])
        documents.append(schemes.synthetic(spark, cfg, f"{root}/generated", runs, args.out, args.train_days,
                                           args.impressions_per_day, args.timing_pairs))
    if args.kuairand_conf and args.input and args.only != "generated":
        kcfg = load_config(args.kuairand_conf, args.kuairand_set)
        runs = schemes.standard_runs(kcfg["train.learning_rate"])
        documents.append(schemes.kuairand(spark, kcfg, os.path.abspath(args.kuairand_root or f"{root}/kuairand"),
                                          runs, args.out, args.input))
    for document in documents:
        print(f"\n== {document['dataset']}")
        print(json.dumps(document["comparison"], indent=2, default=str))
    print(f"compare_schemes: results in {args.out}/schemes_*.json, .md and .png")
    return 0


if __name__ == "__main__":
    run_job("compare_schemes", main)
