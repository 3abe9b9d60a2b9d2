"""A dataset that is not ours: the orders example (config/examples/), the worked bring-your-own-data example of
docs/training.md, trains on a training file, evaluates on a separate test file, and reports the alert-budget rule
and precision at the top k shoppers a day, with no code change. One TrainFlow run serves every test here."""
from __future__ import annotations

import sys
import base64
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from fraudcore.config_loader import ConfigError
from fraudcore.registry.store import materialize_bundle
from fraudcore.schema import load_schema

ROOT = Path(__file__).resolve().parents[2]
TRAIN_FLOW = ROOT / "flows" / "train.py"
EVALUATE_FLOW = ROOT / "flows" / "evaluate.py"

pytestmark = pytest.mark.slow


def card_text(html: str) -> str:
    """The card's components, which the HTML embeds as base64 JSON."""
    payload = re.search(r'__MF_DATA__\["[^"]+"\] = "([^"]+)"', html).group(1)
    return base64.b64decode(payload).decode()
EXAMPLES = ROOT / "config" / "examples"
sys.path.insert(0, str(ROOT / "tests"))
from examples_support import make_orders_function  # noqa: E402


@pytest.fixture(scope="module")
def orders_run(store):
    csv, test_csv = store.root / "orders.csv", store.root / "orders_test.csv"
    orders = make_orders_function()(30_000, 3)
    test = orders["created_at"] >= "2025-12-01"  # what make_orders.py --test-from 2025-12-01 writes
    orders.loc[~test].to_csv(csv, index=False)
    orders.loc[test].to_csv(test_csv, index=False)
    # the example's own config, with the tiny tuning budget and paths inside the test store
    example = (EXAMPLES / "orders_train.toml").read_text()
    data_section, rest = example.split("[split]", 1)
    middle, evaluation = rest.split("[evaluation]", 1)
    data_lines = "\n".join(line for line in data_section.splitlines() if line.startswith(("schema", "column_map")))
    config = store.config("orders-tiny.toml", body="[split]" + middle, data_extra=data_lines,
                          evaluation_extra=evaluation)
    # the example names data/orders_test.csv; --holdout-data points it at this test's file
    status, run, out = store.run(TRAIN_FLOW, config, data=str(csv), holdout_data=str(test_csv))
    assert status == "successful", out[-3000:]
    return run, test_csv, config, int((~test).sum()), int(test.sum())


def test_orders_train_with_their_own_schema_and_dated_split(orders_run) -> None:
    run, test_csv, _, train_rows, test_rows = orders_run
    data = run.data
    assert data.schema["label"] == "chargeback" and data.schema["time"] == "created_at"
    assert data.split["train"] == ["2025-01-01T00:00:00+00:00", "2025-09-01T00:00:00+00:00"]
    # the holdout is the separate test file, every row of it
    assert data.split["holdout"][0].startswith("2025-12-01")
    assert data.split_counts["holdout"]["rows"] == test_rows == data.headline["holdout_rows"]
    assert data.prepared["holdout"]["source"] == str(test_csv)
    # rows in the two gaps belong to no part
    assert data.split_counts["outside"]["rows"] > 0
    h = data.headline
    assert "oracle_pr_auc" not in h and 0 < h["pr_auc"] <= 1
    assert h["pr_auc"] > 3 * h["holdout_positives"] / h["holdout_rows"]  # well above chance
    slices = data.result["holdout"]["slices"]
    assert {"payment_type=card", "ip_risk missing", "new_accounts (account_days < 14)"} <= set(slices)
    assert "total_to_avg" in data.pipeline_state["fitted"]["feature_names_out"]
    log = run["join_features"].task.stdout
    assert f"data: quarantined: 0 of {train_rows:,} rows (none)" in log
    assert "data: ignored columns (not in the schema): none" in log
    assert f"holdout: {test_rows:,} valid rows from {test_csv}" in log
    assert f"data: holdout file {test_csv}: quarantined: 0 of {test_rows:,} rows (none)" in log


def test_the_alert_budget_sets_the_review_threshold_and_the_gate_judges_it(orders_run) -> None:
    run, _, _, _, _ = orders_run
    thr, rules = run.data.thresholds, run.data.result["rules"]
    assert thr["review_rule"] == "alert_budget" and thr["alerts_per_day"] == 3
    assert thr["review"] == thr["budget_review"] != thr["precision_review"]
    assert rules["alert_budget"]["validation"]["alerts_per_day"] <= 3
    assert rules["precision"]["holdout"]["threshold"] == thr["precision_review"]
    assert run.data.gate["lines"][1].startswith(("PASS recall_at_alert_budget<=3/day", "FAIL recall_at_alert_budget<=3/day"))
    assert run.data.headline["budget_recall"] == rules["alert_budget"]["holdout"]["recall"]


