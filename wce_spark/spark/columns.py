"""Spark Column versions of shared formulas: the weight function evaluated through ``weighting``."""
from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from wce_spark import weighting


class SparkOps:
    """``weighting`` ops on Spark Columns."""

    @staticmethod
    def log2(x: Column) -> Column:
        return F.log2(x)

    @staticmethod
    def exp2(x: Column) -> Column:
        return F.pow(F.lit(2.0), x)

    @staticmethod
    def clip_min0(x: Column) -> Column:
        return F.greatest(x, F.lit(0.0))


def weight_col(watch_time_s: Column, fn_name: str) -> Column:
    return weighting.weight(watch_time_s.cast("double"), fn_name, SparkOps)


def inverse_col(odds: Column, fn_name: str) -> Column:
    return weighting.inverse(odds.cast("double"), fn_name, SparkOps)
