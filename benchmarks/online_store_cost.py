"""Monthly cost of the online store at PayLink's volume: DynamoDB on demand against ElastiCache for Redis OSS.

A cost model, not a measurement: every input is an assumption written below with its reason, and every
price is a us-east-1 list price AS ASSUMED on PRICE_DATE, from memory of the published price pages and NOT
looked up live (this machine has no internet). Check them before quoting. Volume and peak factor are the
ones benchmarks/cost.py sizes the endpoint with.

    python benchmarks/online_store_cost.py [--save]

Prints JSON; --save writes benchmarks/results/online_store_cost.json.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from machine import machine  # benchmarks/machine.py: run as python benchmarks/<script>.py

ROOT = Path(__file__).resolve().parents[1]
PRICE_DATE = "2026-12-07"
PRICES: dict[str, Any] = {
    "_note": f"us-east-1 list prices in USD as assumed on {PRICE_DATE}; not looked up live",
    "dynamodb_on_demand_per_million_wru": 0.625,      # one write request unit = a write of up to 1 KB
    "dynamodb_on_demand_per_million_rru": 0.125,      # one = a strongly consistent read up to 4 KB (eventual: half)
    "dynamodb_storage_per_gb_month": 0.25,            # Standard table class; first 25 GB a month free
    "dynamodb_storage_free_gb": 25,
    "dynamodb_pitr_per_gb_month": 0.20,               # continuous backups
    "dynamodb_provisioned_wcu_hour": 0.00065,         # for the provisioned alternative only
    "dynamodb_provisioned_rcu_hour": 0.00013,
    "elasticache_node_per_hour": {"cache.r7g.large": 0.219},   # Redis OSS engine, on demand
    "elasticache_node_memory_gib": {"cache.r7g.large": 13.07},
    "elasticache_reserved_memory_fraction": 0.25,     # reserved-memory-percent default: not for data
    "cross_az_per_gb_each_way": 0.01,
    "vpc_interface_endpoint_per_az_hour": 0.01,
}
ASSUMPTIONS: dict[str, Any] = {
    "transactions_per_day": 8_000_000,
    "days_per_month": 30.4,
    "hours_per_month": 730,
    "peak_factor": 8,                    # benchmarks/cost.py: 741 requests/s at the 8x peak
    "items_read_per_request": 16,        # window states, entity rows and snapshots a checkout request reads
    "read_item_kb": 2.0,                 # a customer's 90-day window state (orjson); <= 4 KB: one RRU, strongly
                                         # consistent
    "items_written_per_authorisation": 6,  # window states the scored authorisation is added to, seen-id, watermark
    "write_item_kb": 2.0,                # billed per started KB: 2 WRU an item
    "ingest_reads_per_item_written": 1,  # compare-and-set: ingest reads the state it rewrites (strongly consistent)
    "logins_per_day": 4_000_000,         # login events, one 1 KB item read and written each
    "active_customers": 12_000_000,      # 8M transactions a day / ~0.67 a customer a day (the generator's mean rate)
    "stored_kb_per_customer": 4.0,       # their auth, device, login and chargeback windows plus the entity row
    "other_stored_gb": 5.0,              # IP windows until TTL deletes them, cards, merchants, snapshots
    "dynamodb_item_overhead_bytes": 100,
    "redis_bytes_per_key_overhead": 100,  # dict entry, key string, allocator rounding
    "redis_items": 60_000_000,
    "cross_az_share": 0.5,               # endpoint instances in two AZs, one primary: half the reads cross an AZ
    "vpc_interface_endpoints": 3,        # CloudWatch metrics, logs, STS once the endpoint runs in a VPC; S3 and
                                         # DynamoDB use free gateway endpoints
    "vpc_azs": 2,
}


def model(a: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    tx_month = a["transactions_per_day"] * a["days_per_month"]
    logins_month = a["logins_per_day"] * a["days_per_month"]
    peak_rps = a["transactions_per_day"] / 86_400 * a["peak_factor"]
    rru_item = math.ceil(a["read_item_kb"] / 4)
    wru_item = math.ceil(a["write_item_kb"] / 1)
    serve_rru = tx_month * a["items_read_per_request"] * rru_item
    ingest_rru = tx_month * a["items_written_per_authorisation"] * a["ingest_reads_per_item_written"] + logins_month
    wru = tx_month * a["items_written_per_authorisation"] * wru_item + logins_month
    stored_gb = a["active_customers"] * a["stored_kb_per_customer"] / 1e6 + a["other_stored_gb"]
    ddb_gb = stored_gb + a["redis_items"] * a["dynamodb_item_overhead_bytes"] / 1e9
    m = 1e6
    dynamo = {
        "serving_reads_strong": serve_rru / m * p["dynamodb_on_demand_per_million_rru"],
        "ingest_reads": ingest_rru / m * p["dynamodb_on_demand_per_million_rru"],
        "ingest_writes": wru / m * p["dynamodb_on_demand_per_million_wru"],
        "storage": max(0.0, ddb_gb - p["dynamodb_storage_free_gb"]) * p["dynamodb_storage_per_gb_month"],
        "point_in_time_recovery": ddb_gb * p["dynamodb_pitr_per_gb_month"],
    }
    dynamo_total = sum(dynamo.values())
    seconds = a["days_per_month"] * 86_400
    wcu_avg, rcu_avg = wru / seconds, (serve_rru + ingest_rru) / seconds
    provisioned = 2 * (wcu_avg * p["dynamodb_provisioned_wcu_hour"] + rcu_avg * p["dynamodb_provisioned_rcu_hour"]) \
        * a["hours_per_month"]   # capacity at twice the average, autoscaled

    node = "cache.r7g.large"
    usable_gib = p["elasticache_node_memory_gib"][node] * (1 - p["elasticache_reserved_memory_fraction"])
    redis_gib = (stored_gb * 1e9 + a["redis_items"] * a["redis_bytes_per_key_overhead"]) / 2**30
    shards = math.ceil(redis_gib / usable_gib)
    node_month = p["elasticache_node_per_hour"][node] * a["hours_per_month"]
    read_gb = tx_month * a["items_read_per_request"] * a["read_item_kb"] / 1e6
    write_gb = (tx_month * a["items_written_per_authorisation"] * a["write_item_kb"]) / 1e6
    cross_az = (read_gb + 2 * write_gb) * a["cross_az_share"] * 2 * p["cross_az_per_gb_each_way"]  # writes: replica too
    vpc = a["vpc_interface_endpoints"] * a["vpc_azs"] * p["vpc_interface_endpoint_per_az_hour"] * a["hours_per_month"]
    redis_asked = {"nodes": f"2 x {node} (primary + replica)", "nodes_usd": 2 * node_month,
                   "holds_gib": round(usable_gib, 2), "fits": redis_gib <= usable_gib}
    redis_fit = {"nodes": f"{shards} shards x 2 {node} (cluster mode, one replica each)",
                 "nodes_usd": 2 * shards * node_month, "cross_az_transfer_usd": cross_az, "vpc_endpoints_usd": vpc}
    redis_fit["total_usd"] = redis_fit["nodes_usd"] + cross_az + vpc
    # the Redis memory at which a cluster sized to fit costs what DynamoDB on demand costs
    break_even_gib = (dynamo_total - cross_az - vpc) / (2 * node_month) * usable_gib
    r2 = lambda d: {k: (round(v, 2) if isinstance(v, float) else v) for k, v in d.items()}  # noqa: E731
    return {
        "volume": {"transactions_per_month": round(tx_month), "peak_requests_per_s": round(peak_rps, 1),
                   "peak_rru_per_s": round(peak_rps * (a["items_read_per_request"] * rru_item
                                                       + a["items_written_per_authorisation"])),
                   "peak_wru_per_s": round(peak_rps * a["items_written_per_authorisation"] * wru_item),
                   "stored_gb": round(stored_gb, 1), "redis_memory_gib": round(redis_gib, 1)},
        "dynamodb_on_demand_usd": {**r2(dynamo), "total": round(dynamo_total, 2),
                                   "serving_reads_if_eventually_consistent":
                                       round(dynamo["serving_reads_strong"] / 2, 2)},
        "dynamodb_provisioned_autoscaled_usd": {"capacity_at_2x_average": round(provisioned, 2),
                                                "plus_storage_and_pitr": round(provisioned + dynamo["storage"]
                                                                               + dynamo["point_in_time_recovery"], 2)},
        "elasticache_as_asked_usd": r2(redis_asked),
        "elasticache_sized_to_fit_usd": r2(redis_fit),
        "elasticache_break_even_memory_gib": round(break_even_gib, 1),
        "per_million_requests_usd": {"dynamodb_on_demand": round(dynamo_total / tx_month * 1e6, 2),
                                     "elasticache_sized_to_fit": round(redis_fit["total_usd"] / tx_month * 1e6, 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()
    result = {"benchmark": "online_store_cost",
              "command": "python benchmarks/online_store_cost.py " + " ".join(sys.argv[1:]),
              "kind": "cost model from assumed prices and volumes; nothing here is measured",
              "machine": machine(),  # nothing is timed; named as every results file names its host
              "price_date": PRICE_DATE, "prices": PRICES, "assumptions": ASSUMPTIONS,
              **model(ASSUMPTIONS, PRICES)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.save:
        (ROOT / "benchmarks" / "results" / "online_store_cost.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
