"""Get the training data ready without ever holding all of it: generate or reuse, validate, read in parts.

A dataset is a list of parquet files. Each file is validated on its own (`fraudcore.data.validate_frame`),
so memory is bounded by the largest file, not the dataset (42M rows are 18 monthly files of ~2.3M).
Transaction ids are then checked across files from 64-bit hashes of the id column alone (336 MB at 42M
rows): a row repeating an earlier file's id is quarantined with its reason, or refused with on_error=reject.
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
    # A separate test file (split.holdout = a path): its source, rows and first/last event time. Its files
    # follow the training data's in `files`; `first_time`/`last_time` stay the training data's.
    holdout: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def holdout_range(self) -> tuple[str, str] | None:
        """(first, last) event time of the separate test file, or None."""
        return None if self.holdout is None else (self.holdout["first_time"], self.holdout["last_time"])

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


def _summary(schema: Schema, frame: pd.DataFrame) -> dict[str, Any]:
    """Per-file counts the dataset summary adds up: months, time range, rows and missing values."""
    times = frame[schema.time]
    month = times.dt.strftime("%Y-%m")
    grouped = frame[schema.label].groupby(month.to_numpy()).agg(["size", "sum"])
    months = {str(m): {"rows": int(r["size"]), "positives": int(r["sum"])} for m, r in grouped.iterrows()}
    return {"months": months, "first": times.min().isoformat(), "last": times.max().isoformat(), "rows": len(frame),
            "missing": {f.name: int(frame[f.name].isna().sum()) for f in schema.features}}


def _write_copy(frame: pd.DataFrame, quarantine: pd.DataFrame, prepared_root: str, fp: dict[str, Any],
                index: int) -> str:
    out = Path(prepared_root) / fp["content_sha256"][:16]
    out.mkdir(parents=True, exist_ok=True)
    use = str(out / f"part-{index:05d}.parquet")
    frame.to_parquet(use, index=False, compression="zstd")
    if len(quarantine):
        quarantine.to_csv(out / f"quarantine-{index:05d}.csv", index=False)
    return use


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
    use = _write_copy(frame, loaded.quarantine, prepared_root, fp, index) if needs_copy else path
    return {"source": path, "use": use, "cleaned": needs_copy, "fingerprint": fp, "report": report.to_dict(),
            **_summary(schema, frame)}


def _id_hashes(schema: Schema, files: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """64-bit hashes of every transaction id, with the file index and row of each (id column only)."""
    import pyarrow.parquet as pq

    hashes, owner, rows = [], [], []
    for i, f in enumerate(files):
        ids = pq.read_table(f, columns=[schema.id]).column(0).to_pandas()
        hashes.append(pd.util.hash_array(ids.to_numpy(), categorize=False))
        owner.append(np.full(len(ids), i, dtype=np.int32))
        rows.append(np.arange(len(ids), dtype=np.int32))
    return np.concatenate(hashes), np.concatenate(owner), np.concatenate(rows)


def cross_file_duplicates(schema: Schema, files: Sequence[str]) -> dict[int, list[tuple[int, Any, int, int]]]:
    """Rows whose transaction id already appeared in an earlier file (files in order), per file:
    (row, id, first file, first row). Within-file duplicates are validate_frame's job.

    Ids are compared by a 64-bit hash first (8 bytes a row: 336 MB at 42M rows), then every candidate
    is confirmed on the id itself, so a hash collision never drops a row."""
    import pyarrow.parquet as pq

    if len(files) < 2:
        return {}
    h, owner, row = _id_hashes(schema, files)
    order = np.argsort(h, kind="stable")       # stable: file order, then row order, within equal hashes
    hs = h[order]
    repeat = np.flatnonzero(hs[1:] == hs[:-1]) + 1
    if not len(repeat):
        return {}
    # the first occurrence of each repeated hash: walk back to the start of its run
    starts = np.flatnonzero(np.r_[True, hs[1:] != hs[:-1]])
    first_of = order[starts[np.searchsorted(starts, repeat, side="right") - 1]]
    dup = order[repeat]
    keep = owner[dup] != owner[first_of]       # repeats inside one file were handled by validate_frame
    dup, first_of = dup[keep], first_of[keep]
    wanted: dict[int, set[int]] = {}
    for g in np.r_[dup, first_of]:
        wanted.setdefault(int(owner[g]), set()).add(int(row[g]))
    values: dict[tuple[int, int], Any] = {}
    for i, rows in wanted.items():
        ids = pq.read_table(files[i], columns=[schema.id]).column(0).to_pandas()
        for r in rows:
            values[(i, r)] = ids.iat[r]
    out: dict[int, list[tuple[int, Any, int, int]]] = {}
    for d, f in zip(dup, first_of):
        a, b = (int(owner[d]), int(row[d])), (int(owner[f]), int(row[f]))
        if values[a] == values[b]:
            out.setdefault(a[0], []).append((a[1], values[a], b[0], b[1]))
    return out


def _drop_cross_file_duplicates(schema: Schema, results: list[dict[str, Any]], on_error: str,
                                prepared_root: str) -> int:
    """Quarantine (or, with on_error=reject, refuse) rows repeating an id of an earlier file. Returns
    how many rows were dropped; the affected files' summaries, copies and reports are rewritten."""
    import pyarrow.parquet as pq

    found = cross_file_duplicates(schema, [r["use"] for r in results])
    rule = "must be unique across the dataset's files"
    dropped = 0
    for i, dups in sorted(found.items()):
        r = results[i]
        r0, value, fi, fr = dups[0]
        example = f"{value!r}, first seen in {results[fi]['source']} row {fr}"
        if on_error == "reject":
            raise DataValidationError(f"{r['source']}: column '{schema.id}' {rule}; got {len(dups)} violating rows "
                                      f"(first at row {r0}: {example}). Set data.on_error = 'quarantine' to keep "
                                      "the first occurrence and quarantine the repeats.")
        frame = pq.read_table(r["use"]).to_pandas()
        bad = np.zeros(len(frame), dtype=bool)
        bad[[d[0] for d in dups]] = True
        quarantine = frame[bad].copy()
        quarantine["_reason"] = [f"{schema.id} {rule}: {v!r} first seen in {results[f]['source']} row {fr}"
                                 for _, v, f, fr in dups]
        quarantine["_row"] = [d[0] for d in dups]
        frame = frame[~bad].reset_index(drop=True)
        if len(frame) == 0:
            raise DataValidationError(f"{r['source']}: no valid rows left: every row repeats a transaction id "
                                      "of an earlier file")
        fp = fingerprint(r["source"], frame)
        r.update(_summary(schema, frame), fingerprint=fp, cleaned=True,
                 use=_write_copy(frame, quarantine, prepared_root, fp, i))
        rep = r["report"]
        rep["rows_valid"] = len(frame)
        rep["rows_quarantined"] += len(dups)
        rep["violations"].append({"column": schema.id, "rule": rule, "count": len(dups), "first_row": r0,
                                  "example": example})
        dropped += len(dups)
    return dropped


