"""Config loading, overrides and the one-line errors; no Spark."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from wce_spark.config import SCHEMA, ConfigError, load_config
from tests.conftest import ROOT

CONTRACT_KEYS = ["paths.impressions", "paths.playbacks", "paths.lake", "paths.models", "paths.reports",
                 "samples.mode", "weight.fn", "watch_time.lookahead_hours", "watch_time.cap_s", "train.days"]


@pytest.mark.parametrize("conf", ["local.yaml", "cluster.yaml"])
def test_shipped_confs_load_with_contract_keys(conf):
    cfg = load_config(str(ROOT / "conf" / conf))
    for key in CONTRACT_KEYS:
        assert cfg[key] is not None


def test_local_defaults_match_contract():
    cfg = load_config(str(ROOT / "conf" / "local.yaml"))
    assert (cfg["samples.mode"], cfg["weight.fn"], cfg["watch_time.lookahead_hours"], cfg["watch_time.cap_s"],
            cfg["train.days"]) == ("duplicated", "log2", 6, 3600, 7)
    for p in ("impressions", "playbacks", "lake", "models", "reports"):  # ./data/..., made absolute
        assert cfg[f"paths.{p}"] == os.path.join(os.getcwd(), "data", *cfg[f"paths.{p}"].split("/data/")[1:])
    assert load_config(None, ["paths.lake=hdfs:///wce/lake"])["paths.lake"] == "hdfs:///wce/lake"


def test_overrides_are_typed():
    cfg = load_config(None, ["weight.fn=linear", "watch_time.cap_s=120.5", "model.hidden_units=[8, 4]",
                             "train.epochs=3"])
    assert cfg["weight.fn"] == "linear" and cfg["watch_time.cap_s"] == 120.5
    assert cfg["model.hidden_units"] == [8, 4] and cfg["train.epochs"] == 3


@pytest.mark.parametrize("override,message", [
    ("nope.key=1", "unknown config key 'nope.key'"),
    ("train.epochs=two", "'train.epochs' must be int"),
    ("train.epochs=1.5", "'train.epochs' must be int"),
    ("watch_time.cap_s=true", "'watch_time.cap_s' must be number"),
    ("weight.fn=log10", "'weight.fn' must be one of log2, log2_plus1, linear"),
    ("train.shuffle_unit=pair", "'train.shuffle_unit' must be one of row, impression"),
    ("watch_time.lookahead_hours=-1", "'watch_time.lookahead_hours' must be >= 0"),
    ("train.epochs", "expected dotted.key=value"),
])
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_files(tmp_path):
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("paths:\n  lake: ./x\n  lakes: ./y\n")
    with pytest.raises(ConfigError, match="unknown config key 'paths.lakes'"):
        load_config(str(unknown))
    broken = tmp_path / "broken.yaml"
    broken.write_text("paths: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(broken))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "missing.yaml"))


def test_every_schema_default_is_valid():
    cfg = load_config(None)
    assert cfg.section("paths")["lake"] == os.path.abspath(SCHEMA["paths.lake"].default)
    assert cfg.as_dict()["weight"]["fn"] == "log2"


@pytest.mark.parametrize("args,message", [
    (["--conf", "conf/local.yaml", "--date", "2026-13-01"], "malformed date '2026-13-01'"),
    (["--conf", "conf/local.yaml", "--date", "2026-03-01", "--set", "weight.fn=cube"], "'weight.fn' must be one of"),
    (["--conf", "conf/nope.yaml", "--date", "2026-03-01"], "config file not found"),
    (["--date", "2026-03-01"], "the following arguments are required: --conf"),
])
def test_job_cli_errors_are_one_line_and_nonzero(args, message, tmp_path):
    out = subprocess.run([sys.executable, "jobs/build_samples.py", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr
