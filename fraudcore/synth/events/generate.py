"""Month by month: the events, the aggregates the oracle reads, the oracle, the labels.

Each month's events are drawn from their own generator (seed, month), so they do not depend on how the
run is chunked; the aggregates then read the previous 30 days through `History`, so asking for one month
generates the months before it too (events only) and gives the same result as a full run.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from fraudcore.schema import Schema, paylink_schema
from fraudcore.synth.events import attacks
from fraudcore.synth.events.clock import DAY, HOUR, Clock, authorisations_per_month, make_clock
from fraudcore.synth.events.codes import Codes
from fraudcore.synth.events.oracle import draw_labels, latent, month_terms, probability, solve_intercept
from fraudcore.synth.events.population import Population, draw_population
from fraudcore.synth.events.reference import EventKeys, MonthReference, as_of, month_reference, snapshots
from fraudcore.synth.events.spec import EventSpec
from fraudcore.synth.events.traffic import COLUMNS, legit_month
from fraudcore.synth.events.windows import History
from fraudcore.synth.events.world import World

ID_BASE = 10_000_000_000  # ids of month k's events: (k + 1) * ID_BASE + position in time order


@dataclass(frozen=True)
class Month:
    index: int                       # 0 = first lead-in month
    label: str                       # 'YYYY-MM'
    dataset_month: int               # index within the dataset (negative in the lead-in)
    auth: dict[str, np.ndarray]      # internal columns (traffic.COLUMNS) + transaction_id, time-ordered
    logins: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]    # transaction rows that have a label: row, known_at, source, is_fraud
    snapshots: dict[str, dict[str, np.ndarray]]
    oracle: np.ndarray               # fraud_probability per authorisation
    features: dict[str, np.ndarray]  # the features the oracle read (as computed here)
    intercept: float
    progress: float
    decay: float

    @property
    def lead_in(self) -> bool:
        return self.dataset_month < 0


@dataclass(frozen=True)
class Setup:
    spec: EventSpec
    schema: Schema
    codes: Codes
    clock: Clock
    counts: np.ndarray
    pop: Population
    seed: int


def setup(rows: int, seed: int, spec: EventSpec | None = None, schema: Schema | None = None) -> Setup:
    if rows < 1:
        raise ValueError(f"rows must be >= 1; got {rows}")
    spec = spec or EventSpec()
    schema = schema or paylink_schema()
    clock = make_clock(spec)
    counts = authorisations_per_month(rows, clock)
    pop = draw_population(schema, spec, clock, rows, int(counts.sum()),
                          np.random.default_rng(np.random.SeedSequence([seed, 0])))
    return Setup(spec, schema, Codes(schema), clock, counts, pop, seed)


def _month_events(s: Setup, k: int, ref: MonthReference) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(np.random.SeedSequence([s.seed, 1, k]))
    spec, clock = s.spec, s.clock
    world = World(s.codes, s.pop, spec, clock)
    n = int(s.counts[k])
    progress, _ = month_terms(spec, k - clock.lead_in)
    ato, ato_logins = attacks.takeover(rng, world, k, n)
    parts = [attacks.card_testing(rng, world, k, n), ato,
             attacks.new_account(rng, world, k),
             attacks.wallet(rng, world, k, n, progress),
             attacks.compromise(rng, world, k, np.isnan(ref.merchant_risk)),
             attacks.novel(rng, world, k, n)]
    bad = {key: np.concatenate([p[key] for p in parts]) for key in COLUMNS}
    if len(bad["t"]) > n:  # tiny datasets: keep the month's authorisation count exact
        keep = np.sort(rng.choice(len(bad["t"]), n, replace=False))
        bad = {key: v[keep] for key, v in bad.items()}
    good, good_logins = legit_month(rng, world, k, n - len(bad["t"]))
    a = {key: np.concatenate([good[key], bad[key]]) for key in COLUMNS}
    order = np.argsort(a["t"], kind="stable")
    a = {key: v[order] for key, v in a.items()}
    a["transaction_id"] = (k + 1) * ID_BASE + np.arange(n, dtype=np.int64)
    logins = {key: np.concatenate([good_logins[key], ato_logins[key]]) for key in good_logins}
    order = np.argsort(logins["t"], kind="stable")
    logins = {key: v[order] for key, v in logins.items()}
    logins["login_id"] = (k + 1) * ID_BASE + np.arange(len(order), dtype=np.int64)
    return a, logins


def _features(s: Setup, k: int, a: dict[str, np.ndarray], agg: dict[str, np.ndarray], ref: MonthReference,
              before: MonthReference | None) -> dict[str, np.ndarray]:
    pop, t = s.pop, a["t"]
    bin_ = pop.card_bin[a["card"]]
    f = dict(agg)
    f.update(as_of(pop, s.clock, k, ref, before, EventKeys(t, a["merch"], bin_, pop.email_domain[a["cust"]])))
    f.update({
        "amount": a["cents"] / 100.0, "card_present": a["present"], "three_ds_authenticated": a["three_ds"],
        "entry_mode": a["entry"], "billing_shipping_match": a["bsm"], "avs_result": a["avs"],
        "payment_method": a["payment"], "device_type": a["device_type"], "channel": a["channel"],
        "merchant_category": pop.merch_category[a["merch"]], "hour_of_day": (t % DAY) // HOUR,
        "account_age_days": (t - pop.opened[a["cust"]]) // DAY, "device_risk_score": a["device_risk"],
        "proxy_score": a["proxy"], "ip_country_mismatch": pop.ip_country[a["ip"]] != pop.country[a["cust"]],
        "is_international": pop.bin_country[bin_] != pop.merch_country[a["merch"]],
    })
    return f


def _labels(s: Setup, k: int, a: dict[str, np.ndarray], y: np.ndarray) -> dict[str, np.ndarray]:
    """Which authorisations get a label row, when it becomes known and from where."""
    spec = s.spec
    rng = np.random.default_rng(np.random.SeedSequence([s.seed, 5, k]))
    n = len(y)
    reviewed = ~y & (rng.random(n) < spec.review_sample_rate)
    rows = np.flatnonzero(y | reviewed)
    fraud = y[rows]
    by_review = ~fraud | ~a["approved"][rows] | (rng.random(len(rows)) < 0.1)
    cb_delay = spec.chargeback_delay_median_days * np.exp(spec.chargeback_delay_sigma * rng.standard_normal(len(rows)))
    review_delay = rng.uniform(1.0 / 24.0, spec.review_delay_max_days, len(rows))
    delay = np.round(np.where(by_review, review_delay, cb_delay) * DAY).astype(np.int64)
    return {"row": rows, "known_at": a["t"][rows] + np.maximum(delay, 1), "by_review": by_review,
            "is_fraud": fraud.astype(np.int8)}


def iter_months(rows: int, seed: int, spec: EventSpec | None = None, schema: Schema | None = None,
                months: list[int] | None = None, prepared: Setup | None = None) -> Iterator[Month]:
    """Yield every month (lead-in first), or only those whose index (0 = first lead-in month) is listed."""
    s = prepared or setup(rows, seed, spec, schema)
    n_months = s.clock.n_months
    wanted = set(range(n_months)) if months is None else set(months)
    bad = [m for m in wanted if not 0 <= m < n_months]
    if bad:
        raise ValueError(f"month index must be in [0, {n_months}); got {bad[0]}")
    history = History(len(s.pop.device_type))
    before: MonthReference | None = None
    for k in range(max(wanted) + 1 if wanted else 0):
        ref = month_reference(s.spec, s.pop, s.clock, k, s.seed)
        a, logins = _month_events(s, k, ref)
        if k in wanted:
            yield _finish_month(s, k, a, logins, history.aggregates(a, logins), ref, before)
        history.advance(a, logins, s.clock.window(k)[1])
        before = ref


def _finish_month(s: Setup, k: int, a: dict[str, np.ndarray], logins: dict[str, np.ndarray],
                  agg: dict[str, np.ndarray], ref: MonthReference, before: MonthReference | None) -> Month:
    dataset_month = k - s.clock.lead_in
    progress, decay = month_terms(s.spec, dataset_month)
    f = _features(s, k, a, agg, ref, before)
    z, exposure, effect = latent(s.spec, s.codes, f, progress, decay, s.spec.novel_pattern_effect)
    b0 = solve_intercept(s.spec, z, exposure, effect)
    oracle = probability(s.spec, b0, z, exposure, effect)
    y = draw_labels(np.random.default_rng(np.random.SeedSequence([s.seed, 4, k])), s.spec, b0, z, exposure, effect)
    return Month(k, s.clock.label(k), dataset_month, a, logins, _labels(s, k, a, y),
                 snapshots(s.pop, s.clock, k, ref), oracle, f, b0, progress, decay)
