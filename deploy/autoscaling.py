"""Application Auto Scaling for the endpoint variant: target tracking on invocations per instance.

Sizing (the numbers behind config/deploy.toml [scaling]):

- Load. 8M transactions a day is 8e6 / 86,400 = ~93 requests/s on average. Card checkout is peaky:
  evenings run ~2-3x the daily average, and holiday peaks (Black Friday, the December weekends) add
  another ~3x on top of a normal evening. We assume a peak factor of **8x**, i.e. ~750 requests/s,
  and check the plan survives 10x (~930/s).
- Capacity. One core running our server with the shipped model held 3,000-3,500 requests/s at
  p99 <= 10 ms, with exact reasons on every flagged response (benchmarks/results/latency_shipped_model.json;
  p99 2.1 ms at 1,500/s). An ml.c5.large has 2 vCPUs, one physical core, so we count **3,000 requests/s
  per instance**.
- Target. `SageMakerVariantInvocationsPerInstance` is counted per minute. Target tracking at 50% of
  capacity keeps headroom for the minute it takes to notice a surge, the minutes a new instance takes
  to boot and a slower model after a retrain: 0.5 x 3,000/s x 60 = **90,000 invocations per instance
  per minute**.
- Minimum 2. Two instances, which SageMaker spreads over availability zones, so losing one at an
  8x peak still leaves 750/s on one instance, a quarter of its capacity. At the 93/s average the pair
  runs at ~5% load: availability, not throughput, sets the floor.
- Maximum 8. At 10x (930/s) target tracking asks for 930 / 1,500 = 1 instance (the floor of 2 holds);
  8 leaves room for a large error in the capacity estimate or a card-testing attack, and caps the cost
  of a runaway.
- Cooldowns. Scale out after 60 s (a surge must be met quickly), scale in after 600 s (do not drop
  capacity between two waves of a flash sale).
"""
from __future__ import annotations

from typing import Any

from deploy.config import DeployConfig

SERVICE_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
PREDEFINED_METRIC = "SageMakerVariantInvocationsPerInstance"


def resource_id(cfg: DeployConfig) -> str:
    return f"endpoint/{cfg.endpoint.name}/variant/{cfg.endpoint.variant_name}"


def policy_name(cfg: DeployConfig) -> str:
    return f"{cfg.endpoint.name}-invocations-per-instance"


def ensure_autoscaling(autoscaling: Any, cfg: DeployConfig) -> dict[str, Any]:
    """Register the variant as a scalable target and attach the target-tracking policy (idempotent).

    Without a RoleARN, Application Auto Scaling uses its service-linked role for SageMaker
    (AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint), created on first use.
    """
    s = cfg.scaling
    rid = resource_id(cfg)
    autoscaling.register_scalable_target(
        ServiceNamespace=SERVICE_NAMESPACE, ResourceId=rid, ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=s.min_instances, MaxCapacity=s.max_instances,
    )
    policy = autoscaling.put_scaling_policy(
        PolicyName=policy_name(cfg), ServiceNamespace=SERVICE_NAMESPACE, ResourceId=rid,
        ScalableDimension=SCALABLE_DIMENSION, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(s.target_invocations_per_instance),
            "PredefinedMetricSpecification": {"PredefinedMetricType": PREDEFINED_METRIC},
            "ScaleOutCooldown": s.scale_out_cooldown_seconds,
            "ScaleInCooldown": s.scale_in_cooldown_seconds,
            "DisableScaleIn": False,
        },
    )
    return {"resource_id": rid, "policy_arn": policy["PolicyARN"]}
