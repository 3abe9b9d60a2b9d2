"""`fraud monitor run` on a capture folder, and `fraud monitor demo` through the real scoring server."""
from __future__ import annotations

import json
from pathlib import Path

from monitor_helpers import capture_records, labels_for, window_for, write_capture

from fraudcore.monitoring.capture import read_capture
from fraudcore.cli import main as fraud


def test_run_prints_the_verdict_and_writes_json(tmp_path, bundle, bundle_dir, capsys):
    frame = window_for("feed_outage", rows=3000)
    root = write_capture(tmp_path / "cap", capture_records(frame, bundle))
    labels = tmp_path / "labels.csv"
    labels_for(frame).to_csv(labels, index=False)
    out = tmp_path / "report.json"
    code = fraud(["monitor", "run", "--capture", str(root), "--bundle", str(bundle_dir), "--labels", str(labels),
                 "--as-of", "2027-03-01T00:00:00Z", "--window-days", "0", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.startswith("verdict: INVESTIGATE")
    assert "merchant_risk_score: missing rate" in printed
    report = json.loads(out.read_text())
    assert report["verdict"] == "investigate" and report["capture"]["scored"] == 3000


def test_run_explains_bad_arguments(tmp_path, bundle_dir, capsys):
    assert fraud(["monitor", "run", "--capture", str(tmp_path / "none"), "--bundle", str(bundle_dir)]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert fraud(["monitor", "run", "--capture", str(tmp_path), "--bundle", str(tmp_path / "no-bundle")]) == 1
    assert "not a directory or a model.tar.gz" in capsys.readouterr().err


def test_demo_replays_through_the_real_server(tmp_path, bundle_dir, capsys):
    code = fraud(["monitor", "demo", "--scenario", "new_pattern", "--rows", "10000", "--bundle", str(bundle_dir),
                 "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "HTTP status counts {200: 990, 400: 10}" in printed
    captures = list(tmp_path.glob("capture-new_pattern-*"))
    assert len(captures) == 1
    files = list(captures[0].rglob("*.jsonl"))
    assert files and all("capture/" in f.as_posix() for f in files)
    # the capture is the server's own: its records parse, carry real latencies and the failures
    from fraudcore.bundle import load_bundle

    window = read_capture(captures[0], load_bundle(bundle_dir).schema)
    assert len(window.scored) == 9900 and len(window.failures) == 10 and window.bad_lines == 0
    assert set(window.failures["rule"]) == {"min"} and set(window.failures["field"]) == {"amount"}
    assert (window.scored["latency_ms"] > 0).all()
    now = json.loads((tmp_path / "report-now.json").read_text())
    mature = json.loads((tmp_path / "report-mature.json").read_text())
    assert now["verdict"] == "healthy" and not now["quality"]["judged"]
    assert mature["verdict"] == "retrain" and mature["quality"]["judged"]
    assert {s["name"] for s in mature["signals"]} >= {"pr_auc_drop"}
    assert printed.rstrip().endswith("verdict: RETRAIN")
    assert Path(tmp_path / "serve.log").is_file()
