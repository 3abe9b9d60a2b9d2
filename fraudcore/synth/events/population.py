"""Who and what the events are about: customers, cards, devices, IPs, email domains, BINs, merchants.

Drawn once per (rows, seed, spec), so every month reuses them, as in real traffic. Internally every
entity is an index from 0; its id in the tables is index + 1. Times are seconds on the `Clock`.
Customers come in three kinds: regulars (accounts older than the data), newcomers (accounts opened during
the data, active for a while: their first purchase has no history) and fraud-ring accounts (new-account
fraud: opened, used a few times within days, abandoned). A ring account's purchases are drawn here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraudcore.schema import Schema
from fraudcore.synth.entities import CATEGORY_RISK, CATEGORY_TICKET, COUNTRY_WEIGHTS, MERCHANT_CATEGORY_WEIGHTS
from fraudcore.synth.events.clock import DAY, Clock
from fraudcore.synth.events.spec import EventSpec

REGULAR, NEWCOMER, RING = 0, 1, 2
# personal device types, in schema order of 'device_type' minus pos_terminal
APP_TYPES = ("ios_app", "android_app")
WEB_TYPES = ("desktop", "mobile_web", "tablet")
NEVER = np.iinfo(np.int64).max // 4


def _weights(cats: tuple[str, ...], table: dict[str, float]) -> np.ndarray:
    w = np.array([table[c] for c in cats], dtype=np.float64)
    return w / w.sum()


def _in_block(rng: np.random.Generator, groups: np.ndarray, want: np.ndarray) -> np.ndarray:
    """For each wanted group code, a random member index of that group (groups must cover every code)."""
    order = np.argsort(groups, kind="stable")
    sorted_g = groups[order]
    first = np.searchsorted(sorted_g, want, "left")
    size = np.searchsorted(sorted_g, want, "right") - first
    if (size == 0).any():
        raise ValueError(f"no entity in group {int(want[size == 0][0])}")
    return order[first + (rng.random(len(want)) * size).astype(np.int64)]


@dataclass(frozen=True)
class Population:
    # customers
    kind: np.ndarray            # REGULAR | NEWCOMER | RING
    opened: np.ndarray          # account opened (seconds; negative before the origin)
    active_until: np.ndarray    # last moment of activity (NEVER for regulars)
    rate: np.ndarray            # authorisations per active day
    ticket: np.ndarray          # typical amount (USD)
    country: np.ndarray         # billing country (schema code)
    email_domain: np.ndarray
    in_store: np.ndarray        # share of this customer's purchases made in store
    home_ip: np.ndarray
    # cards: customer c owns card c (primary) and, when second_card[c] >= 0, that card too
    card_owner: np.ndarray
    card_bin: np.ndarray
    card_seen: np.ndarray       # first_seen_at
    card_payment: np.ndarray    # schema code of payment_method
    second_card: np.ndarray
    # devices: customers' own (3 slots; -1 = none), then merchant terminals, then the fraud pool
    slot_device: np.ndarray     # (n_customers, 3)
    slot_from: np.ndarray       # (n_customers, 3): when the device comes into use
    device_type: np.ndarray     # schema code per device
    terminal0: int              # device index of merchant 0's terminal
    fraud_devices: np.ndarray   # device indices of the fraud pool
    # IPs: homes, then roaming, merchants, then the fraud pool
    ip_country: np.ndarray
    roaming_ips: np.ndarray
    merchant_ip0: int
    fraud_ips: np.ndarray
    # email domains and BINs
    domain_risk: np.ndarray
    domain_disposable: np.ndarray
    bin_country: np.ndarray
    bin_risk: np.ndarray
    # merchants
    merch_category: np.ndarray
    merch_country: np.ndarray
    merch_onboarded: np.ndarray
    merch_ticket: np.ndarray
    merch_base_risk: np.ndarray
    merch_popularity: np.ndarray
    # new-account fraud: the ring accounts' purchases (customer index, time)
    ring_cust: np.ndarray
    ring_time: np.ndarray

    @property
    def n_customers(self) -> int:
        return len(self.kind)


def draw_population(schema: Schema, spec: EventSpec, clock: Clock, rows: int, total_auths: int,
                    rng: np.random.Generator) -> Population:
    """`rows` sizes the steady population (daily volume); `total_auths` includes the lead-in."""
    countries = schema["country"].categories or ()
    cats = schema["merchant_category"].categories or ()
    dtypes = schema["device_type"].categories or ()
    pay = schema["payment_method"].categories or ()
    n_country = len(countries)
    country_w = _weights(countries, COUNTRY_WEIGHTS)
    end = clock.end
    body_days = (clock.starts[-1] - clock.starts[clock.lead_in]).days
    daily = rows / body_days

    # --- customers -------------------------------------------------------------------------
    mean_rate = spec.regular_rate_median * np.exp(spec.regular_rate_sigma ** 2 / 2)
    n_new = max(20, int(round(spec.newcomer_share * total_auths)))
    newcomer_daily = n_new * mean_rate * spec.newcomer_life_mean_days / (end / DAY)
    n_reg = max(100, int(round(max(daily - newcomer_daily, 0.3 * daily) / mean_rate)))
    n_ring = max(5, int(round(spec.ring_accounts_per_auth * total_auths)))
    n = n_reg + n_new + n_ring
    kind = np.repeat(np.array([REGULAR, NEWCOMER, RING], dtype=np.int8), [n_reg, n_new, n_ring])
    opened = np.concatenate([
        -np.round(rng.gamma(1.6, 500.0, n_reg) * DAY) - DAY,
        rng.integers(1, end, n_new), rng.integers(1, end, n_ring)]).astype(np.int64)
    life = np.concatenate([np.full(n_reg, NEVER, dtype=np.float64),
                           rng.exponential(spec.newcomer_life_mean_days * DAY, n_new),
                           rng.uniform(0.5, 3.0, n_ring) * DAY])
    active_until = np.where(kind == REGULAR, NEVER, opened + life.astype(np.int64)).astype(np.int64)
    rate = np.exp(rng.normal(np.log(spec.regular_rate_median), spec.regular_rate_sigma, n))
    ticket = np.exp(rng.normal(np.log(55.0), 0.8, n))
    country = rng.choice(n_country, n, p=country_w)
    app_user = rng.random(n) < 0.35
    in_store = np.where(app_user, 0.5, 1.2) * spec.in_store_share * rng.uniform(0.3, 1.7, n)
    in_store = np.clip(np.where(kind == RING, 0.0, in_store), 0.0, 0.95)

    # --- email domains: a popular head, a long tail, disposable domains for rings ----------------
    n_dom = 320
    disposable = np.zeros(n_dom, dtype=bool)
    disposable[-20:] = True
    domain_risk = np.where(disposable, rng.beta(4.0, 5.0, n_dom), rng.beta(1.1, 14.0, n_dom))
    pop = 1.0 / np.arange(1, n_dom + 1) ** 1.1
    pop[disposable] = 0.0
    email_domain = rng.choice(n_dom, n, p=pop / pop.sum())
    ring = kind == RING
    use_disposable = ring & (rng.random(n) < 0.7)
    email_domain[use_disposable] = n_dom - 20 + rng.integers(0, 20, int(use_disposable.sum()))

    # --- BINs and cards ------------------------------------------------------------------------
    n_bin = 40 * n_country
    bin_country = np.concatenate([np.arange(n_country), rng.choice(n_country, n_bin - n_country, p=country_w)])
    bin_risk = rng.beta(1.4, 13.0, n_bin)
    risky_bins = np.argsort(-bin_risk)[: n_bin // 10]
    foreign = rng.random(n) < 0.05
    card_country = np.where(foreign, rng.choice(n_country, n, p=country_w), country)
    primary_bin = _in_block(rng, bin_country, card_country)
    ring_bin = ring & (rng.random(n) < 0.6)
    primary_bin[ring_bin] = risky_bins[rng.integers(0, len(risky_bins), int(ring_bin.sum()))]
    has_second = (kind != RING) & (rng.random(n) < 0.3)
    n2 = int(has_second.sum())
    second_card = np.full(n, -1, dtype=np.int64)
    second_card[has_second] = n + np.arange(n2)
    card_owner = np.concatenate([np.arange(n), np.flatnonzero(has_second)])
    card_bin = np.concatenate([primary_bin, _in_block(rng, bin_country, country[has_second])])
    seen_primary = np.where(kind == REGULAR, np.maximum(opened, -np.round(rng.exponential(300.0, n) * DAY)),
                            opened).astype(np.int64)
    seen_second = np.maximum(opened[has_second], 0) + rng.integers(0, end, n2)
    card_seen = np.concatenate([seen_primary, seen_second]).astype(np.int64)
    pm = rng.choice(len(pay), len(card_owner), p=np.array([0.50, 0.42, 0.08, 0.0]))
    pm[:n][ring] = np.where(rng.random(int(ring.sum())) < 0.55, pay.index("prepaid_card"), pm[:n][ring])

    # --- devices: three slots a customer, merchant terminals, the fraud pool --------------------
    code = {c: i for i, c in enumerate(dtypes)}
    slot_type = np.empty((n, 3), dtype=np.int64)
    app_t = np.array([code[c] for c in APP_TYPES])
    web_t = np.array([code[c] for c in WEB_TYPES])
    slot_type[:, 0] = np.where(app_user, app_t[rng.integers(0, 2, n)], web_t[rng.choice(3, n, p=[0.55, 0.4, 0.05])])
    slot_type[:, 1] = web_t[rng.choice(3, n, p=[0.6, 0.2, 0.2])]
    slot_type[:, 2] = app_t[rng.integers(0, 2, n)]
    has_slot = np.ones((n, 3), dtype=bool)
    has_slot[:, 1] = rng.random(n) < 0.5
    has_slot[:, 2] = rng.random(n) < 0.25
    slot_from = np.empty((n, 3), dtype=np.int64)
    slot_from[:, 0] = opened
    slot_from[:, 1] = np.where(rng.random(n) < 0.7, opened, opened + rng.integers(0, end, n))
    slot_from[:, 2] = np.maximum(opened, 0) + rng.integers(0, end, n)
    n_slots = int(has_slot.sum())
    slot_device = np.full((n, 3), -1, dtype=np.int64)
    slot_device[has_slot] = np.arange(n_slots)
    n_merch = max(400, rows // 2000)
    terminal0 = n_slots
    n_fraud_dev = max(100, rows // 4000)
    fraud_devices = terminal0 + n_merch + np.arange(n_fraud_dev)
    fraud_dev_type = np.where(rng.random(n_fraud_dev) < 0.6, code["desktop"], app_t[rng.integers(0, 2, n_fraud_dev)])
    device_type = np.concatenate([slot_type[has_slot], np.full(n_merch, code["pos_terminal"]), fraud_dev_type])

    # --- IPs: homes (shared by ~1.3 customers of one country), roaming, merchants, fraud pool --------
    n_home = max(n_country, int(n / 1.3))
    home_country = np.concatenate([np.arange(n_country), rng.choice(n_country, n_home - n_country, p=country_w)])
    home_ip = _in_block(rng, home_country, country)
    n_roam = max(200, n // 50)
    roam_country = rng.choice(n_country, n_roam)
    m_country = rng.choice(n_country, n_merch, p=country_w)
    n_fraud_ip = max(50, rows // 20000)
    fraud_ip_country = rng.choice(n_country, n_fraud_ip, p=_weights(countries, {**{c: 0.03 for c in countries},
                                                                              "NG": 0.3, "OTHER": 0.3, "US": 0.15}))
    ip_country = np.concatenate([home_country, roam_country, m_country, fraud_ip_country])
    roaming_ips = n_home + np.arange(n_roam)
    merchant_ip0 = n_home + n_roam
    fraud_ips = merchant_ip0 + n_merch + np.arange(n_fraud_ip)

    # --- merchants ------------------------------------------------------------------------------
    m_cat = rng.choice(len(cats), n_merch, p=_weights(cats, MERCHANT_CATEGORY_WEIGHTS))
    onboard = np.where(rng.random(n_merch) < 0.85, -rng.gamma(1.5, 700.0, n_merch) * DAY - DAY,
                       rng.uniform(0, end, n_merch)).astype(np.int64)
    cat_ticket = np.array([CATEGORY_TICKET[c] for c in cats], dtype=np.float64)
    m_ticket = cat_ticket[m_cat] * np.exp(rng.normal(0, 0.4, n_merch))
    cat_risk = np.array([CATEGORY_RISK[c] for c in cats])
    base_risk = np.clip(rng.beta(2.0, 9.0, n_merch) + cat_risk[m_cat], 0.005, 0.98)
    popularity = rng.pareto(2.0, n_merch) + 0.05

    # --- ring accounts' purchases: a few within their short life --------------------------------
    ring_idx = np.flatnonzero(ring)
    k = 1 + rng.poisson(3.0, len(ring_idx))
    ring_cust = np.repeat(ring_idx, k)
    ring_time = opened[ring_cust] + (rng.random(len(ring_cust)) * (active_until - opened)[ring_cust]).astype(np.int64)
    ring_time = np.minimum(ring_time, end - 1)
    order = np.argsort(ring_time, kind="stable")

    return Population(kind, opened, active_until, rate, ticket, country, email_domain, in_store, home_ip,
                      card_owner, card_bin, card_seen, pm, second_card, slot_device, slot_from, device_type,
                      terminal0, fraud_devices, ip_country, roaming_ips, merchant_ip0, fraud_ips, domain_risk,
                      disposable, bin_country, bin_risk, m_cat, m_country, onboard, m_ticket, base_risk,
                      popularity, ring_cust[order], ring_time[order])