def prepare_dataset(schema: Schema, path: str | Path, data: DataConfig = DataConfig(), *,
                    synthetic: bool = False) -> PreparedData:
    """Validate every file of `path` (file or directory of parquet/CSV) and summarise the dataset.

    From `data`: on_error, time_order, column_map, prepared_root and workers (its path is not read)."""
    files = _files(str(path))
    jobs = [(schema, f, data.on_error, data.time_order, dict(data.column_map), data.prepared_root, i)
            for i, f in enumerate(files)]
    if data.workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=data.workers) as pool:
            results = list(pool.map(_validate_one, jobs))
    else:
        results = [_validate_one(j) for j in jobs]
    repeats = _drop_cross_file_duplicates(schema, results, data.on_error, data.prepared_root)
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
    if len(results) > 1:
        notes.append(f"transaction ids were checked unique across all {len(results)} files ({repeats} rows "
                     "repeating an earlier file's id)")
    ignored = list(dict.fromkeys(c for r in results for c in r["report"].get("ignored_columns", [])))
    positives = sum(c["positives"] for c in months.values())
    report = {"source": str(path), "files": len(files), "rows_in": rows_in, "rows_valid": rows,
              "rows_quarantined": rows_in - rows, "fraud_rate": positives / rows if rows else None,
              "missing_rate": {k: v / rows for k, v in missing.items()}, "violations": violations, "notes": notes,
              "cleaned_files": sum(r["cleaned"] for r in results), "ignored_columns": ignored}
    return PreparedData(source=str(path), synthetic=synthetic, files=tuple(r["use"] for r in results), rows=rows,
                        first_time=min(r["first"] for r in results), last_time=max(r["last"] for r in results),
                        months=dict(sorted(months.items())), missing=missing, fingerprint=fp, report=report)


