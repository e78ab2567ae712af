"""The raw logs' layout (CONTRACT "Raw logs"): Parquet, Hive-partitioned by ``dt`` = UTC date of event_ts.

Names and types here are the ones build_samples requires; other impression columns are carried along.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
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


@dataclass(frozen=True)
class RawDay:
    """One day of a raw log: required columns typed per the contract, others untouched, and
    ``record``, an expression giving the row as it was read, as JSON (for quarantine)."""

    df: DataFrame
    record: Column


def empty_day(spark: SparkSession, required: dict) -> RawDay:
    """A day with no rows (built in the JVM: no Python worker needed)."""
    df = spark.range(0).select(*[F.lit(None).cast(dtype).alias(name) for name, dtype in required.items()])
    return RawDay(df, F.to_json(F.struct(*required)))


def read_partition(spark: SparkSession, root: str, day: dt.date, required: dict, what: str) -> RawDay:
    """Read one day's partition. A required column of another type is converted with try_cast
    (a value that does not convert becomes null, which the validity rules quarantine) and its
    original is kept, so the quarantined record shows what was logged. A missing required column
    is a UserError."""
    path = partition_path(root, day)
    try:
        df = spark.read.parquet(path)
    except Exception as exc:  # noqa: BLE001 - Spark raises AnalysisException subclasses here
        raise UserError(f"cannot read {what} at {path}: {str(exc).strip().splitlines()[0]}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise UserError(f"{what} at {path} lacks required column(s): {', '.join(missing)}")
    if "dt" in df.columns:  # a dt column inside the files would clash with the partition column
        df = df.drop("dt")
    types = dict(df.dtypes)
    originals = [c for c, t in required.items() if types[c] != t.simpleString()]
    record = F.to_json(F.struct(*[F.col(f"_orig_{c}").alias(c) if c in originals else F.col(c)
                                  for c in df.columns]))
    df = df.select(*[F.col(c).alias(f"_orig_{c}") for c in originals],
                   *[F.col(c).try_cast(required[c]).alias(c) if c in originals else F.col(c)
                     for c in df.columns])
    return RawDay(df, record)
