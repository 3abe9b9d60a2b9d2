"""Nothing is set aside silently: the report names every quarantine reason and every ignored column, and
the summary printed by TrainFlow (and drawn on the card) has one line per reason."""
from __future__ import annotations

import pandas as pd

from fraudcore.config import DataConfig
from fraudcore.data import validate_frame
from fraudcore.prepare import prepare_dataset, set_aside_lines


def _dirty(raw: pd.DataFrame) -> pd.DataFrame:
    bad = raw.astype({"amount": object, "hour_of_day": object}).assign(Notes="x", store_code=7)
    bad.loc[[3, 9], "amount"] = -5.0
    bad.loc[11, "hour_of_day"] = 30
    return bad


def test_the_validation_report_names_the_columns_outside_the_schema(schema, small_frame) -> None:
    loaded = validate_frame(schema, _dirty(small_frame.head(2000)))
    assert loaded.report.ignored_columns == ["Notes", "store_code"]
    assert "ignored columns (not in the schema): Notes, store_code" in loaded.report.to_text()
    clean = validate_frame(schema, small_frame.head(2000))
    assert clean.report.ignored_columns == []


def test_prepared_report_and_summary_state_every_reason_and_ignored_column(schema, small_frame, tmp_path) -> None:
    path = tmp_path / "dirty.csv"
    _dirty(small_frame.head(2000)).to_csv(path, index=False)
    prepared = prepare_dataset(schema, path, DataConfig(prepared_root=str(tmp_path / "prepared"), workers=1))
    report = prepared.report
    assert report["rows_quarantined"] == 3 and report["ignored_columns"] == ["Notes", "store_code"]
    lines = set_aside_lines(report)
    assert lines[0] == "quarantined: 3 of 2,000 rows"
    reasons = [line for line in lines if line.startswith("quarantined: ") and "column '" in line]
    assert len(reasons) == 2
    assert any("2 rows: column 'amount' must be >= 0" in line for line in reasons)
    assert any("1 rows: column 'hour_of_day' must be <= 23" in line for line in reasons)
    assert lines[-1] == "ignored columns (not in the schema): Notes, store_code"


def test_a_clean_dataset_says_nothing_was_set_aside(schema, small_frame, tmp_path) -> None:
    path = tmp_path / "clean.csv"
    small_frame.head(1000).to_csv(path, index=False)
    prepared = prepare_dataset(schema, path, DataConfig(prepared_root=str(tmp_path / "prepared"), workers=1))
    assert set_aside_lines(prepared.report) == ["quarantined: 0 of 1,000 rows (none)",
                                                "ignored columns (not in the schema): none"]


def test_the_card_lists_what_was_set_aside(schema, small_frame, tmp_path) -> None:
    from cards.train_card import set_aside_section

    path = tmp_path / "dirty.csv"
    _dirty(small_frame.head(2000)).to_csv(path, index=False)
    report = prepare_dataset(schema, path, DataConfig(prepared_root=str(tmp_path / "prepared"), workers=1)).report
    (section,) = set_aside_section(report)
    text = section._text
    assert "- quarantined: 3 of 2,000 rows" in text and "column 'hour_of_day' must be <= 23" in text
    assert "- ignored columns (not in the schema): Notes, store_code" in text
    assert set_aside_section(None) == []