def test_entity_metrics_and_the_test_file_fingerprint_reach_the_bundle_and_the_card(orders_run, store) -> None:
    from fraudcore.bundle import load_bundle

    run, test_csv, _, _, _ = orders_run
    entity = run.data.result["entity"]
    assert entity["field"] == "shopper_id" and entity["k"] == [1, 2, 5, 10] and entity["remove_known"]
    assert all(0 <= p <= 1 for p in entity["precision_at_k"]) and entity["days"] == 31
    assert entity["fraud_entity_days"] > entity["fraud_entity_days_new"] > 0  # hijacked shoppers recur
    assert run.data.headline["entity_precision_at_1"] == entity["precision_at_k"][0]
    bundle = load_bundle(materialize_bundle(run.id, store.root / "cache"))
    assert bundle.metrics["entity"] == entity and set(bundle.metrics["rules"]) == {"precision", "alert_budget"}
    assert bundle.manifest["data_fingerprint"]["holdout"]["path"] == str(test_csv)
    html = store.root / "orders-card.html"
    store.cli(str(TRAIN_FLOW), "card", "get", f"{run.id}/report", str(html))
    text = card_text(html.read_text())
    assert "precision, known compromised removed" in text and "Review rules" in text
    assert "holdout file" in text
    reasons = re.findall(r'"[^"]*\(\+\d\.\d\d\)[^"]*"', text)
    assert reasons and not any(re.search(r"=-?[\d,]*\.\d{4,}", r) for r in reasons), reasons[:3]


def test_orders_bundle_carries_the_orders_schema(orders_run, store) -> None:
    from fraudcore.bundle import load_bundle

    run, _, _, _, _ = orders_run
    bundle = load_bundle(materialize_bundle(run.id, store.root / "cache"))
    assert bundle.schema == load_schema(EXAMPLES / "orders_schema.toml")
    assert bundle.explain  # reasons come back in the orders' own field names
    one = {f.name: None for f in bundle.schema.features} | {"order_total": 900.0, "items": 3, "payment_type": "giftcard",
                                                           "ship_country": "OTHER", "account_days": 2,
                                                           "express_shipping": True, "ip_risk": 0.9}
    score = bundle.score({k: [v] for k, v in one.items()})
    assert 0 < score[0] < 1


def test_evaluateflow_backtests_the_orders_model_on_a_user_file(orders_run, store) -> None:
    run, test_csv, config, _, _ = orders_run
    status, ev, out = store.run(EVALUATE_FLOW, config, model=run.id, data=str(test_csv))
    assert status == "successful", out[-3000:]
    result = ev.data.result
    assert result["versions"] == {"model": run.id}
    assert result["models"]["model"]["entity"]["precision_at_k"] == run.data.result["entity"]["precision_at_k"]
    # the whole test file is the training holdout: the same rows and the same PR-AUC
    assert result["rows"] == run.data.headline["holdout_rows"]
    assert result["models"]["model"]["pr_auc"] == pytest.approx(run.data.headline["pr_auc"], abs=1e-12)
    html = store.root / "evaluate-card.html"
    store.cli(str(EVALUATE_FLOW), "card", "get", f"{ev.id}/evaluate", str(html))
    assert f"Evaluation: model {run.id}" in card_text(html.read_text())


def test_a_schema_mismatch_is_named_before_any_step(store) -> None:
    """The Config parser checks the config (and its slices against the schema it names) at launch."""
    config = store.config("orders-bad.toml", data_extra='schema = "config/examples/orders_schema.toml"',
                          evaluation_extra='categorical_slices = ["payment_method"]')
    message = "evaluation.categorical_slices' must name a feature of schema 'orders'; got 'payment_method'"
    with pytest.raises(ConfigError, match=message):
        store.run(TRAIN_FLOW, config, data=str(store.root / "orders.csv"))
    res = store.cli(str(TRAIN_FLOW), "--config", "config", str(config), "run", check=False)
    assert res.returncode != 0 and message in res.stderr
    assert "Workflow starting" not in res.stdout + res.stderr


def test_fraud_evaluate_uses_the_models_own_config_and_names_a_mismatch(orders_run, store, capsys) -> None:
    """Without --config the bundle's config (column map, slices, entity) applies; PayLink's config is refused
    with the columns named and no traceback; so is a data file missing a column."""
    from fraudcore.bundle import load_bundle
    from fraudcore.config import load_train_config
    from fraudcore.cli import run_command
    from fraudcore.evaluation.cli import main as evaluate_main
    from fraudcore.evaluation.fit import ColumnMismatchError, check_fit

    run, test_csv, _, _, test_rows = orders_run
    res = store.cli("-m", "fraudcore.cli", "evaluate", "--model", run.id, "--data", str(test_csv))
    assert f"{test_rows:,} rows" in res.stdout and "shopper_id precision@1" in res.stdout
    assert "config: the model's own (kept in its bundle)" in res.stdout
    # PayLink's config for the orders model: `fraud` reports the error once, exit 2, no traceback
    code = run_command("evaluate", evaluate_main, ["--model", run.id, "--data", str(test_csv),
                                                   "--config", str(ROOT / "config" / "train.toml")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"fraud evaluate: the config's [evaluation] does not fit model {run.id} (schema 'orders')")
    assert "'payment_method'" in err
    bundle = load_bundle(materialize_bundle(run.id, store.root / "cache"))
    lacking = store.root / "orders_no_ip.csv"
    pd.read_csv(test_csv).drop(columns=["ip_risk", "OrderTotal"]).to_csv(lacking, index=False)
    with pytest.raises(ColumnMismatchError, match=r"lacks columns 'order_total' \(your 'OrderTotal'\), 'ip_risk' that model"):
        check_fit({"model": bundle}, load_train_config(EXAMPLES / "orders_train.toml"), str(lacking))
