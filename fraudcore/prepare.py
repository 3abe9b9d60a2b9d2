"""Get the training data ready without ever holding all of it: generate or reuse, validate, read in parts.

A dataset is a list of parquet files. Each file is validated on its own (`fraudcore.data.validate_frame`),
so memory is bounded by the largest file, not the dataset (42M rows are 18 monthly files of ~2.3M).
A file that validates clean is used as it is; one that needed work (CSV, renamed columns, quarantined
rows, re-sorting) is written once, validated, under `data.prepared_root`. Steps then read only the
columns and rows they need, with negatives downsampled as they are read.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraudcore.config import DataConfig
from fraudcore.data import DataValidationError, _files, fingerprint, read_raw, validate_frame
from fraudcore.schema import Schema
from fraudcore.split import PARTS, SplitPlan, add_counts, count_parts

MARKER = "_dataset.json"


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """What the flow keeps about its data: small enough to be an artifact (paths, counts, hashes)."""

    source: str
    synthetic: bool
    files: tuple[str, ...]               # parquet files to read, validated
    rows: int
    first_time: str
    last_time: str
    months: Mapping[str, Mapping[str, int]]   # "YYYY-MM" -> {"rows", "positives"}
    missing: Mapping[str, int]                # feature -> missing count over valid rows
    fingerprint: Mapping[str, Any]
    report: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PreparedData:
        return cls(**{**d, "files": tuple(d["files"])})


def synthetic_dir(root: str | Path, rows: int, seed: int) -> Path:
    return Path(root) / f"rows={rows}-seed={seed}"


def ensure_synthetic(root: str | Path, rows: int, seed: int, schema: Schema) -> tuple[Path, bool]:
    """The default dataset's directory, generated unless an identical one is already there.

    Identical means: same rows, seed and generator spec, and every file recorded in the marker present
    with its recorded size and sha256. Returns (directory, reused).
    """
    from fraudcore.synth import GeneratorSpec, write_dataset

    out = synthetic_dir(root, rows, seed)
    spec = dataclasses.asdict(GeneratorSpec())
    marker = out / MARKER
    if marker.is_file():
        saved = json.loads(marker.read_text())
        same = saved.get("rows") == rows and saved.get("seed") == seed and saved.get("spec") == spec
        files_ok = same and all((out / f["path"]).is_file() and (out / f["path"]).stat().st_size == f["bytes"]
                                for f in saved.get("files", []))
        if files_ok:
            return out, True
        marker.unlink()
    written = write_dataset(out, rows, seed, schema=schema)
    files = [{"path": str(p.relative_to(out)), "bytes": p.stat().st_size} for p in written]
    marker.write_text(json.dumps({"rows": rows, "seed": seed, "spec": spec, "files": files}, indent=2))
    return out, False


def _validate_one(args: tuple[Schema, str, str, str, dict, str, int]) -> dict[str, Any]:
    schema, path, on_error, time_order, column_map, prepared_root, index = args
    loaded = validate_frame(schema, read_raw(path), source=path, on_error=on_error, time_order=time_order,
                            column_map=column_map)
    frame, report = loaded.frame, loaded.report
    if len(frame) == 0:
        raise DataValidationError(f"{path}: no valid rows left after validation ({report.rows_quarantined} "
                                  f"quarantined); first problem: {report.violations[0].message()}")
    fp = fingerprint(path, frame)
    needs_copy = (not path.endswith(".parquet") or report.rows_quarantined > 0 or bool(column_map)
                  or bool(report.notes))
    use = path
    if needs_copy:
        out = Path(prepared_root) / fp["content_sha256"][:16]
        out.mkdir(parents=True, exist_ok=True)
        use = str(out / f"part-{index:05d}.parquet")
        frame.to_parquet(use, index=False, compression="zstd")
        if len(loaded.quarantine):
            loaded.quarantine.to_csv(out / f"quarantine-{index:05d}.csv", index=False)
    times = frame[schema.time]
    month = times.dt.strftime("%Y-%m")
    grouped = frame[schema.label].groupby(month.to_numpy()).agg(["size", "sum"])
    months = {str(m): {"rows": int(r["size"]), "positives": int(r["sum"])} for m, r in grouped.iterrows()}
    return {"use": use, "cleaned": needs_copy, "fingerprint": fp, "report": report.to_dict(), "months": months,
            "first": times.min().isoformat(), "last": times.max().isoformat(), "rows": len(frame),
            "missing": {f.name: int(frame[f.name].isna().sum()) for f in schema.features}}


def prepare_dataset(schema: Schema, path: str | Path, *, on_error: str = "quarantine", time_order: str = "reject",
                    column_map: Mapping[str, str] | None = None, prepared_root: str | Path = "data/prepared",
                    synthetic: bool = False, workers: int = 1) -> PreparedData:
    """Validate every file of `path` (file or directory of parquet/CSV) and summarise the dataset."""
    files = _files(str(path))
    jobs = [(schema, f, on_error, time_order, dict(column_map or {}), str(prepared_root), i)
            for i, f in enumerate(files)]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_validate_one, jobs))
    else:
        results = [_validate_one(j) for j in jobs]
    months: dict[str, dict[str, int]] = {}
    for r in results:
        for m, c in r["months"].items():
            cur = months.setdefault(m, {"rows": 0, "positives": 0})
            cur["rows"] += c["rows"]
            cur["positives"] += c["positives"]
    missing = {f.name: sum(r["missing"][f.name] for r in results) for f in schema.features}
    rows_in = sum(r["report"]["rows_in"] for r in results)
    rows = sum(r["rows"] for r in results)
    content = hashlib.sha256("".join(r["fingerprint"]["content_sha256"] for r in results).encode()).hexdigest()
    fp = {"path": str(path), "rows": rows, "content_sha256": content,
          "files": [f for r in results for f in r["fingerprint"]["files"]]}
    violations = [dict(v, file=r["fingerprint"]["path"]) for r in results for v in r["report"]["violations"]]
    notes = [n for r in results for n in r["report"]["notes"]]
    notes.append("each file was validated on its own: transaction ids are unique within a file")
    positives = sum(c["positives"] for c in months.values())
    report = {"source": str(path), "files": len(files), "rows_in": rows_in, "rows_valid": rows,
              "rows_quarantined": rows_in - rows, "fraud_rate": positives / rows if rows else None,
              "missing_rate": {k: v / rows for k, v in missing.items()}, "violations": violations, "notes": notes,
              "cleaned_files": sum(r["cleaned"] for r in results)}
    return PreparedData(source=str(path), synthetic=synthetic, files=tuple(r["use"] for r in results), rows=rows,
                        first_time=min(r["first"] for r in results), last_time=max(r["last"] for r in results),
                        months=dict(sorted(months.items())), missing=missing, fingerprint=fp, report=report)


def iter_batches(files: Sequence[str], columns: Sequence[str], batch_rows: int = 1_000_000
                 ) -> Iterator[tuple[int, int, pd.DataFrame]]:
    """(file index, batch index, frame) over the files, reading only `columns`."""
    import pyarrow.parquet as pq

    for i, f in enumerate(files):
        pf = pq.ParquetFile(f)
        for j, batch in enumerate(pf.iter_batches(batch_size=batch_rows, columns=list(columns))):
            yield i, j, batch.to_pandas()


def count_split(prepared: PreparedData, schema: Schema, plan: SplitPlan) -> dict[str, dict[str, int]]:
    """Rows and positives per split part, reading only the time and label columns."""
    total: dict[str, dict[str, int]] = {}
    for _, _, frame in iter_batches(prepared.files, [schema.time, schema.label]):
        total = add_counts(total, count_parts(plan, frame[schema.time], frame[schema.label]))
    return total


def negative_rate(counts: Mapping[str, Mapping[str, int]], parts: Sequence[str], budget: int, cap: float) -> float:
    """The negative sampling rate that keeps all positives and about `budget` rows in all (<= cap)."""
    rows = sum(counts[p]["rows"] for p in parts)
    pos = sum(counts[p]["positives"] for p in parts)
    neg = rows - pos
    if neg <= 0:
        return 1.0
    return float(min(cap, 1.0, max(budget - pos, 1) / neg))


def load_part(prepared: PreparedData, schema: Schema, plan: SplitPlan, parts: Sequence[str], columns: Sequence[str],
              rate: float = 1.0, seed: int = 0, batch_rows: int = 1_000_000, uniform: bool = False) -> pd.DataFrame:
    """Rows of the named split parts, all positives and negatives kept with probability `rate`
    (with `uniform`, every row kept with probability `rate`).

    The draw for each batch comes from its own generator seeded by (seed, file, batch), so the sample
    is the same whatever else was read before it.
    """
    codes_wanted = [PARTS.index(p) for p in parts]
    cols = list(dict.fromkeys([*columns, schema.time, schema.label]))
    out = []
    for i, j, frame in iter_batches(prepared.files, cols, batch_rows):
        keep = np.isin(plan.assign(frame[schema.time]), codes_wanted)
        if rate < 1.0:
            rng = np.random.default_rng([seed, i, j])
            drawn = rng.random(len(frame)) < rate
            keep &= drawn if uniform else (frame[schema.label].to_numpy() == 1) | drawn
        if keep.any():
            out.append(frame.loc[keep])
    if not out:
        raise DataValidationError(f"split parts {list(parts)} hold no rows in {prepared.source}")
    return pd.concat(out, ignore_index=True)


def prepare_from_config(data: DataConfig, schema: Schema) -> PreparedData:
    """The configured dataset, or the synthetic default (generated once, then reused), validated."""
    if data.path:
        return prepare_dataset(schema, data.path, on_error=data.on_error, time_order=data.time_order,
                               column_map=dict(data.column_map), prepared_root=data.prepared_root, workers=data.workers)
    if schema.oracle is None or data.schema:
        raise DataValidationError(f"data.path is required with schema '{schema.name}' ({data.schema}); the synthetic "
                                  "default exists only for the PayLink schema")
    root, _ = ensure_synthetic(data.synthetic_root, data.synthetic_rows, data.synthetic_seed, schema)
    return prepare_dataset(schema, root, on_error="reject", time_order="reject", prepared_root=data.prepared_root,
                           synthetic=True, workers=data.workers)
