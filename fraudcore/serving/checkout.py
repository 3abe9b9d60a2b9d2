"""The checkout request form: the payment's own fields, the entity ids and the event time.

`CheckoutForm` checks what only this form carries (the event time, the entity ids), then computes every
other feature with `fraudcore.online.enrich.OnlineFeatures` from the declarations in the model's own
bundle, reading the online store. The computed record then goes through the same schema check and
scoring as the features form, so a bad `amount` is refused with the same field, rule and value.

If the store fails (down, or slower than its budget), the features it supplies are scored missing (the
model was trained with missing values) and the answer says `degraded` with their names. An unknown
customer or card is not a failure: it has no state, so its history features are missing or zero as
they are for a new customer in training.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from fraudcore.features.featureset import FeatureSet
from fraudcore.online.enrich import Enriched, OnlineFeatures
from fraudcore.online.plan import OnlinePlan, build_plan
from fraudcore.online.state import EventFieldError, to_ns
from fraudcore.online.store import Store
from fraudcore.serving.parsing import INSTANCES, RequestError, received_value

FORMS = ("features", "checkout")


@dataclass(frozen=True)
class CheckoutResult:
    enriched: list[Enriched]
    store_error: str | None      # why features are missing, when the store failed
    read_ms: float = 0.0         # time in store reads (what a networked store's round trips cost)
    enrich_ms: float = 0.0       # reads and computation


class CheckoutForm:
    def __init__(self, fs: FeatureSet, store: Store) -> None:
        self.plan: OnlinePlan = build_plan(fs)
        self.features = OnlineFeatures(self.plan, store)
        target = fs.target_table
        self.time_field = target.time
        self.id_fields = tuple(c for c in self.plan.checkout_fields
                               if c not in (target.time, target.id) and c not in
                               {f.column for f in fs.of_kind("request", "vendor")})
        self.dtypes = dict(target.columns)

    def check(self, rec: Any, index: int | None) -> None:
        where = "" if index is None else f"{INSTANCES}[{index}]."
        if not isinstance(rec, dict):
            raise RequestError(400, "type", f"{where or 'the checkout request '}must be a JSON object; "
                               f"got {type(rec).__name__}", received=rec, index=index)
        t = rec.get(self.time_field)
        if t is None:
            raise RequestError(400, "required", f"field '{where}{self.time_field}' is required in the checkout "
                               "form (the event time the features are computed at)", field=self.time_field,
                               index=index)
        try:
            to_ns(t, self.time_field)
        except EventFieldError as err:
            raise RequestError(400, err.rule, f"{where}{err}", field=self.time_field, received=t,
                               index=index) from None
        if isinstance(t, bool):
            raise RequestError(400, "timestamp", f"field '{where}{self.time_field}' must be an ISO-8601 time or "
                               f"epoch nanoseconds; got {t!r}", field=self.time_field, received=t, index=index)
        for name in self.id_fields:
            v = rec.get(name)
            if v is None:
                continue   # an unknown link: features through it are missing, as offline
            if self.dtypes.get(name) == "int" and type(v) is not int:
                raise RequestError(400, "type", f"field '{where}{name}' must be an integer id; got "
                                   f"{received_value(v)!r}", field=name, received=v, index=index)
            if self.dtypes.get(name) in ("string", "category") and type(v) is not str:
                raise RequestError(400, "type", f"field '{where}{name}' must be a string id; got "
                                   f"{received_value(v)!r}", field=name, received=v, index=index)

    def enrich(self, records: Sequence[dict[str, Any]]) -> CheckoutResult:
        t0 = time.perf_counter()
        enriched = self.features.compute(records)
        error = self.features.last_error if any(e.missing for e in enriched) else None
        return CheckoutResult(enriched, error, self.features.last_read_s * 1e3, (time.perf_counter() - t0) * 1e3)

    def enrich_without_store(self, records: Sequence[dict[str, Any]], reason: str) -> CheckoutResult:
        """Every store-supplied feature missing (the store did not answer in time)."""
        return CheckoutResult(self.features.compute_without_store(records), reason)
