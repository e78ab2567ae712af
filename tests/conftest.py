"""Shared fixtures: one real local SparkSession with Delta for the whole run, and configs on tmp dirs."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def spark():
    from wce_spark.config import load_config
    from wce_spark.spark.session import get_spark

    cfg = load_config(None, ["spark.shuffle_partitions=2", "spark.driver_memory=2g"])
    session = get_spark(cfg, app_name="wce-spark-tests")
    yield session
    session.stop()


def config_under(root: Path, *overrides: str):
    """conf/local.yaml with every path under ``root`` and test-sized Spark settings."""
    from wce_spark.config import load_config

    paths = [f"paths.{name}={root / name}" for name in
             ("impressions", "playbacks", "truth", "lake", "models", "reports")]
    return load_config(str(ROOT / "conf" / "local.yaml"), paths + ["spark.shuffle_partitions=2", *overrides])


@pytest.fixture
def make_cfg(tmp_path):
    """make_cfg("weight.fn=linear", ...) -> Config with every path under this test's tmp dir."""

    def _make(*overrides: str, root: Path | None = None):
        return config_under(root or tmp_path, *overrides)

    return _make
