"""Quality gate: each rule can pass and fail on its own, and every line says value, rule and verdict."""
from __future__ import annotations

import json

import pytest

from fraudcore.gate import check_gate

RULES = dict(min_pr_auc=0.42, min_recall_at_precision=0.75, precision_floor=0.20, max_pr_auc_drop=0.01)
GOOD = {"pr_auc": 0.50, "recall_at_precision": 0.80, "precision_floor": 0.20}


def test_good_model_without_champion_passes() -> None:
    res = check_gate(GOOD, **RULES)
    assert res.passed
    assert res.lines[0] == "PASS pr_auc = 0.5000, rule >= 0.42"
    assert res.lines[1] == "PASS recall_at_precision>=0.2 = 0.8000, rule >= 0.75"
    assert "no champion" in res.lines[2]
    json.dumps(res.to_dict())


@pytest.mark.parametrize("change, failing", [
    ({"pr_auc": 0.41}, "FAIL pr_auc = 0.4100, rule >= 0.42"),
    ({"recall_at_precision": 0.74}, "FAIL recall_at_precision>=0.2 = 0.7400, rule >= 0.75"),
    ({"precision_floor": 0.30}, "computed at precision_floor=0.3, gate needs 0.2"),
    ({"pr_auc": None}, "FAIL pr_auc = missing"),
    ({"pr_auc": float("nan")}, "FAIL pr_auc = missing"),
])
def test_each_rule_fails_alone(change: dict, failing: str) -> None:
    res = check_gate({**GOOD, **change}, **RULES)
    assert not res.passed
    assert any(failing in line for line in res.lines), res.lines


def test_regression_against_champion() -> None:
    ok = check_gate(GOOD, **RULES, champion={"pr_auc": 0.505, "run_id": "17"})
    assert ok.passed and "champion 17 0.5050, candidate 0.5000" in ok.lines[2]
    worse = check_gate(GOOD, **RULES, champion={"pr_auc": 0.52, "run_id": "17"})
    assert not worse.passed
    assert worse.lines[2].startswith("FAIL pr_auc_drop_vs_champion = 0.0200, rule <= 0.01")
    assert not check_gate(GOOD, **RULES, champion={}).passed


def test_wrong_metric_type_is_an_error() -> None:
    with pytest.raises(TypeError, match="candidate metric 'pr_auc' must be a number; got str '0.5'"):
        check_gate({**GOOD, "pr_auc": "0.5"}, **RULES)
