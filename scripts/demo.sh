#!/usr/bin/env bash
# The README's main command: set up .venv if needed, generate a week of synthetic logs (with every
# kind of bad row) under ./data, then run the daily retrain over that week (build, train, evaluate on
# the holdout, gate, publish) and print the per-day table and where the reports are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
CONF="${CONF:-conf/local.yaml}"
PY=.venv/bin/python
read -r START DAYS <<<"$($PY -c "from wce_spark.config import load_config; c = load_config('$CONF'); print(c['synth.start_date'], c['synth.days'])")"
END="$($PY -c "import datetime as d; print(d.date.fromisoformat('$START') + d.timedelta(days=$DAYS - 1))")"

echo "== 1/2 synthetic logs: $DAYS days from $START (dirty) =="
$PY jobs/generate_logs.py --conf "$CONF" --dirty "$@"
echo "== 2/2 daily retrain, $START .. $END =="
$PY jobs/daily_retrain.py --conf "$CONF" --start "$START" --end "$END" "$@"
REPORTS="$($PY -c "from wce_spark.config import load_config; print(load_config('$CONF')['paths.reports'])")"
echo "per-day summary: $REPORTS/daily_retrain/summary.md (evaluation reports: $REPORTS/evaluate/)"
