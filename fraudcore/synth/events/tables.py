"""The generated events as tables with the contract's columns and types (issue14-contract.md).

Ids are int64 (entity index + 1), timestamps datetime64[ns] without a time zone (UTC), categories are
dictionary-encoded with the schema's categories (pandas reads them back as Categorical).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from fraudcore.synth.events.clock import Clock
from fraudcore.synth.events.codes import Codes
from fraudcore.synth.events.generate import Month, Setup

ENTITY_TABLES = ("customers", "cards", "merchants", "bins", "devices", "ips", "email_domains")
STREAM_TABLES = ("authorisations", "logins", "labels")
SNAPSHOT_TABLES = ("merchant_risk", "bin_risk", "email_domain_risk")
ORACLE_TABLE = "oracle"
LABEL_SOURCES = ["chargeback", "review"]


def timestamps(clock: Clock, seconds: np.ndarray) -> pa.Array:
    origin = np.datetime64(dt.datetime.combine(clock.origin, dt.time()), "ns").astype(np.int64)
    return pa.array(origin + seconds.astype(np.int64) * 1_000_000_000, type=pa.timestamp("ns"))


def category(codes: np.ndarray, categories: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(categories, type=pa.string()))


def _ids(idx: np.ndarray) -> pa.Array:
    return pa.array(idx.astype(np.int64) + 1)


def entity_tables(s: Setup) -> dict[str, pa.Table]:
    pop, c, clock = s.pop, s.codes, s.clock
    countries = c.categories("country")
    n_dom = len(pop.domain_risk)
    return {
        "customers": pa.table({"customer_id": _ids(np.arange(pop.n_customers)),
                               "account_opened_at": timestamps(clock, pop.opened),
                               "billing_country": category(pop.country, countries),
                               "email_domain_id": _ids(pop.email_domain)}),
        "cards": pa.table({"card_id": _ids(np.arange(len(pop.card_owner))), "customer_id": _ids(pop.card_owner),
                           "bin_id": _ids(pop.card_bin), "first_seen_at": timestamps(clock, pop.card_seen)}),
        "merchants": pa.table({"merchant_id": _ids(np.arange(len(pop.merch_category))),
                               "merchant_category": category(pop.merch_category, c.categories("merchant_category")),
                               "country": category(pop.merch_country, countries),
                               "onboarded_at": timestamps(clock, pop.merch_onboarded)}),
        "bins": pa.table({"bin_id": _ids(np.arange(len(pop.bin_country))),
                          "bin_country": category(pop.bin_country, countries)}),
        "devices": pa.table({"device_id": _ids(np.arange(len(pop.device_type)))}),
        "ips": pa.table({"ip_id": _ids(np.arange(len(pop.ip_country))),
                         "ip_country": category(pop.ip_country, countries)}),
        "email_domains": pa.table({"email_domain_id": _ids(np.arange(n_dom))}),
    }


def authorisations(s: Setup, m: Month) -> pa.Table:
    a, c = m.auth, s.codes
    return pa.table({
        "transaction_id": pa.array(a["transaction_id"]), "event_time": timestamps(s.clock, a["t"]),
        "customer_id": _ids(a["cust"]), "card_id": _ids(a["card"]), "merchant_id": _ids(a["merch"]),
        "device_id": _ids(a["device"]), "ip_id": _ids(a["ip"]), "amount": pa.array(a["cents"] / 100.0),
        "currency": category(a["currency"], c.categories("currency")),
        "payment_method": category(a["payment"], c.categories("payment_method")),
        "device_type": category(a["device_type"], c.categories("device_type")),
        "channel": category(a["channel"], c.categories("channel")),
        "entry_mode": category(a["entry"], c.categories("entry_mode")),
        "card_present": pa.array(a["present"]), "billing_shipping_match": pa.array(a["bsm"]),
        "three_ds_authenticated": pa.array(a["three_ds"]), "installments": pa.array(a["installments"]),
        "avs_result": category(a["avs"], c.categories("avs_result")),
        "device_risk_score": pa.array(a["device_risk"]), "proxy_score": pa.array(a["proxy"]),
        "approved": pa.array(a["approved"]),
    })


def logins(s: Setup, m: Month) -> pa.Table:
    g = m.logins
    return pa.table({"login_id": pa.array(g["login_id"]), "event_time": timestamps(s.clock, g["t"]),
                     "customer_id": _ids(g["cust"]), "device_id": _ids(g["device"]), "ip_id": _ids(g["ip"]),
                     "success": pa.array(g["success"])})


def labels(s: Setup, m: Month) -> tuple[pa.Table, np.ndarray]:
    """The month's label rows (all of them, whenever known) and their known_at in seconds."""
    lab, a = m.labels, m.auth
    rows = lab["row"]
    table = pa.table({
        "label_id": pa.array(a["transaction_id"][rows]), "transaction_id": pa.array(a["transaction_id"][rows]),
        "customer_id": _ids(a["cust"][rows]), "card_id": _ids(a["card"][rows]), "merchant_id": _ids(a["merch"][rows]),
        "known_at": timestamps(s.clock, lab["known_at"]),
        "source": category(lab["by_review"].astype(np.int32), LABEL_SOURCES),
        "is_fraud": pa.array(lab["is_fraud"].astype(np.int8)),
    })
    return table, lab["known_at"]


def snapshot_tables(s: Setup, m: Month) -> dict[str, pa.Table]:
    out = {}
    for name, cols in m.snapshots.items():
        out[name] = pa.table({k: timestamps(s.clock, v) if k == "snapshot_at" else pa.array(v)
                              for k, v in cols.items()})
    return out


def oracle(m: Month) -> pa.Table:
    return pa.table({"transaction_id": pa.array(m.auth["transaction_id"]), "fraud_probability": pa.array(m.oracle)})
