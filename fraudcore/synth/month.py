"""One month of transactions: observable fields, the latent fraud process, the oracle and labels.

Fraud depends on the observable fields and the date only, except for one hidden state (a compromised
merchant) whose probability given the observable merchant fields is known, so the oracle column is
exactly P(recorded label = 1 | observable row, date): the Bayes-optimal score.
Hidden attack sessions shape where rows fall in feature space; they never enter the label directly.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from fraudcore.schema import Schema
from fraudcore.synth.calendar import HOLIDAY_BOOST, HOUR_PROFILE, WEEKDAY_PROFILE, MonthSpan
from fraudcore.synth.entities import Entities
from fraudcore.synth.spec import GeneratorSpec

NORMAL, VELOCITY, TAKEOVER, NEW_ACCOUNT, WALLET, NOVEL = range(6)
CATEGORY_EFFECT = {"gift_cards": 0.7, "digital_goods": 0.5, "electronics": 0.4, "gaming": 0.3, "travel": 0.2,
                   "grocery": -0.5, "utilities": -0.7, "restaurants": -0.4, "health": -0.3}
CURRENCY_OF_COUNTRY = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "ES": "EUR", "CA": "CAD",
                       "BR": "BRL", "MX": "MXN", "NG": "OTHER", "IN": "OTHER", "OTHER": "USD"}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


class _Codes:
    """Category name -> code lookups derived from the schema."""

    def __init__(self, schema: Schema):
        self.schema = schema

    def __call__(self, field: str, value: str) -> int:
        return (self.schema[field].categories or ()).index(value)

    def many(self, field: str, values: list[str]) -> np.ndarray:
        return np.array([self(field, v) for v in values])


def _pick(rng: np.random.Generator, mask: np.ndarray, codes: np.ndarray, probs: list[float],
          out: np.ndarray) -> None:
    """In place: rows under mask get one of `codes` with `probs`."""
    k = int(mask.sum())
    if k:
        out[mask] = codes[rng.choice(len(codes), k, p=np.asarray(probs) / np.sum(probs))]


def merchant_month_state(spec: GeneratorSpec, ent: Entities, month_idx: int, month_start_day: float,
                         seed: int) -> dict[str, np.ndarray]:
    """Per merchant for this month: the risk feed's values (or gaps) and the hidden compromise state."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2, month_idx]))
    n = len(ent.merch_base_risk)
    risk_obs = np.clip(ent.merch_base_risk + rng.normal(0, 0.03, n), 0.0, 1.0)
    cb_rate = np.clip(ent.merch_base_risk * 0.015 * np.exp(rng.normal(0, 0.3, n)), 0.0, 1.0)
    young = (month_start_day - ent.merch_onboard_day) < 120
    p_missing = spec.merchant_feed_missing_rate + spec.merchant_feed_missing_young_extra * young \
        + spec.feed_outage_rate
    missing = rng.random(n) < np.clip(p_missing, 0, 1)
    compromise_prob = np.where(missing, spec.compromise_prob_when_missing,
                               sigmoid(-5.2 + 6.5 * risk_obs + 40.0 * cb_rate))
    compromised = rng.random(n) < compromise_prob
    return {"risk": risk_obs, "cb_rate": cb_rate, "missing": missing,
            "compromise_prob": compromise_prob, "compromised": compromised}


