"""One month of legitimate traffic: purchases of regulars and newcomers, and the logins before them.

Rows are columns of a plain dict (see `COLUMNS`); attack sessions (attacks.py) produce the same columns.
A row's `session` is hidden: it shapes where the row falls in feature space and never enters the label.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraudcore.synth.events.clock import sample_times
from fraudcore.synth.events.codes import Codes
from fraudcore.synth.events.population import NEWCOMER, REGULAR, Population
from fraudcore.synth.events.spec import EventSpec
from fraudcore.synth.events.world import World

NORMAL, CARD_TESTING, TAKEOVER, NEW_ACCOUNT, WALLET, COMPROMISE, NOVEL = range(7)
COLUMNS = ("t", "cust", "card", "merch", "device", "ip", "cents", "currency", "payment", "device_type",
           "channel", "entry", "present", "bsm", "three_ds", "installments", "avs", "device_risk", "proxy",
           "approved", "session")
LOGIN_COLUMNS = ("t", "cust", "device", "ip", "success")


def weighted_pick(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """k indices drawn with probability proportional to `weights` (inverse CDF; faster than choice(p=))."""
    cdf = np.cumsum(weights, dtype=np.float64)
    return np.minimum(np.searchsorted(cdf, rng.random(k) * cdf[-1], "right"), len(weights) - 1)


def pick_in_group(rng: np.random.Generator, group: np.ndarray, weights: np.ndarray, want: np.ndarray) -> np.ndarray:
    """For each wanted group, an index of that group drawn in proportion to `weights` (groups must be non-empty
    in weight)."""
    order = np.argsort(group, kind="stable")
    g, cdf = group[order], np.cumsum(weights[order], dtype=np.float64)
    first = np.searchsorted(g, want, "left")
    last = np.searchsorted(g, want, "right") - 1
    base = np.where(first > 0, cdf[np.maximum(first - 1, 0)], 0.0)
    u = base + rng.random(len(want)) * (cdf[last] - base)
    return order[np.clip(np.searchsorted(cdf, u, "right"), first, last)]


def choose(rng: np.random.Generator, options: np.ndarray, probs: list[float], k: int) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    return np.asarray(options)[weighted_pick(rng, p, k)]


def finish(rng: np.random.Generator, c: Codes, pop: Population, spec: EventSpec, cols: dict[str, np.ndarray]) -> None:
    """In place: the fields that follow from the ones a session sets (device type, currency, instalments)."""
    k = len(cols["t"])
    cols["device_type"] = pop.device_type[cols["device"]]
    m_country = pop.merch_country[cols["merch"]]
    currency = c.currency_of_country[m_country].copy()
    currency[rng.random(k) < 0.04] = c.currency.USD
    cols["currency"] = currency
    latam = np.isin(m_country, [c.country.BR, c.country.MX])
    cols["installments"] = np.where(latam & (rng.random(k) < 0.45), rng.choice([2, 3, 6, 10, 12], k),
                                    np.where(rng.random(k) < 0.03, rng.integers(2, 7, k), 1)).astype(np.int64)
    cols["present"] = cols["channel"] == c.channel.in_store
    cols["cents"] = np.maximum(np.round(cols.pop("amount") * 100.0), 50).astype(np.int64)


def base_amount(rng: np.random.Generator, pop: Population, spec: EventSpec, cust: np.ndarray,
                merch: np.ndarray) -> np.ndarray:
    k = len(cust)
    return np.exp(0.5 * np.log(pop.ticket[cust]) + 0.5 * np.log(pop.merch_ticket[merch])
                  + rng.normal(0, 0.55, k)) * spec.seasonal_amount_factor


def local_merchants(rng: np.random.Generator, pop: Population, s0: int, country: np.ndarray) -> np.ndarray:
    """A merchant per row: mostly from the row's country, in proportion to popularity; onboarded before s0."""
    w = pop.merch_popularity * (pop.merch_onboarded < s0)
    k = len(country)
    present = np.bincount(pop.merch_country, weights=w, minlength=country.max() + 1 if k else 1) > 0
    local = (rng.random(k) < 0.85) & present[country]
    out = weighted_pick(rng, w, k)
    if local.any():
        out[local] = pick_in_group(rng, pop.merch_country, w, country[local])
    return out


