"""FeaturePipeline: the layout, the encodings, the errors and the batch == one-record invariants."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from strategies import record_strategy

from fraudcore.pipeline import MISSING_SUFFIX, FeaturePipeline, PipelineError, suggest_derived
from fraudcore.schema import paylink_schema, schema_from_dict
from fraudcore.synth import generate_frame

SEED = 11
SCHEMA = paylink_schema()
CATEGORY_FIELDS = [f for f in SCHEMA.features if f.dtype == "category"]
NULLABLE_NUMERIC = [f.name for f in SCHEMA.features if f.nullable and f.dtype != "category"]
FLOATS = [f.name for f in SCHEMA.features if f.dtype == "float" and not f.nullable]
INTS = [f.name for f in SCHEMA.features if f.dtype == "int" and not f.nullable]
HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_frame(3000, SEED)


@pytest.fixture(scope="module")
def fitted(frame: pd.DataFrame) -> FeaturePipeline:
    return FeaturePipeline(SCHEMA).fit(frame)


def records(frame: pd.DataFrame, rows: slice) -> list[dict]:
    """Rows as plain-Python records, the way a JSON request arrives (NaN -> None)."""
    out = []
    for rec in frame.iloc[rows][list(SCHEMA.feature_names)].to_dict("records"):
        out.append({k: (None if isinstance(v, float) and np.isnan(v) else (v.item() if hasattr(v, "item") else v))
                    for k, v in rec.items()})
    return out


def columns_of(recs: list[dict]) -> dict[str, list]:
    return {name: [r[name] for r in recs] for name in SCHEMA.feature_names}


def test_layout_is_schema_features_then_derived_then_indicators(fitted: FeaturePipeline, frame: pd.DataFrame) -> None:
    X = fitted.transform(frame)
    names = fitted.feature_names_out_
    n_raw = len(SCHEMA.features)
    assert X.dtype == np.float32 and X.shape == (len(frame), len(names))
    assert names[:n_raw] == list(SCHEMA.feature_names)
    assert names[n_raw:n_raw + len(fitted.derived_)] == [d["name"] for d in fitted.derived_]
    assert names[n_raw + len(fitted.derived_):] == [n + MISSING_SUFFIX for n in fitted.indicator_fields_]
    assert [names[i] for i in fitted.categorical_indices_] == [f.name for f in CATEGORY_FIELDS]
    assert len(fitted.source_fields_) == len(names)


def test_numbers_and_bools_pass_through_with_nan_kept(fitted: FeaturePipeline, frame: pd.DataFrame) -> None:
    X = fitted.transform(frame)
    for j, f in enumerate(SCHEMA.features):
        if f.dtype == "category":
            continue
        expected = frame[f.name].to_numpy(dtype=np.float32, na_value=np.nan)
        np.testing.assert_array_equal(X[:, j], expected, err_msg=f.name)


def test_missing_indicators_follow_train_missing_rate(frame: pd.DataFrame) -> None:
    rates = frame[NULLABLE_NUMERIC].isna().mean()
    assert (rates > 0.001).any(), "the generator should leave some nullable fields missing"
    p = FeaturePipeline(SCHEMA, missing_indicator_min_rate=0.001).fit(frame)
    assert p.indicator_fields_ == [n for n in NULLABLE_NUMERIC if rates[n] >= 0.001]
    X = p.transform(frame)
    for name in p.indicator_fields_:
        col = X[:, p.feature_names_out_.index(name + MISSING_SUFFIX)]
        np.testing.assert_array_equal(col, frame[name].isna().to_numpy().astype(np.float32))
    assert FeaturePipeline(SCHEMA, missing_indicator_min_rate=1.0).fit(frame).indicator_fields_ == []


def test_category_codes_missing_and_unseen_are_distinct(fitted: FeaturePipeline) -> None:
    f = CATEGORY_FIELDS[0]
    j = fitted.feature_names_out_.index(f.name)
    k = len(f.categories)
    rec = records(generate_frame(50, SEED + 1), slice(0, 4))
    rec[0][f.name] = f.categories[2]
    rec[1][f.name] = None
    rec[2][f.name] = "never-declared-value"
    rec[3][f.name] = 17  # not even a string: unseen, not an error
    X = fitted.transform(columns_of(rec))
    assert X[:, j].tolist() == [2.0, float(k), float(k + 1), float(k + 1)]


def test_categorical_dtype_object_strings_and_lists_encode_alike(fitted: FeaturePipeline, frame: pd.DataFrame) -> None:
    base = fitted.transform(frame)
    as_strings = frame.copy()
    for f in CATEGORY_FIELDS:
        as_strings[f.name] = frame[f.name].astype(object)
    np.testing.assert_array_equal(fitted.transform(as_strings), base)
    cols = {name: frame[name].tolist() for name in SCHEMA.feature_names}  # large-batch (factorize) path
    np.testing.assert_array_equal(fitted.transform(cols), base)


def test_derived_features_from_the_naming_convention(fitted: FeaturePipeline, frame: pd.DataFrame) -> None:
    suggested = suggest_derived(SCHEMA)
    assert {d["op"] for d in suggested} == {"ratio", "zscore"}
    assert [(d["name"], d["op"], d["inputs"]) for d in fitted.derived_] == [
        (d["name"], d["op"], d["inputs"]) for d in suggested]
    ratio = next(d for d in fitted.derived_ if d["op"] == "ratio")
    a, b = ratio["inputs"]
    X = fitted.transform(frame)
    got = X[:, fitted.feature_names_out_.index(ratio["name"])]
    av = frame[a].to_numpy(np.float64)
    bv = frame[b].to_numpy(np.float64)
    ok = bv > 0
    np.testing.assert_array_equal(got[ok], (av[ok] / bv[ok]).astype(np.float32))
    assert np.isnan(got[~ok]).all()
    assert ratio["field"] == a


def test_declared_derived_list_is_used_and_saved() -> None:
    spec = [{"name": "first_log", "op": "log1p", "inputs": [FLOATS[0]]},
            {"name": "second_minus_third", "op": "diff", "inputs": [FLOATS[1], FLOATS[2]], "field": FLOATS[2]}]
    df = generate_frame(300, SEED)
    p = FeaturePipeline(SCHEMA, derived=spec).fit(df)
    X = p.transform(df)
    j = p.feature_names_out_.index("first_log")
    np.testing.assert_allclose(X[:, j], np.log1p(df[FLOATS[0]].to_numpy(np.float64)), rtol=1e-6)
    j = p.feature_names_out_.index("second_minus_third")
    np.testing.assert_allclose(X[:, j], df[FLOATS[1]].to_numpy(np.float64) - df[FLOATS[2]], rtol=1e-6)
    assert p.source_fields_[j] == FLOATS[2]
    state = json.loads(json.dumps(p.get_state()))
    assert [d["name"] for d in state["fitted"]["derived"]] == ["first_log", "second_minus_third"]
    plain = FeaturePipeline(SCHEMA, derived=[]).fit(df)
    assert plain.n_features_out_ == len(SCHEMA.features) + len(p.indicator_fields_)


@pytest.mark.parametrize("spec, needle", [
    ({"name": "x", "op": "cube", "inputs": [FLOATS[0]]}, "'op' must be one of"),
    ({"name": "x", "op": "ratio", "inputs": [FLOATS[0]]}, "takes 2 inputs"),
    ({"name": "x", "op": "log1p", "inputs": [CATEGORY_FIELDS[0].name]},
     f"input {CATEGORY_FIELDS[0].name!r} must be a numeric schema feature"),
    ({"name": "x", "op": "log1p", "inputs": [FLOATS[0]], "scale": 2}, "unknown keys ['scale']"),
    ({"name": FLOATS[0], "op": "log1p", "inputs": [FLOATS[0]]}, f"duplicated: [{FLOATS[0]!r}]"),
])
def test_bad_derived_declarations_are_named(spec: dict, needle: str) -> None:
    with pytest.raises(PipelineError) as err:
        FeaturePipeline(SCHEMA, derived=[spec]).fit(generate_frame(100, SEED))
    assert needle in str(err.value)


def test_errors_name_the_column_and_the_value(fitted: FeaturePipeline, frame: pd.DataFrame) -> None:
    with pytest.raises(NotFittedError):
        FeaturePipeline(SCHEMA).transform(frame)
    name = FLOATS[0]
    with pytest.raises(PipelineError, match=rf"missing required feature columns \['{name}'\]"):
        fitted.transform(frame.drop(columns=[name]))
    cols = columns_of(records(frame, slice(0, 3)))
    cols[name] = [1.0, "lots", 3.0]
    with pytest.raises(PipelineError, match=rf"column '{name}' must hold float values .*got 'lots' \(first at row 1\)"):
        fitted.transform(cols)
    cols = columns_of(records(frame, slice(0, 3)))
    cols[INTS[0]] = [1, 2]
    with pytest.raises(PipelineError, match="equal lengths"):
        fitted.transform(cols)
    cols = columns_of(records(frame, slice(0, 1)))
    cat = CATEGORY_FIELDS[0]
    cols[cat.name] = cat.categories[0]
    with pytest.raises(PipelineError, match=rf"column '{cat.name}' must be array-like"):
        fitted.transform(cols)
    with pytest.raises(PipelineError, match="missing_indicator_min_rate"):
        FeaturePipeline(SCHEMA, missing_indicator_min_rate=2).fit(frame)


def test_fit_does_not_mutate_input_and_clone_is_unfitted(frame: pd.DataFrame) -> None:
    before = frame.copy()
    p = FeaturePipeline(SCHEMA).fit(frame)
    pd.testing.assert_frame_equal(frame, before)
    c = clone(p)
    assert c.get_params()["missing_indicator_min_rate"] == 0.001
    with pytest.raises(NotFittedError):
        c.transform(frame)


def test_state_round_trip_and_tampered_state_refused(fitted: FeaturePipeline, frame: pd.DataFrame) -> None:
    state = json.loads(json.dumps(fitted.get_state()))
    again = FeaturePipeline.from_state(state)
    np.testing.assert_array_equal(again.transform(frame), fitted.transform(frame))
    state["fitted"]["feature_names_out"] = state["fitted"]["feature_names_out"][::-1]
    with pytest.raises(PipelineError, match="feature_names_out"):
        FeaturePipeline.from_state(state)
    with pytest.raises(PipelineError, match="'version' must be 1; got 99"):
        FeaturePipeline.from_state({**fitted.get_state(), "version": 99})


def test_another_schema_needs_no_code_change() -> None:
    schema = schema_from_dict({
        "name": "tiny", "label": "y", "time": "t", "id": "id",
        "fields": [{"name": "id", "dtype": "int", "role": "id"}, {"name": "t", "dtype": "timestamp", "role": "time"},
                   {"name": "y", "dtype": "int", "role": "label"},
                   {"name": "spend", "dtype": "float", "nullable": True},
                   {"name": "shop", "dtype": "category", "categories": ["a", "b"]}]})
    df = pd.DataFrame({"spend": [1.0, np.nan, 3.0], "shop": ["a", "b", "zzz"]})
    p = FeaturePipeline(schema).fit(df)
    assert p.feature_names_out_ == ["spend", "shop", "spend" + MISSING_SUFFIX]
    np.testing.assert_array_equal(p.transform(df), np.array([[1, 0, 0], [np.nan, 1, 1], [3, 3, 0]], np.float32))


# ---- properties -------------------------------------------------------------------------------
RECORDS = st.lists(record_strategy(SCHEMA), min_size=1, max_size=80)


@HYP
@given(recs=RECORDS)
def test_batch_equals_one_record_at_a_time(fitted: FeaturePipeline, recs: list[dict]) -> None:
    batch = fitted.transform(columns_of(recs))
    singles = np.vstack([fitted.transform({k: [v] for k, v in r.items()}) for r in recs])
    np.testing.assert_array_equal(batch, singles)
    np.testing.assert_array_equal(fitted.transform_record(recs[0]), singles[:1])


@HYP
@given(recs=RECORDS, absent=st.sets(st.sampled_from(NULLABLE_NUMERIC)))
def test_records_give_the_same_matrix_as_columns(fitted: FeaturePipeline, recs: list[dict], absent: set) -> None:
    """A list of records (a request; up to FEW_RECORDS take the row path) is the column mapping's matrix,
    and a nullable field left out of a record is missing, like None."""
    cols = columns_of(recs)
    for name in absent:
        cols[name] = [None] * len(recs)
    expected = fitted.transform(cols)
    trimmed = [{k: v for k, v in r.items() if k not in absent} for r in recs]
    np.testing.assert_array_equal(fitted.transform(trimmed), expected)
    np.testing.assert_array_equal(np.vstack([fitted.transform([r]) for r in trimmed]), expected)
    np.testing.assert_array_equal(fitted.transform(trimmed[:3]), expected[:3])


EDGE = [0.0, -0.0, 1.0, -1.0, 1e-45, -1e-45, 1e-38, 3.4e38, -3.4e38, 0.1, 1 / 3, 7.0, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("op", ["ratio", "zscore", "diff"])
def test_scalar_derived_ops_match_the_array_ops_bit_for_bit(op: str) -> None:
    from itertools import product

    from fraudcore.pipeline import DERIVED_OPS
    from fraudcore.pipeline_records import SCALAR_OPS
    arity, array_fn = DERIVED_OPS[op]
    edge32 = np.array(EDGE, dtype=np.float32).astype(np.float64)  # inputs are float32 values, widened
    combos = np.array(list(product(edge32, repeat=arity)))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        expected = array_fn(*combos.T).astype(np.float32)
        got = np.array([SCALAR_OPS[op](*row) for row in combos.tolist()], dtype=np.float32)
    same = (expected.view(np.uint32) == got.view(np.uint32)) | (np.isnan(expected) & np.isnan(got))
    assert same.all(), combos[~same][:5]


def test_records_with_an_op_without_scalar_form_use_the_array_op(frame: pd.DataFrame) -> None:
    p = FeaturePipeline(SCHEMA, derived=[{"name": "amount_log", "op": "log1p", "inputs": [FLOATS[0]]},
                                         {"name": "r", "op": "ratio", "inputs": [FLOATS[0], FLOATS[1]]}]).fit(frame)
    recs = records(frame, slice(0, 40))
    expected = p.transform(columns_of(recs))
    np.testing.assert_array_equal(np.vstack([p.transform([r]) for r in recs]), expected)
    np.testing.assert_array_equal(p.transform(recs[:7]), expected[:7])
    assert np.isfinite(expected[:, p.feature_names_out_.index("amount_log")]).any()
    # the array op gives each value the same bits whatever the length of the array it is in
    from fraudcore.pipeline import DERIVED_OPS
    log1p = DERIVED_OPS["log1p"][1]
    x = np.concatenate([np.array(EDGE * 3, dtype=np.float32), np.linspace(-2, 1e6, 97, dtype=np.float32)])
    x = x.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        whole = log1p(x)
        alone = np.concatenate([log1p(x[i:i + 1]) for i in range(len(x))])
    assert ((whole.view(np.uint64) == alone.view(np.uint64)) | (np.isnan(whole) & np.isnan(alone))).all()


def test_bad_records_are_named(fitted: FeaturePipeline, frame: pd.DataFrame) -> None:
    recs = records(frame, slice(0, 3))
    with pytest.raises(PipelineError, match=r"record 1 must be a mapping of field -> value; got list"):
        fitted.transform([recs[0], [1, 2], recs[2]])
    recs[2] = {**recs[2], FLOATS[0]: "lots"}
    bad = rf"column '{FLOATS[0]}' must hold float values .*got 'lots' \(first at row 2\)"
    with pytest.raises(PipelineError, match=bad):
        fitted.transform(recs)
    assert fitted.transform([]).shape == (0, fitted.n_features_out_)


@HYP
@given(recs=RECORDS, order=st.randoms(use_true_random=False))
def test_column_order_does_not_matter(fitted: FeaturePipeline, recs: list[dict], order) -> None:
    df = pd.DataFrame(columns_of(recs))
    cols = list(df.columns)
    order.shuffle(cols)
    np.testing.assert_array_equal(fitted.transform(df[cols]), fitted.transform(df))
    as_dict = columns_of(recs)
    np.testing.assert_array_equal(fitted.transform({c: as_dict[c] for c in cols}), fitted.transform(df))


@HYP
@given(recs=RECORDS)
def test_state_round_trip_gives_identical_output(fitted: FeaturePipeline, recs: list[dict]) -> None:
    again = FeaturePipeline.from_state(json.loads(json.dumps(fitted.get_state())))
    np.testing.assert_array_equal(again.transform(columns_of(recs)), fitted.transform(columns_of(recs)))


@HYP
@given(recs=RECORDS, junk=st.text(min_size=1, max_size=10), which=st.sampled_from(CATEGORY_FIELDS))
def test_unknown_category_goes_to_unseen_not_an_error(fitted: FeaturePipeline, recs: list[dict], junk: str,
                                                      which) -> None:
    if junk in which.categories:
        return
    recs = [{**r, which.name: junk} for r in recs]
    X = fitted.transform(columns_of(recs))
    assert (X[:, fitted.feature_names_out_.index(which.name)] == len(which.categories) + 1).all()


def test_pandas_nullable_and_string_dtypes_give_the_same_matrix(fitted: FeaturePipeline, frame: pd.DataFrame) -> None:
    """A user's parquet may load as Int32/boolean/string extension dtypes; the features must not change."""
    alt = frame.copy()
    for f in SCHEMA.features:
        if f.dtype == "int":
            alt[f.name] = frame[f.name].astype("Int64")  # NaN becomes pd.NA
        elif f.dtype == "bool":
            alt[f.name] = frame[f.name].astype("boolean")
        elif f.dtype == "category":
            alt[f.name] = frame[f.name].astype("string")
    assert any(alt[f.name].isna().any() for f in SCHEMA.features if f.dtype == "int")
    np.testing.assert_array_equal(fitted.transform(alt), fitted.transform(frame))
