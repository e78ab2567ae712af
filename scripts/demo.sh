#!/usr/bin/env bash
# The README's main command: set up .venv if needed, generate a week of synthetic logs (with every
# kind of bad row) under ./data, build one day's samples and print its run report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
CONF="${CONF:-conf/local.yaml}"
PY=.venv/bin/python
START="$($PY -c "from wce_spark.config import load_config; print(load_config('$CONF')['synth.start_date'])")"
DAY="$($PY -c "import datetime as d; print(d.date.fromisoformat('$START') + d.timedelta(days=3))")"

echo "== 1/2 synthetic logs: a week from $START (dirty) =="
$PY jobs/generate_logs.py --conf "$CONF" --dirty "$@"
echo "== 2/2 build_samples for $DAY =="
$PY jobs/build_samples.py --conf "$CONF" --date "$DAY" "$@"
