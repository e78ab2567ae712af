"""Bad rows for ``--dirty``: every case the build_samples rules name, injected as EXTRA rows.

Clean rows stay untouched, so the truth of the clean impressions still holds. Each extra row carries
the outcome build_samples must give it: ``_expect`` for impressions (a quarantine reason), ``_kind``
for playbacks (a quarantine reason, or ``linked`` when the outcome depends on where its timestamp
falls relative to its valid impression; see ``generator.playback_outcome``). Rows are made from
impressions outside 00:00-01:00 and 23:00-24:00, so none drifts over midnight by accident.

Both functions return, for one clean impression row, a list of row structs, each null unless its case
picked the row (a ``synth.dirty_fraction`` share per case, by hash); the generator explodes them.
"""
from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from wce_spark.synth.world import DAY_MS, SynthParams, play_struct, uniform

LINKED = "linked"  # a play of a valid impression: used, carried or out_of_window by its timestamp


def _null(type_name: str) -> Column:
    return F.lit(None).cast(type_name)


def _picked(p: SynthParams, case: str) -> Column:
    away_from_midnight = F.col("_hour").between(1, 22)
    return away_from_midnight & (uniform(p.seed, "dirty/" + case, "impression_id") < p.dirty_fraction)


def _variant(p: SynthParams, case: str, n: int) -> Column:
    return F.floor(uniform(p.seed, "variant/" + case, "impression_id") * n).cast("int")


def _ms_between(p: SynthParams, salt: str, low_ms: int, high_ms: int) -> Column:
    return (F.lit(low_ms) + F.floor(uniform(p.seed, salt, "impression_id") * (high_ms - low_ms))).cast("long")


def impression_struct(expect: str, impression_id: Column | None = None, user_id: Column | None = None,
                      video_id: Column | None = None, event_ts: Column | None = None,
                      video_duration_s: Column | None = None) -> Column:
    """The impression row as a struct of the output columns plus ``_expect``; a field not given is the
    row's own value."""
    given = {"impression_id": impression_id, "user_id": user_id, "video_id": video_id, "event_ts": event_ts,
             "video_duration_s": video_duration_s}
    fields = [(given.get(name) if given.get(name) is not None else F.col(name)).alias(name)
              for name in ("impression_id", "user_id", "video_id", "author_id", "event_ts", "video_duration_s",
                           "device")]
    return F.struct(*fields, F.lit(expect).alias("_expect"))


def bad_duration_id() -> Column:
    """The fresh impression_id of the row's bad-duration copy (its plays are orphans)."""
    return F.concat(F.lit("x-bad-duration-"), "impression_id")


def dirty_impression_structs(p: SynthParams) -> list[Column]:
    """Extra impressions: duplicates (later, and exact), missing keys, bad durations."""
    later = F.timestamp_millis(F.col("_ts_ms") + _ms_between(p, "later", 1_000, 600_000))
    mk = _variant(p, "missing_key", 7)
    bd = _variant(p, "bad_duration", 4)
    return [
        F.when(_picked(p, "later_duplicate"), impression_struct("duplicate", event_ts=later)),
        F.when(_picked(p, "exact_duplicate"), impression_struct("duplicate")),
        F.when(_picked(p, "missing_key"), impression_struct(
            "missing_key",
            impression_id=F.when(mk == 0, _null("string")).when(mk == 1, F.lit(""))
            .otherwise(F.concat(F.lit("x-missing-key-"), "impression_id")),
            user_id=F.when(mk == 2, _null("string")).when(mk == 3, F.lit("")).otherwise(F.col("user_id")),
            video_id=F.when(mk == 4, _null("string")).when(mk == 5, F.lit("")).otherwise(F.col("video_id")),
            event_ts=F.when(mk == 6, _null("timestamp")).otherwise(F.col("event_ts")))),
        F.when(_picked(p, "bad_duration"), impression_struct(
            "bad_duration", impression_id=bad_duration_id(),
            video_duration_s=F.when(bd == 0, F.lit(0.0)).when(bd == 1, -F.col("video_duration_s"))
            .when(bd == 2, F.lit(float("nan"))).otherwise(_null("double")))),
    ]


def dirty_play_structs(p: SynthParams, segments: list[Column]) -> list[Column]:
    """Extra playbacks: missing keys, bad play_ms, later duplicates of real segments (kept only where
    they stay in the original's day), orphans (unknown impression, or the bad-duration copy), plays
    before their impression and after the lookahead (``linked``: they resolve to out_of_window)."""
    def fresh_event_id(case: str) -> Column:
        return F.concat(F.lit(f"x-{case}-"), "impression_id")

    imp_id, ts = F.col("impression_id"), F.col("_ts_ms")
    soon = ts + _ms_between(p, "soon", 1_000, 30_000)
    some_ms = _ms_between(p, "play_ms", 1_000, 30_000)
    mk = _variant(p, "play_missing_key", 5)
    negative = -_ms_between(p, "negative", 1, 5_000)

    def later_copy(segment: Column) -> Column:
        delay = (1_000 + F.floor(uniform(p.seed, "duplicate/delay", segment["event_id"]) * 59_000)).cast("long")
        later = segment["_ts_ms"] + delay
        keep = (segment.isNotNull() & (F.floor(later / DAY_MS) == F.floor(segment["_ts_ms"] / DAY_MS))
                & (uniform(p.seed, "dirty/play_duplicate", segment["event_id"]) < p.dirty_fraction))
        return F.when(keep, play_struct(segment["event_id"], segment["impression_id"], later, segment["play_ms"],
                                        "duplicate"))

    return [
        F.when(_picked(p, "play_missing_key"), play_struct(
            F.when(mk == 0, _null("string")).when(mk == 1, F.lit("")).otherwise(fresh_event_id("missing-key")),
            F.when(mk == 2, _null("string")).when(mk == 3, F.lit("")).otherwise(imp_id),
            F.when(mk == 4, _null("long")).otherwise(soon), some_ms, "missing_key")),
        F.when(_picked(p, "bad_play_ms"), play_struct(
            fresh_event_id("bad-play-ms"), imp_id, soon,
            F.when(_variant(p, "bad_play_ms", 2) == 0, _null("long")).otherwise(negative), "bad_play_ms")),
        F.when(_picked(p, "orphan"), play_struct(
            fresh_event_id("orphan"), F.concat(F.lit("x-unknown-"), imp_id), soon, some_ms, "orphan")),
        F.when(_picked(p, "bad_duration"), play_struct(
            fresh_event_id("of-quarantined"), bad_duration_id(), soon, some_ms, "orphan")),
        F.when(_picked(p, "before"), play_struct(
            fresh_event_id("before"), imp_id, ts - _ms_between(p, "before", 1_000, 600_000), some_ms, LINKED)),
        F.when(_picked(p, "after"), play_struct(
            fresh_event_id("after"), imp_id, ts + p.lookahead_ms + _ms_between(p, "after", 1_000, 1_800_000),
            some_ms, LINKED)),
        *[later_copy(segment) for segment in segments],
    ]
