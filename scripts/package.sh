#!/usr/bin/env bash
# Build what spark-submit ships to a cluster's executors (README "Cluster"):
#   dist/wce_spark-<version>-py3-none-any.whl   the project as a wheel
#   dist/wce_spark_env.tar.gz                    a relocatable Python environment (venv-pack 0.2.0): the wheel
#                                                and its dependencies at exactly .venv's versions (pip freeze)
# Submit with it:  WCE_ENV_ARCHIVE=dist/wce_spark_env.tar.gz bash scripts/submit.sh --master URL jobs/...
#
# venv-pack refuses editable installs, so the environment is a separate, non-editable venv under
# build/pack-env (WCE_PACK_ENV), made from the same base interpreter as .venv. venv-pack does not copy
# that interpreter: the archive's bin/python is a link to it, so every node needs the same Python 3.11 at
# the same path (printed at the end). Needs the package index for what pip has not cached (TensorFlow).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
ENV_DIR="${WCE_PACK_ENV:-build/pack-env}"
ARCHIVE=dist/wce_spark_env.tar.gz
BASE="$("$PY" -c 'import sys; print(sys._base_executable)')"
VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("wce_spark"))')"
WHEEL="dist/wce_spark-${VERSION}-py3-none-any.whl"
start=$SECONDS

echo "package: building $WHEEL"
mkdir -p dist build
rm -f "$WHEEL"
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .
rm -rf build/lib build/bdist.* ./*.egg-info  # setuptools' leftovers

echo "package: installing it with .venv's exact versions into $ENV_DIR (on $BASE)"
"$PY" -m pip freeze --exclude-editable > build/constraints.txt
rm -rf "$ENV_DIR"
"$BASE" -m venv "$ENV_DIR"
"$ENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check -c build/constraints.txt "${WHEEL}[cluster]"
"$ENV_DIR/bin/python" -m pip check

# Left out, as nothing at run time reads them: TensorFlow's C++ headers (for building custom ops) and
# pyspark's jars (executors and spark-submit's driver run the cluster's own Spark JVM). Compression level 1:
# packing 2 GB at the default level 4 is CPU-bound and slow, and the archive is shipped once per application.
echo "package: packing $ARCHIVE"
SITE="lib/python3.11/site-packages"
rm -f "$ARCHIVE"
"$ENV_DIR/bin/venv-pack" --quiet --prefix "$ENV_DIR" --output "$ARCHIVE" --compress-level 1 \
  --exclude "$SITE/tensorflow/include/*" --exclude "$SITE/pyspark/jars/*"
echo "package: $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1)) in $((SECONDS - start))s; its bin/python links to $BASE," \
     "which every node must have at that path"
