"""The feature pipeline: raw schema fields in, a float32 matrix for LightGBM out.

One `transform` serves a 42M-row frame and a one-record request, so training and serving can never
disagree about features. It follows scikit-learn's estimator contract (settings in `__init__`, learned
state in attributes ending in `_`) and its fitted state is plain JSON, saved beside the model.

Output columns, in order: every schema feature (numbers as float32 with NaN kept for LightGBM's own
missing handling, bools as 0/1, categories as integer codes for LightGBM native categoricals), then
the derived features, then the missing indicators.

A request (a few records, or a column mapping of a few rows) takes the shortcuts in
`pipeline_records.py`: the same layout, category tables and derived-feature list, the same bits.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from fraudcore.errors import FraudError
from fraudcore.pipeline_records import FEW_ROWS, SCALAR_OPS, RequestPaths
from fraudcore.schema import Schema, schema_from_dict

STATE_KIND = "fraudcore.FeaturePipeline"
STATE_VERSION = 1
MISSING_SUFFIX = "__missing"
# Up to this many values `encode_category` looks each one up in a dict: pd.factorize's fixed cost
# is larger than that.
_FACTORIZE_ABOVE = 64


class PipelineError(FraudError, ValueError):
    """Input or state that the pipeline cannot use; the message names the field and the rule."""


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.full_like(a, np.nan), where=b > 0)


def _zscore(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return np.divide(x - mean, std, out=np.full_like(x, np.nan), where=std > 0)


def _log1p(x: np.ndarray) -> np.ndarray:
    return np.log1p(x, out=np.full_like(x, np.nan), where=x > -1)


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a - b


# op name -> (number of inputs, function on float64 arrays); NaN in, NaN out. Their scalar forms,
# for requests, are `pipeline_records.SCALAR_OPS`.
DERIVED_OPS = {"ratio": (2, _ratio), "zscore": (3, _zscore), "log1p": (1, _log1p), "diff": (2, _diff)}


def suggest_derived(schema: Schema) -> list[dict[str, Any]]:
    """Derived features implied by the schema's naming convention, for when config declares none.

    A numeric feature `avg_<base>_<window>` beside a feature `<base>` gives the ratio
    `<base>_to_avg_<window>`; with `std_<base>_<window>` also present, the z-score `<base>_z_<window>`.
    These say "unusual for this customer", which a tree cannot build from the raw columns alone.
    """
    names = set(schema.feature_names)
    out: list[dict[str, Any]] = []
    for f in schema.features:
        if not f.name.startswith("avg_") or not f.is_numeric:
            continue
        rest = f.name[len("avg_"):]
        for cut in range(len(rest) - 1, 0, -1):
            if rest[cut] != "_" or rest[:cut] not in names:
                continue
            base, window = rest[:cut], rest[cut + 1:]
            out.append({"name": f"{base}_to_avg_{window}", "op": "ratio", "inputs": [base, f.name]})
            std = f"std_{base}_{window}"
            if std in names:
                out.append({"name": f"{base}_z_{window}", "op": "zscore", "inputs": [base, f.name, std]})
            break
    return out


def is_missing(v: Any) -> bool:
    """None, NaN, pd.NA and NaT are missing; everything else is a value."""
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, (float, np.floating)) and v != v


def _describe_bad_number(col: Any) -> str:
    for i, v in enumerate(col):
        if is_missing(v):
            continue
        try:
            float(v)
        except (TypeError, ValueError):
            return f"got {v!r} (first at row {i})"
    return f"got values of dtype {getattr(col, 'dtype', type(col).__name__)}"


class FeaturePipeline(BaseEstimator):
    """Schema-driven feature transform with JSON state; see the module docstring for the layout.

    Parameters
    ----------
    schema: the dataset declaration; every feature name and type comes from it.
    missing_indicator_min_rate: a nullable numeric field gets a `<name>__missing` 0/1 column when its
        missing rate in the training data is at least this. Missingness is often a signal (no history
        means a new customer), and an explicit column lets a tree split on it directly.
    derived: derived-feature declarations, each `{"name", "op", "inputs"}` (optionally `"field"`, the raw
        field its contribution is reported under; default the first input). `None` means
        `suggest_derived(schema)`; `[]` means none. Ops: ratio, zscore, log1p, diff.
    """

    def __init__(self, schema: Schema, missing_indicator_min_rate: float = 0.001,
                 derived: Sequence[Mapping[str, Any]] | None = None) -> None:
        self.schema = schema
        self.missing_indicator_min_rate = missing_indicator_min_rate
        self.derived = derived

    def __repr__(self) -> str:
        return (f"FeaturePipeline(schema={self.schema.name!r}, "
                f"missing_indicator_min_rate={self.missing_indicator_min_rate!r}, derived={self.derived!r})")

    # ---- fitting -----------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame | Mapping[str, Any], y: Any = None) -> FeaturePipeline:
        """Learn which nullable fields get missing indicators and fix the output layout."""
        if not isinstance(self.schema, Schema):
            raise PipelineError("parameter 'schema' must be a fraudcore.schema.Schema; "
                                f"got {type(self.schema).__name__}")
        rate = self.missing_indicator_min_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
            raise PipelineError(f"parameter 'missing_indicator_min_rate' must be a number in [0, 1]; got {rate!r}")
        derived = suggest_derived(self.schema) if self.derived is None else [dict(d) for d in self.derived]
        cols, n = self._columns(X, self.schema.feature_names)
        if n == 0:
            raise PipelineError("fit needs at least one row; got 0 rows")
        rates: dict[str, float] = {}
        for f in self.schema.features:
            if f.nullable and f.dtype != "category":
                rates[f.name] = float(np.isnan(self._to_float32(cols[f.name], f.name)).mean())
        self.missing_rates_ = rates
        self.indicator_fields_ = [name for name, r in rates.items() if r > 0 and r >= rate]
        self.derived_ = derived
        self.categories_ = {f.name: list(f.categories or ()) for f in self.schema.features if f.dtype == "category"}
        self._build_layout()
        return self

    def fit_transform(self, X: pd.DataFrame | Mapping[str, Any], y: Any = None) -> np.ndarray:
        return self.fit(X, y).transform(X)

    def _build_layout(self) -> None:
        """Derive every output-position attribute from the learned state (used by fit and from_state)."""
        features = self.schema.features
        names = [f.name for f in features]
        by_name = self.schema.by_name
        sources = list(names)
        derived: list[dict[str, Any]] = []
        for i, spec in enumerate(self.derived_):
            where = f"derived feature #{i} ({spec.get('name')!r})"
            unknown = set(spec) - {"name", "op", "inputs", "field"}
            if unknown:
                raise PipelineError(f"{where}: unknown keys {sorted(unknown)}; allowed: name, op, inputs, field")
            if spec.get("op") not in DERIVED_OPS:
                raise PipelineError(f"{where}: 'op' must be one of {sorted(DERIVED_OPS)}; got {spec.get('op')!r}")
            arity = DERIVED_OPS[spec["op"]][0]
            inputs = list(spec.get("inputs") or ())
            if len(inputs) != arity:
                raise PipelineError(f"{where}: op {spec['op']!r} takes {arity} inputs; got {inputs!r}")
            for name in inputs:
                if name not in by_name or by_name[name].role != "feature" or by_name[name].dtype == "category":
                    raise PipelineError(f"{where}: input {name!r} must be a numeric schema feature")
            field = spec.get("field", inputs[0])
            if field not in by_name or by_name[field].role != "feature":
                raise PipelineError(f"{where}: 'field' must be a schema feature; got {field!r}")
            if not isinstance(spec.get("name"), str) or not spec["name"]:
                raise PipelineError(f"{where}: 'name' must be a non-empty string")
            derived.append({"name": spec["name"], "op": spec["op"], "inputs": inputs, "field": field})
            names.append(spec["name"])
            sources.append(field)
        for name in self.indicator_fields_:
            names.append(name + MISSING_SUFFIX)
            sources.append(name)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PipelineError(f"output feature names must be unique; duplicated: {dupes}")
        pos = {n: i for i, n in enumerate(names)}
        self.derived_ = derived
        self.feature_names_in_ = np.array(self.schema.feature_names, dtype=object)
        self.feature_names_out_ = names
        self.source_fields_ = sources
        self.categorical_indices_ = [i for i, f in enumerate(features) if f.dtype == "category"]
        self.n_features_out_ = len(names)
        self._numeric = [(f.name, i) for i, f in enumerate(features) if f.dtype != "category"]
        self._categorical = []
        for i, f in enumerate(features):
            if f.dtype == "category":
                cats = self.categories_[f.name]
                table = {c: k for k, c in enumerate(cats)}
                self._categorical.append((f.name, i, table, len(cats), len(cats) + 1))
        # (output position, array op, scalar op or None, input positions): the one list both paths use
        self._derived = [(pos[d["name"]], DERIVED_OPS[d["op"]][1], SCALAR_OPS.get(d["op"]),
                          [pos[x] for x in d["inputs"]]) for d in derived]
        self._indicator_out = np.array([pos[n + MISSING_SUFFIX] for n in self.indicator_fields_], dtype=np.intp)
        self._indicator_src = np.array([pos[n] for n in self.indicator_fields_], dtype=np.intp)
        self._names_in = list(self.schema.feature_names)
        self._requests = RequestPaths(self._names_in, self._numeric, self._categorical, self._derived,
                                      self._indicator_src.tolist(), _code_of)

    # ---- transforming ------------------------------------------------------------------------
    def transform(self, X: pd.DataFrame | Mapping[str, Any] | list[Mapping[str, Any]]) -> np.ndarray:
        """Rows of X as a float32 matrix. X is a DataFrame, a mapping of column name -> array-like, or a
        list of records (mappings of field -> value, the way a JSON request arrives).

        Columns are read by name; extra columns are ignored. In a record an absent field is missing.
        Unknown category values get the "unseen" code and missing ones the "missing" code, never an error.
        """
        if not hasattr(self, "feature_names_out_"):
            raise NotFittedError("this FeaturePipeline is not fitted; call fit(X) or FeaturePipeline.from_state(state)")
        if isinstance(X, list):  # records: a request (fraudcore/pipeline_records.py)
            for i, r in enumerate(X):
                if not isinstance(r, Mapping):
                    raise PipelineError(f"record {i} must be a mapping of field -> value; got {type(r).__name__}")
            matrix = self._requests.records_matrix(X)
            if matrix is not None:
                return matrix
            X = self._requests.as_columns(X)
        cols, n = self._columns(X, self._names_in)
        out = np.empty((n, self.n_features_out_), dtype=np.float32)
        if n <= FEW_ROWS and not isinstance(X, pd.DataFrame):
            self._requests.fill_few_columns(out, cols, self._to_float32)
        else:
            for name, i in self._numeric:
                out[:, i] = self._to_float32(cols[name], name)
            for name, i, table, missing, unseen in self._categorical:
                out[:, i] = encode_category(cols[name], table, missing, unseen)
        return self._fill_tail(out)

    def _fill_tail(self, out: np.ndarray) -> np.ndarray:
        """Derived features and missing indicators, from the schema features already in `out`."""
        if self._derived:
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                for i, fn, _, inputs in self._derived:
                    out[:, i] = fn(*(out[:, j].astype(np.float64) for j in inputs))
        if len(self._indicator_out):
            out[:, self._indicator_out] = np.isnan(out[:, self._indicator_src])
        return out

    def transform_record(self, record: Mapping[str, Any]) -> np.ndarray:
        """One record (field -> scalar; an absent field is missing) as a 1-row matrix, through `transform`."""
        return self.transform([record])

    @staticmethod
    def _columns(X: Any, names: Sequence[str]) -> tuple[dict[str, Any], int]:
        if isinstance(X, pd.DataFrame):
            absent = [n for n in names if n not in X.columns]
            if absent:
                raise PipelineError(f"input is missing required feature columns {absent}")
            return {name: X[name] for name in names}, len(X)
        if not isinstance(X, (dict, Mapping)):
            raise PipelineError("X must be a pandas DataFrame or a mapping of column name -> values; "
                                f"got {type(X).__name__}")
        cols = {}
        n = -1
        for name in names:  # one pass: every column present, array-like and of one length
            c = X.get(name)
            if c is None or isinstance(c, (str, bytes)):
                break
            try:
                k = len(c)
            except TypeError:
                break
            if k != n and n >= 0:
                break
            n = k
            cols[name] = c
        else:
            if n >= 0:
                return cols, n
        cols = {name: X.get(name) for name in names}  # the slow path only explains what is wrong
        absent = [n for n, c in cols.items() if c is None]
        if absent:
            raise PipelineError(f"input is missing required feature columns {absent}")
        first: dict[int, str] = {}
        for name, col in cols.items():
            if isinstance(col, (str, bytes)) or not hasattr(col, "__len__"):
                raise PipelineError(f"column {name!r} must be array-like (for one record use [value]); "
                                    f"got {type(col).__name__} {col!r}")
            first.setdefault(len(col), name)
        raise PipelineError(f"columns must have equal lengths; got {{length: first column}} = {first}")

    def _to_float32(self, col: Any, name: str) -> np.ndarray:
        try:
            if isinstance(col, pd.Series):
                return col.to_numpy(dtype=np.float32, na_value=np.nan)
            return np.asarray(col, dtype=np.float32)
        except (TypeError, ValueError) as err:
            f = self.schema[name]
            raise PipelineError(f"column {name!r} must hold {f.dtype} values ({f.describe_range()}); "
                                f"{_describe_bad_number(col)}") from err

    # ---- state -------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """The fitted state as JSON-serialisable data (no pickles)."""
        if not hasattr(self, "feature_names_out_"):
            raise NotFittedError("get_state needs a fitted FeaturePipeline")
        return {
            "kind": STATE_KIND,
            "version": STATE_VERSION,
            "params": {"missing_indicator_min_rate": self.missing_indicator_min_rate,
                       "derived": None if self.derived is None else [dict(d) for d in self.derived]},
            "schema": self.schema.to_dict(),
            "fitted": {
                "missing_rates": dict(self.missing_rates_),
                "indicator_fields": list(self.indicator_fields_),
                "derived": [dict(d) for d in self.derived_],
                "categories": {k: list(v) for k, v in self.categories_.items()},
                "feature_names_out": list(self.feature_names_out_),
                "categorical_indices": list(self.categorical_indices_),
            },
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> FeaturePipeline:
        """Rebuild a fitted pipeline from `get_state()` output; refuses state from another layout."""
        if state.get("kind") != STATE_KIND:
            raise PipelineError(f"pipeline state 'kind' must be {STATE_KIND!r}; got {state.get('kind')!r}")
        if state.get("version") != STATE_VERSION:
            raise PipelineError(f"pipeline state 'version' must be {STATE_VERSION}; got {state.get('version')!r}")
        try:
            params, fitted = state["params"], state["fitted"]
            self = cls(schema_from_dict(state["schema"]), **params)
            self.missing_rates_ = {k: float(v) for k, v in fitted["missing_rates"].items()}
            self.indicator_fields_ = list(fitted["indicator_fields"])
            self.derived_ = [dict(d) for d in fitted["derived"]]
            self.categories_ = {k: list(v) for k, v in fitted["categories"].items()}
        except KeyError as err:
            raise PipelineError(f"pipeline state is missing key {err.args[0]!r}") from err
        self._build_layout()
        for key in ("feature_names_out", "categorical_indices"):
            if list(getattr(self, key + "_")) != list(fitted[key]):
                raise PipelineError(f"pipeline state '{key}' does not match the layout rebuilt from it: "
                                    f"saved {fitted[key]}, rebuilt {getattr(self, key + '_')}")
        return self


def _code_of(v: Any, table: Mapping[str, int], missing: int, unseen: int) -> int:
    if is_missing(v):
        return missing
    return table.get(v, unseen) if isinstance(v, str) else unseen


def encode_category(col: Any, table: Mapping[str, int], missing: int, unseen: int) -> np.ndarray:
    """Category values -> float32 codes; the same lookup table whatever shape the column has."""
    if isinstance(col, pd.Series) and isinstance(col.dtype, pd.CategoricalDtype):
        col = col.array
    if isinstance(col, pd.Categorical):
        codes, uniques = col.codes, col.categories
    elif len(col) <= _FACTORIZE_ABOVE:
        return np.array([_code_of(v, table, missing, unseen) for v in col], dtype=np.float32)
    else:
        codes, uniques = pd.factorize(col if isinstance(col, pd.Series) else np.asarray(col, dtype=object))
    # Index -1 (pandas' missing sentinel) lands on the appended last entry.
    lut = np.array([_code_of(v, table, missing, unseen) for v in uniques] + [missing], dtype=np.float32)
    return lut[codes]

