"""Measure the monitor on generated scenarios: which signals each raises, and how often in-distribution alarms.

For each seed a small bundle is trained (`demo_bundle`); for each scenario and month after training a
window is generated, scored by that bundle, given chargebacks with the simulated delay, and analysed
twice: a few days after the window (labels immature) and 75 days after (mature). The capture is built
in memory from the bundle's own scores, so this measures the signal logic and thresholds, not the
capture files (the tests cover those). Used to set and re-check the thresholds in config/monitor.toml.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from fraudcore.bundle import Bundle, load_bundle
from fraudcore.monitoring.capture import CaptureWindow
from fraudcore.monitoring.config import MonitorConfig
from fraudcore.monitoring.demo_bundle import train_small_bundle
from fraudcore.monitoring.report import MonitorReport, Traffic, analyse
from fraudcore.synth import generate_window
from fraudcore.synth.scenarios import SCENARIOS, scenario, simulate_label_arrival

EARLY_DAYS, MATURE_DAYS = 3, 75


@dataclass(frozen=True)
class SweepResult:
    seed: int
    scenario: str
    months_after: int
    early_verdict: str
    mature_verdict: str
    signals: tuple[str, ...]   # "name:subject" raised at either time, sorted


def capture_from_frame(frame: pd.DataFrame, bundle: Bundle) -> CaptureWindow:
    """The scored-capture frame the reader would produce, timed at each row's event time."""
    schema = bundle.schema
    scores = bundle.score(frame)
    meta = pd.DataFrame({"request_id": [str(i) for i in range(len(frame))],
                         "transaction_id": frame[schema.id].to_numpy(), "time": frame[schema.time].to_numpy(),
                         "model_version": bundle.version, "score": scores, "decision": bundle.decide(scores),
                         "latency_ms": np.ones(len(frame))})
    inputs = frame[list(schema.feature_names)].reset_index(drop=True)
    failures = pd.DataFrame({"time": pd.Series([], dtype="datetime64[ns, UTC]"), "model_version": [],
                             "latency_ms": [], "http_status": [], "rule": [], "field": []})
    return CaptureWindow(pd.concat([meta, inputs], axis=1), failures, files=0, lines=len(frame))


def analyse_window(frame: pd.DataFrame, bundle: Bundle, cfg: MonitorConfig, seed: int
                   ) -> tuple[MonitorReport, MonitorReport]:
    window = capture_from_frame(frame, bundle)
    schema = bundle.schema
    labels = simulate_label_arrival(frame[schema.id], frame[schema.label], frame[schema.time], seed)
    end = frame[schema.time].max()
    reports = []
    for days in (EARLY_DAYS, MATURE_DAYS):
        as_of: datetime = (end + pd.Timedelta(days=days)).floor("s").to_pydatetime()
        reports.append(analyse(Traffic(window), bundle, labels, cfg, as_of))
    return reports[0], reports[1]


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep covers: a bundle per training seed, then `months` windows of `rows` per scenario."""

    seeds: tuple[int, ...]
    months: int
    rows: int
    base_rows: int = 120_000  # each seed's training rows; also sizes the windows' entity tables
    scenarios: tuple[str, ...] = tuple(SCENARIOS)


def sweep(plan: SweepPlan, cfg: MonitorConfig, on_result: Callable[[SweepResult], None] | None = None
          ) -> list[SweepResult]:
    out = []
    for seed in plan.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = load_bundle(train_small_bundle(Path(tmp) / "b", rows=plan.base_rows, seed=seed))
        for name in plan.scenarios:
            spec = scenario(name).spec
            for k in range(plan.months):
                frame = generate_window(plan.rows, seed, plan.base_rows, k, spec)
                early, mature = analyse_window(frame, bundle, cfg, seed * 1000 + k)
                signals = tuple(sorted({f"{s.name}:{s.subject}" for r in (early, mature) for s in r.signals}))
                res = SweepResult(seed, name, k, early.verdict, mature.verdict, signals)
                out.append(res)
                if on_result is not None:
                    on_result(res)
    return out


def summarize(results: Sequence[SweepResult]) -> dict[str, dict[str, object]]:
    """Per scenario: windows, the verdict counts early and mature, and how often each signal was raised."""
    table: dict[str, dict[str, object]] = {}
    for name in dict.fromkeys(r.scenario for r in results):
        rs = [r for r in results if r.scenario == name]
        counts: dict[str, int] = {}
        for r in rs:
            for s in r.signals:
                counts[s] = counts.get(s, 0) + 1
        table[name] = {"windows": len(rs),
                       "early": {v: sum(r.early_verdict == v for r in rs) for v in ("healthy", "investigate", "retrain")},
                       "mature": {v: sum(r.mature_verdict == v for r in rs) for v in ("healthy", "investigate", "retrain")},
                       "any_signal": sum(bool(r.signals) for r in rs),
                       "signals": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}
    return table
