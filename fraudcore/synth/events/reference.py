"""Reference data: the daily snapshots (merchant risk feed with its gaps, BIN risk, email-domain risk).

Values change month to month (one draw per entity and month) and are published daily at 00:00 UTC; a
feed gap blanks a merchant's values for a whole month, more often for young merchants. `as_of` is the
point-in-time lookup the oracle uses: the latest snapshot strictly before the event.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraudcore.synth.events.clock import DAY, Clock
from fraudcore.synth.events.population import Population
from fraudcore.synth.events.spec import EventSpec

YOUNG_MERCHANT_DAYS = 120


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True)
class MonthReference:
    merchant_risk: np.ndarray      # float, NaN in a feed gap
    merchant_cb_rate: np.ndarray   # float, NaN in a feed gap
    bin_risk: np.ndarray
    domain_risk: np.ndarray


def month_reference(spec: EventSpec, pop: Population, clock: Clock, k: int, seed: int) -> MonthReference:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2, k]))
    n = len(pop.merch_base_risk)
    risk = np.clip(pop.merch_base_risk + rng.normal(0, 0.03, n), 0.0, 1.0)
    cb = np.clip(pop.merch_base_risk * 0.015 * np.exp(rng.normal(0, 0.3, n)), 0.0, 1.0)
    s0, _ = clock.window(k)
    young = (s0 - pop.merch_onboarded) < YOUNG_MERCHANT_DAYS * DAY
    p_gap = spec.merchant_feed_missing_rate + spec.merchant_feed_missing_young_extra * young + spec.feed_outage_rate
    gap = rng.random(n) < np.clip(p_gap, 0.0, 1.0)
    bins = np.clip(pop.bin_risk * np.exp(rng.normal(0, 0.05, len(pop.bin_risk))), 0.0, 1.0)
    domains = np.clip(pop.domain_risk * np.exp(rng.normal(0, 0.05, len(pop.domain_risk))), 0.0, 1.0)
    return MonthReference(np.where(gap, np.nan, risk), np.where(gap, np.nan, cb), bins, domains)


@dataclass(frozen=True)
class EventKeys:
    """Per event: its time (seconds) and the keys it looks reference values up by."""

    t: np.ndarray
    merch: np.ndarray
    card_bin: np.ndarray
    email_domain: np.ndarray


def as_of(pop: Population, clock: Clock, k: int, now: MonthReference, before: MonthReference | None,
          keys: EventKeys) -> dict[str, np.ndarray]:
    """The reference values an event at t (month k) sees: the snapshot of day ceil(t / DAY) - 1, which is the
    previous month's last snapshot for an event at exactly 00:00:00 on the 1st."""
    t, merch, bin_, domain = keys.t, keys.merch, keys.card_bin, keys.email_domain
    s0, _ = clock.window(k)
    snap_at = ((t - 1) // DAY) * DAY
    prev = snap_at < s0

    def pick(field: str, idx: np.ndarray) -> np.ndarray:
        out = getattr(now, field)[idx].astype(np.float64)
        if prev.any():
            out[prev] = np.nan if before is None else getattr(before, field)[idx[prev]]
        return out

    listed = pop.merch_onboarded[merch] <= snap_at
    return {
        "merchant_risk_score": np.where(listed, pick("merchant_risk", merch), np.nan),
        "merchant_chargeback_rate_90d": np.where(listed, pick("merchant_cb_rate", merch), np.nan),
        "card_bin_risk": pick("bin_risk", bin_),
        "email_domain_risk": pick("domain_risk", domain),
    }


def snapshots(pop: Population, clock: Clock, k: int, ref: MonthReference) -> dict[str, dict[str, np.ndarray]]:
    """The month's daily snapshot rows for the three reference tables (snapshot_at in seconds)."""
    s0, s1 = clock.window(k)
    days = np.arange(s0, s1, DAY, dtype=np.int64)
    listed = pop.merch_onboarded[None, :] <= days[:, None]
    d_idx, m_idx = np.nonzero(listed)
    n_b, n_d = len(pop.bin_risk), len(pop.domain_risk)
    return {
        "merchant_risk": {"snapshot_at": days[d_idx], "merchant_id": m_idx.astype(np.int64) + 1,
                          "merchant_risk_score": ref.merchant_risk[m_idx],
                          "merchant_chargeback_rate_90d": ref.merchant_cb_rate[m_idx]},
        "bin_risk": {"snapshot_at": np.repeat(days, n_b),
                     "bin_id": np.tile(np.arange(n_b, dtype=np.int64) + 1, len(days)),
                     "card_bin_risk": np.tile(ref.bin_risk, len(days))},
        "email_domain_risk": {"snapshot_at": np.repeat(days, n_d),
                              "email_domain_id": np.tile(np.arange(n_d, dtype=np.int64) + 1, len(days)),
                              "email_domain_risk": np.tile(ref.domain_risk, len(days))},
    }
