"""Load a user's (or the synthetic) transactions and check them against the schema.

Column-level problems (a missing column, an empty file, out-of-order time in strict mode) raise
`DataValidationError`. Row-level problems (wrong type, out of range, unknown category, null where not
allowed, a label that is not 0/1, a duplicate id) are quarantined with their reason, or raise when
`on_error="reject"`. Nothing is dropped silently: the report accounts for every row.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fraudcore.errors import FraudError
from fraudcore.schema import Field, Schema

ON_ERROR = ("quarantine", "reject")
TIME_ORDER = ("sort", "reject")


class DataValidationError(FraudError, ValueError):
    """The data can't be used; the message names the column, the rule, the count and the first row."""


@dataclass(frozen=True)
class Violation:
    column: str
    rule: str
    count: int
    first_row: int
    example: str

    def message(self) -> str:
        return (f"column '{self.column}' {self.rule}; got {self.count} violating rows "
                f"(first at row {self.first_row}: {self.example})")


@dataclass
class ValidationReport:
    source: str
    rows_in: int
    rows_valid: int = 0
    rows_quarantined: int = 0
    fraud_rate: float | None = None
    missing_rate: dict[str, float] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)  # read but not in the schema, so not used

    def to_dict(self) -> dict:
        d = asdict(self)
        d["violations"] = [asdict(v) for v in self.violations]
        return d

    def to_text(self) -> str:
        lines = [f"source: {self.source}",
                 f"rows: {self.rows_in} in, {self.rows_valid} valid, {self.rows_quarantined} quarantined"]
        if self.fraud_rate is not None:
            lines.append(f"fraud rate: {self.fraud_rate:.4%}")
        missing = {k: v for k, v in self.missing_rate.items() if v > 0}
        lines.append("missing rate per field:" + ("" if missing else " none"))
        lines += [f"  {k:<32} {v:8.3%}" for k, v in sorted(missing.items(), key=lambda kv: -kv[1])]
        lines.append("violations:" + ("" if self.violations else " none"))
        lines += ["  " + v.message() for v in self.violations]
        lines.append("ignored columns (not in the schema): " + (", ".join(self.ignored_columns) or "none"))
        lines += ["note: " + n for n in self.notes]
        return "\n".join(lines)


@dataclass
class LoadedData:
    frame: pd.DataFrame
    quarantine: pd.DataFrame
    report: ValidationReport


def _files(path: str) -> list[str]:
    if path.startswith("s3://"):
        return [path]
    p = Path(path)
    if not p.exists():
        raise DataValidationError(f"data path {path!r} does not exist")
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*") if f.suffix in (".parquet", ".csv") and f.is_file())
        if not files:
            raise DataValidationError(f"data path {path!r} holds no .parquet or .csv file")
        return files
    return [str(p)]


def _s3_filesystem():
    import pyarrow.fs as pafs

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        return pafs.S3FileSystem(endpoint_override=host, scheme=scheme, region=region)
    return pafs.S3FileSystem(region=region)


def read_raw(path: str | Path) -> pd.DataFrame:
    """Read parquet (file, partitioned directory or s3:// prefix) or CSV into a raw frame."""
    import pyarrow.dataset as ds

    path = str(path)
    if path.startswith("s3://"):
        fs = _s3_filesystem()
        fmt = "csv" if path.endswith(".csv") else "parquet"
        table = ds.dataset(path[len("s3://"):], filesystem=fs, format=fmt, partitioning="hive").to_table()
        return table.to_pandas()
    files = _files(path)
    csvs = [f for f in files if f.endswith(".csv")]
    if csvs and len(csvs) != len(files):
        raise DataValidationError(f"data path {path!r} mixes CSV and parquet files; use one format")
    if csvs:
        frames = []
        for f in csvs:
            try:
                frames.append(pd.read_csv(f, dtype=str, keep_default_na=True))
            except pd.errors.EmptyDataError as err:
                raise DataValidationError(f"file {f!r} is empty (no header, no rows)") from err
        return pd.concat(frames, ignore_index=True)
    base = path if Path(path).is_dir() else None
    dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=base)
    table = dataset.to_table()
    drop = [c for c in table.column_names if c == "month"]
    return table.drop(drop).to_pandas()


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


