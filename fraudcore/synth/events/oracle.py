"""The label model: P(recorded label | computed features, date), exact, and the label draw.

The recorded label of an authorisation is drawn from a known function of its computed features (as the
feature engine computes them from the written events), the month (the wallet pattern's ramp, the
velocity pattern's decay, the month's intercept) and one hidden state, drawn afresh for each row:
exposure to a compromised merchant, with a probability given by the merchant's reference values as of
the event. Because that state is independent across rows and of everything else given those values, it
is marginalised in closed form, and `fraud_probability` is P(label = 1 | observable features, date).

Circularity: chargebacks_90d counts earlier labels, so labels could feed back into later features. The
oracle reads no label-derived value (not chargebacks_90d; the merchant feed is drawn from the merchant's
hidden base risk, not from labels), so every label can be drawn after the month's events exist, in one
vectorised pass per month, and a label-derived feature is conditionally independent of the label given
the features the oracle reads: it carries no extra information, and the oracle stays exact with it in
the feature set. (The alternative, generating in blocks no longer than the shortest label delay, would
make generation sequential by day for no gain in realism.)

The intercept is solved per month so the month's expected label rate is the spec's; it is published with
the data (manifest.json) with the month's ramp and decay, so the oracle is a function of features and date.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from fraudcore.synth.events.codes import Codes
from fraudcore.synth.events.reference import sigmoid
from fraudcore.synth.events.spec import EventSpec

if TYPE_CHECKING:
    import pandas as pd

CATEGORY_EFFECT = {"gift_cards": 0.7, "digital_goods": 0.5, "electronics": 0.4, "gaming": 0.3, "travel": 0.2,
                   "grocery": -0.5, "utilities": -0.7, "restaurants": -0.4, "health": -0.3}
# the features the oracle reads (names from config/schema.toml)
ORACLE_FEATURES = ("amount", "card_present", "three_ds_authenticated", "entry_mode", "billing_shipping_match",
                   "avs_result", "payment_method", "device_type", "channel", "merchant_category",
                   "transactions_24h", "ip_velocity", "avg_amount_30d", "declines_7d", "failed_logins_24h",
                   "is_new_device", "hour_of_day", "account_age_days", "card_bin_risk", "email_domain_risk",
                   "merchant_risk_score", "merchant_chargeback_rate_90d", "device_risk_score", "proxy_score",
                   "ip_country_mismatch", "is_international")


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def month_terms(spec: EventSpec, month: int) -> tuple[float, float]:
    """(wallet ramp in [0, 1], velocity effect multiplier) for dataset month index `month` (lead-in < 0)."""
    span = spec.new_pattern_full_month - spec.new_pattern_start_month
    progress = 0.0 if month < spec.new_pattern_start_month else min(1.0, (month - spec.new_pattern_start_month) / span)
    decay = 1.0 - spec.velocity_effect_decay * max(month, 0) / max(1, spec.months - 1)
    return progress, decay


def as_codes(c: Codes, f: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Feature columns as numpy: categories as schema codes (from codes, strings or pandas categoricals)."""
    out = {}
    for name in ORACLE_FEATURES:
        v = f[name]
        if name in Codes.FIELDS or name in ("merchant_category",):
            cats = c.categories(name)
            arr = np.asarray(v.astype(str) if hasattr(v, "cat") else v)
            if arr.dtype.kind in "OUS":
                lookup = {x: i for i, x in enumerate(cats)}
                arr = np.array([lookup[x] for x in arr], dtype=np.int64)
            out[name] = arr.astype(np.int64)
        else:
            arr = np.asarray(v.to_numpy(dtype=np.float64, na_value=np.nan) if hasattr(v, "to_numpy") else v)
            out[name] = arr.astype(np.float64)
    return out


