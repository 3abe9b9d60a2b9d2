"""`fraud monitor demo`: a production window through the real scoring server, then the monitor on its capture.

1. A bundle: the one given, or a small one trained from the generator (`demo_bundle`).
2. A "production" month for the chosen scenario, from the training data's customers and merchants.
3. `fraud serve` as a subprocess on a free loopback port, capturing every request (sample rate 1.0);
   the window's transactions are POSTed to it, with one request in a hundred deliberately invalid, so
   the capture (scores, reasons, latencies, failures) is the server's own.
4. Chargebacks for the window's frauds arrive with a lognormal delay after the replay.
5. The monitor runs twice on that capture: "now", when hardly any label has arrived, and 75 days on,
   when the labels are mature. Both reports are written as JSON beside the capture.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from fraudcore.bundle import Bundle
from fraudcore.monitoring.config import load_monitor_config
from fraudcore.monitoring.demo_bundle import train_small_bundle
from fraudcore.monitoring.report import MonitorReport, MonitorWindow, run_monitor
from fraudcore.registry.store import resolve_bundle
from fraudcore.synth import generate_window
from fraudcore.synth.scenarios import scenario, simulate_label_arrival

DEMO_BASE_ROWS = 120_000   # the demo bundle's training rows; also sizes the window's entity tables
MATURE_AFTER_DAYS = 75     # by then ~99% of chargebacks have arrived
BATCH = 10                 # transactions per request
BAD_EVERY = 100            # one request in this many is invalid on purpose


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def to_requests(frame: pd.DataFrame, bundle: Bundle) -> list[dict[str, Any]]:
    """Rows as a client sends them: schema features and the transaction id, categories as strings, NaN as null."""
    names = [*bundle.schema.feature_names, bundle.schema.id]
    out = []
    for row in frame[names].astype(object).itertuples(index=False):
        out.append({n: None if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                    else (v.item() if hasattr(v, "item") else v) for n, v in zip(names, row)})
    return out


class _Server:
    """`fraud serve` in a subprocess; stopped with SIGTERM so the capture writer flushes."""

    def __init__(self, bundle_dir: Path, capture_root: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._fh = open(log, "wb")
        cmd = [sys.executable, "-m", "fraudcore.serving.cli", "--model", str(bundle_dir), "--host", "127.0.0.1",
               "--port", str(self.port), "--capture", str(capture_root), "--capture-sample", "1.0", "--pin"]
        self.proc = subprocess.Popen(cmd, stdout=self._fh, stderr=subprocess.STDOUT, env={**os.environ})

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fraud serve exited with {self.proc.returncode}:\n{self.log.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"fraud serve not ready after {timeout:.0f}s:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._fh.close()


def replay(port: int, requests: list[dict[str, Any]]) -> dict[int, int]:
    """POST the transactions in batches on one keep-alive connection; returns the count per HTTP status."""
    statuses: dict[int, int] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    for n, i in enumerate(range(0, len(requests), BATCH)):
        batch = [dict(r) for r in requests[i:i + BATCH]]
        if n % BAD_EVERY == BAD_EVERY - 1:
            batch[0]["amount"] = -5.0  # a client bug: the whole request is refused with a 4xx
        body = json.dumps({"instances": batch}).encode()
        try:
            conn.request("POST", "/invocations", body=body, headers=headers)
            resp = conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/invocations", body=body, headers=headers)
            resp = conn.getresponse()
        resp.read()
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
    conn.close()
    return statuses


def run_demo(name: str, *, rows: int, seed: int, out: Path, bundle: str | None = None,
             publish: bool = False) -> MonitorReport:
    """Run the whole demo into `out`; returns the report on mature labels."""
    out.mkdir(parents=True, exist_ok=True)
    if bundle is None:
        bundle_dir = out / "bundle"
        if not (bundle_dir / "manifest.json").is_file():
            print(f"training a small demo bundle on {DEMO_BASE_ROWS} generated rows (seed {seed}) ...")
            train_small_bundle(bundle_dir, rows=DEMO_BASE_ROWS, seed=seed)
        b = resolve_bundle(bundle_dir)
    else:
        b = resolve_bundle(bundle)
        bundle_dir = b.path
    sc = scenario(name)
    print(f"scenario {sc.name}: {sc.description}")
    frame = generate_window(rows, seed, DEMO_BASE_ROWS, 0, sc.spec)
    capture_root = out / f"capture-{sc.name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    server = _Server(bundle_dir, capture_root, out / "serve.log")
    try:
        server.wait_ready()
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        statuses = replay(server.port, to_requests(frame, b))
        print(f"replayed {rows} transactions in {time.perf_counter() - t0:.1f}s through fraud serve on port "
            f"{server.port}: HTTP status counts {statuses}")
        time.sleep(1.5)  # the capture writer flushes every second
    finally:
        server.stop()
    labels = simulate_label_arrival(frame[b.schema.id], frame[b.schema.label], [started] * len(frame), seed)
    labels.to_parquet(out / "labels.parquet")
    cfg = load_monitor_config()
    reports = {}
    for when, as_of in (("now", datetime.now(timezone.utc)),
                        (f"{MATURE_AFTER_DAYS} days later", started + timedelta(days=MATURE_AFTER_DAYS))):
        report = run_monitor(str(capture_root), b, labels, cfg, MonitorWindow(as_of=as_of, days=0))
        reports[when] = report
        path = out / f"report-{'now' if when == 'now' else 'mature'}.json"
        path.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False, default=str) + "\n")
        print(f"\n--- monitor as of {when} ({as_of:%Y-%m-%d}) ---")
        for line in report.summary_lines():
            print(line)
        print(f"report: {path}")
    final = reports[f"{MATURE_AFTER_DAYS} days later"]
    if publish:
        from fraudcore.monitoring.publish import cloudwatch_client, publish_report

        names = publish_report(cloudwatch_client(), final, cfg.publish)
        print(f"published {len(names)} metrics to {cfg.publish.namespace}")
    print(f"\nverdict: {final.verdict.upper()}")
    return final
