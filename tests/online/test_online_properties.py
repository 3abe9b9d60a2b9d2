"""Request-time enrichment equals the brute-force reference on random event logs: window edges, ties at
equal timestamps, lags, filters, duplicate ids, unknown entities and snapshots, in any order."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "features"))
from event_strategies import event_logs  # noqa: E402

from fraudcore.features import load_feature_set  # noqa: E402
from fraudcore.features.reference import reference_features  # noqa: E402
from fraudcore.online.enrich import (EXACT_SUM_MAX, _OPS, OnlineFeatures, _caster, _numeric_op,  # noqa: E402
                                     _value_op, cast_value)
from fraudcore.online.ingest import Ingestor  # noqa: E402
from fraudcore.online.plan import build_plan  # noqa: E402
from fraudcore.online.replay import compare, replay  # noqa: E402
from fraudcore.online.sources import Event  # noqa: E402
from fraudcore.online.store import LmdbStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PAYLINK = load_feature_set(ROOT / "config" / "features.toml")
EXAMPLE = load_feature_set(ROOT / "config" / "examples" / "card_events" / "features.toml")
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                             HealthCheck.data_too_large,
                                                                             HealthCheck.function_scoped_fixture])
YEARS = 10**9 * 86_400 * 3650


def _records(frame: pd.DataFrame, dtypes: dict[str, str]) -> list[dict]:
    out = []
    for row in frame.astype(object).itertuples(index=False):
        rec = {}
        for col, v in zip(frame.columns, row):
            if v is None or v is pd.NaT or (isinstance(v, float) and v != v):
                rec[col] = None
            elif dtypes[col] == "timestamp":
                rec[col] = pd.Timestamp(v).value
            else:
                rec[col] = v.item() if hasattr(v, "item") else v
        out.append(rec)
    return out


def _online(fs, tables, path) -> dict:
    plan = build_plan(fs)
    store = LmdbStore(path)
    ingestor = Ingestor(plan, store, YEARS)
    entities, events = [], []
    for name, decl in fs.tables.tables.items():
        recs = _records(tables[name], dict(decl.columns))
        if decl.kind == "entity":
            seen = set()
            for r in recs:     # the first row of a repeated key, as the engine keeps it
                if r[decl.key] is not None and r[decl.key] not in seen:
                    seen.add(r[decl.key])
                    entities.append(Event(name, r, name))
        else:
            events += [(r[decl.time], Event(name, r, name)) for r in recs if r[decl.time] is not None]
    ingestor.apply(entities)
    events.sort(key=lambda x: x[0])
    features = OnlineFeatures(plan, store)
    served = replay(plan, ingestor, [e for _, e in events], lambda r: features.compute([r])[0].record)
    store.close()
    return plan, served


def _check(fs, tables, path) -> None:
    plan, served = _online(fs, tables, path)
    want = reference_features(tables, fs)
    result = compare(plan, served, want)
    assert result.missing_rows == 0
    assert result.differences.get("unexplained", 0) == 0, result.examples


@SETTINGS
@given(data=st.data())
def test_online_equals_reference_on_every_op(data, tmp_path_factory):
    _check(EXAMPLE, data.draw(event_logs(EXAMPLE)), tmp_path_factory.mktemp("p") / "s.lmdb")


@SETTINGS
@given(data=st.data())
def test_online_equals_reference_on_paylink_declarations(data, tmp_path_factory):
    _check(PAYLINK, data.draw(event_logs(PAYLINK, max_events=10)), tmp_path_factory.mktemp("p") / "s.lmdb")


def _cast_cases():
    fields = [f for fs in (PAYLINK, EXAMPLE) for f in fs.schema.features]
    values = st.one_of(st.none(), st.just(float("nan")), st.booleans(), st.integers(-10**6, 10**6),
                       st.floats(-1e30, 1e30), st.text(max_size=6),
                       st.sampled_from(sorted({c for f in fields for c in (f.categories or ())}) or ["x"]))
    return st.tuples(st.sampled_from(fields), values)


@settings(max_examples=400, deadline=None)
@given(case=_cast_cases())
def test_each_specialised_cast_equals_cast_value(case):
    field, value = case
    try:
        want = cast_value(field, value)
    except (TypeError, ValueError, OverflowError) as err:
        with pytest.raises(type(err)):
            _caster(field)(value)
        return
    got = _caster(field)(value)
    assert type(got) is type(want) and (got == want or (got != got and want != want)), (field.name, value)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(0.01, 50_000, allow_nan=False), min_size=EXACT_SUM_MAX + 1, max_size=4000),
       op=st.sampled_from(["sum", "mean", "std"]))
def test_a_large_window_sums_to_well_within_the_float32_step_of_the_exact_sum(values, op):
    code = _OPS[op]
    fast, exact = _numeric_op(code, np.asarray(values)), _value_op(code, values)
    assert abs(fast - exact) <= 1e-12 * max(abs(exact), 1e-3)     # float32's step is ~6e-8 relative
