"""The raw logs' layout (CONTRACT "Raw logs"): Parquet, Hive-partitioned by ``dt`` = UTC date of event_ts.

Names and types here are the ones build_samples requires; other impression columns are carried along.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, TimestampType

from wce_spark.errors import UserError

IMPRESSION_COLUMNS = {
    "impression_id": StringType(),
    "user_id": StringType(),
    "video_id": StringType(),
    "author_id": StringType(),
    "event_ts": TimestampType(),
    "video_duration_s": DoubleType(),
}
PLAYBACK_COLUMNS = {
    "event_id": StringType(),
    "impression_id": StringType(),
    "event_ts": TimestampType(),
    "play_ms": LongType(),
}


def partition_path(root: str, day: dt.date) -> str:
    return f"{root.rstrip('/')}/dt={day.isoformat()}"


def path_exists(spark: SparkSession, path: str) -> bool:
    """Existence through Hadoop's FileSystem, so local paths, HDFS and object stores all work."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs.exists(hpath)


def read_partition(spark: SparkSession, root: str, day: dt.date, required: dict, what: str) -> DataFrame:
    """One day's rows with the required columns cast to their contract types (uncastable -> null,
    which the validity rules then quarantine). A missing required column is a UserError."""
    path = partition_path(root, day)
    try:
        df = spark.read.parquet(path)
    except Exception as exc:  # noqa: BLE001 - Spark raises AnalysisException subclasses here
        raise UserError(f"cannot read {what} at {path}: {str(exc).splitlines()[0]}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise UserError(f"{what} at {path} lacks required column(s): {', '.join(missing)}")
    if "dt" in df.columns:  # a stray dt column inside the files would clash with the output's dt
        df = df.drop("dt")
    return df.select(*[F.col(c).cast(t).alias(c) if c in required else F.col(c) for c, t in
                       [(c, required.get(c)) for c in df.columns]])