def latent(spec: EventSpec, c: Codes, f: Mapping[str, np.ndarray], progress: float, decay: float,
           novel_effect: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, exposure probability, exposure effect) for each row; features as from `as_codes`."""
    amount = f["amount"]
    present = f["card_present"] > 0
    cnp = ~present
    avg30 = f["avg_amount_30d"]
    hist = ~np.isnan(avg30)
    velocity = decay * (1.1 * _relu(np.log1p(f["transactions_24h"]) - np.log1p(3))
                        + 0.9 * cnp * _relu(np.log1p(f["ip_velocity"]) - np.log1p(2)))
    ratio = amount / np.where(hist, avg30, 1.0)
    amount_term = np.where(hist, 0.9 * np.clip(np.log(np.maximum(ratio, 1e-9)) - 0.8, 0, 3.5),
                           0.35 * np.clip(np.log(amount / 150.0), 0, 3.0))
    bin_risk, email_risk = f["card_bin_risk"], f["email_domain_risk"]
    new_acct = f["account_age_days"] < 30
    identity = new_acct * (3.0 * bin_risk + 3.5 * email_risk) + 1.2 * bin_risk + 0.8 * email_risk
    new_device = cnp & (f["is_new_device"] > 0)
    night = f["hour_of_day"] <= 5
    device = 1.6 * (night & new_device) + 0.5 * new_device + 0.35 * np.minimum(f["failed_logins_24h"], 6)
    av = c.avs_result
    signal = (1.6 * f["proxy_score"] ** 1.5 * (1 + (f["ip_country_mismatch"] > 0)) + 2.0 * f["device_risk_score"] ** 2
              + 0.9 * (f["avs_result"] == av.no_match) + 0.3 * (f["avs_result"] == av.partial))
    history = 0.12 * np.minimum(f["declines_7d"], 8) + 0.3 * ~hist
    protect = -1.3 * present - 0.7 * (f["three_ds_authenticated"] > 0) \
        - 0.4 * (f["entry_mode"] == c.entry_mode.card_on_file)
    m_risk, m_cb = f["merchant_risk_score"], f["merchant_chargeback_rate_90d"]
    gap = np.isnan(m_risk) | np.isnan(m_cb)
    merchant = np.where(gap, 0.8, 1.5 * np.nan_to_num(m_risk) + 8.0 * np.nan_to_num(m_cb))
    bsm = f["billing_shipping_match"] > 0
    mismatch = 0.5 * ~bsm * np.clip(np.log(amount / 100.0), 0, 2) + 0.3 * (f["is_international"] > 0)
    cats = c.categories("merchant_category")
    cat_eff = np.array([CATEGORY_EFFECT.get(x, 0.0) for x in cats])[f["merchant_category"]]
    app = np.isin(f["device_type"], [c.device_type.ios_app, c.device_type.android_app])
    wallet_cats = np.isin(f["merchant_category"], [c.merchant_category.gaming, c.merchant_category.digital_goods])
    wallet = progress * 3.2 * (f["payment_method"] == c.payment_method.digital_wallet) * wallet_cats * app \
        * (0.5 + 2.0 * f["device_risk_score"])
    novel = novel_effect * (f["channel"] == c.channel.recurring) * (f["entry_mode"] == c.entry_mode.card_on_file) \
        * new_device * ~bsm
    z = spec.signal_scale * (novel + velocity + amount_term + identity + device + signal + history + protect
                             + merchant + mismatch + cat_eff + wallet)
    exposure = np.where(gap, spec.compromise_prob_when_missing,
                        sigmoid(-5.2 + 6.5 * np.nan_to_num(m_risk) + 40.0 * np.nan_to_num(m_cb)))
    return z, exposure, spec.compromise_effect * cnp


def probability(spec: EventSpec, b0: float, z: np.ndarray, exposure: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """P(recorded label = 1): the exposure marginalised, then label noise."""
    p = exposure * sigmoid(b0 + z + effect) + (1 - exposure) * sigmoid(b0 + z)
    q, r = spec.missed_chargeback_rate, spec.false_review_rate
    return (1 - q) * p + r * (1 - p)


def solve_intercept(spec: EventSpec, z: np.ndarray, exposure: np.ndarray, effect: np.ndarray) -> float:
    """The intercept that makes the month's mean probability the spec's fraud rate.

    Newton steps on a monotone function, kept inside a shrinking bracket (bisection when a step leaves it)."""
    q, r = spec.missed_chargeback_rate, spec.false_review_rate
    target = spec.fraud_rate
    lo, hi = -25.0, 10.0
    b = -5.0
    for _ in range(60):
        s1, s0 = sigmoid(b + z + effect), sigmoid(b + z)
        p = exposure * s1 + (1 - exposure) * s0
        gap = ((1 - q) * p + r * (1 - p)).mean() - target
        if abs(gap) < 1e-13:
            break
        lo, hi = (b, hi) if gap < 0 else (lo, b)
        slope = (1 - q - r) * (exposure * s1 * (1 - s1) + (1 - exposure) * s0 * (1 - s0)).mean()
        step = b - gap / slope if slope > 0 else 0.5 * (lo + hi)
        b = step if lo < step < hi else 0.5 * (lo + hi)
    return b


def draw_labels(rng: np.random.Generator, spec: EventSpec, b0: float, z: np.ndarray, exposure: np.ndarray,
                effect: np.ndarray) -> np.ndarray:
    """The recorded labels: the hidden exposure drawn per row, then fraud, then the noise of recording."""
    exposed = rng.random(len(z)) < exposure
    p = sigmoid(b0 + z + effect * exposed)
    fraud = rng.random(len(z)) < p
    u = rng.random(len(z))
    return np.where(fraud, u >= spec.missed_chargeback_rate, u < spec.false_review_rate)


def from_features(spec: EventSpec, c: Codes, frame: "pd.DataFrame", terms: Mapping[str, Mapping[str, float]],
                  time_column: str = "event_time") -> np.ndarray:
    """The oracle recomputed from a feature table (e.g. the feature engine's output) and the manifest's
    per-month terms: equals the stored `fraud_probability` when the features are the ones the labels saw."""
    months = frame[time_column].dt.strftime("%Y-%m").to_numpy()
    f = as_codes(c, frame)
    out = np.full(len(frame), np.nan)
    for label in np.unique(months):
        if label not in terms:
            raise ValueError(f"no oracle terms for month {label!r}; the manifest has {sorted(terms)}")
        rows = months == label
        t = terms[label]
        z, exposure, effect = latent(spec, c, {k: v[rows] for k, v in f.items()}, t["wallet_progress"],
                                     t["velocity_decay"], spec.novel_pattern_effect)
        out[rows] = probability(spec, t["intercept"], z, exposure, effect)
    return out
