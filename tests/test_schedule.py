"""The scheduling examples: the crontab line really submits the daily job for yesterday, the DAG compiles."""
from __future__ import annotations

import ast
import datetime as dt
import py_compile
import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEDULE = ROOT / "scripts" / "schedule"


def crontab_entries() -> tuple[dict[str, str], list[str]]:
    """(environment assignments, job lines) of the example crontab."""
    env, jobs = {}, []
    for line in (SCHEDULE / "crontab").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assignment = re.fullmatch(r"([A-Z_]+)=(.*)", line)
        if assignment:
            env[assignment.group(1)] = assignment.group(2)
        else:
            jobs.append(line)
    return env, jobs


def test_crontab_runs_the_daily_job_nightly_with_the_cluster_conf():
    env, jobs = crontab_entries()
    assert len(jobs) == 1
    minute, hour, day_of_month, month, day_of_week, command = jobs[0].split(maxsplit=5)
    assert 0 <= int(minute) < 60 and 0 <= int(hour) < 24
    assert (day_of_month, month, day_of_week) == ("*", "*", "*")
    assert env["CRON_TZ"] == "UTC" and env["SHELL"] == "/bin/bash"
    assert "spark-submit" in command and "jobs/daily_retrain.py --conf conf/cluster.yaml" in command
    assert not re.search(r"(?<!\\)%", command), "cron turns a bare % into a newline: write \\%"


def test_crontab_command_submits_yesterdays_date(tmp_path):
    """Run the cron command as cron would (\\% -> %), with a stand-in spark-submit that records its
    arguments, and check what the real one would have received."""
    env, jobs = crontab_entries()
    command = jobs[0].split(maxsplit=5)[5].replace("\\%", "%")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorded = tmp_path / "args"
    stand_in = bin_dir / "spark-submit"
    stand_in.write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" > {shlex.quote(str(recorded))}\n')
    stand_in.chmod(0o755)
    run_env = {**env, "WCE_HOME": str(tmp_path), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    yesterday = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).date().isoformat()
    done = subprocess.run(["/bin/bash", "-c", command], env=run_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    args = recorded.read_text().splitlines()
    assert args[:len(env["WCE_SUBMIT_OPTS"].split())] == env["WCE_SUBMIT_OPTS"].split()
    assert args[-5:] == ["jobs/daily_retrain.py", "--conf", "conf/cluster.yaml", "--date", yesterday]
    assert (tmp_path / "logs" / "daily_retrain.log").exists()


def rendered_bash_command(source: str) -> str:
    """The DAG's bash_command as Airflow gets it before templating: the f-string evaluated with the
    file's own module-level string constants (Airflow itself is not installed here)."""
    tree = ast.parse(source)
    constants = ast.Module(body=[node for node in tree.body if isinstance(node, ast.Assign)
                                 and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)],
                           type_ignores=[])
    namespace: dict = {}
    exec(compile(constants, "airflow_dag.py", "exec"), namespace)
    [command] = [kw.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                 for kw in node.keywords if kw.arg == "bash_command"]
    return eval(compile(ast.Expression(command), "airflow_dag.py", "eval"), namespace)


def test_airflow_dag_compiles_and_submits_the_daily_job_for_its_day(tmp_path):
    dag = SCHEDULE / "airflow_dag.py"
    py_compile.compile(str(dag), cfile=str(tmp_path / "dag.pyc"), doraise=True)
    source = dag.read_text()
    command = rendered_bash_command(source)
    assert command.startswith("cd /opt/wce-spark && spark-submit --master ")
    assert command.endswith(" jobs/daily_retrain.py --conf conf/cluster.yaml --date {{ ds }}")
    assert "max_active_runs=1" in source  # days in order: each one gates against the day before
