"""Alarms on what the new model *does*, per model version, for the canary's auto-rollback set.

The rollout guards in deploy/alarms.py watch 5xx, latency and invalid input: a model that answers 200
with wrong scores passes them. The serving container also emits, per EMF interval and with a
`ModelVersion` dimension (fraudcore/serving/metrics.py), `AlertRate`, `DeclineRate` and `ScoreMean`.
Before each canary, `ensure_behaviour_alarms` (re)writes one alarm pair per metric on the *new* run's
version, with bounds from the bundle's reference profile times `alarms.alert_rate_ratio_high/low`:

- alert rate: the profile's `alert_rate` (share of scores >= the review threshold);
- decline rate and mean score: read off the profile's score histogram (bin midpoints, with the bin
  that holds the decline threshold split linearly), an estimate good to a bin's width.

Only the canary's own traffic is measured (during a blue/green canary old and new share the variant
name; the version tells them apart). The alarms treat missing data as not breaching, so a canary that
gets no traffic passes them: `no_traffic_alarm` catches that. It is *not* in the rollback set: it
reads missing data as breaching, so at the start of every bake (no data yet) it would roll back every
canary. It notifies, and the runbook says what to do.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from deploy.alarms import SERVICE_NAMESPACE, AlarmSpec
from deploy.config import DeployConfig
from fraudcore.bundle import Bundle

BEHAVIOUR_METRICS = (("AlertRate", "alert_rate"), ("DeclineRate", "decline_rate"), ("ScoreMean", "score_mean"))
RATE_FLOOR = 0.005  # a reference rate of ~0 (no declines at all) still gets a usable upper bound


@dataclass(frozen=True)
class BehaviourReference:
    """What the model did on its reference data: the bounds the canary is held to."""

    alert_rate: float
    decline_rate: float
    score_mean: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def behaviour_reference(bundle: Bundle) -> BehaviourReference:
    """Alert rate, decline rate and mean score of the bundle's reference profile."""
    profile = bundle.profile
    score = profile["score"]
    edges = np.asarray(score["edges"], dtype=np.float64)
    freqs = np.asarray(score["freqs"], dtype=np.float64)
    lo = np.concatenate([[0.0], np.clip(edges, 0.0, 1.0)])
    hi = np.concatenate([np.clip(edges, 0.0, 1.0), [1.0]])
    total = float(freqs.sum()) or 1.0
    mean = float(np.sum(freqs * (lo + hi) / 2.0) / total)
    decline = float(bundle.thresholds.decline)
    width = np.maximum(hi - lo, 1e-12)
    above = np.clip((hi - decline) / width, 0.0, 1.0)
    above[hi <= lo] = (lo[hi <= lo] >= decline).astype(float)
    return BehaviourReference(alert_rate=float(profile["alert_rate"]),
                              decline_rate=float(np.sum(freqs * above) / total), score_mean=mean)


def _dims(cfg: DeployConfig, run_id: str) -> tuple[tuple[str, str], ...]:
    # Sorted as the container emits the dimension set (EndpointName, ModelVersion, VariantName).
    return (("EndpointName", cfg.endpoint.name), ("ModelVersion", run_id), ("VariantName", cfg.endpoint.variant_name))


def behaviour_alarm_specs(cfg: DeployConfig, run_id: str, reference: BehaviourReference) -> list[AlarmSpec]:
    """High and low alarms on alert rate, decline rate and mean score of `run_id`; all roll back."""
    a, ep = cfg.alarms, cfg.endpoint
    fast = dict(period=a.period_seconds, evaluation_periods=a.evaluation_periods,
                datapoints_to_alarm=a.datapoints_to_alarm)
    specs = []
    for metric, field in BEHAVIOUR_METRICS:
        ref = getattr(reference, field)
        slug = metric.replace("Rate", "-rate").replace("Score", "score-").lower().strip("-")
        high = min(1.0, max(ref * a.alert_rate_ratio_high, RATE_FLOOR))
        specs.append(AlarmSpec(f"{ep.name}-canary-{slug}-high", SERVICE_NAMESPACE, metric, "GreaterThanThreshold",
                               high, dimensions=_dims(cfg, run_id), statistic="Average", rollback=True,
                               description=f"Run {run_id}: {metric} above {high:.4g} "
                                           f"({a.alert_rate_ratio_high:g}x the reference {ref:.4g})", **fast))
        low = ref * a.alert_rate_ratio_low
        if low > 0:
            specs.append(AlarmSpec(f"{ep.name}-canary-{slug}-low", SERVICE_NAMESPACE, metric, "LessThanThreshold",
                                   low, dimensions=_dims(cfg, run_id), statistic="Average", rollback=True,
                                   description=f"Run {run_id}: {metric} below {low:.4g} "
                                               f"({a.alert_rate_ratio_low:g}x the reference {ref:.4g})", **fast))
    return specs


def no_traffic_alarm(cfg: DeployConfig, run_id: str) -> dict[str, Any]:
    """put_metric_alarm parameters: `run_id` answered fewer than `release.canary_min_requests` in the bake."""
    period = max(60, -(-cfg.rollout.canary_bake_seconds // 60) * 60)
    spec = AlarmSpec(f"{cfg.endpoint.name}-canary-no-traffic", SERVICE_NAMESPACE, "Requests", "LessThanThreshold",
                     float(cfg.release.canary_min_requests), period=period, evaluation_periods=1,
                     datapoints_to_alarm=1, dimensions=_dims(cfg, run_id), statistic="Sum",
                     description=f"Run {run_id} answered fewer than {cfg.release.canary_min_requests} request(s) "
                                 f"in {period} s: the canary proved nothing (docs/runbook.md)")
    request = spec.request(cfg.alarms.notification_topic_arn)
    request["TreatMissingData"] = "breaching"  # no data at all is exactly what this alarm is for
    return request


def ensure_behaviour_alarms(cloudwatch: Any, cfg: DeployConfig, run_id: str,
                            reference: BehaviourReference) -> list[str]:
    """Point the behaviour alarms at `run_id` (bounds from its reference); return the rollback ones."""
    specs = behaviour_alarm_specs(cfg, run_id, reference)
    for spec in specs:
        cloudwatch.put_metric_alarm(**spec.request(cfg.alarms.notification_topic_arn))
    cloudwatch.put_metric_alarm(**no_traffic_alarm(cfg, run_id))
    return [s.name for s in specs]
