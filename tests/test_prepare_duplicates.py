"""Transaction ids are unique across the files of a partitioned dataset, not only within each file."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from fraudcore.config import DataConfig
from fraudcore.data import DataValidationError
from fraudcore.prepare import cross_file_duplicates, prepare_dataset
from fraudcore.synth import generate_frame


@pytest.fixture()
def three_files(tmp_path, schema, seed) -> tuple[Path, pd.DataFrame]:
    frame = generate_frame(9_000, seed, schema=schema).sort_values(schema.time, kind="stable")
    parts = [frame.iloc[:3000].copy(), frame.iloc[3000:6000].copy(), frame.iloc[6000:].copy()]
    # file 2 repeats two ids of file 0 and one of file 1; file 1 repeats one id of file 0
    parts[2].iloc[5, parts[2].columns.get_loc(schema.id)] = parts[0][schema.id].iloc[10]
    parts[2].iloc[7, parts[2].columns.get_loc(schema.id)] = parts[0][schema.id].iloc[11]
    parts[2].iloc[9, parts[2].columns.get_loc(schema.id)] = parts[1][schema.id].iloc[0]
    parts[1].iloc[4, parts[1].columns.get_loc(schema.id)] = parts[0][schema.id].iloc[2999]
    root = tmp_path / "ds"
    root.mkdir()
    for i, p in enumerate(parts):
        p.to_parquet(root / f"part-{i}.parquet", index=False)
    return root, frame


def test_repeats_of_earlier_files_are_found_with_where_first_seen(three_files, schema) -> None:
    root, _ = three_files
    files = sorted(str(p) for p in root.glob("*.parquet"))
    found = cross_file_duplicates(schema, files)
    assert sorted(found) == [1, 2]
    assert [(r, f, fr) for r, _, f, fr in found[1]] == [(4, 0, 2999)]
    assert sorted((r, f, fr) for r, _, f, fr in found[2]) == [(5, 0, 10), (7, 0, 11), (9, 1, 0)]


def test_quarantine_keeps_the_first_occurrence_and_counts_every_row(three_files, schema, tmp_path) -> None:
    root, frame = three_files
    prepared = prepare_dataset(schema, root, DataConfig(prepared_root=str(tmp_path / "prepared"), workers=1))
    assert prepared.rows == 9_000 - 4
    assert prepared.report["rows_in"] == 9_000 and prepared.report["rows_quarantined"] == 4
    assert sum(m["rows"] for m in prepared.months.values()) == prepared.rows
    ids = pd.concat([pq.read_table(f, columns=[schema.id]).to_pandas() for f in prepared.files])[schema.id]
    assert ids.is_unique and len(ids) == prepared.rows
    rules = [v for v in prepared.report["violations"] if v["column"] == schema.id]
    assert sum(v["count"] for v in rules) == 4 and all("across" in v["rule"] for v in rules)
    kept = pd.concat(pd.read_csv(p) for p in (tmp_path / "prepared").rglob("quarantine-*.csv"))
    assert len(kept) == 4 and kept["_reason"].str.contains("first seen in").all()
    assert any("checked unique across all 3 files (4 rows" in n for n in prepared.report["notes"])


def test_reject_names_the_field_the_rule_and_the_value(three_files, schema, tmp_path) -> None:
    root, frame = three_files
    with pytest.raises(DataValidationError) as err:
        prepare_dataset(schema, root, DataConfig(on_error="reject", prepared_root=str(tmp_path / "prepared"),
                                                 workers=1))
    msg = str(err.value)
    assert f"'{schema.id}'" in msg and "unique across" in msg and "part-1.parquet" in msg
    assert repr(frame[schema.id].iloc[2999]) in msg


def test_a_clean_partitioned_dataset_is_untouched(tmp_path, schema, seed) -> None:
    frame = generate_frame(4_000, seed, schema=schema).sort_values(schema.time, kind="stable")
    root = tmp_path / "ds"
    root.mkdir()
    frame.iloc[:2000].to_parquet(root / "a.parquet", index=False)
    frame.iloc[2000:].to_parquet(root / "b.parquet", index=False)
    prepared = prepare_dataset(schema, root, DataConfig(prepared_root=str(tmp_path / "prepared"), workers=1))
    assert prepared.rows == 4_000 and prepared.report["cleaned_files"] == 0
    assert prepared.files == tuple(sorted(str(p) for p in root.glob("*.parquet")))
