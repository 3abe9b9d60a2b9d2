"""Service health from the capture: latency percentiles and throughput per time bucket, failures by reason.

Latency is the server's own `latency_ms` per record (request parsing to response), so it excludes the
network. Throughput counts captured records; successes are divided by the capture sample rate to
estimate all of them (the server captures every failure but only a sample of successes), and the
failure rate is computed against that estimate, so sampling never inflates it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fraudcore.monitoring.capture import CaptureWindow
from fraudcore.monitoring.config import CaptureConfig, OperationsConfig
from fraudcore.monitoring.signals import Signal

PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class OperationsResult:
    requests: float                      # estimated requests (successes / sample rate + failures)
    latency_ms: dict[str, float | None]  # p50/p95/p99 over the window
    buckets: list[dict[str, Any]]        # per bucket: start, count, requests_per_s, p50, p95, p99, failures
    failures_by_reason: list[dict[str, Any]]  # rule, field, count, rate; largest first
    failure_rate: float
    bad_line_rate: float
    signals: list[Signal] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "latency_ms": self.latency_ms, "buckets": self.buckets,
                "failures_by_reason": self.failures_by_reason, "failure_rate": self.failure_rate,
                "bad_line_rate": self.bad_line_rate, "signals": [s.to_dict() for s in self.signals]}


def _percentiles(values: np.ndarray) -> dict[str, float | None]:
    if len(values) == 0:
        return {f"p{p}": None for p in PERCENTILES}
    return {f"p{p}": float(v) for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES))}


def compute_operations(window: CaptureWindow, cfg: OperationsConfig, capture: CaptureConfig) -> OperationsResult:
    ok = window.scored[["time", "latency_ms"]].assign(failed=0, weight=1.0 / capture.sample_rate)
    bad = window.failures[["time", "latency_ms"]].assign(failed=1, weight=1.0)
    allr = pd.concat([ok, bad], ignore_index=True) if len(bad) else ok
    requests = float(allr["weight"].sum())
    freq = f"{cfg.bucket_minutes}min"
    buckets = []
    if len(allr):
        allr = allr.assign(bucket=allr["time"].dt.floor(freq))
        seconds = cfg.bucket_minutes * 60.0
        for start, grp in allr.groupby("bucket", sort=True):
            lat = grp["latency_ms"].to_numpy()
            buckets.append({"start": start.isoformat(), "count": int(len(grp)),
                            "requests_per_s": float(grp["weight"].sum()) / seconds,
                            "failures": int(grp["failed"].sum()), **_percentiles(lat)})
    reasons = []
    if len(window.failures):
        counts = (window.failures.fillna({"field": ""}).groupby(["rule", "field"]).size()
                  .sort_values(ascending=False))
        reasons = [{"rule": rule, "field": fld or None, "count": int(c), "rate": c / requests}
                   for (rule, fld), c in counts.items()]
    failure_rate = len(window.failures) / requests if requests else 0.0
    summary = window.summary()
    result = OperationsResult(requests, _percentiles(allr["latency_ms"].to_numpy()), buckets, reasons,
                              failure_rate, summary["bad_line_rate"])
    result.signals.extend(operations_signals(result, cfg))
    return result


def operations_signals(r: OperationsResult, cfg: OperationsConfig) -> list[Signal]:
    out = []
    if r.requests < cfg.min_requests:
        out.append(Signal("no_traffic", "investigate", r.requests, cfg.min_requests, "capture",
                          f"{r.requests:.0f} requests captured in the window (expected at least "
                          f"{cfg.min_requests}): is the endpoint serving and the capture being written?"))
    p99 = r.latency_ms.get("p99")
    if p99 is not None and p99 > cfg.latency_p99_ms_max:
        out.append(Signal("latency_p99", "investigate", p99, cfg.latency_p99_ms_max, "latency",
                          f"latency p99 {p99:.1f} ms > {cfg.latency_p99_ms_max:g} ms"))
    if r.failure_rate > cfg.failure_rate_max:
        top = r.failures_by_reason[0] if r.failures_by_reason else {"rule": "?", "field": None}
        out.append(Signal("failure_rate", "investigate", r.failure_rate, cfg.failure_rate_max, "failures",
                          f"{r.failure_rate:.1%} of requests failed (limit {cfg.failure_rate_max:.0%}); most often "
                          f"{top['rule']}" + (f" on {top['field']!r}" if top.get("field") else "")))
    if r.bad_line_rate > cfg.bad_line_rate_max:
        out.append(Signal("bad_capture_lines", "investigate", r.bad_line_rate, cfg.bad_line_rate_max, "capture",
                          f"{r.bad_line_rate:.1%} of capture lines could not be read "
                          f"(limit {cfg.bad_line_rate_max:.0%}); see the bad-line examples"))
    return out
