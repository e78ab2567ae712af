"""Airflow DAG example: the nightly WCE retrain, one spark-submit of jobs/daily_retrain.py per day.

Copy this file into the DAGs folder of an Airflow whose workers have spark-submit and the project at
WCE_HOME. The run for the interval starting at day D's 07:30 UTC fires at D+1 07:30 UTC with
``{{ ds }}`` = D: by then D's playbacks and the lookahead into D+1 (watch_time.lookahead_hours: 6)
have landed. Days run one after another (max_active_runs=1), because each day warm-starts from and is
gated against the model the day before published; ``catchup`` backfills missed days in order.
A retry is safe: rerunning a date gives the same published state. The job exits 0 when it published
or rejected the candidate (a rejection is a decision, not a failure) and non-zero when it failed.
Airflow is not a dependency of the project; the test only compiles this file.
"""
from __future__ import annotations

import datetime

import pendulum

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.4+
    from airflow import DAG
    from airflow.operators.bash import BashOperator

WCE_HOME = "/opt/wce-spark"
CONF = "conf/cluster.yaml"
# How this cluster runs a job; the environment archive is built by the packaging script (README "Cluster").
SUBMIT_OPTS = " ".join([
    "--master yarn --deploy-mode client",
    "--packages io.delta:delta-spark_2.13:4.0.1",
    "--archives dist/wce_spark_env.tar.gz#env",
    "--conf spark.pyspark.python=./env/bin/python",
    "--conf spark.pyspark.driver.python=.venv/bin/python",
])

with DAG(
    dag_id="wce_daily_retrain",
    description="Build, train, evaluate and gate yesterday's WCE watch-time model",
    schedule="30 7 * * *",
    start_date=pendulum.datetime(2026, 3, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": datetime.timedelta(minutes=30)},
    tags=["wce-spark"],
) as dag:
    BashOperator(
        task_id="daily_retrain",
        bash_command=(f"cd {WCE_HOME} && spark-submit {SUBMIT_OPTS} "
                      f"jobs/daily_retrain.py --conf {CONF} --date {{{{ ds }}}}"),
        execution_timeout=datetime.timedelta(hours=6),
    )
