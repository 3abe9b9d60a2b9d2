"""A dataset that is not ours: the orders example (config/examples/) trains and evaluates with no code change."""
from __future__ import annotations

import importlib.util
import base64
import json
import re
from pathlib import Path

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


def _make_orders():
    spec = importlib.util.spec_from_file_location("make_orders", EXAMPLES / "make_orders.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_orders


@pytest.fixture(scope="module")
def orders_run(store):
    csv = store.root / "orders.csv"
    _make_orders()(30_000, 3).to_csv(csv, index=False)
    # the example's own config, with the tiny tuning budget and paths inside the test store
    example = (EXAMPLES / "orders_train.toml").read_text()
    data_section, rest = example.split("[split]", 1)
    middle, evaluation = rest.split("[evaluation]", 1)
    data_lines = "\n".join(line for line in data_section.splitlines() if line.startswith(("schema", "column_map")))
    config = store.config("orders-tiny.toml", body="[split]" + middle, data_extra=data_lines,
                          evaluation_extra=evaluation)
    status, run, out = store.run(TRAIN_FLOW, config, data=str(csv))
    assert status == "successful", out[-3000:]
    return run, csv, config


def test_orders_train_with_their_own_schema_and_dated_split(orders_run) -> None:
    run, _, _ = orders_run
    data = run.data
    assert data.schema["label"] == "chargeback" and data.schema["time"] == "created_at"
    assert data.split["train"] == ["2025-01-01T00:00:00+00:00", "2025-09-01T00:00:00+00:00"]
    assert data.split["holdout"][0].startswith("2025-11-15")
    # rows in the two gaps belong to no part
    assert data.split_counts["outside"]["rows"] > 0
    h = data.headline
    assert "oracle_pr_auc" not in h and 0 < h["pr_auc"] <= 1
    assert h["pr_auc"] > 3 * h["holdout_positives"] / h["holdout_rows"]  # well above chance
    slices = data.result["holdout"]["slices"]
    assert {"payment_type=card", "ip_risk missing", "new_accounts (account_days < 14)"} <= set(slices)
    assert "total_to_avg" in data.pipeline_state["fitted"]["feature_names_out"]
    log = run["join_features"].task.stdout
    assert "data: quarantined: 0 of 30,000 rows (none)" in log
    assert "data: ignored columns (not in the schema): none" in log


def test_orders_bundle_carries_the_orders_schema(orders_run, store) -> None:
    from fraudcore.bundle import load_bundle

    run, _, _ = orders_run
    bundle = load_bundle(materialize_bundle(run.id, store.root / "cache"))
    assert bundle.schema == load_schema(EXAMPLES / "orders_schema.toml")
    assert bundle.explain  # reasons come back in the orders' own field names
    one = {f.name: None for f in bundle.schema.features} | {"order_total": 900.0, "items": 3, "payment_type": "giftcard",
                                                           "ship_country": "OTHER", "account_days": 2,
                                                           "express_shipping": True, "ip_risk": 0.9}
    score = bundle.score({k: [v] for k, v in one.items()})
    assert 0 < score[0] < 1


def test_evaluateflow_backtests_the_orders_model_on_a_user_file(orders_run, store) -> None:
    run, csv, config = orders_run
    status, ev, out = store.run(EVALUATE_FLOW, config, model=run.id, data=str(csv), window_start="2025-11-15",
                                window_end="2026-01-01")
    assert status == "successful", out[-3000:]
    result = ev.data.result
    assert result["versions"] == {"model": run.id}
    # the same window as the training holdout: the same rows and the same PR-AUC
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
