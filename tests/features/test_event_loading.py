"""Bad input is reported or refused, never dropped silently (issue 14, bad input)."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from fraudcore.features import EventDataError, EventLog, compute_features, compute_features_with_report, load_feature_set
from fraudcore.features.toy import toy_event_log

CONFIG = Path(__file__).resolve().parents[2] / "config"
MONTHS = ["2025-03", "2025-04"]


@pytest.fixture(scope="module")
def fs():
    return load_feature_set(CONFIG / "features.toml")


@pytest.fixture(scope="module")
def tables(fs, seed):
    return toy_event_log(fs, 3000, seed, MONTHS)


def write_layout(fs, tables: dict[str, pd.DataFrame], root: Path) -> Path:
    """The contract's on-disk layout: entities as one file, timed tables by month."""
    for name, frame in tables.items():
        decl = fs.tables[name]
        if decl.kind == "entity":
            frame.to_parquet(root / f"{name}.parquet")
            continue
        month = pd.to_datetime(frame[decl.time]).dt.strftime("%Y-%m")
        for label, part in frame.groupby(month):
            (root / name / f"month={label}").mkdir(parents=True, exist_ok=True)
            part.to_parquet(root / name / f"month={label}" / "part-0.parquet")
    return root


def test_every_event_is_accounted_for(fs, tables):
    result = compute_features_with_report(EventLog(tables), fs, months=MONTHS)
    for report in result.reports:
        for table in report.tables.values():
            assert table.balanced(), table
    target = fs.target_table
    assert len(result.frame) == len(tables[fs.target])
    assert result.frame[target.id].is_unique


def test_duplicate_event_ids_are_dropped_and_reported(fs, tables):
    target = fs.target_table
    stream = tables[fs.target]
    dupes = stream.iloc[[5, 9]].copy()
    dupes[target.time] = dupes[target.time] + pd.Timedelta(minutes=1)     # a later copy: the earliest is kept
    log = {**tables, fs.target: pd.concat([stream, dupes], ignore_index=True)}
    result = compute_features_with_report(EventLog(log), fs)
    report = result.reports[0].tables[fs.target]
    assert report.duplicates_dropped == 2
    assert report.rows_read == len(stream) + 2 and report.kept == len(stream)
    assert report.first_duplicate == str(stream[target.id].iloc[5])
    pd.testing.assert_frame_equal(result.frame, compute_features(EventLog(tables), fs), check_like=False)


def test_events_with_unknown_entities_are_counted_and_kept(fs, tables):
    stream = tables[fs.target].copy()
    ref = next(col for col, entity in fs.target_table.refs.items() if entity == "customers")
    stream.loc[stream.index[:7], ref] = 10**9
    result = compute_features_with_report(EventLog({**tables, fs.target: stream}), fs)
    assert result.reports[0].tables[fs.target].unknown_refs[ref] == 7
    assert len(result.frame) == len(stream)


def test_an_event_outside_its_month_file_names_file_column_and_row(fs, tables, tmp_path):
    root = write_layout(fs, tables, tmp_path)
    name = "logins" if "logins" in tables else fs.target
    decl = fs.tables[name]
    path = root / name / "month=2025-03" / "part-0.parquet"
    frame = pd.read_parquet(path)
    frame.loc[frame.index[4], decl.time] = pd.Timestamp("2025-05-02")
    frame.to_parquet(path)
    with pytest.raises(EventDataError, match=re.escape(f"{path}: column '{decl.time}' must fall in the file's month")
                       + r".*got 2025-05-02 00:00:00 \(first at row 4\)"):
        compute_features(EventLog.from_dir(root), fs)


def test_a_missing_time_names_table_column_and_row(fs, tables):
    stream = tables[fs.target].copy()
    time = fs.target_table.time
    stream[time] = stream[time].astype("datetime64[ns]")
    stream.loc[stream.index[11], time] = pd.NaT
    with pytest.raises(EventDataError, match=re.escape(f"column '{time}' must be a timestamp") + r".*first at row 11"):
        compute_features(EventLog({**tables, fs.target: stream}), fs)


def test_a_missing_column_is_named(fs, tables):
    stream = tables[fs.target].drop(columns=["amount"])
    with pytest.raises(EventDataError, match=re.escape("column 'amount' declared in tables.")):
        compute_features(EventLog({**tables, fs.target: stream}), fs)


def test_files_on_disk_give_the_same_features_as_frames(fs, tables, tmp_path):
    root = write_layout(fs, tables, tmp_path)
    on_disk = compute_features(EventLog.from_dir(root), fs, months=MONTHS)
    in_memory = compute_features(EventLog(tables), fs)
    pd.testing.assert_frame_equal(on_disk, in_memory)


def test_a_duplicate_whose_first_copy_is_before_the_lookback_is_still_dropped(fs, tables):
    """Partitions agree with one pass even when the copies are further apart than any window."""
    target = fs.target_table
    stream = tables[fs.target]
    first = stream.sort_values(target.time).iloc[[0]].copy()
    late = first.copy()
    late[target.time] = pd.Timestamp("2025-07-15")                # beyond every lookback of July's partition
    assert fs.max_window_ns() < (pd.Timestamp("2025-07-01") - first[target.time].iloc[0]).value
    log = EventLog({**tables, fs.target: pd.concat([stream, late], ignore_index=True)})
    by_month = compute_features_with_report(log, fs, months=MONTHS + ["2025-07"])
    assert by_month.frame[target.id].is_unique and len(by_month.frame) == len(stream)
    july = by_month.reports[2].tables[fs.target]
    assert july.duplicates_dropped == 1 and july.first_duplicate == str(first[target.id].iloc[0])
    pd.testing.assert_frame_equal(by_month.frame, compute_features(log, fs))