class _Checker:
    def __init__(self, raw: pd.DataFrame):
        self.n = len(raw)
        self.bad = np.zeros(self.n, dtype=bool)
        self.reasons = np.full(self.n, "", dtype=object)
        self.violations: list[Violation] = []

    def flag(self, column: str, rule: str, mask: np.ndarray, values: pd.Series) -> None:
        mask = np.asarray(mask, dtype=bool)
        count = int(mask.sum())
        if not count:
            return
        i = _first(mask)
        value = values.iloc[i]
        value = value.item() if hasattr(value, "item") else value
        self.violations.append(Violation(column, rule, count, i, repr(value)))
        text = f"{column}: {rule}"
        self.reasons[mask] = np.where(self.reasons[mask] == "", text, self.reasons[mask] + "; " + text)
        self.bad |= mask


def _coerce(f: Field, raw: pd.Series, chk: _Checker) -> pd.Series:
    """Cast one raw column to its canonical dtype, flagging rows that don't fit the declaration."""
    present = raw.notna().to_numpy()
    if f.dtype == "timestamp":
        values = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed")
        chk.flag(f.name, "must be a parsable timestamp", present & values.isna().to_numpy(), raw)
    elif f.dtype == "category":
        text = raw.astype("string")
        cats = list(f.categories or ())
        known = text.isin(cats).fillna(False).to_numpy(dtype=bool)
        objs = np.where(known, text.to_numpy(dtype=object, na_value=None), None)
        values = pd.Series(pd.Categorical(objs, categories=cats), index=raw.index)
        chk.flag(f.name, f"must be one of the declared categories ({', '.join(cats)})",
                 present & values.isna().to_numpy(), raw)
    elif f.dtype == "bool":
        if pd.api.types.is_bool_dtype(raw):
            values = raw.astype("boolean")
        else:
            lowered = raw.astype("string").str.strip().str.lower()
            mapping = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}
            values = lowered.map(mapping).astype("boolean")
            chk.flag(f.name, "must be a boolean (true/false or 0/1)", present & values.isna().to_numpy(), raw)
    elif f.dtype in ("float", "int"):
        values = pd.to_numeric(raw, errors="coerce") if not pd.api.types.is_numeric_dtype(raw) else raw
        values = values.astype("float64")
        chk.flag(f.name, f"must be a {f.dtype}", present & values.isna().to_numpy(), raw)
        finite = np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))
        chk.flag(f.name, "must be finite (no inf)", present & values.notna().to_numpy() & ~finite, raw)
        if f.dtype == "int":
            whole = np.where(finite, values.fillna(0).to_numpy(dtype=np.float64), 0.0)
            frac = values.notna().to_numpy() & finite & (np.mod(whole, 1) != 0)
            chk.flag(f.name, "must be a whole number", frac, raw)
        if f.role == "label":
            chk.flag(f.name, "must be 0 or 1", (values.notna() & ~values.isin([0, 1])).to_numpy(), raw)
        elif f.min is not None:
            chk.flag(f.name, f"must be >= {f.min:g}", (values < f.min).to_numpy(), raw)
        if f.max is not None and f.role != "label":
            chk.flag(f.name, f"must be <= {f.max:g}", (values > f.max).to_numpy(), raw)
    else:
        values = raw.astype("string")
    if not f.nullable:
        chk.flag(f.name, "must not be null", ~present, raw)
    return values


def _canonical(f: Field, values: pd.Series) -> object:
    """The in-memory dtypes shared with the generator (see fraudcore.synth.month.to_frame)."""
    if f.role == "label":
        return values.fillna(0).astype(np.int8)
    if f.role == "oracle":
        return values.astype(np.float64)
    if f.dtype in ("timestamp", "category", "string"):
        return values
    if f.dtype == "bool":
        return values.fillna(False).astype(bool) if not f.nullable else values.astype("float32")
    if f.dtype == "float" or (f.dtype == "int" and f.nullable):
        return values.astype(np.float32)
    return values.fillna(0).astype(np.int64 if f.role == "id" else np.int32)


