"""Named production scenarios for monitoring, and when their labels arrive.

Each scenario is a `GeneratorSpec` derived from the training spec with `dataclasses.replace`, fed to
`generate_window` to make a "production" month from the training data's customers and merchants:

- in_distribution: nothing changes; the monitor must stay quiet.
- feed_outage: the merchant-risk feed loses values for another 30% of merchants; missing rates of the
  merchant risk fields jump. The model still scores (it saw missing values in training), but blindly.
- new_pattern: recurring card-on-file charges from new devices with mismatched addresses, a fraud
  pattern absent from training, grows to about half of all fraud. Inputs barely move; quality falls
  once the chargebacks arrive.
- seasonal: holiday spending lifts every amount by 25%. A real shift the model should absorb; it must
  not alarm.

Chargebacks are the labels, and they arrive late: `simulate_label_arrival` draws a lognormal delay per
fraud (median three weeks), so a window's labels mature over the following two months.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraudcore.synth.spec import GeneratorSpec

# The chargeback delay. Card networks allow disputes for months, but most arrive within weeks.
LABEL_DELAY_MEDIAN_DAYS = 21.0
LABEL_DELAY_SIGMA = 0.6


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    spec: GeneratorSpec


_CHANGES: dict[str, tuple[str, dict[str, Any]]] = {
    "in_distribution": ("Traffic like the training period: no drift, no new fraud. Expect no signal.", {}),
    "feed_outage": ("The merchant-risk feed is down for another 30% of merchants: merchant_risk_score and "
                    "merchant_chargeback_rate_90d go missing far more often. Expect missing-rate drift.",
                    {"feed_outage_rate": 0.30}),
    "new_pattern": ("A fraud pattern absent from training (recurring card-on-file charges from new devices with "
                    "mismatched addresses) makes up about half of fraud. Expect quality loss once labels mature.",
                    {"novel_pattern_rate": 0.004, "novel_pattern_effect": 6.0}),
    "seasonal": ("Holiday season: every amount is 25% higher. A benign shift; expect no alarm.",
                 {"seasonal_amount_factor": 1.25}),
}
SCENARIOS = tuple(_CHANGES)


def scenario(name: str, base: GeneratorSpec | None = None) -> Scenario:
    """The named scenario, derived from `base` (default: the training spec)."""
    if name not in _CHANGES:
        raise ValueError(f"scenario must be one of {list(SCENARIOS)}; got {name!r}")
    description, changes = _CHANGES[name]
    return Scenario(name, description, dataclasses.replace(base or GeneratorSpec(), **changes))


def simulate_label_arrival(transaction_ids: Any, is_fraud: Any, times: Any, seed: int,
                           median_days: float = LABEL_DELAY_MEDIAN_DAYS,
                           sigma: float = LABEL_DELAY_SIGMA) -> pd.DataFrame:
    """When each fraud's chargeback arrives: (transaction_id, is_fraud=1, label_time), one row per fraud.

    Legitimate transactions never get a label: they are known legitimate only once their window is
    mature, which is how chargeback feeds work. `times` are when the transactions happened (UTC).
    """
    if median_days <= 0 or sigma <= 0:
        raise ValueError(f"median_days and sigma must be > 0; got median_days={median_days}, sigma={sigma}")
    ids = np.asarray(transaction_ids, dtype=np.int64)
    y = np.asarray(is_fraud).astype(bool)
    t = pd.to_datetime(pd.Series(times), utc=True).reset_index(drop=True)
    if not len(ids) == len(y) == len(t):
        raise ValueError(f"transaction_ids, is_fraud and times must have equal lengths; got {len(ids)}, {len(y)}, "
                         f"{len(t)}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 77]))
    delay_days = median_days * np.exp(sigma * rng.standard_normal(int(y.sum())))
    label_time = t[y].reset_index(drop=True) + pd.to_timedelta(delay_days, unit="D")
    return pd.DataFrame({"transaction_id": ids[y], "is_fraud": np.ones(int(y.sum()), dtype=np.int8),
                         "label_time": label_time})
