"""Helpers for the monitoring tests: generator windows written as the scoring server's capture files.

The capture records are what the scoring server writes (docs/contracts.md): generator transactions
scored by the real bundle, with decisions from its thresholds and reasons from its explainer. Only
the latency is synthetic here (the demo test measures real ones through the real server).
"""
from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from fraudcore.bundle import Bundle
from fraudcore.synth import generate_window
from fraudcore.synth.scenarios import scenario, simulate_label_arrival

BASE_ROWS = 120_000
SEED = 7
WINDOW_ROWS = 20_000


def window_for(name: str, months_after: int = 0, rows: int = WINDOW_ROWS, seed: int = SEED) -> pd.DataFrame:
    return generate_window(rows, seed, BASE_ROWS, months_after, scenario(name).spec)


def _json_column(col: pd.Series) -> list:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [None if v is None or v != v else str(v) for v in col.astype(object)]
    if col.dtype == bool:
        return col.astype(bool).tolist()
    vals = col.to_numpy(dtype=np.float64, na_value=np.nan)
    return [None if v != v else (int(v) if v.is_integer() and abs(v) < 2**53 else float(v)) for v in vals]


def capture_records(frame: pd.DataFrame, bundle: Bundle, seed: int = 0, latency_ms: float = 1.0) -> list[dict]:
    """Contract records for every row of `frame`, scored by `bundle`, timed at the row's event time."""
    schema = bundle.schema
    scores = bundle.score(frame)
    decisions = bundle.decide(scores)
    flagged = np.flatnonzero(decisions != "approve")
    reasons: dict[int, list] = {}
    if len(flagged):
        for i, r in zip(flagged, bundle.explain(frame.iloc[flagged].reset_index(drop=True))):
            reasons[int(i)] = r
    rng = np.random.default_rng(seed)
    lat = latency_ms * np.exp(0.4 * rng.standard_normal(len(frame)))
    cols = {n: _json_column(frame[n]) for n in schema.feature_names}
    times = frame[schema.time].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").tolist()
    ids = frame[schema.id].to_numpy()
    return [{"request_id": uuid.UUID(int=int(rng.integers(0, 2**63))).hex, "transaction_id": int(ids[i]),
             "time": times[i], "model_version": bundle.version, "status": "ok",
             "input": {n: cols[n][i] for n in schema.feature_names}, "score": float(scores[i]),
             "decision": str(decisions[i]), "reasons": reasons.get(i, []), "latency_ms": float(lat[i])}
            for i in range(len(frame))]


def write_capture(root: Path, records: list[dict], worker: str = "w0") -> Path:
    """Write records as capture/<YYYY-MM-DD>/<HH>/<worker>-<n>.jsonl under `root`."""
    by_file: dict[Path, list[bytes]] = {}
    for rec in records:
        day, hour = rec["time"][:10], rec["time"][11:13]
        by_file.setdefault(root / "capture" / day / hour / f"{worker}-0.jsonl", []).append(orjson.dumps(rec))
    for path, lines in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as fh:
            fh.write(b"\n".join(lines) + b"\n")
    return root


def labels_for(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    return simulate_label_arrival(frame["transaction_id"], frame["is_fraud"], frame["event_time"], seed)
