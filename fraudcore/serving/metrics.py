"""Service metrics: a latency histogram, counts by decision, failures by reason.

Rendered as Prometheus text for `/metrics`, and as CloudWatch embedded-metric-format (EMF) JSON
lines on stdout when running in SageMaker (its log agent turns them into CloudWatch metrics in
`PayLink/Fraud`, where the rollout alarm on `InvalidInputRate` reads them). Hand-written rather than
prometheus_client: a dozen counters need no multiprocess machinery, and `observe` stays a few
dict and list operations on the request path.
"""
from __future__ import annotations

import bisect
import json
import random
import sys
import threading
import time
from collections import Counter
from typing import Any, TextIO

LATENCY_BUCKETS_MS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0)
BATCH_BUCKETS_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# the checkout form's store reads and enrichment: tens of microseconds embedded, milliseconds networked
ONLINE_BUCKETS_MS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0)
NAMESPACE = "PayLink/Fraud"
_EMF_SAMPLES = 100  # EMF allows at most 100 values per metric and line


class Metrics:
    def __init__(self) -> None:
        self.latency = _Timings(LATENCY_BUCKETS_MS, seed=0)  # per request, received to response ready
        self.requests: Counter[int] = Counter()       # by HTTP status
        self.decisions: Counter[str] = Counter()      # by decision, per transaction
        self.failures: Counter[str] = Counter()       # by rule
        self.batch_buckets = [0] * (len(BATCH_BUCKETS_ROWS) + 1)  # rows per micro-batch flush
        self.batch_rows_sum = 0
        self.swaps = 0
        self.model_version = ""
        self._window_ok = 0
        self._window_bad = 0
        self._window_decisions: Counter[str] = Counter()
        self._window_score_sum = 0.0
        self._window_scored = 0
        self.online_rows = 0                          # checkout-form transactions
        self.online_degraded = 0                      # ... scored with store features missing
        self._window_online = 0
        self._window_degraded = 0
        self.online_read = _Timings(ONLINE_BUCKETS_MS)     # per checkout request: store reads
        self.online_enrich = _Timings(ONLINE_BUCKETS_MS)   # ... reads and computation

    def observe(self, latency_ms: float, status: int, decisions: list[str] | None = None,
                failure: str | None = None, scores: list[float] | None = None) -> None:
        self.latency.observe(latency_ms)
        self.requests[status] += 1
        if decisions:
            for d in decisions:  # a request's few rows: cheaper than Counter.update's generic path
                self.decisions[d] += 1
                self._window_decisions[d] += 1
        if scores:
            self._window_score_sum += sum(scores)
            self._window_scored += len(scores)
        if failure is not None:
            self.failures[failure] += 1
        if 400 <= status < 500:
            self._window_bad += 1
        else:
            self._window_ok += 1

    def observe_online(self, degraded: int, rows: int, read_ms: float = 0.0, enrich_ms: float = 0.0) -> None:
        self.online_read.observe(read_ms)
        self.online_enrich.observe(enrich_ms)
        self.online_rows += rows
        self.online_degraded += degraded
        self._window_online += rows
        self._window_degraded += degraded

    def observe_batch(self, rows: int) -> None:
        self.batch_buckets[bisect.bisect_left(BATCH_BUCKETS_ROWS, rows)] += 1
        self.batch_rows_sum += rows

    def prometheus(self, extra: dict[str, float] | None = None) -> str:
        lines = _histogram("fraud_request_latency_ms", "Time from request received to response ready.",
                           LATENCY_BUCKETS_MS, self.latency.buckets, self.latency.total)
        lines.append("# TYPE fraud_requests_total counter")
        lines += [f'fraud_requests_total{{status="{s}"}} {n}' for s, n in sorted(self.requests.items())]
        lines.append("# TYPE fraud_decisions_total counter")
        lines += [f'fraud_decisions_total{{decision="{d}"}} {n}' for d, n in sorted(self.decisions.items())]
        lines.append("# TYPE fraud_failures_total counter")
        lines += [f'fraud_failures_total{{reason="{r}"}} {n}' for r, n in sorted(self.failures.items())]
        lines += _histogram("fraud_batch_rows", "Transactions scored together in one micro-batch.",
                            BATCH_BUCKETS_ROWS, self.batch_buckets, self.batch_rows_sum)
        lines += ["# TYPE fraud_online_rows_total counter", f"fraud_online_rows_total {self.online_rows}",
                  "# TYPE fraud_online_degraded_total counter", f"fraud_online_degraded_total {self.online_degraded}"]
        lines += _histogram("fraud_online_read_ms", "Checkout form: time in online store reads, per request.",
                            ONLINE_BUCKETS_MS, self.online_read.buckets, self.online_read.total)
        lines += _histogram("fraud_online_enrich_ms", "Checkout form: store reads and feature computation, "
                            "per request.", ONLINE_BUCKETS_MS, self.online_enrich.buckets, self.online_enrich.total)
        lines += ["# TYPE fraud_model_swaps_total counter", f"fraud_model_swaps_total {self.swaps}",
                  "# TYPE fraud_model_info gauge", f'fraud_model_info{{version="{self.model_version}"}} 1']
        for name, value in sorted((extra or {}).items()):
            lines += [f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(lines) + "\n"

    def emf_record(self, dimensions: dict[str, str]) -> dict[str, Any] | None:
        """One EMF document for the interval since the last call (None when nothing happened)."""
        total = self._window_ok + self._window_bad
        if total == 0:
            return None
        metrics = [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Requests", "Unit": "Count"},
                   {"Name": "InvalidInputs", "Unit": "Count"}, {"Name": "InvalidInputRate", "Unit": "None"}]
        doc: dict[str, Any] = {**dimensions, "ModelVersion": self.model_version,
                               "Latency": self.latency.take_window(), "Requests": total,
                               "InvalidInputs": self._window_bad, "InvalidInputRate": self._window_bad / total}
        for decision, n in sorted(self._window_decisions.items()):
            name = f"Decision{decision.capitalize()}"
            metrics.append({"Name": name, "Unit": "Count"})
            doc[name] = n
        if self._window_online:
            metrics += [{"Name": "OnlineRows", "Unit": "Count"}, {"Name": "OnlineDegraded", "Unit": "Count"},
                        {"Name": "OnlineDegradedRate", "Unit": "None"},
                        {"Name": "OnlineReadLatency", "Unit": "Milliseconds"},
                        {"Name": "OnlineEnrichLatency", "Unit": "Milliseconds"}]
            # from inside the endpoint: the SageMaker-to-DynamoDB round trip, as CloudWatch percentiles
            doc.update(OnlineRows=self._window_online, OnlineDegraded=self._window_degraded,
                       OnlineDegradedRate=self._window_degraded / self._window_online,
                       OnlineReadLatency=self.online_read.take_window(),
                       OnlineEnrichLatency=self.online_enrich.take_window())
            self._window_online = self._window_degraded = 0
        # The model's behaviour in this interval, for the canary's rollback alarms (deploy/behaviour.py):
        # they compare these with the bundle's reference profile, per model version.
        if self._window_scored:
            n = self._window_scored
            alerts = self._window_decisions["review"] + self._window_decisions["decline"]
            metrics += [{"Name": "AlertRate", "Unit": "None"}, {"Name": "DeclineRate", "Unit": "None"},
                        {"Name": "ScoreMean", "Unit": "None"}]
            doc.update(AlertRate=alerts / n, DeclineRate=self._window_decisions["decline"] / n,
                       ScoreMean=self._window_score_sum / n)
        # A second dimension set with ModelVersion: during a blue/green canary both models share the
        # variant name, and only the version tells the new model's metrics from the old one's.
        dimension_sets = [sorted(dimensions)]
        if self.model_version:
            dimension_sets.append(sorted([*dimensions, "ModelVersion"]))
        doc["_aws"] = {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [
            {"Namespace": NAMESPACE, "Dimensions": dimension_sets, "Metrics": metrics}]}
        self._window_ok, self._window_bad = 0, 0
        self._window_decisions = Counter()
        self._window_score_sum, self._window_scored = 0.0, 0
        return doc


class _Timings:
    """A cumulative histogram (Prometheus) and a reservoir sample of the current interval (EMF, which
    takes at most 100 values per metric and line)."""

    def __init__(self, edges: tuple[float, ...], seed: int = 1) -> None:
        self.edges = edges
        self.buckets = [0] * (len(edges) + 1)
        self.total = 0.0
        self._window: list[float] = []
        self._seen = 0
        self._rng = random.Random(seed)

    def observe(self, ms: float) -> None:
        self.buckets[bisect.bisect_left(self.edges, ms)] += 1
        self.total += ms
        self._seen += 1
        if len(self._window) < _EMF_SAMPLES:
            self._window.append(ms)
        else:
            j = self._rng.randrange(self._seen)
            if j < _EMF_SAMPLES:
                self._window[j] = ms

    def take_window(self) -> list[float]:
        out, self._window, self._seen = self._window, [], 0
        return out


def _histogram(name: str, help_text: str, edges: tuple[float, ...], counts: list[int], total: float) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    cum = 0
    for edge, n in zip(edges, counts):
        cum += n
        lines.append(f'{name}_bucket{{le="{edge:g}"}} {cum}')
    cum += counts[-1]
    lines += [f'{name}_bucket{{le="+Inf"}} {cum}', f"{name}_sum {total:.6f}", f"{name}_count {cum}"]
    return lines


class EmfEmitter:
    """Writes one EMF line per interval from a daemon thread (SageMaker ships stdout to CloudWatch)."""

    def __init__(self, metrics: Metrics, dimensions: dict[str, str], interval_s: float = 60.0,
                 stream: TextIO | None = None) -> None:
        self.metrics, self.dimensions, self.interval_s = metrics, dimensions, interval_s
        self.stream = stream or sys.stdout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emf", daemon=True)
        self._thread.start()

    def flush(self) -> None:
        doc = self.metrics.emf_record(self.dimensions)
        if doc is not None:
            self.stream.write(json.dumps(doc, separators=(",", ":")) + "\n")
            self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.flush()
