"""Repeating entities: customers (with their cards and devices) and merchants.

Entities are drawn once per seed, so every month's transactions reuse the same customers and
merchants, as in real traffic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraudcore.schema import Schema

# Category mixes. Names come from the schema; these are only the weights, in schema order.
MERCHANT_CATEGORY_WEIGHTS = {
    "grocery": 0.20, "restaurants": 0.16, "fashion": 0.12, "electronics": 0.08, "travel": 0.07,
    "digital_goods": 0.07, "gaming": 0.05, "gift_cards": 0.03, "utilities": 0.07, "health": 0.07, "other": 0.08,
}
CATEGORY_TICKET = {  # median ticket in USD per merchant category
    "grocery": 45, "restaurants": 35, "fashion": 80, "electronics": 220, "travel": 380, "digital_goods": 25,
    "gaming": 30, "gift_cards": 60, "utilities": 90, "health": 70, "other": 60,
}
CATEGORY_RISK = {  # shift of merchant base risk per category
    "grocery": -0.08, "restaurants": -0.06, "fashion": 0.0, "electronics": 0.08, "travel": 0.05,
    "digital_goods": 0.10, "gaming": 0.10, "gift_cards": 0.15, "utilities": -0.10, "health": -0.05, "other": 0.0,
}
COUNTRY_WEIGHTS = {"US": 0.46, "GB": 0.10, "DE": 0.07, "FR": 0.06, "ES": 0.04, "CA": 0.07, "BR": 0.06,
                   "MX": 0.05, "NG": 0.02, "IN": 0.03, "OTHER": 0.04}


def _weights(schema_cats: tuple[str, ...], table: dict[str, float]) -> np.ndarray:
    w = np.array([table[c] for c in schema_cats], dtype=np.float64)
    return w / w.sum()


@dataclass(frozen=True)
class Entities:
    # customers
    cust_open_day: np.ndarray      # day offset from the dataset start (negative = opened before)
    cust_ticket: np.ndarray        # typical amount
    cust_rate: np.ndarray          # transactions per day
    cust_activity: np.ndarray      # sampling weight
    cust_country: np.ndarray       # code into schema 'country'
    cust_email_risk: np.ndarray
    cust_card_bin_risk: np.ndarray
    cust_card_open_day: np.ndarray
    cust_payment: np.ndarray       # code into schema 'payment_method'
    cust_app_user: np.ndarray      # bool: mostly uses apps
    # merchants
    merch_category: np.ndarray
    merch_country: np.ndarray
    merch_onboard_day: np.ndarray
    merch_ticket: np.ndarray
    merch_base_risk: np.ndarray
    merch_popularity: np.ndarray


def draw_entities(schema: Schema, n_customers: int, n_merchants: int, total_days: int,
                  rng: np.random.Generator) -> Entities:
    """Draw customer and merchant tables. Some customers open accounts during the period."""
    countries = schema["country"].categories or ()
    cats = schema["merchant_category"].categories or ()
    pay = schema["payment_method"].categories or ()
    country_w = _weights(countries, COUNTRY_WEIGHTS)

    # 75% of customers existed before the start (account age up to ~8 years), 25% join during the period
    existing = rng.random(n_customers) < 0.75
    open_day = np.where(existing, -rng.gamma(1.6, 500.0, n_customers), rng.uniform(0, total_days, n_customers))
    ticket = np.exp(rng.normal(np.log(55.0), 0.8, n_customers))
    rate = np.exp(rng.normal(np.log(0.45), 0.9, n_customers))
    activity = rate * np.exp(rng.normal(0, 0.3, n_customers))
    cust_country = rng.choice(len(countries), n_customers, p=country_w)
    email_risk = rng.beta(1.1, 14.0, n_customers)
    bin_risk = rng.beta(1.4, 13.0, n_customers)
    card_open = open_day + rng.exponential(200.0, n_customers)
    payment = rng.choice(len(pay), n_customers, p=np.array([0.44, 0.38, 0.06, 0.12]))
    app_user = rng.random(n_customers) < 0.35

    m_cat = rng.choice(len(cats), n_merchants, p=_weights(cats, MERCHANT_CATEGORY_WEIGHTS))
    m_country = rng.choice(len(countries), n_merchants, p=country_w)
    onboard = np.where(rng.random(n_merchants) < 0.85, -rng.gamma(1.5, 700.0, n_merchants),
                       rng.uniform(0, total_days, n_merchants))
    cat_ticket = np.array([CATEGORY_TICKET[c] for c in cats], dtype=np.float64)
    m_ticket = cat_ticket[m_cat] * np.exp(rng.normal(0, 0.4, n_merchants))
    cat_risk = np.array([CATEGORY_RISK[c] for c in cats])
    base_risk = np.clip(rng.beta(2.0, 9.0, n_merchants) + cat_risk[m_cat], 0.005, 0.98)
    popularity = rng.pareto(2.0, n_merchants) + 0.05

    return Entities(open_day, ticket, rate, activity, cust_country, email_risk, bin_risk, card_open, payment,
                    app_user, m_cat, m_country, onboard, m_ticket, base_risk, popularity)
