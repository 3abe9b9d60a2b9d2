"""The generator's specification: every rate and effect size in one frozen object.

The difficulty of the synthetic data is part of its spec (oracle PR-AUC 0.50-0.70 on the last three
months, logistic regression at least 0.10 below). These values define that spec; they are not knobs to
turn until a model passes. Monitoring scenarios derive modified specs with `dataclasses.replace`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratorSpec:
    start: str = "2025-05-01"          # first month (UTC)
    months: int = 18
    fraud_rate: float = 0.007          # expected recorded-label rate per month
    # label noise: frauds never charged back, and legit transactions wrongly confirmed by review
    missed_chargeback_rate: float = 0.15
    false_review_rate: float = 0.0002
    # share of rows produced by each hidden attack session type (before the monthly ramp)
    velocity_attack_rate: float = 0.0055
    takeover_attack_rate: float = 0.0045
    new_account_attack_rate: float = 0.0035
    wallet_attack_max_rate: float = 0.0025  # the new pattern, at full strength
    # the new fraud pattern ramps in linearly between these month indices (0-based)
    new_pattern_start_month: int = 9
    new_pattern_full_month: int = 17
    # fraudsters adapt: the velocity pattern's effect shrinks by this fraction over the period
    velocity_effect_decay: float = 0.35
    # missingness: merchant-risk feed gaps (per merchant-month) and missing customer history
    merchant_feed_missing_rate: float = 0.078
    merchant_feed_missing_young_extra: float = 0.25   # extra gap rate for merchants < 120 days old
    history_missing_new_customer: float = 0.75        # accounts younger than 21 days
    history_missing_established: float = 0.012
    # hidden merchant compromise: P(compromised | feed missing), and its effect on card-not-present rows
    compromise_prob_when_missing: float = 0.10
    compromise_effect: float = 2.2
    # scales the whole latent signal; with the noise above it sets the oracle's difficulty
    signal_scale: float = 1.75
    # monitoring scenarios: extra merchant-feed outage share, seasonal demand factor, and a novel
    # pattern absent from training (recurring card-on-file charges from new devices with mismatched
    # addresses), given by its share of rows and its effect on the latent logit
    novel_pattern_rate: float = 0.0
    # trade-off study: serve the velocity counters a day stale (see benchmarks/staleness.py); the
    # oracle column keeps describing the fresh values the label depends on
    stale_velocity: bool = False
    novel_pattern_effect: float = 0.0
    feed_outage_rate: float = 0.0
    seasonal_amount_factor: float = 1.0

    def __post_init__(self) -> None:
        for name in ("fraud_rate", "missed_chargeback_rate", "false_review_rate", "merchant_feed_missing_rate",
                     "history_missing_new_customer", "history_missing_established",
                     "compromise_prob_when_missing", "feed_outage_rate", "velocity_effect_decay",
                     "novel_pattern_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"GeneratorSpec.{name} must be in [0, 1); got {value}")
        if self.months < 1:
            raise ValueError(f"GeneratorSpec.months must be >= 1; got {self.months}")
        if self.fraud_rate <= self.false_review_rate:
            raise ValueError(
                f"GeneratorSpec.fraud_rate must exceed false_review_rate ({self.false_review_rate}); "
                f"got {self.fraud_rate}")