def validate_frame(schema: Schema, raw: pd.DataFrame, source: str = "<frame>", on_error: str = "quarantine",
                   time_order: str = "reject", column_map: Mapping[str, str] | None = None) -> LoadedData:
    """Check `raw` against `schema`; returns the clean frame, the quarantined rows and the report."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}; got {on_error!r}")
    if time_order not in TIME_ORDER:
        raise ValueError(f"time_order must be one of {TIME_ORDER}; got {time_order!r}")
    if column_map:
        raw = raw.rename(columns=dict(column_map))
    if len(raw) == 0:
        raise DataValidationError(f"{source}: the dataset is empty (0 rows)")
    required = [f.name for f in schema.fields if f.role != "oracle"]
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise DataValidationError(
            f"{source}: missing required column(s) {missing}; columns present: {sorted(map(str, raw.columns))}. "
            "Map your names with [data.column_map] in the config.")
    raw = raw.reset_index(drop=True)
    chk = _Checker(raw)
    out = {}
    for f in schema.fields:
        if f.name in raw.columns:
            out[f.name] = _coerce(f, raw[f.name], chk)
    ids = out[schema.id]
    dup = ids.duplicated(keep="first").to_numpy() & ids.notna().to_numpy()
    chk.flag(schema.id, "must be unique", dup, raw[schema.id])
    report = ValidationReport(source=source, rows_in=len(raw),
                              ignored_columns=[str(c) for c in raw.columns if c not in schema.by_name])
    times = out[schema.time]
    t = times.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT"))
    valid_t = ~np.isnat(t)
    running = np.maximum.accumulate(np.where(valid_t, t, np.datetime64(0, "ns")).astype(np.int64))
    disorder = valid_t & (t.astype(np.int64) < running)
    if disorder.any():
        v = Violation(schema.time, "must be in non-decreasing time order", int(disorder.sum()),
                      _first(disorder), repr(raw[schema.time].iloc[_first(disorder)]))
        if time_order == "reject":
            raise DataValidationError(f"{source}: {v.message()}. Sort the data, or set "
                                      "data.time_order = 'sort' to let the loader sort it.")
        report.notes.append(f"{v.count} rows were out of time order and the frame was sorted by {schema.time}")
    if on_error == "reject" and chk.violations:
        raise DataValidationError(f"{source}: " + chk.violations[0].message()
                                  + (f" (and {len(chk.violations) - 1} more rule(s) violated)"
                                     if len(chk.violations) > 1 else ""))
    good = ~chk.bad
    frame = pd.DataFrame({f.name: _canonical(f, out[f.name][good]) for f in schema.fields if f.name in out})
    frame = frame.sort_values(schema.time, kind="stable").reset_index(drop=True) if disorder.any() \
        else frame.reset_index(drop=True)
    quarantine = raw[chk.bad].copy()
    quarantine["_reason"] = chk.reasons[chk.bad]
    quarantine["_row"] = np.flatnonzero(chk.bad)
    report.rows_valid = int(good.sum())
    report.rows_quarantined = int(chk.bad.sum())
    report.violations = chk.violations
    report.fraud_rate = float(frame[schema.label].mean()) if len(frame) else None
    report.missing_rate = {f.name: float(out[f.name].isna().mean()) for f in schema.features}
    return LoadedData(frame=frame, quarantine=quarantine, report=report)


def load_dataset(schema: Schema, path: str | Path, on_error: str = "quarantine", time_order: str = "reject",
                 column_map: Mapping[str, str] | None = None) -> LoadedData:
    """Read and validate parquet/CSV from a local path or s3:// URI."""
    raw = read_raw(path)
    return validate_frame(schema, raw, source=str(path), on_error=on_error, time_order=time_order,
                          column_map=column_map)


def fingerprint(path: str | Path, frame: pd.DataFrame | None = None) -> dict:
    """Identify a dataset: its files with sizes and sha256, row count, and a content hash of the frame."""
    files = []
    if not str(path).startswith("s3://"):
        for f in _files(str(path)):
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            files.append({"path": str(Path(f).resolve()), "bytes": Path(f).stat().st_size, "sha256": h.hexdigest()})
    out = {"path": str(path), "files": files}
    if frame is not None:
        out["rows"] = int(len(frame))
        out["content_sha256"] = hashlib.sha256(
            pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
    return out
