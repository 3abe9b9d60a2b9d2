"""TrainFlow end to end on tiny data through metaflow.Runner: artifacts, bundle, card, tags, resume,
and the champion workflow (promote, list --json, rollback) on the runs it made."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from fraudcore.registry import RegistryError, champion, lookup
from fraudcore.registry.store import materialize_bundle
from fraudcore.bundle import FILES, load_bundle, unpack_bundle

ROOT = Path(__file__).resolve().parents[2]
TRAIN_FLOW = ROOT / "flows" / "train.py"

pytestmark = pytest.mark.slow


def card_text(html: str) -> str:
    """The card's components, which the HTML embeds as base64 JSON."""
    payload = re.search(r'__MF_DATA__\["[^"]+"\] = "([^"]+)"', html).group(1)
    return base64.b64decode(payload).decode()
ROWS = 30_000


@pytest.fixture(scope="module")
def config(store):
    return store.config("train-tiny.toml")


@pytest.fixture(scope="module")
def first_run(store, config):
    status, run, out = store.run(TRAIN_FLOW, config, rows=ROWS, seed=7)
    assert status == "successful", out[-3000:]
    return run


def test_run_leaves_small_artifacts_and_a_verified_bundle(first_run, store) -> None:
    data = first_run.data
    h = data.headline
    for key in ("pr_auc", "roc_auc", "recall_at_p20", "threshold", "oracle_pr_auc", "lr_pr_auc", "model_oracle_ratio"):
        assert isinstance(h[key], float), key
    assert 0 < h["pr_auc"] <= 1 and 0 < h["oracle_pr_auc"] <= 1
    assert data.prepared["rows"] == ROWS and data.fingerprint["rows"] == ROWS
    assert set(data.split) == {"train", "validation", "holdout"}
    assert data.split["validation"][1] <= data.split["holdout"][0]
    assert sum(c["rows"] for c in data.split_counts.values()) == ROWS
    # tuning: 2 branches x 2 trials merged into one study
    assert data.tuning["n_trials"] == 4 and {t["branch"] for t in data.tuning["history"]} == {0, 1}
    assert data.matrices["train_positives"] == data.split_counts["train"]["positives"]
    # nothing big is pickled: the frames never become artifacts
    big = [a.id for a in first_run["features"].task.artifacts if a.size > 5_000_000]
    assert big == []
    assert set(data.bundle) == {*FILES, "manifest.json"}
    path = materialize_bundle(first_run.id, store.root / "cache")
    bundle = load_bundle(path)
    assert bundle.version == first_run.id
    # the final model is refit on train + validation: its own sample, its own offset
    assert data.final["refit"] == "train_val" and data.final["rows"] > data.matrices["train_rows"]
    assert bundle.logit_offset == pytest.approx(np.log(data.final["negative_rate"]))
    assert unpack_bundle(data.bundle_tar, store.root / "untarred").is_dir()


def test_fresh_bundle_reproduces_in_flow_scores_bit_for_bit(first_run, store) -> None:
    import pandas as pd

    from fraudcore.prepare import PreparedData, iter_batches

    bundle = load_bundle(materialize_bundle(first_run.id, store.root / "cache"))
    parity = first_run.data.result["parity"]
    prepared = PreparedData.from_dict(first_run.data.prepared)
    ids = set(parity["ids"])
    cols = [bundle.schema.id, *bundle.schema.feature_names]
    rows = pd.concat([f[f[bundle.schema.id].isin(ids)] for _, _, f in iter_batches(prepared.files, cols)])
    rows = rows.set_index(bundle.schema.id).loc[parity["ids"]].reset_index()
    assert len(rows) == len(parity["ids"]) > 0
    np.testing.assert_array_equal(bundle.score(rows), np.asarray(parity["scores"]))


def test_gate_tag_matches_the_gate_result(first_run) -> None:
    tags = set(lookup.get_run(first_run.id).tags)
    expected = "gate:passed" if first_run.data.gate["passed"] else "gate:failed"
    assert expected in tags and ({"gate:passed", "gate:failed"} - {expected}).isdisjoint(tags)
    assert first_run.data.headline["gate"] == expected.split(":")[1]