def legit_month(rng: np.random.Generator, world: World, k: int,
                n: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """`n` legitimate authorisations in month k, and their logins."""
    c, pop, spec, clock = world.codes, world.pop, world.spec, world.clock
    s0, s1 = clock.window(k)
    lo = np.maximum(pop.opened, s0)
    hi = np.minimum(pop.active_until, s1)
    w = pop.rate * np.clip(hi - lo, 0, None) * np.isin(pop.kind, [REGULAR, NEWCOMER])
    cust = weighted_pick(rng, w, n)
    t = sample_times(rng, clock, k, lo[cust], hi[cust])
    store = rng.random(n) < pop.in_store[cust]
    card = cust.copy()
    second = pop.second_card[cust]
    use2 = (second >= 0) & (rng.random(n) < 0.4)
    use2[use2] = pop.card_seen[second[use2]] <= t[use2]
    card[use2] = second[use2]
    merch = local_merchants(rng, pop, s0, pop.country[cust])

    slot = choose(rng, np.arange(3), [0.75, 0.2, 0.05], n)
    dev = pop.slot_device[cust, slot]
    usable = (dev >= 0) & (pop.slot_from[cust, slot] <= t)
    dev = np.where(usable, dev, pop.slot_device[cust, 0])
    device = np.where(store, pop.terminal0 + merch, dev)
    dtype = pop.device_type[device]
    app = np.isin(dtype, [c.device_type.ios_app, c.device_type.android_app])
    ch = c.channel
    channel = np.where(app, choose(rng, np.array([ch.in_app, ch.ecommerce, ch.recurring]), [0.7, 0.2, 0.1], n),
                       choose(rng, np.array([ch.ecommerce, ch.recurring, ch.mail_phone]), [0.8, 0.12, 0.08], n))
    channel[store] = ch.in_store
    roam = ~store & (rng.random(n) < spec.roaming_ip_rate)
    ip = np.where(store, pop.merchant_ip0 + merch, pop.home_ip[cust])
    ip[roam] = pop.roaming_ips[rng.integers(0, len(pop.roaming_ips), int(roam.sum()))]

    em = c.entry_mode
    entry = np.empty(n, dtype=np.int64)
    entry[store] = choose(rng, np.array([em.chip, em.contactless, em.swipe]), [0.55, 0.37, 0.08], int(store.sum()))
    web = channel == ch.ecommerce
    entry[web] = choose(rng, np.array([em.keyed, em.tokenized, em.card_on_file]), [0.45, 0.2, 0.35], int(web.sum()))
    inapp = channel == ch.in_app
    entry[inapp] = choose(rng, np.array([em.tokenized, em.card_on_file]), [0.6, 0.4], int(inapp.sum()))
    entry[channel == ch.mail_phone] = em.keyed
    entry[channel == ch.recurring] = em.card_on_file
    payment = pop.card_payment[card].copy()
    wallet = app & ~store & (rng.random(n) < 0.25)
    payment[wallet] = c.payment_method.digital_wallet
    av = c.avs_result
    avs = np.where(store, av.unavailable,
                   choose(rng, np.array([av.match, av.partial, av.no_match, av.unavailable]),
                          [0.84, 0.07, 0.03, 0.06], n))
    prepaid = payment == c.payment_method.prepaid_card
    cols = {
        "t": t, "cust": cust, "card": card, "merch": merch, "device": device, "ip": ip,
        "amount": base_amount(rng, pop, spec, cust, merch), "payment": payment, "channel": channel, "entry": entry,
        "bsm": store | (rng.random(n) < 0.9), "three_ds": (web | inapp) & (rng.random(n) < 0.45),
        "avs": avs, "device_risk": rng.beta(1.0, 18.0, n), "proxy": rng.beta(0.7, 14.0, n),
        "approved": rng.random(n) >= spec.decline_rate * (1 + prepaid), "session": np.zeros(n, dtype=np.int8),
    }
    finish(rng, c, pop, spec, cols)
    return cols, legit_logins(rng, spec, s0, Purchases(t, cust, device, ip, ~store))


@dataclass(frozen=True)
class Purchases:
    """One month's purchases as the logins before them see them: when, who, from which device and IP,
    and whether online (only online purchases are preceded by a login)."""

    t: np.ndarray
    cust: np.ndarray
    device: np.ndarray
    ip: np.ndarray
    online: np.ndarray


def legit_logins(rng: np.random.Generator, spec: EventSpec, s0: int, purchases: Purchases) -> dict[str, np.ndarray]:
    """A login shortly before some online purchases; now and then a failed attempt (a typo) before it."""
    t, cust, device, ip, online = purchases.t, purchases.cust, purchases.device, purchases.ip, purchases.online
    rows = np.flatnonzero(online & (rng.random(len(t)) < spec.login_before_purchase))
    ok_t = t[rows] - rng.integers(30, 1200, len(rows))
    fail = rows[rng.random(len(rows)) < spec.failed_login_rate]
    fail_t = ok_t[np.searchsorted(rows, fail)] - rng.integers(5, 90, len(fail))
    both = np.concatenate([rows, fail])
    times = np.concatenate([ok_t, fail_t])
    keep = times >= s0
    return {"t": times[keep], "cust": cust[both][keep], "device": device[both][keep], "ip": ip[both][keep],
            "success": np.concatenate([np.ones(len(rows), bool), np.zeros(len(fail), bool)])[keep]}
