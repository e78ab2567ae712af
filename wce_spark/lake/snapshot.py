"""A Delta table's live snapshot over a window of days, resolved to the Parquet files that hold it.

Petastorm reads Parquet files, not Delta: pointed at the table folder it would also read the files a
later commit removed (a rebuilt day would be read twice). So the driver asks Delta, through Spark, which
files make up one pinned table version inside the window, and hands that plain list to the TF side.
Only ``resolve_snapshot`` needs Spark (imported inside it); the dataclasses import nothing heavy, so
``wce_spark.train`` can take a ``SnapshotFiles`` without pulling in pyspark.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from wce_spark.errors import UserError


def samples_table(cfg) -> str:
    """The samples Delta table of a conf (build_samples writes it, train and evaluate read it)."""
    return f"{cfg['paths.lake'].rstrip('/')}/samples"


def quarantine_table(cfg) -> str:
    return f"{cfg['paths.lake'].rstrip('/')}/quarantine"


@dataclass(frozen=True)
class DataFile:
    url: str  # what a reader opens: file:///abs/path locally, hdfs://... or s3a://... elsewhere
    dt: dt.date
    rows: int


@dataclass(frozen=True)
class SnapshotFiles:
    """The files of ``table`` at ``version`` whose rows have ``start <= dt <= end``."""

    table: str
    version: int
    start: dt.date
    end: dt.date
    files: tuple[DataFile, ...]
    samples_mode: str | None  # table property wce.samples.mode (None: the table does not say)
    weight_fn: str | None  # table property wce.weight.fn
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def urls(self) -> list[str]:
        return [f.url for f in self.files]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def rows_by_day(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.dt.isoformat()] = counts.get(f.dt.isoformat(), 0) + f.rows
        return dict(sorted(counts.items()))

    def missing_days(self) -> list[str]:
        present = self.rows_by_day()
        n = (self.end - self.start).days + 1
        return [d.isoformat() for d in (self.start + dt.timedelta(i) for i in range(n))
                if d.isoformat() not in present]

    def describe(self) -> dict:
        """Plain-JSON summary for run reports and model_meta.json."""
        return {"table": self.table, "version": self.version, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "files": len(self.files), "rows": self.rows,
                "rows_by_day": self.rows_by_day(), "missing_days": self.missing_days(),
                "samples_mode": self.samples_mode, "weight_fn": self.weight_fn}


def window(end: dt.date, days: int) -> tuple[dt.date, dt.date]:
    """The ``days`` days ending at ``end`` (inclusive): the training window of CONTRACT "train"."""
    return end - dt.timedelta(days=days - 1), end


def reader_url(spark_path: str) -> str:
    """Spark reports local files as ``file:/a%20b/x.parquet``; Petastorm wants ``file:///a b/x.parquet``."""
    parsed = urlparse(spark_path)
    if parsed.scheme in ("", "file"):
        return "file://" + unquote(parsed.path)
    return spark_path


def _refuse_unreadable_layout(table: str, properties: dict[str, str], features: list[str]) -> None:
    """Petastorm reads the raw Parquet files, so Delta features that change their meaning are refused."""
    if "deletionVectors" in features or properties.get("delta.enableDeletionVectors", "").lower() == "true":
        raise UserError(f"table {table} uses deletion vectors, which a Parquet reader cannot apply: "
                        "disable them (delta.enableDeletionVectors=false) and run REORG TABLE ... APPLY (PURGE)")
    if properties.get("delta.columnMapping.mode", "none").lower() != "none":
        raise UserError(f"table {table} uses column mapping, so its Parquet files hold physical column "
                        "names a Parquet reader cannot map back; rebuild it without column mapping")


def resolve_snapshot(spark, table: str, start: dt.date, end: dt.date) -> SnapshotFiles:
    """Pin the table's current version and list its live files with rows in ``[start, end]``.

    Files come from the snapshot's own file index (``_metadata.file_path``), so files removed by a
    later overwrite of a day never appear; each file keeps its ``dt`` and row count.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from wce_spark.spark.delta_io import PROP_MODE, PROP_WEIGHT_FN, is_delta_table, table_version

    if not is_delta_table(spark, table):
        raise UserError(f"no Delta table at {table}: run build_samples for the training days first")
    version = table_version(spark, table)
    detail = DeltaTable.forPath(spark, table).detail().first()
    properties = dict(detail["properties"] or {})
    if "dt" not in (detail["partitionColumns"] or []):
        raise UserError(f"table {table} is not partitioned by dt (partitions: {detail['partitionColumns']})")
    _refuse_unreadable_layout(table, properties, list(detail["tableFeatures"] or []))

    per_file = (spark.read.format("delta").option("versionAsOf", version).load(table)
                .where(F.col("dt").between(F.lit(start), F.lit(end)))
                .groupBy(F.col("_metadata.file_path").alias("path"), F.col("dt"))
                .count()
                .orderBy("dt", "path")
                .collect())  # one small row per file: the list the reader needs
    files = tuple(DataFile(reader_url(r["path"]), r["dt"], int(r["count"])) for r in per_file)
    return SnapshotFiles(table=table, version=version, start=start, end=end, files=files,
                         samples_mode=properties.get(PROP_MODE), weight_fn=properties.get(PROP_WEIGHT_FN),
                         properties=properties)
