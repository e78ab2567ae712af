"""KuaiRand results (issue 7): WCE-DeepFM vs baselines on the last 3 days of the KuaiRand-1K random log.

Adapts the CSV into the contract's raw logs, builds every day with build_samples, trains WCE-DeepFM
with the production trainer on the first 14 days, scores the last 3 through the exported model, and
computes on the same test impressions the global mean, the mean by video-duration bucket, the per-user
mean of the training days and a DeepFM regression on watch time (MSE). Prints the table and writes
JSON, Markdown and PNG plots to --out (wce_spark/experiments/kuairand.py has the logic).

Keep the data out of the repo with --set paths.*=..., e.g.:
  .venv/bin/python scripts/kuairand_experiment.py --conf conf/kuairand.yaml \\
      --input ../shared/data/kuairand/log_random_4_22_to_5_08_1k.csv --root /tmp/kuairand/run \\
      --variant "WCE-DeepFM, 8 epochs=train.epochs=8"
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wce_spark.cli import config_from_args, job_parser, run_job  # noqa: E402
from wce_spark.errors import UserError  # noqa: E402


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, sep, overrides = text.partition("=")
    if not sep or not name.strip():
        raise UserError(f"--variant {text!r}: expected NAME=key=value[;key=value...]")
    return name.strip(), [o.strip() for o in overrides.split(";") if o.strip()]


def main() -> int:
    parser = job_parser("kuairand_experiment", __doc__, with_date=False)
    parser.add_argument("--input", action="append", required=True, metavar="CSV", help="KuaiRand log CSV(s)")
    parser.add_argument("--root", metavar="DIR", help="put raw logs, lake, models and reports under DIR "
                        "(overrides paths.*; the lake is DIR/lake_<mode>_<weight fn>)")
    parser.add_argument("--out", default="docs/experiments", metavar="DIR", help="where results and plots go")
    parser.add_argument("--reuse-lake", action="store_true",
                        help="keep the raw logs and the days already built (their reports exist)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE[;KEY=VALUE]",
                        help="also train WCE-DeepFM with these overrides (repeatable)")
    parser.add_argument("--regression-epochs", type=int, metavar="N", help="epochs of the MSE DeepFM "
                        "(default: train.epochs)")
    args = parser.parse_args()
    cfg = config_from_args(args)
    if args.root:
        from wce_spark.experiments.schemes import lake_config

        root = os.path.abspath(args.root)
        cfg = lake_config(cfg.with_overrides({"paths.impressions": f"{root}/raw/impressions",
                                              "paths.playbacks": f"{root}/raw/playbacks",
                                              "paths.models": f"{root}/models", "paths.truth": f"{root}/truth"}),
                          root, cfg["samples.mode"], cfg["weight.fn"])
    variants = dict(parse_variant(v) for v in args.variant)

    from wce_spark.experiments import kuairand
    from wce_spark.spark.session import get_spark

    document = kuairand.run(get_spark(cfg, "kuairand_experiment"), cfg, args.input, args.out,
                            reuse_lake=args.reuse_lake, variants=variants, regression_epochs=args.regression_epochs)
    kuairand.print_table(document)
    print(f"kuairand_experiment: results in {args.out}/kuairand_results.json and .md, plots kuairand_*.png")
    return 0


if __name__ == "__main__":
    run_job("kuairand_experiment", main)
