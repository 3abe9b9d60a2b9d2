"""`fraud features backfill` writes one parquet file per month, equal to the in-memory engine."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from test_event_loading import write_layout

from fraudcore.features import EventLog, compute_features, load_feature_set
from fraudcore.cli import run_command
from fraudcore.features.cli import main
from fraudcore.features.toy import toy_event_log

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_backfill_writes_months_and_a_report(tmp_path, seed, capsys):
    fs = load_feature_set(CONFIG / "features.toml")
    tables = toy_event_log(fs, 2000, seed, ["2025-03", "2025-04"])
    (tmp_path / "events").mkdir()
    events = write_layout(fs, tables, tmp_path / "events")
    assert main(["backfill", "--events", str(events), "--out", str(tmp_path / "out")]) == 0
    written = pd.read_parquet(tmp_path / "out", engine="pyarrow")
    assert sorted(p.name for p in (tmp_path / "out").glob("month=*")) == ["month=2025-03", "month=2025-04"]
    summary = json.loads((tmp_path / "out" / "_backfill.json").read_text())
    assert summary["fingerprint"] == fs.fingerprint() and sum(summary["months"].values()) == len(tables[fs.target])
    assert "month  2/2 2025-04" in capsys.readouterr().err
    expected = compute_features(EventLog(tables), fs)
    got = written.drop(columns="month").sort_values([fs.target_table.time, fs.target_table.id]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_categorical=False, check_dtype=False)


def test_backfill_refuses_a_missing_directory(tmp_path, capsys):
    argv = ["backfill", "--events", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")]
    assert run_command("features", main, argv) == 1  # EventDataError, reported once by `fraud`
    err = capsys.readouterr().err
    assert err.startswith("fraud features: ") and "does not exist" in err
