"""`fraud features ingest --emf --rejects -` as the ingest service runs it: EMF counts per report, rejects on
standard error (the service's log group), the lag on every line."""
from __future__ import annotations

import json
import subprocess
import sys


def test_emf_counts_are_per_report_and_rejects_go_to_standard_error(tmp_path):
    source = tmp_path / "events.jsonl"
    source.write_text('not json\n{"stream": "no_such_table", "record": {"card_id": "c1"}}\n{"record": {}}\n')
    out = subprocess.run([sys.executable, "-m", "fraudcore.cli", "features", "ingest", "--from", str(source),
                          "--store", f"lmdb:{tmp_path / 'store.lmdb'}", "--batch", "1", "--report-every", "0",
                          "--emf", "--rejects", "-"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    emf, summary = [d for d in lines if "_aws" in d], lines[-1]
    assert summary["rejected"] == 3 and summary["rejects"] == "stderr"
    (directive,) = emf[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "PayLink/Fraud" and directive["Dimensions"] == [["Source"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"IngestApplied", "IngestLate", "IngestRejected",
                                                         "IngestLagSeconds"}
    assert all(d["Source"] == str(source) for d in emf)
    # one reject a batch, each counted once: totals would add up to 1+2+3(+3) instead
    assert [d["IngestRejected"] for d in emf] == [1, 1, 1, 0]
    rejects = [json.loads(line) for line in out.stderr.splitlines() if line.startswith('{"at"')]
    assert [r["position"] for r in rejects] == ["1", "2", "3"]
    assert "not valid JSON" in rejects[0]["reason"] and rejects[1]["rule"] == "unknown_table"
    assert rejects[1]["record"] == {"card_id": "c1"}     # kept, so it can be ingested again once declared
    assert not (tmp_path / "online-rejects.jsonl").exists() and not (tmp_path / "store.rejects.jsonl").exists()
