"""The difficulty spec on the event-level data: oracle PR-AUC in [0.50, 0.70] on the last 3 months, logistic
regression at least 0.10 below it (fraudcore/difficulty.py), with every feature computed by the engine.

Also checks the oracle against the engine: the oracle recomputed from the engine's features must equal the
stored one. Without the engine (fraudcore.features not importable) it falls back to the features the
generator computed for the oracle (26 of the 40) and says so.

    nice -n 10 python benchmarks/event_difficulty.py --rows 1000000 --save
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from fraudcore.difficulty import measure_difficulty
from fraudcore.schema import paylink_schema
from fraudcore.synth.events import EventSpec, generate_events
from fraudcore.synth.events.codes import Codes
from fraudcore.synth.events.generate import iter_months, setup
from fraudcore.synth.events.join import attach_labels
from fraudcore.synth.events.oracle import ORACLE_FEATURES, from_features

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine  # noqa: E402


def engine_frame(rows: int, seed: int) -> tuple[pd.DataFrame, dict, float]:
    from fraudcore.features import EventLog, compute_features, load_feature_set

    data = generate_events(rows, seed)
    t0 = time.perf_counter()
    frame = compute_features(EventLog(dict(data.tables)), load_feature_set(ROOT / "config" / "features.toml"))
    seconds = time.perf_counter() - t0
    frame = attach_labels(frame, data.tables["labels"], data.oracle)
    months = frame["event_time"].dt.strftime("%Y-%m")
    return frame[months.isin(data.manifest["months"])].reset_index(drop=True), data.manifest, seconds


def generator_frame(rows: int, seed: int) -> pd.DataFrame:
    s = setup(rows, seed)
    parts = []
    for m in iter_months(rows, seed, prepared=s):
        if m.lead_in:
            continue
        df = pd.DataFrame({k: np.asarray(m.features[k]) for k in ORACLE_FEATURES})
        for name in ("entry_mode", "avs_result", "payment_method", "device_type", "channel", "merchant_category"):
            df[name] = pd.Categorical.from_codes(df[name].astype(int), s.codes.categories(name))
        y = np.zeros(len(df), dtype=np.int8)
        y[m.labels["row"]] = m.labels["is_fraud"]
        df["is_fraud"], df["fraud_probability"] = y, m.oracle
        df["event_time"] = pd.Timestamp(s.clock.origin) + pd.to_timedelta(m.auth["t"], unit="s")
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    schema = paylink_schema()
    report: dict = {"benchmark": "event_difficulty", "rows": args.rows, "seed": args.seed}
    try:
        frame, manifest, engine_seconds = engine_frame(args.rows, args.seed)
        report["features_from"] = "engine (fraudcore.features.compute_features)"
        report["engine_seconds"] = round(engine_seconds, 1)
        again = from_features(EventSpec(**manifest["spec"]), Codes(schema), frame, manifest["oracle_terms"])
        diff = np.abs(again - frame["fraud_probability"].to_numpy())
        report["oracle_from_engine_features"] = {  # exact equality (float64) is tests/synth/test_event_engine.py
            "features": "training dtypes (float32)", "max_abs_diff": float(diff.max()),
            "max_rel_diff": float((diff / frame["fraud_probability"].to_numpy()).max())}
        used = schema
    except ImportError as err:
        frame = generator_frame(args.rows, args.seed)
        report["features_from"] = f"generator (engine not importable: {err}); 26 features the oracle reads"
        used = dataclasses.replace(schema, fields=tuple(f for f in schema.fields
                                                        if f.role != "feature" or f.name in frame.columns))
    report["missing"] = {"merchant_risk_score": round(float(frame["merchant_risk_score"].isna().mean()), 4),
                         "avg_amount_30d": round(float(frame["avg_amount_30d"].isna().mean()), 4)}
    report["difficulty"] = measure_difficulty(used, frame)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    report["machine"] = machine()
    report["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    text = json.dumps(report, indent=2)
    print(text)
    if args.save:
        (ROOT / "benchmarks" / "results" / f"event_difficulty_{args.rows // 1_000_000}m.json").write_text(text + "\n")
    return 0 if all(report["difficulty"]["spec"].values()) else 4


if __name__ == "__main__":
    raise SystemExit(main())