def test_card_can_be_fetched_as_one_html_file(first_run, store) -> None:
    out = store.root / "card.html"
    store.cli(str(TRAIN_FLOW), "card", "get", f"{first_run.id}/report", str(out))
    html = out.read_text()
    assert len(html) > 50_000
    text = card_text(html)
    assert f"TrainFlow run {first_run.id}" in text
    for section in ("Operating point", "Slices (holdout)", "Explanation", "Data profile", "Tuning", "Against the champion"):
        assert section in text, section
    assert text.count("data:image/png;base64") >= 8  # the matplotlib figures


def test_promote_rollback_and_list(first_run, store, config) -> None:
    rid = first_run.id
    if not first_run.data.gate["passed"]:
        with pytest.raises(RegistryError, match="must carry 'gate:passed' to be promoted"):
            champion.promote(rid, "first model")
    store.cli("-m", "fraudcore.cli", "models", "promote", rid, "--reason", "first model", "--force", "--user", "ana")
    assert lookup.champion_run_id() == rid

    # a second run fails in evaluate (injected), then resumes; its evaluation meets the champion
    status, failed, _ = store.run(TRAIN_FLOW, config, extra_env={"FRAUD_FAIL_AT_STEP": "evaluate"}, rows=ROWS, seed=8)
    assert status == "failed"
    assert not lookup.get_run(failed.id).successful
    status, resumed, out = store.resume(TRAIN_FLOW, failed.id)
    assert status == "successful", out[-3000:]
    assert resumed.id != failed.id
    origin = {m.name: m.value for m in resumed["features"].task.metadata}.get("origin-run-id")
    assert origin == failed.id  # steps before the failure were cloned, not re-run
    assert resumed.data.result["champion"]["run_id"] == rid
    assert any("pr_auc_drop_vs_champion" in line for line in resumed.data.gate["lines"])

    store.cli("-m", "fraudcore.cli", "models", "promote", resumed.id, "--reason", "retrained", "--force")
    listed = json.loads(store.cli("-m", "fraudcore.cli", "models", "list", "--json").stdout)
    by_id = {r["run_id"]: r for r in listed}
    assert by_id[resumed.id]["champion"] and not by_id[rid]["champion"]
    assert by_id[failed.id]["successful"] is False
    for r in (by_id[rid], by_id[resumed.id]):
        assert r["gate"] in ("passed", "failed") and r["finished_at"]
        assert {"pr_auc", "roc_auc", "recall_at_p20", "threshold", "oracle_pr_auc"} <= set(r["metrics"])

    store.cli("-m", "fraudcore.cli", "models", "rollback", "--reason", "alert rate doubled", "--user", "ben")
    assert lookup.champion_run_id() == rid
    events = champion.history()
    assert [(e["event"], e["from"], e["to"]) for e in events] == [
        ("promote", None, rid), ("promote", rid, resumed.id), ("rollback", resumed.id, rid)]
    assert events[0]["user"] == "ana" and events[2]["user"] == "ben" and events[2]["reason"] == "alert rate doubled"
    res = store.cli("-m", "fraudcore.cli", "models", "rollback", "--reason", "again", check=False)
    assert res.returncode == 1 and "no earlier champion to roll back to" in res.stderr


def test_evaluate_cli_compares_champion_and_challenger(first_run, store) -> None:
    other = next(r["run_id"] for r in lookup.list_runs() if r["successful"] and r["run_id"] != first_run.id)
    res = store.cli("-m", "fraudcore.cli", "evaluate", "--model", first_run.id, "--challenger", other, "--json",
                    "--config", str(ROOT / "config" / "train.toml"))
    result = json.loads(res.stdout)
    assert result["versions"] == {"model": first_run.id, "challenger": other}
    assert result["models"]["model"]["pr_auc"] == pytest.approx(first_run.data.headline["pr_auc"])
    assert sum(result["decision_agreement"].values()) == result["rows"]
