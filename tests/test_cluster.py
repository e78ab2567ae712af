"""A real standalone Spark cluster (master + 2 workers, separate JVMs) on 127.0.0.1: spark-submit
build_samples to it and compare its samples with the local-mode run's. The cluster is stopped at the
end and no process of it may be left behind."""
from __future__ import annotations

import datetime as dt
import os
import subprocess

import pytest

from tests.conftest import ROOT, config_under

DAY = dt.date(2026, 3, 2)


def _cluster(cmd: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "scripts/cluster.sh", cmd], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def _pids(folder) -> list[int]:
    return [int(open(os.path.join(folder, f)).read()) for f in os.listdir(folder) if f.endswith(".pid")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "WCE_CLUSTER_DIR": str(folder), "WCE_MASTER_PORT": "7277", "WCE_MASTER_UI_PORT": "8280",
           "WCE_WORKER_MEMORY": "1g"}
    started = _cluster("start", env)
    assert started.returncode == 0, started.stderr
    pids = _pids(folder)
    assert len(pids) == 3 and all(_alive(p) for p in pids)
    yield env
    stopped = _cluster("stop", env)
    assert stopped.returncode == 0, stopped.stderr
    assert not any(_alive(p) for p in pids), "cluster processes left behind"


def test_spark_submit_build_samples_equals_local_run(spark, cluster, tmp_path):
    from wce_spark.spark.build_samples import build_samples
    from wce_spark.synth.generator import generate_logs

    local = config_under(tmp_path / "local")
    generate_logs(spark, local, DAY, 1, dirty=True, impressions_per_day=2000)
    build_samples(spark, local, DAY)

    remote_lake, remote_reports = tmp_path / "remote" / "lake", tmp_path / "remote" / "reports"
    sets = [f"paths.{p}={local[f'paths.{p}']}" for p in ("impressions", "playbacks")]
    sets += [f"paths.lake={remote_lake}", f"paths.reports={remote_reports}"]
    cmd = ["bash", "scripts/submit.sh", "--master", "spark://127.0.0.1:7277", "jobs/build_samples.py",
           "--conf", "conf/local.yaml", "--date", DAY.isoformat()]
    for s in sets:
        cmd += ["--set", s]
    env = {**cluster, "SUBMIT_OPTS": "--executor-memory 1g --total-executor-cores 2"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"accepted": 2000' in done.stdout

    def rows(lake):
        df = spark.read.format("delta").load(f"{lake}/samples").drop("event_ts")
        return sorted(tuple(r) for r in df.collect())

    assert rows(local["paths.lake"]) == rows(remote_lake)
    assert len(rows(remote_lake)) == 4000