def generate_month(schema: Schema, spec: GeneratorSpec, ent: Entities, month: MonthSpan, n: int,
                   seed: int) -> pd.DataFrame:
    """Generate `n` transactions of one month; deterministic in (seed, month.index, n)."""
    month_idx, month_start, month_end = month.index, month.start, month.end
    period_start, holiday_days = month.period_start, month.holiday_days
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, month_idx]))
    code = _Codes(schema)
    d0 = float((month_start - period_start).days)
    ndays = (month_end - month_start).days
    dates = [month_start + dt.timedelta(days=i) for i in range(ndays)]
    day_w = np.array([WEEKDAY_PROFILE[d.weekday()] * (HOLIDAY_BOOST if d in holiday_days else 1.0) for d in dates])

    # --- when, who, where -------------------------------------------------------------------
    day = rng.choice(ndays, n, p=day_w / day_w.sum())
    hour = rng.choice(24, n, p=HOUR_PROFILE / HOUR_PROFILE.sum())
    t = d0 + day + (hour + rng.random(n)) / 24.0
    session = np.zeros(n, dtype=np.int8)
    progress = np.clip((month_idx - spec.new_pattern_start_month)
                       / max(1, spec.new_pattern_full_month - spec.new_pattern_start_month), 0.0, 1.0)
    if month_idx < spec.new_pattern_start_month:
        progress = 0.0
    rates = np.array([spec.velocity_attack_rate, spec.takeover_attack_rate, spec.new_account_attack_rate,
                      spec.wallet_attack_max_rate * progress, spec.novel_pattern_rate])
    u = rng.random(n)
    edges = np.cumsum(rates)
    session = np.where(u < edges[-1], 1 + np.searchsorted(edges, u, side="right"), NORMAL).astype(np.int8)

    eligible_c = ent.cust_open_day < d0 + ndays
    w_c = ent.cust_activity * eligible_c
    cust = rng.choice(len(w_c), n, p=w_c / w_c.sum())
    late = t < ent.cust_open_day[cust]  # account opened this month: move the transaction after opening
    t[late] = ent.cust_open_day[cust][late] + rng.random(late.sum()) * (d0 + ndays - ent.cust_open_day[cust][late])
    eligible_m = ent.merch_onboard_day < d0
    w_m = ent.merch_popularity * eligible_m
    merch = rng.choice(len(w_m), n, p=w_m / w_m.sum())
    risky_cats = code.many("merchant_category", ["digital_goods", "gift_cards", "gaming"])
    risky_merchants = np.flatnonzero(np.isin(ent.merch_category, risky_cats) & eligible_m)
    wallet_merchants = np.flatnonzero(np.isin(ent.merch_category, risky_cats[[0, 2]]) & eligible_m)
    for s, pool in ((VELOCITY, risky_merchants), (WALLET, wallet_merchants)):
        m = session == s
        if m.any() and len(pool):
            merch[m] = pool[rng.integers(0, len(pool), m.sum())]

    # --- transaction attributes -------------------------------------------------------------
    ch = code.many("channel", ["ecommerce", "in_app", "in_store", "mail_phone", "recurring"])
    channel = np.empty(n, dtype=np.int64)
    app = ent.cust_app_user[cust]
    _pick(rng, app, ch, [0.25, 0.45, 0.22, 0.02, 0.06], channel)
    _pick(rng, ~app, ch, [0.42, 0.08, 0.38, 0.04, 0.08], channel)
    _pick(rng, session == VELOCITY, ch[[0]], [1.0], channel)
    _pick(rng, session == TAKEOVER, ch[[0, 1]], [0.6, 0.4], channel)
    _pick(rng, session == NEW_ACCOUNT, ch[[0, 1]], [0.7, 0.3], channel)
    _pick(rng, session == WALLET, ch[[1]], [1.0], channel)
    _pick(rng, session == NOVEL, ch[[4]], [1.0], channel)
    ecom, inapp, store, mail, recur = (channel == c for c in ch)

    dv = code.many("device_type", ["desktop", "mobile_web", "ios_app", "android_app", "tablet", "pos_terminal"])
    device = np.empty(n, dtype=np.int64)
    _pick(rng, store, dv[[5]], [1.0], device)
    _pick(rng, inapp, dv[[2, 3]], [0.5, 0.5], device)
    _pick(rng, ecom, dv[[0, 1, 4]], [0.45, 0.45, 0.10], device)
    _pick(rng, mail, dv[[0]], [1.0], device)
    _pick(rng, recur, dv[[0, 1]], [0.6, 0.4], device)

    em = code.many("entry_mode", ["chip", "contactless", "swipe", "keyed", "tokenized", "card_on_file"])
    entry = np.empty(n, dtype=np.int64)
    _pick(rng, store, em[[0, 1, 2]], [0.55, 0.37, 0.08], entry)
    _pick(rng, ecom, em[[3, 4, 5]], [0.45, 0.20, 0.35], entry)
    _pick(rng, inapp, em[[4, 5]], [0.6, 0.4], entry)
    _pick(rng, mail, em[[3]], [1.0], entry)
    _pick(rng, recur, em[[5]], [1.0], entry)
    _pick(rng, session == VELOCITY, em[[3]], [1.0], entry)
    _pick(rng, session == WALLET, em[[4]], [1.0], entry)
    _pick(rng, session == NOVEL, em[[5]], [1.0], entry)

    payment = ent.cust_payment[cust].copy()
    pm = code.many("payment_method", ["credit_card", "debit_card", "prepaid_card", "digital_wallet"])
    _pick(rng, session == NEW_ACCOUNT, pm, [0.35, 0.15, 0.4, 0.1], payment)
    _pick(rng, session == WALLET, pm[[3]], [1.0], payment)

    m_cat = ent.merch_category[merch]
    m_country = ent.merch_country[merch]
    c_country = ent.cust_country[cust]
    amount = np.exp(0.5 * np.log(ent.cust_ticket[cust]) + 0.5 * np.log(ent.merch_ticket[merch])
                    + rng.normal(0, 0.55, n)) * spec.seasonal_amount_factor
    vel = session == VELOCITY
    tiny = vel & (rng.random(n) < 0.5)
    amount[tiny] = rng.uniform(0.5, 5.0, tiny.sum())
    ato = session == TAKEOVER
    amount[ato] *= np.exp(rng.normal(1.6, 0.5, ato.sum()))
    amount[session == WALLET] *= 2.0
    amount[session == NOVEL] *= 3.0
    amount = np.round(np.clip(amount, 0.5, 50000.0), 2)

    countries = schema["country"].categories or ()
    cur_map = code.many("currency", [CURRENCY_OF_COUNTRY[c] for c in countries])
    currency = cur_map[m_country]
    odd = rng.random(n) < 0.04
    currency[odd] = code("currency", "USD")
    is_international = c_country != m_country
    card_present = store.copy()
    bsm = store | (rng.random(n) < 0.88)
    new_device = ~store & (rng.random(n) < 0.035)
    three_ds = (ecom | inapp) & (rng.random(n) < 0.45)
    latam = np.isin(m_country, code.many("country", ["BR", "MX"]))
    installments = np.where(latam & (rng.random(n) < 0.45), rng.choice([2, 3, 6, 10, 12], n),
                            np.where(rng.random(n) < 0.03, rng.integers(2, 7, n), 1))

    # --- customer behaviour -----------------------------------------------------------------
    rate = ent.cust_rate[cust]
    tx24 = rng.poisson(rate)
    tx7 = tx24 + rng.poisson(rate * 6)
    extra = np.where(vel, 5 + rng.poisson(10, n), 0)
    tx24 = tx24 + extra
    tx7 = tx7 + extra
    amt24 = tx24 * ent.cust_ticket[cust] * np.exp(rng.normal(0, 0.3, n))
    avg30 = ent.cust_ticket[cust] * np.exp(rng.normal(0, 0.12, n))
    std30 = avg30 * rng.uniform(0.25, 0.9, n)
    cb90 = rng.poisson(0.015, n).astype(np.float64)
    declines_base = rng.poisson(0.15, n)
    declines = declines_base + np.where(vel, rng.poisson(3, n), 0)
    distinct_base = np.minimum(np.maximum(tx7, 1), 1 + rng.poisson(0.4 * tx7))
    distinct = distinct_base + np.where(vel, rng.poisson(4, n), 0)
    since_last = np.clip(rng.exponential(1.0 / np.maximum(rate, 0.03)), 0, 365)
    failed_base = rng.poisson(0.04, n)
    failed = failed_base + np.where(ato, 1 + rng.poisson(2, n), 0)

    # --- attack-session fingerprints --------------------------------------------------------
    novel = session == NOVEL
    new_device |= (ato & (rng.random(n) < 0.8)) | novel
    bsm &= ~novel
    night_shift = ato & (rng.random(n) < 0.6)
    t[night_shift] = np.floor(t[night_shift]) + rng.uniform(0, 6, night_shift.sum()) / 24.0
    ip_mismatch = rng.random(n) < (0.03 + 0.3 * is_international)
    ip_mismatch |= ato & (rng.random(n) < 0.5)
    proxy = rng.beta(0.7, 14, n)
    sel = ato & (rng.random(n) < 0.6)
    proxy[sel] = rng.beta(3, 4, sel.sum())
    bsm &= ~(ato & (rng.random(n) < 0.6))
    device_risk = rng.beta(1, 18, n)
    device_risk[ato] = rng.beta(2, 6, ato.sum())
    wal = session == WALLET
    device_risk[wal] = rng.beta(3, 5, wal.sum())
    proxy[wal] = rng.beta(2, 5, wal.sum())
    ip_vel_base = 1 + rng.poisson(0.4, n)
    ip_vel = ip_vel_base + np.where(vel, 3 + rng.poisson(15, n), 0)

    avs_codes = code.many("avs_result", ["match", "partial", "no_match", "unavailable"])
    avs = np.empty(n, dtype=np.int64)
    _pick(rng, store, avs_codes[[3]], [1.0], avs)
    _pick(rng, ~store, avs_codes, [0.84, 0.07, 0.03, 0.06], avs)

    # --- time features and accounts ---------------------------------------------------------
    acct_age = np.floor(np.maximum(t - ent.cust_open_day[cust], 0))
    card_age = np.floor(np.maximum(t - ent.cust_card_open_day[cust], 0))
    card_age = np.minimum(card_age, acct_age)
    email_risk = ent.cust_email_risk[cust].copy()
    bin_risk = ent.cust_card_bin_risk[cust].copy()
    customer_id = cust.astype(np.int64) + 1
    na = session == NEW_ACCOUNT
    k = int(na.sum())
    if k:  # fraud-ring accounts: fresh customers with risky identities
        acct_age[na] = np.floor(rng.uniform(0, 20, k))
        card_age[na] = np.floor(acct_age[na] * rng.random(k))
        email_risk[na] = rng.beta(4, 5, k)
        bin_risk[na] = rng.beta(3, 6, k)
        _pick(rng, na, avs_codes[[0, 2]], [0.6, 0.4], avs)
        three_ds[na] = False
        customer_id[na] = 10_000_000_000 + month_idx * 100_000_000 + np.arange(k)

    # missing customer history, concentrated in new accounts
    p_hist_missing = np.where(acct_age < 21, spec.history_missing_new_customer, spec.history_missing_established)
    hist_missing = rng.random(n) < p_hist_missing
    for arr in (avg30, std30, cb90, since_last):
        arr[hist_missing] = np.nan

    # merchant attributes for this month, with feed gaps
    mstate = merchant_month_state(spec, ent, month_idx, d0, seed)
    feed_missing = mstate["missing"][merch]
    m_risk = np.where(feed_missing, np.nan, mstate["risk"][merch])
    m_cb = np.where(feed_missing, np.nan, mstate["cb_rate"][merch])
    m_age = np.floor(np.maximum(t - ent.merch_onboard_day[merch], 0))

    hour_of_day = np.floor((t % 1.0) * 24).astype(np.int64)
    start_weekday = month_start.weekday()
    day_index = np.floor(t - d0).astype(np.int64)
    day_of_week = (start_weekday + day_index) % 7
    hol = np.array([d in holiday_days for d in dates])
    is_holiday = hol[np.clip(day_index, 0, ndays - 1)]

    # --- the latent fraud process -----------------------------------------------------------
    cats = schema["merchant_category"].categories or ()
    cat_eff = np.array([CATEGORY_EFFECT.get(c, 0.0) for c in cats])[m_cat]
    hist = ~hist_missing
    decay = 1.0 - spec.velocity_effect_decay * month_idx / max(1, spec.months - 1)
    velocity_term = decay * (1.1 * _relu(np.log1p(tx24) - np.log1p(4)) + 0.9 * _relu(np.log1p(ip_vel) - np.log1p(3)))
    ratio = amount / np.where(hist, avg30, 1.0)
    amount_term = np.where(hist, 0.9 * np.clip(np.log(ratio) - 0.8, 0, 3.5),
                           0.35 * np.clip(np.log(amount / 150.0), 0, 3.0))
    new_acct = acct_age < 30
    identity_term = new_acct * (3.0 * bin_risk + 3.5 * email_risk) + 1.2 * bin_risk + 0.8 * email_risk
    night = hour_of_day <= 5
    device_term = 1.6 * (night & new_device) + 0.5 * new_device + 0.35 * np.minimum(failed, 6)
    signal_term = (1.6 * proxy ** 1.5 * (1 + ip_mismatch) + 2.0 * device_risk ** 2
                   + 0.9 * (avs == avs_codes[2]) + 0.3 * (avs == avs_codes[1]))
    history_term = 0.6 * np.minimum(np.nan_to_num(cb90), 3) + 0.12 * np.minimum(declines, 8) + 0.3 * hist_missing
    protect_term = -1.3 * card_present - 0.7 * three_ds - 0.4 * (entry == em[5])
    merchant_term = np.where(feed_missing, 0.8, 1.5 * np.nan_to_num(m_risk) + 8.0 * np.nan_to_num(m_cb))
    mismatch_term = 0.5 * (~bsm) * np.clip(np.log(amount / 100.0), 0, 2) + 0.3 * is_international
    app_device = np.isin(device, dv[[2, 3]])
    wallet_term = progress * 3.2 * (payment == pm[3]) * np.isin(m_cat, risky_cats[[0, 2]]) * app_device \
        * (0.5 + 2.0 * device_risk)
    novel_term = spec.novel_pattern_effect * recur * (entry == em[5]) * new_device * (~bsm)
    z = spec.signal_scale * (novel_term + velocity_term + amount_term + identity_term + device_term + signal_term
                             + history_term + protect_term + merchant_term + mismatch_term + cat_eff + wallet_term)
    cnp = ~card_present
    pi = mstate["compromise_prob"][merch]
    hit = mstate["compromised"][merch]
    delta = spec.compromise_effect * cnp

    q, r = spec.missed_chargeback_rate, spec.false_review_rate

    def oracle_at(b0: float) -> np.ndarray:
        p = pi * sigmoid(b0 + z + delta) + (1 - pi) * sigmoid(b0 + z)
        return (1 - q) * p + r * (1 - p)

    lo, hi = -20.0, 5.0  # solve the intercept so the month's expected label rate is the spec's
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if oracle_at(mid).mean() < spec.fraud_rate else (lo, mid)
    b0 = 0.5 * (lo + hi)
    oracle = oracle_at(b0)
    p_row = sigmoid(b0 + z + delta * hit)  # the realised hidden state drives the actual outcome
    label = rng.random(n) < (1 - q) * p_row + r * (1 - p_row)

    # --- assemble ---------------------------------------------------------------------------
    if spec.stale_velocity:
        # What a daily batch job would serve: yesterday's counters, blind to today's burst. The label
        # above still follows the true (fresh) values; only the observed columns change.
        tx24, tx7 = tx24 - extra, tx7 - extra
        amt24 = np.where(tx24 + extra > 0, amt24 * tx24 / np.maximum(tx24 + extra, 1), 0.0)
        declines, failed, ip_vel = declines_base, failed_base, ip_vel_base
        distinct = np.minimum(np.maximum(distinct_base, 1), np.maximum(tx7, 1))
    period_ns = pd.Timestamp(period_start, tz="UTC").value
    event_ns = period_ns + np.round(t * 86_400e9).astype(np.int64)
    cols: dict[str, object] = {
        "event_time": event_ns, "customer_id": customer_id, "merchant_id": merch.astype(np.int64) + 1,
        "amount": amount, "currency": currency, "payment_method": payment, "device_type": device,
        "channel": channel, "entry_mode": entry, "card_present": card_present, "is_international": is_international,
        "billing_shipping_match": bsm, "is_new_device": new_device, "three_ds_authenticated": three_ds,
        "installments": installments, "transactions_24h": tx24, "transactions_7d": tx7, "amount_24h": amt24,
        "avg_amount_30d": avg30, "std_amount_30d": std30, "chargebacks_90d": cb90, "declines_7d": declines,
        "distinct_merchants_7d": distinct, "days_since_last_txn": since_last, "failed_logins_24h": failed,
        "merchant_category": m_cat, "merchant_risk_score": m_risk, "country": m_country,
        "merchant_age_days": m_age, "merchant_chargeback_rate_90d": m_cb,
        "merchant_avg_ticket": ent.merch_ticket[merch], "hour_of_day": hour_of_day, "day_of_week": day_of_week,
        "is_holiday": is_holiday, "account_age_days": acct_age, "card_age_days": card_age, "ip_velocity": ip_vel,
        "card_bin_risk": bin_risk, "email_domain_risk": email_risk, "ip_country_mismatch": ip_mismatch,
        "device_risk_score": device_risk, "proxy_score": proxy, "avs_result": avs,
        "is_fraud": label, "fraud_probability": oracle,
    }
    order = np.argsort(event_ns, kind="stable")
    cols = {k: np.asarray(v)[order] for k, v in cols.items()}
    cols["transaction_id"] = (month_idx + 1) * 10_000_000_000 + np.arange(n, dtype=np.int64)
    return to_frame(schema, cols)


