import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from fraudcore.data import DataValidationError, fingerprint, load_dataset, validate_frame
from fraudcore.synth import write_dataset


@pytest.fixture()
def raw(small_frame):
    return small_frame.head(3000).copy()


def _csv(raw: pd.DataFrame, path) -> str:
    raw.to_csv(path, index=False)
    return str(path)


def test_clean_frame_passes_with_a_full_report(schema, raw):
    loaded = validate_frame(schema, raw)
    assert loaded.report.rows_in == loaded.report.rows_valid == len(raw)
    assert loaded.report.rows_quarantined == 0 and not loaded.report.violations
    assert loaded.report.missing_rate["merchant_risk_score"] == pytest.approx(raw["merchant_risk_score"].isna().mean())


def test_csv_round_trip_gives_the_same_canonical_frame(schema, raw, tmp_path):
    loaded = load_dataset(schema, _csv(raw, tmp_path / "x.csv"))
    assert loaded.report.rows_valid == len(raw)
    for col in schema.feature_names:
        a, b = loaded.frame[col], raw[col].reset_index(drop=True)
        if isinstance(b.dtype, pd.CategoricalDtype):
            assert (a.astype(str) == b.astype(str)).all(), col
        else:
            np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=1e-6, err_msg=col)


def test_missing_column_names_it(schema, raw):
    with pytest.raises(DataValidationError, match=r"missing required column\(s\) \['amount'\]"):
        validate_frame(schema, raw.drop(columns=["amount"]))


def test_column_map_renames_user_columns(schema, raw):
    loaded = validate_frame(schema, raw.rename(columns={"amount": "amt_usd"}), column_map={"amt_usd": "amount"})
    assert loaded.report.rows_valid == len(raw)


def test_empty_file_is_a_clear_error(schema, raw, tmp_path):
    with pytest.raises(DataValidationError, match="empty"):
        load_dataset(schema, _csv(raw.head(0), tmp_path / "e.csv"))
    (tmp_path / "blank.csv").write_text("")
    with pytest.raises(DataValidationError, match="empty"):
        load_dataset(schema, str(tmp_path / "blank.csv"))


@pytest.mark.parametrize("column, value, rule", [
    ("amount", -5.0, "must be >= 0"),
    ("is_fraud", 3, "must be 0 or 1"),
    ("currency", "XYZ", "must be one of the declared categories"),
    ("transactions_24h", "lots", "must be a int"),
    ("event_time", "not a time", "must be a parsable timestamp"),
    ("card_present", "maybe", "must be a boolean"),
    ("hour_of_day", 30, "must be <= 23"),
])
def test_row_violations_are_quarantined_with_reason(schema, raw, column, value, rule):
    bad = raw.astype({column: object})
    bad.loc[17, column] = value
    loaded = validate_frame(schema, bad)
    assert loaded.report.rows_quarantined == 1
    assert loaded.report.rows_valid + loaded.report.rows_quarantined == loaded.report.rows_in
    v = loaded.report.violations[0]
    assert (v.column, v.count, v.first_row) == (column, 1, 17) and rule in v.rule
    assert loaded.quarantine["_row"].tolist() == [17] and rule in loaded.quarantine["_reason"].iloc[0]
    with pytest.raises(DataValidationError, match=rf"column '{column}' {rule}.*1 violating rows \(first at row 17"):
        validate_frame(schema, bad, on_error="reject")


def test_wrong_dtype_column_counts_every_bad_row(schema, raw):
    bad = raw.astype({"amount": object})
    bad["amount"] = "ten dollars"
    loaded = validate_frame(schema, bad)
    assert loaded.report.violations[0].count == len(raw)
    assert loaded.report.rows_valid == 0


def test_null_in_non_nullable_field(schema, raw):
    bad = raw.copy()
    bad.loc[3, "amount"] = np.nan
    loaded = validate_frame(schema, bad)
    assert loaded.report.violations[0].rule == "must not be null"


def test_out_of_order_time_is_rejected_or_sorted(schema, raw):
    shuffled = raw.iloc[::-1].reset_index(drop=True)
    with pytest.raises(DataValidationError, match="non-decreasing time order"):
        validate_frame(schema, shuffled)
    loaded = validate_frame(schema, shuffled, time_order="sort")
    assert loaded.frame["event_time"].is_monotonic_increasing
    assert "sorted" in loaded.report.notes[0]


def test_duplicate_ids_are_quarantined(schema, raw):
    bad = pd.concat([raw, raw.tail(1)], ignore_index=True)
    loaded = validate_frame(schema, bad)
    assert loaded.report.violations[0].rule == "must be unique" and loaded.report.rows_quarantined == 1


def test_parquet_dataset_and_fingerprint(schema, tmp_path):
    write_dataset(tmp_path / "d", 4_000, 5)
    loaded = load_dataset(schema, tmp_path / "d")
    assert loaded.report.rows_valid == 4_000
    fp = fingerprint(tmp_path / "d", loaded.frame)
    assert fp["rows"] == 4_000 and len(fp["files"]) == 18 and len(fp["content_sha256"]) == 64
    assert fingerprint(tmp_path / "d", loaded.frame)["content_sha256"] == fp["content_sha256"]


def test_validate_cli_prints_report_and_exits_nonzero_on_quarantine(schema, raw, tmp_path):
    bad = raw.copy()
    bad.loc[2, "amount"] = -1
    path = _csv(bad, tmp_path / "b.csv")
    out = subprocess.run([sys.executable, "-m", "fraudcore.cli", "data", "validate", path,
                          "--quarantine-out", str(tmp_path / "q.csv")], capture_output=True, text=True)
    assert out.returncode == 3, out.stderr
    assert "1 quarantined" in out.stdout and "must be >= 0" in out.stdout
    assert "amount: must be >= 0" in (tmp_path / "q.csv").read_text()
