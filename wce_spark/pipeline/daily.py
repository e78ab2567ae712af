"""The daily retrain of one date D, and a backfill of several (CONTRACT "daily_retrain").

For D: build D's samples; train a candidate on the ``train.days`` window ending at D into a staging
folder, never reading the holdout (holdout_bucket < 1000 * retrain.holdout_fraction); load D's held-out
impressions once and score the candidate and the published model on exactly those rows; gate; publish
(``publish.py``); append one line to ``<paths.reports>/daily_retrain/history.jsonl``. A failure records a
``failed`` line and re-raises, so the published model keeps serving and the job exits non-zero.
"""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

from wce_spark import storage
from wce_spark.config import Config
from wce_spark.errors import UserError
from wce_spark.evaluate.frame import EVALUATION_COLUMNS, evaluate_frame
from wce_spark.evaluate.report import json_safe, write_report
from wce_spark.evaluate.scoring import ServingModel
from wce_spark.pipeline import publish as pub
from wce_spark.pipeline.gate import Decision, decide
from wce_spark.pipeline.warm import choose_warm_start
from wce_spark.train.reader import HOLDOUT_COLUMN, holdout_cutoff

# What the history keeps of an evaluation (the full result is in the evaluation report).
HISTORY_METRICS = ("n", "mae", "rmse", "xauc", "xgauc", "mean_predicted", "mean_actual", "nonfinite_predictions")


def log(message: str) -> None:
    print(f"daily_retrain: {message}", flush=True)


def reports_dir(cfg: Config) -> str:
    return f"{cfg['paths.reports'].rstrip('/')}/daily_retrain"


def history_path(cfg: Config) -> str:
    return f"{reports_dir(cfg)}/history.jsonl"


def evaluation_stem(day: dt.date) -> str:
    return day.isoformat()


def read_history(cfg: Config) -> list[dict]:
    path = history_path(cfg)
    if not storage.exists(path):
        return []
    return [json.loads(line) for line in storage.read_text(path).splitlines() if line.strip()]


def _metrics(result: dict) -> dict:
    out = {k: result[k] for k in HISTORY_METRICS}
    if result.get("truth"):
        out["corr_odds_truth"] = result["truth"]["corr_odds"]
    return out


def _append(cfg: Config, record: dict) -> None:
    storage.append_line(history_path(cfg), json.dumps(json_safe(record), sort_keys=True))


def _published_model(models_root: str) -> tuple[str | None, ServingModel | None, str | None]:
    """(name, loaded model, why it cannot be used) of what ``latest`` names."""
    name = pub.read_latest(models_root)
    if name is None:
        return None, None, None
    try:
        return name, ServingModel(pub.model_dir(models_root, name)), None
    except UserError as exc:
        return name, None, str(exc)


