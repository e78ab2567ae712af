#!/usr/bin/env bash
# spark-submit a job of this project to a cluster (master from --master, never from the conf).
#
#   bash scripts/submit.sh --master spark://HOST:7077 jobs/build_samples.py --conf conf/cluster.yaml --date 2026-03-03
#
# It zips the wce_spark package for --py-files (so executors run this checkout's code), adds Delta with
# --packages (the version installed in .venv), and ships the --conf file with --files. Executors need
# Python with the pinned stack:
#   - on the machines of .venv (the local standalone cluster of scripts/cluster.sh): nothing to do, the
#     executors run .venv's Python;
#   - anywhere else: WCE_ENV_ARCHIVE=dist/wce_spark_env.tar.gz (from scripts/package.sh) ships the
#     environment with --archives ...#env and executors run ./env/bin/python. The driver runs .venv's Python
#     in client mode (the default; PYSPARK_DRIVER_PYTHON to change it) and ./env/bin/python with
#     --deploy-mode cluster in SUBMIT_OPTS.
# Extra spark-submit options go in SUBMIT_OPTS, e.g. SUBMIT_OPTS="--deploy-mode cluster --num-executors 8".
set -euo pipefail
cd "$(dirname "$0")/.."

MASTER=""
if [ "${1:-}" = "--master" ]; then MASTER="$2"; shift 2; fi
[ -n "$MASTER" ] && [ $# -ge 1 ] || { echo "usage: $0 --master URL jobs/JOB.py [job args...]" >&2; exit 2; }
JOB="$1"; shift
[ -f "$JOB" ] || { echo "submit: no such job $JOB" >&2; exit 2; }

SPARK_HOME="$(.venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
DELTA_VERSION="$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("delta-spark"))')"
SCALA="2.13"

mkdir -p dist
rm -f dist/wce_spark.zip
.venv/bin/python - <<'PY'
import os, zipfile
with zipfile.ZipFile("dist/wce_spark.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for folder, _, files in os.walk("wce_spark"):
        for name in files:
            if name.endswith(".py"):
                z.write(os.path.join(folder, name))
PY

# The conf named after --conf travels with the job; the job reads it from its working directory.
FILES=()
args=("$@")
for i in "${!args[@]}"; do
  if [ "${args[$i]}" = "--conf" ] && [ -n "${args[$((i + 1))]:-}" ]; then FILES+=(--files "${args[$((i + 1))]}"); fi
done

DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$PWD/.venv/bin/python}"
# A driver on this machine (client mode, the default) logs Spark's errors only, as local runs do, so the
# jobs' progress lines stay readable; with --deploy-mode cluster the cluster's logging applies.
DRIVER_OPTS=(--driver-java-options "-Dlog4j.configurationFile=file:$PWD/wce_spark/spark/log4j2.properties")
CLUSTER_MODE=0
case " ${SUBMIT_OPTS:-} " in *" --deploy-mode cluster "*) CLUSTER_MODE=1; DRIVER_OPTS=() ;; esac
if [ -n "${WCE_ENV_ARCHIVE:-}" ]; then
  case "$WCE_ENV_ARCHIVE" in
    *://*) ;;  # on shared storage (hdfs://, s3a://): spark-submit fetches it
    *) [ -f "$WCE_ENV_ARCHIVE" ] || { echo "submit: no such archive $WCE_ENV_ARCHIVE (bash scripts/package.sh builds it)" >&2; exit 2; } ;;
  esac
  # In cluster deploy mode the driver runs on a node too, next to the unpacked archive.
  if [ $CLUSTER_MODE -eq 1 ]; then DRIVER_PYTHON=./env/bin/python; fi
  PYTHON_OPTS=(--archives "$WCE_ENV_ARCHIVE#env" --conf spark.pyspark.python=./env/bin/python
               --conf "spark.pyspark.driver.python=$DRIVER_PYTHON")
else
  PYTHON_OPTS=(--conf "spark.pyspark.python=${PYSPARK_PYTHON:-$PWD/.venv/bin/python}"
               --conf "spark.pyspark.driver.python=$DRIVER_PYTHON")
fi

# shellcheck disable=SC2086
exec "$SPARK_HOME/bin/spark-submit" \
  --master "$MASTER" \
  --packages "io.delta:delta-spark_${SCALA}:${DELTA_VERSION}" \
  --py-files dist/wce_spark.zip \
  "${DRIVER_OPTS[@]}" \
  "${FILES[@]}" \
  "${PYTHON_OPTS[@]}" \
  --conf spark.ui.showConsoleProgress=false \
  ${SUBMIT_OPTS:-} \
  "$JOB" "$@"
