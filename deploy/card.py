"""DeployFlow's card: what went live, what it replaced, how it was rolled out, and the recent history.

Turns the deploy results (plain dicts, as stored in the flow's artifacts) into Metaflow card
components; it computes nothing new.
"""
from __future__ import annotations

import json
from typing import Any


def _rows(pairs: list[tuple[str, Any]]) -> list[list[str]]:
    return [[k, "—" if v in (None, "") else str(v)] for k, v in pairs]


def deploy_card(summary: dict[str, Any]) -> list[Any]:
    """Components for `current.card`: headline, live vs replaced, rollout policy, smoke answers, history."""
    from metaflow.cards import Markdown, Table

    live, replaced = summary["live"], summary.get("replaced") or {}
    forced = summary.get("forced", False)
    parts: list[Any] = [Markdown(
        f"# Deploy to {summary['target']}: run `{live['run_id']}` is live\n\n"
        f"**Reason:** {summary.get('reason') or '—'}  \n"
        f"**Gate:** {summary['gate']}" + (" — **FORCED past the gate**" if forced else "") + "  \n"
        f"**By:** {summary.get('by', '—')} at {summary.get('at', '—')}")]
    parts.append(Markdown("## What went live, and what it replaced"))
    keys = ["run_id", "model_name", "endpoint_config_name", "model_data_url", "archive_sha256"]
    parts.append(Table([[k, "—" if live.get(k) in (None, "") else str(live.get(k)),
                         "—" if replaced.get(k) in (None, "") else str(replaced.get(k))] for k in keys],
                       headers=["", "live now", "replaced"]))
    rollout = summary.get("rollout") or {}
    if rollout:
        parts.append(Markdown(f"## Rollout: {rollout.get('action', '—')}"))
        deployment = rollout.get("deployment_config")
        if deployment:
            routing = deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
            alarms = [a["AlarmName"] for a in deployment.get("AutoRollbackConfiguration", {}).get("Alarms", [])]
            parts.append(Table(_rows([
                ("traffic routing", routing["Type"]),
                ("canary size", f"{routing.get('CanarySize', {}).get('Value', '—')}% of capacity"),
                ("bake time", f"{routing.get('WaitIntervalInSeconds', 0)} s"),
                ("auto-rollback alarms", ", ".join(alarms)),
            ]), headers=["setting", "value"]))
        else:
            parts.append(Markdown("New endpoint (or unchanged config): no traffic shift was needed."))
    smoke = summary.get("smoke") or []
    if smoke:
        parts.append(Markdown("## Smoke test: answers of the live endpoint"))
        parts.append(Table([[str(i), str(r.get("model_version")), f"{r['score']:.6f}", str(r["decision"])]
                            for i, r in enumerate(smoke)], headers=["request", "model_version", "score", "decision"]))
    history = summary.get("history") or []
    if history:
        parts.append(Markdown("## Recent deploy history"))
        parts.append(Table([[h["at"], h["event"], h["outcome"], h["run_id"], str(h.get("previous_run_id")),
                             h["by"], ("FORCED: " if h.get("forced") else "") + h["reason"]] for h in history[-10:]],
                           headers=["at", "event", "outcome", "run", "was", "by", "why"]))
    parts.append(Markdown("## Raw summary\n\n```json\n" + json.dumps(summary, indent=1, default=str)[:6000] + "\n```"))
    return parts