def run_day(spark, cfg: Config, day: dt.date, *, deterministic: bool = False) -> dict:
    """Retrain, evaluate, gate and maybe publish D; return the history record (also appended).
    On any failure a ``failed`` record is appended and the exception re-raised."""
    from pyspark.sql import functions as F

    from wce_spark.evaluate.day import load_impressions
    from wce_spark.lake.snapshot import resolve_snapshot, window
    from wce_spark.spark.build_samples import build_samples
    from wce_spark.train.distributed import train_with_spark
    from wce_spark.train.loop import samples_table

    started = time.time()
    run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    models_root = cfg["paths.models"].rstrip("/")
    cutoff = holdout_cutoff(cfg["retrain.holdout_fraction"])
    record: dict[str, Any] = {"date": day.isoformat(), "run_id": run_id, "decision": None, "reason": None,
                              "table_version": None, "sample_rows": None,
                              "holdout": {"fraction": cfg["retrain.holdout_fraction"], "buckets_below": cutoff,
                                          "n": None},
                              "candidate": None, "compared_with": None, "published_folder": None,
                              "latest": pub.read_latest(models_root), "timings_s": {}}
    timings = record["timings_s"]

    def lap(name: str, since: float) -> float:
        now = time.time()
        timings[name] = round(now - since, 3)
        return now

    try:
        if cutoff <= 0:
            raise UserError("retrain.holdout_fraction rounds to no holdout bucket: the gate needs held-out "
                            "impressions (set it to at least 0.001)")
        t = time.time()
        log(f"{day}: building samples")
        built = build_samples(spark, cfg, day)
        record["table_version"] = built["samples"]["table_version"]
        record["sample_rows"] = built["samples"]["written"]
        t = lap("build", t)

        published_name, published, unusable = _published_model(models_root)
        published_dir = pub.model_dir(models_root, published_name) if published_name else None
        warm_from, warm_reason = choose_warm_start(cfg, day, published_dir)
        record["warm_start"] = {"from": warm_from, "reason": warm_reason}
        log(f"{day}: {warm_reason}")
        staging = pub.candidate_dir(models_root, day, run_id)
        files = resolve_snapshot(spark, samples_table(cfg), *window(day, cfg["train.days"]))
        trained = train_with_spark(spark, cfg.with_overrides({"train.warm_start": warm_from or ""}), day, files,
                                   deterministic=deterministic, export_dir=staging)
        record["train"] = {"final_loss": trained["final_loss"], "rows_trained": trained["rows_trained"],
                           "epochs": trained["epochs"], "snapshot_version": files.version}
        t = lap("train", t)

        candidate = ServingModel(staging)
        inputs = [*candidate.inputs, *(published.inputs if published else [])]
        holdout = load_impressions(spark, cfg, day, [*EVALUATION_COLUMNS, *inputs],
                                   where=F.col(HOLDOUT_COLUMN) < F.lit(cutoff))
        record["holdout"]["n"] = len(holdout)
        if holdout.empty:
            raise UserError(f"no held-out impressions of {day} (holdout_bucket < {cutoff}); "
                            "raise retrain.holdout_fraction")
        log(f"{day}: scoring {len(holdout):,} held-out impressions with the candidate"
            + (f" and the published model {published_name}" if published else ""))
        cand_result = {"date": day.isoformat(), **evaluate_frame(holdout, candidate, cfg)}
        record["candidate"] = {"model_dir": staging, **_metrics(cand_result)}
        pub_result = None
        if published_name:
            record["compared_with"] = {"name": published_name, "error": unusable}
        if published:
            try:
                pub_result = evaluate_frame(holdout, published, cfg)
                record["compared_with"].update(_metrics(pub_result))
            except UserError as exc:  # e.g. it needs a column the samples no longer have
                record["compared_with"]["error"] = str(exc)
        paths = write_report(cand_result, f"{cfg['paths.reports'].rstrip('/')}/evaluate", evaluation_stem(day))
        record["report"] = paths.markdown
        t = lap("evaluate", t)

        decision = decide(cand_result, pub_result, cfg["retrain.tolerance"])
        if published_name and pub_result is None and decision.publish:
            decision = Decision(True, f"published model {published_name} could not be scored "
                                            f"({record['compared_with']['error']}); {decision.reason}")
        record["reason"] = decision.reason
        if decision.publish:
            record["published_folder"] = pub.publish(staging, models_root, day)
            record["latest"] = record["published_folder"]
            record["decision"] = "published"
            log(f"{day}: published {pub.model_dir(models_root, record['published_folder'])}: {decision.reason}")
        else:
            record["decision"] = "rejected"
            log(f"{day}: rejected (candidate kept at {staging}; {published_name} keeps serving): "
                f"{decision.reason}")
        lap("publish", t)
    except BaseException as exc:
        record["decision"] = "failed"
        record["reason"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        record["latest"] = pub.read_latest(models_root)
        timings["total"] = round(time.time() - started, 3)
        _append(cfg, record)
        log(f"{day}: FAILED: {record['reason']} ({record['latest'] or 'nothing'} keeps serving)")
        raise
    timings["total"] = round(time.time() - started, 3)
    _append(cfg, record)
    return record


def _fmt(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


TABLE_HEADER = ("date", "sample rows", "holdout n", "cand. MAE (s)", "cand. XAUC", "published XAUC", "decision")


def table_rows(records: list[dict]) -> list[tuple[str, ...]]:
    rows = []
    for r in records:
        cand, comp = r.get("candidate") or {}, r.get("compared_with") or {}
        decision = r["decision"] + (f" -> {r['published_folder']}" if r.get("published_folder") else "")
        rows.append((r["date"], _fmt(r.get("sample_rows"), 0), _fmt(r["holdout"].get("n"), 0),
                     _fmt(cand.get("mae"), 2), _fmt(cand.get("xauc"), 4),
                     _fmt(comp.get("xauc"), 4) + (f" ({comp['name']})" if comp.get("name") else ""), decision))
    return rows


def format_table(records: list[dict]) -> str:
    """The per-day table as aligned plain text."""
    rows = [TABLE_HEADER, *table_rows(records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_markdown(records: list[dict]) -> str:
    """The per-day table in Markdown, each date linking to its evaluation report (relative links)."""
    lines = ["# Daily retrain", "",
             "Candidate metrics are on the date's held-out impressions; the published model (what `latest` "
             "named before the run) is scored on the same rows. History: [history.jsonl](history.jsonl).", "",
             "| " + " | ".join(TABLE_HEADER) + " | reason |", "|" + "---|" * (len(TABLE_HEADER) + 1)]
    for record, row in zip(records, table_rows(records)):
        date = f"[{row[0]}](../evaluate/{evaluation_stem(dt.date.fromisoformat(row[0]))}.md)" \
            if record.get("report") else row[0]
        reason = (record.get("reason") or "").replace("|", "\\|")
        lines.append("| " + " | ".join((date, *row[1:])) + f" | {reason} |")
    return "\n".join(lines) + "\n"


def run_days(cfg: Config, start: dt.date, end: dt.date, *, spark=None, deterministic: bool = False) -> list[dict]:
    """Run ``run_day`` for start..end in order in one Spark session: a rejected day goes on, a failed day
    stops the run (re-raised after the table and summary are written). Returns the records."""
    if end < start:
        raise UserError(f"--end {end} is before --start {start}")
    if spark is None:
        from wce_spark.spark.session import get_spark

        spark = get_spark(cfg, "daily_retrain")
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    records: list[dict] = []
    try:
        for i, day in enumerate(days, 1):
            log(f"== day {i}/{len(days)}: {day} ==")
            try:
                records.append(run_day(spark, cfg, day, deterministic=deterministic))
            except BaseException:
                records.append(read_history(cfg)[-1])
                raise
    finally:
        if records:
            summary = f"{reports_dir(cfg)}/summary.md"
            storage.write_text_atomic(summary, summary_markdown(records))
            print(format_table(records), flush=True)
            log(f"summary {summary}; history {history_path(cfg)}; evaluation reports under "
                f"{cfg['paths.reports'].rstrip('/')}/evaluate/")
    return records
