"""Attack sessions: the event shapes fraud takes. Each returns rows with the columns of traffic.py.

- card testing: a burst of small keyed attempts on several stolen cards from one device and IP at a risky
  merchant, mostly declined; a card that passes is cashed out soon after;
- account takeover: failed logins from a new device and IP, then a login, then large purchases;
- new-account fraud: a fraud-ring account's purchases within days of opening (population.py);
- the wallet pattern: stolen cards tokenised into a wallet on the fraudster's phone, at gaming and digital
  goods merchants; it ramps in from `new_pattern_start_month`;
- a compromised merchant: card-not-present charges on stolen cards pushed through one merchant in a month;
- the novel pattern (monitoring scenarios only): recurring card-on-file charges from new devices.
The session type is hidden: the label depends on the computed features only (oracle.py).
"""
from __future__ import annotations

import numpy as np

from fraudcore.synth.events.clock import HOUR, Clock, sample_times
from fraudcore.synth.events.codes import Codes
from fraudcore.synth.events.population import REGULAR, Population
from fraudcore.synth.events.spec import EventSpec
from fraudcore.synth.events.traffic import (CARD_TESTING, COMPROMISE, NEW_ACCOUNT, NOVEL, TAKEOVER, WALLET,
                                            base_amount, choose, finish, weighted_pick)
from fraudcore.synth.events.world import World


def _victims(rng: np.random.Generator, pop: Population, k: int) -> np.ndarray:
    regulars = np.flatnonzero(pop.kind == REGULAR)
    return regulars[rng.integers(0, len(regulars), k)]


def _merchants_of(pop: Population, c: Codes, s0: int, names: list[str]) -> np.ndarray:
    pool = np.flatnonzero(np.isin(pop.merch_category, c.many("merchant_category", names)) & (pop.merch_onboarded < s0))
    if len(pool) == 0:
        pool = np.flatnonzero(pop.merch_onboarded < s0)
    return pool


def _session_times(rng: np.random.Generator, clock: Clock, k: int, sessions: int) -> np.ndarray:
    s0, s1 = clock.window(k)
    return sample_times(rng, clock, k, np.full(sessions, s0), np.full(sessions, s1))


def _rows(rng: np.random.Generator, c: Codes, pop: Population, spec: EventSpec, s1: int, session: int,
          t: np.ndarray, cust: np.ndarray, merch: np.ndarray, device: np.ndarray, ip: np.ndarray,
          amount: np.ndarray, **fields: np.ndarray) -> dict[str, np.ndarray]:
    k = len(t)
    av = c.avs_result
    cols = {"t": np.minimum(t, s1 - 1), "cust": cust, "card": cust.copy(), "merch": merch, "device": device,
            "ip": ip, "amount": amount, "payment": pop.card_payment[cust], "channel": np.full(k, c.channel.ecommerce),
            "entry": np.full(k, c.entry_mode.keyed), "bsm": rng.random(k) < 0.5, "three_ds": np.zeros(k, bool),
            "avs": choose(rng, np.array([av.match, av.no_match, av.unavailable]), [0.5, 0.3, 0.2], k),
            "device_risk": rng.beta(2.0, 8.0, k), "proxy": rng.beta(3.0, 4.0, k),
            "approved": rng.random(k) < 0.9, "session": np.full(k, session, dtype=np.int8)}
    cols.update(fields)
    finish(rng, c, pop, spec, cols)
    return cols


def card_testing(rng: np.random.Generator, world: World, k: int, n: int) -> dict[str, np.ndarray]:
    c, pop, spec, clock = world.codes, world.pop, world.spec, world.clock
    s0, s1 = clock.window(k)
    sessions = rng.poisson(spec.card_testing_sessions * n)
    start = _session_times(rng, clock, k, sessions)
    pool = _merchants_of(pop, c, s0, ["digital_goods", "gift_cards", "gaming"])
    s_merch = pool[rng.integers(0, len(pool), sessions)]
    s_dev = pop.fraud_devices[rng.integers(0, len(pop.fraud_devices), sessions)]
    s_ip = pop.fraud_ips[rng.integers(0, len(pop.fraud_ips), sessions)]
    s_len = rng.integers(5 * 60, 60 * 60, sessions)
    cards_per = 2 + rng.poisson(4.0, sessions)
    card_session = np.repeat(np.arange(sessions), cards_per)
    victim = _victims(rng, pop, len(card_session))
    tries = 1 + rng.poisson(2.0, len(card_session))
    row_card = np.repeat(np.arange(len(card_session)), tries)
    s = card_session[row_card]
    m = len(row_card)
    t = start[s] + (rng.random(m) * s_len[s]).astype(np.int64)
    approved = rng.random(m) < 0.15
    av = c.avs_result
    tests = _rows(rng, c, pop, spec, s1, CARD_TESTING, t, victim[row_card], s_merch[s], s_dev[s], s_ip[s],
                  rng.uniform(0.5, 5.0, m), approved=approved, device_risk=rng.beta(2.0, 8.0, m),
                  avs=choose(rng, np.array([av.match, av.no_match, av.unavailable]), [0.3, 0.4, 0.3], m))
    # cash-out on cards that passed
    passed = np.unique(row_card[approved])
    out = passed[rng.random(len(passed)) < 0.5]
    last = np.zeros(len(card_session), dtype=np.int64)
    np.maximum.at(last, row_card, t)
    cash_pool = _merchants_of(pop, c, s0, ["electronics", "gift_cards"])
    cs = card_session[out]
    cust = victim[out]
    merch = cash_pool[rng.integers(0, len(cash_pool), len(out))]
    amount = base_amount(rng, pop, spec, cust, merch) * np.exp(rng.normal(1.4, 0.5, len(out)))
    cash = _rows(rng, c, pop, spec, s1, CARD_TESTING, last[out] + rng.integers(600, 6 * HOUR, len(out)), cust,
                 merch, s_dev[cs], s_ip[cs], amount)
    return _concat([tests, cash])


