"""The event-level generator's specification: every rate, size and effect in one frozen object.

The difficulty of the synthetic data is part of its spec (oracle PR-AUC 0.50-0.70 on the last three
months, logistic regression at least 0.10 below). These values define that spec; they are not knobs to
turn until a model passes. Scenarios derive modified specs with `dataclasses.replace`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class EventSpec:
    start: str = "2025-05-01"          # first month of the dataset (UTC)
    months: int = 18
    # months of events before `start` written as lead-in, so windows up to 30 days and "new device" are
    # not artefacts of the data's first day; their rows are marked as lead-in in the manifest
    lead_in_months: int = 1
    fraud_rate: float = 0.007          # expected recorded-label rate per month
    # label noise: frauds never charged back, and legit transactions wrongly confirmed by review
    missed_chargeback_rate: float = 0.15
    false_review_rate: float = 0.0002
    review_sample_rate: float = 0.004  # legit-looking authorisations reviewed and cleared (label rows with 0)
    chargeback_delay_median_days: float = 21.0
    chargeback_delay_sigma: float = 0.6
    review_delay_max_days: float = 3.0
    # population: authorisations per customer-day, and how customers come and go
    regular_rate_median: float = 0.30  # authorisations per active day (lognormal)
    regular_rate_sigma: float = 0.6
    newcomer_share: float = 0.030      # newcomers joining, per authorisation (first purchases of new users)
    newcomer_life_mean_days: float = 45.0
    ring_accounts_per_auth: float = 0.0007  # new-account fraud: ring accounts opened, per authorisation
    in_store_share: float = 0.33       # share of a regular customer's authorisations made in store
    login_before_purchase: float = 0.55  # online purchases preceded by a login
    failed_login_rate: float = 0.05    # legitimate logins that fail first (typos)
    roaming_ip_rate: float = 0.04      # online purchases from an ip outside the home country
    decline_rate: float = 0.03         # legitimate authorisations declined by the issuer
    # attack sessions started, per authorisation (before the monthly ramp); each yields several events
    card_testing_sessions: float = 0.00025
    takeover_sessions: float = 0.0012
    wallet_sessions_max: float = 0.0009  # the new pattern, at full strength
    compromised_merchant_rate: float = 0.012  # merchants compromised in a month (before feed adjustment)
    compromise_attacks_per_merchant: float = 6.0
    # the new fraud pattern ramps in linearly between these month indices (0-based)
    new_pattern_start_month: int = 9
    new_pattern_full_month: int = 17
    # fraudsters adapt: the velocity pattern's effect shrinks by this fraction over the period
    velocity_effect_decay: float = 0.35
    # missingness: merchant-risk feed gaps (per merchant-month)
    merchant_feed_missing_rate: float = 0.072
    merchant_feed_missing_young_extra: float = 0.25   # extra gap rate for merchants < 120 days old
    # hidden per-transaction exposure to a merchant compromise: P(exposed | feed state), and its effect
    # on card-not-present rows; drawn independently per row, so it is marginalised out exactly
    compromise_prob_when_missing: float = 0.10
    compromise_effect: float = 2.2
    # scales the whole latent signal; with the noise above it sets the oracle's difficulty
    signal_scale: float = 1.6
    # monitoring scenarios: extra merchant-feed outage share, seasonal amount factor, and a novel pattern
    # (recurring card-on-file charges from new devices with mismatched addresses)
    novel_pattern_rate: float = 0.0
    novel_pattern_effect: float = 0.0
    feed_outage_rate: float = 0.0
    seasonal_amount_factor: float = 1.0

    def __post_init__(self) -> None:
        shares = ("fraud_rate", "missed_chargeback_rate", "false_review_rate", "review_sample_rate",
                  "newcomer_share", "ring_accounts_per_auth", "in_store_share", "login_before_purchase",
                  "failed_login_rate", "roaming_ip_rate", "decline_rate", "card_testing_sessions",
                  "takeover_sessions", "wallet_sessions_max", "compromised_merchant_rate",
                  "velocity_effect_decay", "merchant_feed_missing_rate", "merchant_feed_missing_young_extra",
                  "compromise_prob_when_missing", "novel_pattern_rate", "feed_outage_rate")
        for name in shares:
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"EventSpec.{name} must be in [0, 1); got {value}")
        positive = ("chargeback_delay_median_days", "chargeback_delay_sigma", "review_delay_max_days",
                    "regular_rate_median", "regular_rate_sigma", "newcomer_life_mean_days", "signal_scale",
                    "seasonal_amount_factor")
        for name in positive:
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"EventSpec.{name} must be > 0; got {value}")
        if self.compromise_attacks_per_merchant < 0:
            raise ValueError("EventSpec.compromise_attacks_per_merchant must be >= 0; "
                             f"got {self.compromise_attacks_per_merchant}")
        if self.months < 4:
            raise ValueError(f"EventSpec.months must be >= 4; got {self.months}")
        if self.lead_in_months < 0:
            raise ValueError(f"EventSpec.lead_in_months must be >= 0; got {self.lead_in_months}")
        if self.fraud_rate <= self.false_review_rate:
            raise ValueError(f"EventSpec.fraud_rate must exceed false_review_rate ({self.false_review_rate}); "
                             f"got {self.fraud_rate}")
        if not 0 <= self.new_pattern_start_month < self.new_pattern_full_month:
            raise ValueError("EventSpec.new_pattern_start_month must be >= 0 and below new_pattern_full_month; "
                             f"got {self.new_pattern_start_month} and {self.new_pattern_full_month}")

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
