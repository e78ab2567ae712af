"""SparkSession with Delta Lake: local master from the conf, or whatever spark-submit set."""
from __future__ import annotations

import os
import sys

from wce_spark.config import Config

LOG4J2 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2.properties")
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def under_spark_submit() -> bool:
    """spark-submit launches the Python driver with a gateway already running."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(cfg: Config, app_name: str | None = None):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name or cfg["spark.app_name"])
    settings = {
        **DELTA_CONF,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(cfg["spark.shuffle_partitions"]),
        # Delta replays its log with this many tasks (default 50): a fixed cost on every commit and
        # snapshot, which dominates small local runs. The log is small next to the data it describes.
        "spark.databricks.delta.snapshotPartitions": str(min(50, cfg["spark.shuffle_partitions"])),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.sources.partitionOverwriteMode": "static",
        **{k: str(v) for k, v in cfg["spark.extra"].items()},
    }
    for k, v in settings.items():
        builder = builder.config(k, v)
    if under_spark_submit():
        spark = builder.getOrCreate()  # master, jars/--packages and memory come from spark-submit
    else:
        from delta import configure_spark_with_delta_pip

        # Python workers run the driver's interpreter (the venv), not whatever python3 is on the PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (builder.master(cfg["spark.master"])
                   .config("spark.driver.memory", cfg["spark.driver_memory"])
                   .config("spark.ui.enabled", "false")
                   .config("spark.driver.extraJavaOptions", f"-Dlog4j.configurationFile=file:{LOG4J2}"))
        spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