def takeover(rng: np.random.Generator, world: World, k: int,
             n: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    c, pop, spec, clock = world.codes, world.pop, world.spec, world.clock
    s0, s1 = clock.window(k)
    sessions = rng.poisson(spec.takeover_sessions * n)
    start = _session_times(rng, clock, k, sessions)
    night = rng.random(sessions) < 0.6
    start[night] = (start[night] // 86_400) * 86_400 + rng.integers(0, 6 * HOUR, int(night.sum()))
    start = np.clip(start, s0 + 2 * HOUR, s1 - 3 * HOUR)
    victim = _victims(rng, pop, sessions)
    dev = pop.fraud_devices[rng.integers(0, len(pop.fraud_devices), sessions)]
    ip = pop.fraud_ips[rng.integers(0, len(pop.fraud_ips), sessions)]
    home = rng.random(sessions) < 0.25  # a residential proxy in the victim's country looks like home
    ip[home] = pop.home_ip[_victims(rng, pop, int(home.sum()))]
    fails = 2 + rng.poisson(3.0, sessions)
    fs = np.repeat(np.arange(sessions), fails)
    login_ok = start - rng.integers(10, 300, sessions)
    f_t = login_ok[fs] - rng.integers(20, 1800, len(fs))
    logins = {"t": np.concatenate([f_t, login_ok]), "cust": np.concatenate([victim[fs], victim]),
              "device": np.concatenate([dev[fs], dev]), "ip": np.concatenate([ip[fs], ip]),
              "success": np.concatenate([np.zeros(len(fs), bool), np.ones(sessions, bool)])}
    buys = 1 + rng.poisson(1.5, sessions)
    bs = np.repeat(np.arange(sessions), buys)
    m = len(bs)
    t = start[bs] + rng.integers(0, 2 * HOUR, m)
    cust = victim[bs]
    merch = _merchants_of(pop, c, s0, ["electronics", "fashion", "travel", "gift_cards", "other"])
    merch = merch[rng.integers(0, len(merch), m)]
    app = np.isin(pop.device_type[dev[bs]], [c.device_type.ios_app, c.device_type.android_app])
    em, av = c.entry_mode, c.avs_result
    proxy = np.where(rng.random(m) < 0.6, rng.beta(3.0, 4.0, m), rng.beta(0.7, 14.0, m))
    rows = _rows(rng, c, pop, spec, s1, TAKEOVER, t, cust, merch, dev[bs], ip[bs],
                 base_amount(rng, pop, spec, cust, merch) * np.exp(rng.normal(1.6, 0.5, m)),
                 channel=np.where(app, c.channel.in_app, c.channel.ecommerce),
                 entry=choose(rng, np.array([em.card_on_file, em.keyed]), [0.6, 0.4], m),
                 bsm=rng.random(m) >= 0.6, three_ds=rng.random(m) < 0.1, proxy=proxy,
                 avs=choose(rng, np.array([av.match, av.partial, av.no_match]), [0.6, 0.2, 0.2], m),
                 device_risk=rng.beta(2.0, 6.0, m))
    return rows, logins


def new_account(rng: np.random.Generator, world: World, k: int) -> dict[str, np.ndarray]:
    c, pop, spec, clock = world.codes, world.pop, world.spec, world.clock
    s0, s1 = clock.window(k)
    lo, hi = np.searchsorted(pop.ring_time, [s0, s1])
    t, cust = pop.ring_time[lo:hi], pop.ring_cust[lo:hi]
    m = len(t)
    pool = _merchants_of(pop, c, s0, ["electronics", "digital_goods", "gift_cards", "gaming", "fashion"])
    merch = pool[rng.integers(0, len(pool), m)]
    own = rng.random(m) < 0.6
    device = np.where(own, pop.slot_device[cust, 0], pop.fraud_devices[rng.integers(0, len(pop.fraud_devices), m)])
    ip = np.where(rng.random(m) < 0.5, pop.home_ip[cust], pop.fraud_ips[rng.integers(0, len(pop.fraud_ips), m)])
    em, av = c.entry_mode, c.avs_result
    app = np.isin(pop.device_type[device], [c.device_type.ios_app, c.device_type.android_app])
    return _rows(rng, c, pop, spec, s1, NEW_ACCOUNT, t, cust, merch, device, ip,
                 base_amount(rng, pop, spec, cust, merch) * np.exp(rng.normal(0.8, 0.5, m)),
                 channel=np.where(app, c.channel.in_app, c.channel.ecommerce),
                 entry=choose(rng, np.array([em.keyed, em.tokenized]), [0.6, 0.4], m),
                 avs=choose(rng, np.array([av.match, av.no_match]), [0.6, 0.4], m),
                 device_risk=rng.beta(1.5, 10.0, m), proxy=rng.beta(1.5, 8.0, m), approved=rng.random(m) < 0.85)


def wallet(rng: np.random.Generator, world: World, k: int, n: int, progress: float) -> dict[str, np.ndarray]:
    c, pop, spec, clock = world.codes, world.pop, world.spec, world.clock
    s0, s1 = clock.window(k)
    sessions = rng.poisson(spec.wallet_sessions_max * progress * n)
    start = _session_times(rng, clock, k, sessions)
    victim = _victims(rng, pop, sessions)
    phones = pop.fraud_devices[np.isin(pop.device_type[pop.fraud_devices],
                                       [c.device_type.ios_app, c.device_type.android_app])]
    dev = phones[rng.integers(0, len(phones), sessions)]
    ip = pop.fraud_ips[rng.integers(0, len(pop.fraud_ips), sessions)]
    buys = 1 + rng.poisson(2.0, sessions)
    bs = np.repeat(np.arange(sessions), buys)
    m = len(bs)
    pool = _merchants_of(pop, c, s0, ["gaming", "digital_goods"])
    merch = pool[rng.integers(0, len(pool), m)]
    cust = victim[bs]
    return _rows(rng, c, pop, spec, s1, WALLET, start[bs] + rng.integers(0, 20 * HOUR, m), cust, merch, dev[bs],
                 ip[bs], base_amount(rng, pop, spec, cust, merch) * 2.0,
                 payment=np.full(m, c.payment_method.digital_wallet), channel=np.full(m, c.channel.in_app),
                 entry=np.full(m, c.entry_mode.tokenized), bsm=rng.random(m) < 0.8, three_ds=rng.random(m) < 0.3,
                 avs=np.full(m, c.avs_result.match), device_risk=rng.beta(3.0, 5.0, m), proxy=rng.beta(2.0, 5.0, m),
                 approved=rng.random(m) < 0.95)


def compromise(rng: np.random.Generator, world: World, k: int, feed_missing: np.ndarray) -> dict[str, np.ndarray]:
    c, pop, spec, clock = world.codes, world.pop, world.spec, world.clock
    s0, s1 = clock.window(k)
    p = spec.compromised_merchant_rate * (1.0 + 3.0 * feed_missing) * (pop.merch_onboarded < s0)
    hit = np.flatnonzero(rng.random(len(p)) < p)
    per = rng.poisson(spec.compromise_attacks_per_merchant, len(hit))
    merch = np.repeat(hit, per)
    m = len(merch)
    t = _session_times(rng, clock, k, m)
    cust = _victims(rng, pop, m)
    fraud_infra = rng.random(m) < 0.7
    device = np.where(fraud_infra, pop.fraud_devices[rng.integers(0, len(pop.fraud_devices), m)],
                      pop.slot_device[cust, 0])
    ip = np.where(fraud_infra, pop.fraud_ips[rng.integers(0, len(pop.fraud_ips), m)], pop.home_ip[cust])
    return _rows(rng, c, pop, spec, s1, COMPROMISE, t, cust, merch, device, ip,
                 base_amount(rng, pop, spec, cust, merch) * np.exp(rng.normal(0.5, 0.5, m)),
                 proxy=np.where(fraud_infra, rng.beta(2.0, 5.0, m), rng.beta(0.7, 14.0, m)))


def novel(rng: np.random.Generator, world: World, k: int, n: int) -> dict[str, np.ndarray]:
    c, pop, spec, clock = world.codes, world.pop, world.spec, world.clock
    s0, s1 = clock.window(k)
    m = rng.poisson(spec.novel_pattern_rate * n)
    t = _session_times(rng, clock, k, m)
    cust = _victims(rng, pop, m)
    merch = weighted_pick(rng, pop.merch_popularity * (pop.merch_onboarded < s0), m)
    return _rows(rng, c, pop, spec, s1, NOVEL, t, cust, merch,
                 pop.fraud_devices[rng.integers(0, len(pop.fraud_devices), m)], pop.home_ip[cust],
                 base_amount(rng, pop, spec, cust, merch) * 3.0, channel=np.full(m, c.channel.recurring),
                 entry=np.full(m, c.entry_mode.card_on_file), bsm=np.zeros(m, bool),
                 avs=np.full(m, c.avs_result.match), device_risk=rng.beta(1.0, 18.0, m),
                 proxy=rng.beta(0.7, 14.0, m), approved=rng.random(m) < 0.97)


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
