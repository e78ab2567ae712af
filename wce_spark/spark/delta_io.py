"""Delta writes of whole days: one atomic commit replaces a day's partition and touches no other."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession

from wce_spark.errors import UserError

# Table properties that say how a samples table was built; the trainer reads them to pick its loss.
PROP_MODE = "wce.samples.mode"
PROP_WEIGHT_FN = "wce.weight.fn"


def is_delta_table(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def table_version(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])


def table_properties(spark: SparkSession, path: str) -> dict[str, str]:
    from delta.tables import DeltaTable

    return dict(DeltaTable.forPath(spark, path).detail().select("properties").first()[0] or {})


def ensure_table(spark: SparkSession, path: str, like: DataFrame, properties: dict[str, str]) -> None:
    """Create the dt-partitioned table with ``like``'s schema and ``properties`` if it does not exist;
    if it does, refuse when its properties disagree (one table must not mix modes or weight functions)."""
    from delta.tables import DeltaTable

    if is_delta_table(spark, path):
        current = table_properties(spark, path)
        clashes = {k: (current.get(k), v) for k, v in properties.items() if current.get(k) not in (None, v)}
        if clashes:
            desc = "; ".join(f"{k} is {old!r} there, the conf says {new!r}" for k, (old, new) in clashes.items())
            raise UserError(f"table {path} was built differently ({desc}): use another paths.lake or rebuild it")
        return
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(like.schema).partitionedBy("dt")
    for key, value in properties.items():
        builder = builder.property(key, value)
    builder.execute()


def replace_day(df: DataFrame, path: str, day: dt.date) -> None:
    """Atomically replace partition ``dt = day`` with ``df`` (whose rows must all be of that day)."""
    (df.write.format("delta")
     .mode("overwrite")
     .option("replaceWhere", f"dt = DATE'{day.isoformat()}'")
     .option("mergeSchema", "true")  # raw logs may grow new carried columns
     .partitionBy("dt")
     .save(path))
