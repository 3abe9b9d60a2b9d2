"""The engine equals the brute-force reference, and no feature sees the future (issue 14, point 5)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from compare import mismatches
from event_strategies import event_logs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudcore.features import EventLog, compute_features_with_report, load_feature_set
from fraudcore.features.reference import reference_features

ROOT = Path(__file__).resolve().parents[2]
PAYLINK = load_feature_set(ROOT / "config" / "features.toml")
EXAMPLE = load_feature_set(ROOT / "config" / "examples" / "card_events" / "features.toml")
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                             HealthCheck.data_too_large])


def _engine(fs, tables, months=None) -> pd.DataFrame:
    return compute_features_with_report(EventLog(tables), fs, months=months, cast=False).frame


def _check_equal(fs, tables) -> None:
    got = _engine(fs, tables)
    want = reference_features(tables, fs, cast=False)
    assert not mismatches(fs, got, want), mismatches(fs, got, want)


@SETTINGS
@given(data=st.data())
def test_engine_equals_reference_on_every_op(data):
    tables = data.draw(event_logs(EXAMPLE))
    _check_equal(EXAMPLE, tables)
    # and in the schema's dtypes (float32: compared to float32 precision)
    got = compute_features_with_report(EventLog(tables), EXAMPLE).frame
    want = reference_features(tables, EXAMPLE)
    assert list(got.dtypes) == list(want.dtypes)
    assert not mismatches(EXAMPLE, got, want, rel=1e-6), mismatches(EXAMPLE, got, want, rel=1e-6)


@settings(SETTINGS, max_examples=12)
@given(data=st.data())
def test_engine_equals_reference_on_paylink_declarations(data):
    _check_equal(PAYLINK, data.draw(event_logs(PAYLINK, max_events=10)))


@settings(SETTINGS, max_examples=8)
@given(data=st.data())
def test_month_partitions_equal_one_pass(data):
    tables = data.draw(event_logs(EXAMPLE))
    when = pd.to_datetime(tables[EXAMPLE.target][EXAMPLE.target_table.time])
    months = sorted(set(when.dt.strftime("%Y-%m")))
    got = _engine(EXAMPLE, tables, months=months)
    want = _engine(EXAMPLE, tables)
    assert not mismatches(EXAMPLE, got, want), mismatches(EXAMPLE, got, want)


def _future_mask(fs, name: str, frame: pd.DataFrame, t: int) -> np.ndarray:
    decl = fs.tables[name]
    if not decl.is_timed:
        return np.zeros(len(frame), dtype=bool)
    return pd.to_datetime(frame[decl.time]).to_numpy(dtype="datetime64[ns]").view(np.int64) >= t


def _changed_future(fs, tables, target_id: int, t: int, how: str, rng: np.random.Generator):
    """Delete, or shuffle column by column, every event at or after t except the target itself."""
    out = {}
    for name, frame in tables.items():
        future = _future_mask(fs, name, frame, t)
        if name == fs.target:
            decl = fs.tables[name]
            # the target itself, and every repeat of its id: which copy is kept depends on row order
            # (the earliest (time, row) wins), so moving a repeat ahead of it would change the target
            future[frame[decl.id].to_numpy() == target_id] = False
        if how == "delete":
            out[name] = frame[~future].reset_index(drop=True)
        else:
            frame = frame.copy()
            rows = np.flatnonzero(future)
            for col in frame.columns:
                frame.loc[frame.index[rows], col] = frame[col].to_numpy()[rng.permutation(rows)]
            out[name] = frame
    return out


@settings(SETTINGS, max_examples=12)
@given(data=st.data(), how=st.sampled_from(["delete", "shuffle"]), seed=st.integers(0, 2**16))
def test_no_feature_sees_events_at_or_after_its_time(data, how, seed):
    fs = EXAMPLE if data.draw(st.booleans()) else PAYLINK
    tables = data.draw(event_logs(fs))
    before = _engine(fs, tables)
    decl = fs.target_table
    i = data.draw(st.integers(0, len(before) - 1))
    target_id, t = int(before[decl.id].iloc[i]), int(before[decl.time].iloc[i])
    after = _engine(fs, _changed_future(fs, tables, target_id, t, how, np.random.default_rng(seed)))
    got = after[after[decl.id] == target_id]
    want = before[before[decl.id] == target_id]
    assert not mismatches(fs, got, want), mismatches(fs, got, want)
