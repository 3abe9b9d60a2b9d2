"""The quality gate a candidate model must pass before it may become champion.

Rules come in as arguments (the flow passes its config), so the limits live in one place: config.
Every check yields one line a reviewer can read without the code: value, rule, PASS/FAIL.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fraudcore.config import GateConfig


@dataclass(frozen=True)
class GateCheck:
    name: str
    value: float | None
    rule: str
    passed: bool
    note: str = ""

    @property
    def line(self) -> str:
        shown = "missing" if self.value is None else f"{self.value:.4f}"
        extra = f" ({self.note})" if self.note else ""
        return f"{'PASS' if self.passed else 'FAIL'} {self.name} = {shown}, rule {self.rule}{extra}"


@dataclass(frozen=True)
class GateResult:
    passed: bool
    checks: tuple[GateCheck, ...]

    @property
    def lines(self) -> list[str]:
        return [c.line for c in self.checks]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "lines": self.lines,
                "checks": [{"name": c.name, "value": c.value, "rule": c.rule, "passed": c.passed, "note": c.note}
                           for c in self.checks]}


def _value(metrics: Mapping[str, Any], key: str, who: str) -> float | None:
    """The metric as a float, or None when absent/undefined (a check on None fails, visibly)."""
    v = metrics.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{who} metric {key!r} must be a number; got {type(v).__name__} {v!r}")
    return None if math.isnan(v) else float(v)


def check_gate(metrics: Mapping[str, Any], *, min_pr_auc: float, min_recall_at_precision: float,
               precision_floor: float, max_pr_auc_drop: float, champion: Mapping[str, Any] | None = None) -> GateResult:
    """Judge a candidate's holdout metrics (`fraudcore.metrics.evaluate` output).

    - pr_auc >= min_pr_auc;
    - recall_at_precision >= min_recall_at_precision, where the metrics were computed at
      `precision_floor` (checked, so a gate never compares recall at the wrong floor);
    - versus the champion, if any: champion pr_auc - candidate pr_auc <= max_pr_auc_drop.
      Both should be measured on the same window; the caller decides which. `champion` is the
      champion's metrics, with its version under "run_id" when known (named in the verdict).
    """
    checks = []
    pr = _value(metrics, "pr_auc", "candidate")
    checks.append(GateCheck("pr_auc", pr, f">= {min_pr_auc:g}", pr is not None and pr >= min_pr_auc))
    rec = _value(metrics, "recall_at_precision", "candidate")
    floor = _value(metrics, "precision_floor", "candidate")
    floor_ok = floor is not None and math.isclose(floor, precision_floor)
    checks.append(GateCheck(
        f"recall_at_precision>={precision_floor:g}", rec, f">= {min_recall_at_precision:g}",
        floor_ok and rec is not None and rec >= min_recall_at_precision,
        "" if floor_ok else f"metrics were computed at precision_floor={floor!r}, gate needs {precision_floor:g}"))
    if champion is None:
        checks.append(GateCheck("pr_auc_drop_vs_champion", None, f"<= {max_pr_auc_drop:g}", True,
                                "no champion yet: nothing to regress against"))
    else:
        champ = _value(champion, "pr_auc", "champion")
        who = f"champion {champion['run_id']}" if champion.get("run_id") else "champion"
        if champ is None or pr is None:
            checks.append(GateCheck("pr_auc_drop_vs_champion", None, f"<= {max_pr_auc_drop:g}", False,
                                    f"pr_auc missing: candidate {pr!r}, {who} {champ!r}"))
        else:
            drop = champ - pr
            checks.append(GateCheck("pr_auc_drop_vs_champion", drop, f"<= {max_pr_auc_drop:g}",
                                    drop <= max_pr_auc_drop, f"{who} {champ:.4f}, candidate {pr:.4f}"))
    return GateResult(passed=all(c.passed for c in checks), checks=tuple(checks))


def gate_by_config(metrics: Mapping[str, Any], gate: GateConfig, precision_floor: float,
                   champion: Mapping[str, Any] | None = None, budget: Mapping[str, Any] | None = None) -> GateResult:
    """`check_gate` with the limits of the config's [gate]. With gate.rule "alert_budget" the recall check is
    on the alert-budget rule instead: `budget` is the holdout at the budget threshold
    (`fraudcore.alert_budget.rule_figures` plus the "budget" in alerts a day), and its recall must reach
    gate.min_recall_at_alert_budget."""
    res = check_gate(metrics, min_pr_auc=gate.min_pr_auc, min_recall_at_precision=gate.min_recall_at_precision,
                     precision_floor=precision_floor, max_pr_auc_drop=gate.max_pr_auc_drop, champion=champion)
    if gate.rule != "alert_budget":
        return res
    rec = None if budget is None else _value(budget, "recall", "candidate")
    if budget is None:
        check = GateCheck("recall_at_alert_budget", None, f">= {gate.min_recall_at_alert_budget:g}", False,
                          "no alert-budget threshold: set thresholds.alerts_per_day")
    else:
        check = GateCheck(f"recall_at_alert_budget<={budget['budget']:g}/day", rec,
                          f">= {gate.min_recall_at_alert_budget:g}",
                          rec is not None and rec >= gate.min_recall_at_alert_budget,
                          f"threshold {budget['threshold']:.4g}; holdout {budget['alerts_per_day']:.1f} alerts a day, "
                          f"busiest day {budget['max_alerts_per_day']:.0f}, precision {budget['precision']:.3f}")
    checks = (res.checks[0], check, *res.checks[2:])
    return dataclasses.replace(res, checks=checks, passed=all(c.passed for c in checks))