def attach_holdout(data: PreparedData, test: PreparedData, schema: Schema) -> PreparedData:
    """The training data with a separately validated test file as its holdout: the test files are read after
    the training files, counts add up, and the fingerprint and report keep the test file's under "holdout".
    A test row repeating a training row's transaction id is refused: the test set must be unseen."""
    repeats = cross_file_duplicates(schema, [*data.files, *test.files])
    leaked = [d for i, dups in repeats.items() if i >= len(data.files) for d in dups if d[2] < len(data.files)]
    if leaked:
        value = leaked[0][1].item() if isinstance(leaked[0][1], np.generic) else leaked[0][1]
        raise DataValidationError(f"{test.source}: column '{schema.id}' must not repeat the training data's ids; "
                                  f"got {len(leaked)} rows (first: {value!r}, also in {data.source}). A separate "
                                  "test set must hold rows the model never trains on")
    months: dict[str, dict[str, int]] = {m: dict(c) for m, c in data.months.items()}
    for m, c in test.months.items():
        cur = months.setdefault(m, {"rows": 0, "positives": 0})
        cur["rows"] += c["rows"]
        cur["positives"] += c["positives"]
    return dataclasses.replace(
        data, files=(*data.files, *test.files), rows=data.rows + test.rows, months=dict(sorted(months.items())),
        missing={k: v + test.missing.get(k, 0) for k, v in data.missing.items()},
        fingerprint={**data.fingerprint, "holdout": dict(test.fingerprint)},
        report={**data.report, "holdout": dict(test.report)},
        holdout={"source": test.source, "files": list(test.files), "rows": test.rows, "first_time": test.first_time,
                 "last_time": test.last_time})


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


@dataclasses.dataclass(frozen=True)
class RowDraw:
    """Which rows `load_part` keeps: all positives and negatives with probability `rate` (with `uniform`,
    every row with probability `rate`). The draw for each batch comes from its own generator seeded by
    (seed, file, batch), so the sample is the same whatever else was read before it."""

    rate: float = 1.0
    seed: int = 0
    uniform: bool = False


def load_part(prepared: PreparedData, schema: Schema, plan: SplitPlan, parts: Sequence[str], columns: Sequence[str],
              draw: RowDraw = RowDraw()) -> pd.DataFrame:
    """Rows of the named split parts, sampled by `draw`, reading only `columns` (and time and label)."""
    codes_wanted = [PARTS.index(p) for p in parts]
    cols = list(dict.fromkeys([*columns, schema.time, schema.label]))
    out = []
    for i, j, frame in iter_batches(prepared.files, cols):
        keep = np.isin(plan.assign(frame[schema.time]), codes_wanted)
        if draw.rate < 1.0:
            rng = np.random.default_rng([draw.seed, i, j])
            drawn = rng.random(len(frame)) < draw.rate
            keep &= drawn if draw.uniform else (frame[schema.label].to_numpy() == 1) | drawn
        if keep.any():
            out.append(frame.loc[keep])
    if not out:
        raise DataValidationError(f"split parts {list(parts)} hold no rows in {prepared.source}")
    return pd.concat(out, ignore_index=True)


def prepare_from_config(data: DataConfig, schema: Schema) -> PreparedData:
    """The configured dataset, or the synthetic default (generated once, then reused), validated."""
    if data.path:
        return prepare_dataset(schema, data.path, data)
    if schema.oracle is None or data.schema:
        raise DataValidationError(f"data.path is required with schema '{schema.name}' ({data.schema}); the synthetic "
                                  "default exists only for the PayLink schema")
    root, _ = ensure_synthetic(data.synthetic_root, data.synthetic_rows, data.synthetic_seed, schema)
    generated = dataclasses.replace(data, on_error="reject", time_order="reject", column_map=())
    return prepare_dataset(schema, root, generated, synthetic=True)


def set_aside_lines(report: Mapping[str, Any]) -> list[str]:
    """What the data check set aside, one line per reason, for the flow log and the card: the quarantined
    rows (in total and per column and rule; a row can break more than one rule) and the columns outside
    the schema that were read and ignored."""
    total = int(report.get("rows_quarantined", 0))
    lines = [f"quarantined: {total:,} of {int(report.get('rows_in', 0)):,} rows"
             + ("" if total else " (none)")]
    for v in report.get("violations", []):
        where = f" in {v['file']}" if v.get("file") else ""
        lines.append(f"quarantined: {int(v['count']):,} rows: column '{v['column']}' {v['rule']}{where} "
                     f"(first at row {v['first_row']}: {v['example']})")
    ignored = list(report.get("ignored_columns", []))
    lines.append(f"ignored columns (not in the schema): {', '.join(ignored) if ignored else 'none'}")
    if report.get("holdout"):
        lines += [f"holdout file {report['holdout'].get('source', '')}: {line}"
                  for line in set_aside_lines(report["holdout"])]
    return lines
