"""Write the event-level dataset (layout in issue14-contract.md) or build it in memory.

    <root>/<entity>.parquet                                 customers, cards, merchants, bins, devices, ips,
                                                            email_domains
    <root>/<stream>/month=YYYY-MM/part-0.parquet            authorisations, logins (by event_time), labels (by
                                                            known_at; outcomes known after the data's last
                                                            month land in later month partitions)
    <root>/<snapshot>/month=YYYY-MM/part-0.parquet          merchant_risk, bin_risk, email_domain_risk
    <root>/oracle/month=YYYY-MM/part-0.parquet              kept aside: transaction_id, fraud_probability
    <root>/manifest.json                                    months, lead-in months, the oracle's per-month terms

Months are written as they are generated, so memory stays bounded at 42M authorisations.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fraudcore.schema import Schema
from fraudcore.synth.events import tables
from fraudcore.synth.events.generate import Month, Setup, iter_months, setup
from fraudcore.synth.events.spec import EventSpec

MANIFEST = "manifest.json"


def _info(m: Month) -> dict[str, object]:
    return {"label": m.label, "lead_in": m.lead_in, "authorisations": int(len(m.auth["t"])),
            "terms": {"intercept": m.intercept, "wallet_progress": m.progress, "velocity_decay": m.decay}}


def manifest(s: Setup, rows: int, months: list[dict[str, object]]) -> dict[str, object]:
    """What a reader needs besides the tables: which months are lead-in, and the oracle's per-month terms."""
    return {
        "format": "paylink-events/1", "rows": rows, "seed": s.seed, "spec": s.spec.as_dict(),
        "months": [m["label"] for m in months if not m["lead_in"]],
        "lead_in_months": [m["label"] for m in months if m["lead_in"]],
        "authorisations": {m["label"]: m["authorisations"] for m in months},
        "oracle_terms": {m["label"]: m["terms"] for m in months},
    }


def _month_label(s: Setup, seconds: np.ndarray) -> np.ndarray:
    origin = np.datetime64(s.clock.origin.isoformat(), "s")
    return (origin + seconds.astype("timedelta64[s]")).astype("datetime64[M]").astype(str)


def _put(root: Path, table: str, label: str, data: pa.Table) -> None:
    part = root / table / f"month={label}"
    part.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, part / "part-0.parquet", compression="zstd")


@dataclass
class _LabelRouter:
    """Label rows wait until the month they become known is written."""
    pending: list[tuple[pa.Table, np.ndarray]]

    def take(self, s: Setup, label: str | None) -> dict[str, pa.Table]:
        out: dict[str, list[pa.Table]] = {}
        keep = []
        for table, known in self.pending:
            months = _month_label(s, known)
            mask = months == label if label is not None else np.ones(len(months), bool)
            for lab in (np.unique(months[mask]) if label is None else ([label] if mask.any() else [])):
                sel = months == lab
                out.setdefault(lab, []).append(table.filter(pa.array(sel)))
            if not mask.all():
                keep.append((table.filter(pa.array(~mask)), known[~mask]))
        self.pending = keep
        return {lab: pa.concat_tables(parts) for lab, parts in out.items()}


def write_events(out: str | Path, rows: int, seed: int, spec: EventSpec | None = None, schema: Schema | None = None,
                 progress: Callable[[Month], None] | None = None) -> dict[str, object]:
    """Write the dataset under `out`; returns the manifest (also written as manifest.json)."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    s = setup(rows, seed, spec, schema)
    for name, table in tables.entity_tables(s).items():
        pq.write_table(table, root / f"{name}.parquet", compression="zstd")
    router = _LabelRouter([])
    done: list[dict[str, object]] = []
    for m in iter_months(rows, seed, prepared=s):
        _put(root, "authorisations", m.label, tables.authorisations(s, m))
        _put(root, "logins", m.label, tables.logins(s, m))
        for name, table in tables.snapshot_tables(s, m).items():
            _put(root, name, m.label, table)
        _put(root, tables.ORACLE_TABLE, m.label, tables.oracle(m))
        router.pending.append(tables.labels(s, m))
        for label, table in router.take(s, m.label).items():
            _put(root, "labels", label, table)
        if progress is not None:
            progress(m)
        done.append(_info(m))
    for label, table in router.take(s, None).items():
        _put(root, "labels", label, table)
    info = manifest(s, rows, done)
    (root / MANIFEST).write_text(json.dumps(info, indent=2) + "\n")
    return info


@dataclass(frozen=True)
class EventData:
    """The dataset in memory: the engine's input tables, the oracle (kept aside) and the manifest."""
    tables: dict[str, pd.DataFrame]
    oracle: pd.DataFrame
    manifest: dict[str, object]


def generate_events(rows: int, seed: int, spec: EventSpec | None = None, schema: Schema | None = None) -> EventData:
    """The whole dataset as DataFrames (small sizes: tests and notebooks)."""
    s = setup(rows, seed, spec, schema)
    parts: dict[str, list[pa.Table]] = {}
    months = []
    for m in iter_months(rows, seed, prepared=s):
        parts.setdefault("authorisations", []).append(tables.authorisations(s, m))
        parts.setdefault("logins", []).append(tables.logins(s, m))
        parts.setdefault("labels", []).append(tables.labels(s, m)[0])
        for name, table in tables.snapshot_tables(s, m).items():
            parts.setdefault(name, []).append(table)
        parts.setdefault(tables.ORACLE_TABLE, []).append(tables.oracle(m))
        months.append(_info(m))
    frames = {name: t.to_pandas() for name, t in tables.entity_tables(s).items()}
    frames.update({name: pa.concat_tables(p).to_pandas() for name, p in parts.items()})
    frames["labels"] = frames["labels"].sort_values("known_at", kind="stable").reset_index(drop=True)
    oracle = frames.pop(tables.ORACLE_TABLE)
    return EventData(frames, oracle, manifest(s, rows, months))
