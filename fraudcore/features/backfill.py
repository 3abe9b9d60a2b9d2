"""The training table from raw events: every feature of every target event, month by month, labelled.

One sequence for `fraud features backfill` and TrainFlow's `backfill` foreach:

    plan = plan_backfill(events_root, features_path, out_root)   # content key, months, output folder
    for month in plan.months: backfill_month(plan, month)          # independent: a foreach branch each
    finish_backfill(plan, results)                                 # the manifest that marks it complete

The output folder is named by a content key: the sha256 of every event file and of the declarations.
The same events and the same definitions give the same key, so a retrain reuses a finished backfill (or
the finished months of an interrupted one) and any change to either recomputes it. Labels are joined
from the label stream as known at the end of the data (every outcome ever recorded); the walk-forward
backtest re-reads `known_at` to see each label only from when it became known.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from fraudcore.features.engine import compute_partition
from fraudcore.features.errors import EventDataError, FeatureConfigError
from fraudcore.features.events import EventLog, ParquetTable
from fraudcore.features.featureset import FeatureSet, LabelSource, load_feature_set
from fraudcore.features.partitions import plan_months

MANIFEST = "_backfill.json"
EVENTS_MANIFEST = "manifest.json"      # written by the synthetic generator: data months vs lead-in months
_CHUNK = 1 << 22


def content_key(events_root: str | Path, fs: FeatureSet) -> str:
    """sha256 over every event file (path and bytes) and the declarations' fingerprint."""
    root = Path(events_root)
    h = hashlib.sha256(fs.fingerprint().encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        h.update(str(path.relative_to(root)).encode())
        with path.open("rb") as fh:
            while block := fh.read(_CHUNK):
                h.update(block)
    return h.hexdigest()


def data_months(events_root: str | Path, fs: FeatureSet) -> list[str]:
    """The months to compute: the generator's data months (lead-in excluded), else every target month."""
    root = Path(events_root)
    manifest = root / EVENTS_MANIFEST
    if manifest.is_file():
        return list(json.loads(manifest.read_text())["months"])
    source = EventLog.from_dir(root)[fs.target]
    if not isinstance(source, ParquetTable) or not source.months():
        raise EventDataError(f"table {fs.target!r} under {root} is not stored by month "
                             f"(<events>/{fs.target}/month=YYYY-MM/part-0.parquet)")
    return source.months()


@dataclass(frozen=True)
class BackfillPlan:
    events: str
    features: str
    out: str
    key: str
    months: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "months": list(self.months)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BackfillPlan:
        return cls(**{**d, "months": tuple(d["months"])})

    @property
    def complete(self) -> bool:
        return (Path(self.out) / MANIFEST).is_file()


@dataclass(frozen=True)
class MonthResult:
    label: str
    rows: int
    positives: int
    reused: bool
    seconds: float
    reports: tuple[dict[str, Any], ...]


def plan_backfill(events_root: str | Path, features_path: str | Path, out_root: str | Path,
                  months: Sequence[str] | None = None) -> BackfillPlan:
    fs = load_feature_set(features_path)
    key = content_key(events_root, fs)
    chosen = tuple(sorted(months)) if months else tuple(data_months(events_root, fs))
    return BackfillPlan(str(events_root), str(features_path), str(Path(out_root) / key[:16]), key, chosen)


def _month_file(plan: BackfillPlan, month: str) -> Path:
    return Path(plan.out) / f"month={month}" / "part-0.parquet"


def _read_table(root: Path, name: str, columns: list[str], month: str | None = None) -> pd.DataFrame | None:
    folder = root / name if month is None else root / name / f"month={month}"
    if not folder.exists():
        return None
    files = sorted(folder.rglob("*.parquet"))
    if not files:
        return None
    return pd.concat([pq.read_table(f, columns=columns).to_pandas() for f in files], ignore_index=True)


def _label_source(fs: FeatureSet) -> LabelSource:
    if fs.outcomes is None:
        raise FeatureConfigError("outcomes: the features file must declare where outcomes come from to build a "
                                 "training table, e.g. outcomes = { stream = ..., key = ..., column = ... }")
    return fs.outcomes


def label_frame(fs: FeatureSet, features: pd.DataFrame, events_root: str | Path, month: str) -> pd.DataFrame:
    """`features` plus the schema's label (1 when any recorded outcome says fraud) and, if kept, the oracle."""
    schema, root, src = fs.schema, Path(events_root), _label_source(fs)
    ids = features[schema.id].to_numpy()
    labels = _read_table(root, src.stream, [src.key, src.column])
    out = features.copy()
    fraud = np.zeros(len(out), dtype=np.int8)
    if labels is not None:
        fraud_ids = labels.loc[labels[src.column].to_numpy() == 1, src.key].to_numpy()
        fraud = np.isin(ids, fraud_ids).astype(np.int8)
    out[schema.label] = fraud
    if schema.oracle and src.oracle_table:
        oracle = _read_table(root, src.oracle_table, [schema.id, schema.oracle], month)
        if oracle is not None:
            prob = oracle.set_index(schema.id)[schema.oracle]
            out[schema.oracle] = prob.reindex(ids).to_numpy(dtype=np.float64)
    return out


def backfill_month(plan: BackfillPlan, month: str, threads: int | None = None,
                   memory_limit: str | None = None) -> MonthResult:
    """Compute, label and write one month; a month already written under this content key is reused."""
    if month not in plan.months:
        raise ValueError(f"month {month!r} is not in the backfill plan {list(plan.months)}")
    fs = load_feature_set(plan.features)
    path = _month_file(plan, month)
    t0 = time.perf_counter()
    if path.is_file():
        meta = pq.read_metadata(path)
        positives = int(pq.read_table(path, columns=[fs.schema.label]).column(0).to_numpy().sum())
        return MonthResult(month, meta.num_rows, positives, True, 0.0, ())
    part = plan_months(fs, [month])[0]
    result = compute_partition(EventLog.from_dir(plan.events), fs, part, threads=threads, memory_limit=memory_limit)
    frame = label_frame(fs, result.frame, plan.events, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)  # a month file exists only once complete, so reuse never reads half a month
    return MonthResult(month, len(frame), int(frame[fs.schema.label].sum()), False,
                       round(time.perf_counter() - t0, 2), tuple(r.to_dict() for r in result.reports))


def finish_backfill(plan: BackfillPlan, results: Sequence[MonthResult]) -> Path:
    """Check every month is there and write the manifest that marks the backfill complete."""
    missing = [m for m in plan.months if not _month_file(plan, m).is_file()]
    if missing:
        raise EventDataError(f"backfill {plan.out} is missing months {missing}")
    fs = load_feature_set(plan.features)
    summary = {"key": plan.key, "events": plan.events, "features": plan.features,
               "fingerprint": fs.fingerprint(), "months": {r.label: r.rows for r in results},
               "positives": {r.label: r.positives for r in results},
               "reused": sorted(r.label for r in results if r.reused),
               "reports": [rep for r in results for rep in r.reports]}
    (Path(plan.out) / MANIFEST).write_text(json.dumps(summary, indent=2))
    return Path(plan.out)


def labels_known_at(fs: FeatureSet, events_root: str | Path, ids: np.ndarray) -> pd.Series:
    """Per transaction, when its fraud outcome first became known (NaT: never recorded as fraud)."""
    src = _label_source(fs)
    labels = _read_table(Path(events_root), src.stream, [src.key, src.known_at, src.column])
    if labels is None:
        return pd.Series(pd.NaT, index=range(len(ids)), dtype="datetime64[ns]")
    fraud = labels[labels[src.column].to_numpy() == 1]
    first = fraud.groupby(src.key)[src.known_at].min()
    return pd.Series(pd.to_datetime(first.reindex(ids).to_numpy()))