def to_frame(schema: Schema, cols: dict[str, object]) -> pd.DataFrame:
    """Cast raw columns to the canonical in-memory dtypes declared by the schema.

    float -> float32 (NaN = missing); int -> int32, or float32 with NaN when nullable; bool -> bool;
    category -> pandas Categorical over the schema's categories; timestamp -> datetime64[ns, UTC].
    The label is int8 and the oracle float64.
    """
    out: dict[str, object] = {}
    for f in schema.fields:
        if f.name not in cols:
            continue
        v = np.asarray(cols[f.name])
        if f.role == "label":
            out[f.name] = v.astype(np.int8)
        elif f.role == "oracle":
            out[f.name] = v.astype(np.float64)
        elif f.dtype == "timestamp":
            out[f.name] = pd.to_datetime(v, utc=True)
        elif f.dtype == "category":
            out[f.name] = pd.Categorical.from_codes(v.astype(np.int32), categories=list(f.categories or ()))
        elif f.dtype == "bool":
            out[f.name] = v.astype(bool)
        elif f.dtype == "float" or (f.dtype == "int" and f.nullable):
            out[f.name] = v.astype(np.float32)
        elif f.dtype == "int":
            out[f.name] = v.astype(np.int64 if f.role == "id" else np.int32)
        else:
            out[f.name] = v
    return pd.DataFrame(out)
