"""Write the small example dataset of docs/training.md: web-shop orders with chargebacks (CSV).

    python config/examples/make_orders.py data/orders.csv [--rows 40000] [--seed 3]
    python config/examples/make_orders.py data/orders.csv --test-from 2025-12-01 --test-out data/orders_test.csv

Fraud is planted on a few fields (large baskets for new accounts, risky IPs, express shipping to
"OTHER"), so a model has something to find. Column "OrderTotal" is deliberately not the schema's
name: the config's [data.column_map] maps it. Each order has a shopper ("shopper_id"); a hijacked account
places a few fraudulent orders within days, so shoppers can be ranked as investigators rank them. With
--test-from, orders from that date on go to a separate test file (a training file and a test file).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def make_orders(rows: int = 40_000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 365 * 86400, rows))
    created = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(t, unit="s")
    account_days = rng.geometric(1 / 300, rows) - 1
    avg_total = np.where(account_days < 7, np.nan, rng.lognormal(4.0, 0.5, rows))
    total = np.where(np.isnan(avg_total), rng.lognormal(4.2, 0.8, rows), avg_total * rng.lognormal(0, 0.4, rows))
    ip_risk = np.where(rng.random(rows) < 0.05, np.nan, rng.beta(1.5, 8, rows))
    express = rng.random(rows) < 0.2
    country = rng.choice(["DE", "AT", "CH", "FR", "NL", "OTHER"], rows, p=[0.5, 0.12, 0.1, 0.1, 0.1, 0.08])
    payment = rng.choice(["card", "paypal", "invoice", "giftcard"], rows, p=[0.45, 0.3, 0.2, 0.05])
    logit = (-7.5 + 2.5 * (account_days < 14) + 1.5 * np.log1p(total / np.nan_to_num(avg_total, nan=60.0))
             + 6.0 * np.nan_to_num(ip_risk, nan=0.4) + 2.0 * express * (country == "OTHER") + 1.5 * (payment == "giftcard"))
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    # shoppers (drawn after every other column, so the orders themselves do not depend on them): most frauds come
    # from hijacked accounts, four consecutive frauds each, i.e. a burst of a day or two
    shopper = 100_000 + rng.integers(0, max(10, rows // 8), rows)
    fraud_rank = np.cumsum(label) - 1
    hijacked = (label == 1) & (rng.random(rows) < 0.8)
    shopper = np.where(hijacked, 900_000 + fraud_rank // 4, shopper)
    return pd.DataFrame({"order_id": np.arange(1, rows + 1), "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "shopper_id": shopper,
                         "chargeback": label, "OrderTotal": total.round(2), "items": rng.integers(1, 12, rows),
                         "payment_type": payment, "ship_country": country, "account_days": account_days,
                         "avg_order_total": avg_total.round(2), "express_shipping": express, "ip_risk": ip_risk.round(4)})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--rows", type=int, default=40_000)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--test-from", default="", help="ISO date: orders from then on go to --test-out")
    p.add_argument("--test-out", type=Path, default=None, help="the separate test file (with --test-from)")
    a = p.parse_args()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    orders = make_orders(a.rows, a.seed)
    if a.test_from and a.test_out is not None:
        test = orders["created_at"] >= a.test_from
        orders.loc[~test].to_csv(a.out, index=False)
        orders.loc[test].to_csv(a.test_out, index=False)
        print(f"wrote {int((~test).sum())} orders to {a.out} and {int(test.sum())} to {a.test_out}")
    else:
        orders.to_csv(a.out, index=False)
        print(f"wrote {a.rows} orders to {a.out}")
