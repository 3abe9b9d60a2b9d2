"""Request bodies to validated records, with every rule derived from the schema.

One transaction (an object), a batch (a list) or {"instances": [...]} is accepted. Each record is
checked field by field against the schema's declaration; the first problem becomes a
`RequestError` naming the field, the rule and the value received, which the app answers with a
4xx. Nullable fields may be null or absent (scored as missing); an unknown category string is not
an error (the pipeline codes it "unseen", as in training).
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from fraudcore.errors import FraudError
from fraudcore.schema import Field, Schema

INSTANCES = "instances"
_RECEIVED_MAX = 200
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def received_value(v: Any) -> Any:
    """The value as the client sent it, made JSON-safe and short (NaN/inf become strings)."""
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, int) and not isinstance(v, bool) and not _INT_MIN <= v <= _INT_MAX:
        return str(v)
    if v is None or isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, str):
        return v if len(v) <= _RECEIVED_MAX else v[:_RECEIVED_MAX] + "..."
    text = json.dumps(v, default=repr, allow_nan=True)
    return v if len(text) <= _RECEIVED_MAX else text[:_RECEIVED_MAX] + "..."


@dataclass
class RequestError(FraudError):
    """A request the service refuses; `status` is the HTTP code, `rule` the machine-readable reason."""

    status: int
    rule: str
    message: str
    field: str | None = None
    received: Any = None
    index: int | None = None

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        out = {"field": self.field, "rule": self.rule, "received": received_value(self.received),
               "message": self.message}
        if self.index is not None:
            out["index"] = self.index
        return out


Check = Callable[[Any], "tuple[str, str] | None"]  # value -> (rule, requirement) or None when valid


def _number_check(f: Field) -> Check:
    whole = f.dtype == "int"
    lo, hi = f.min, f.max
    kind = "an integer" if whole else "a number"

    def check(v: Any) -> tuple[str, str] | None:
        t = type(v)
        if t is not float and t is not int:
            return "type", f"must be {kind}"
        if t is float:
            if v != v or v in (math.inf, -math.inf):
                return "finite", "must be a finite number (no NaN or infinity)"
            if whole and not v.is_integer():
                return "integer", "must be a whole number"
        if lo is not None and v < lo:
            return "min", f"must be >= {lo:g}"
        if hi is not None and v > hi:
            return "max", f"must be <= {hi:g}"
        if t is int and not _INT_MIN <= v <= _INT_MAX:
            return "max" if v > 0 else "min", "must fit a 64-bit integer"
        return None

    return check


def _bool_check(v: Any) -> tuple[str, str] | None:
    if v is True or v is False or (type(v) is int and v in (0, 1)):
        return None
    return "type", "must be a boolean (true/false or 0/1)"


def _category_check(f: Field) -> Check:
    def check(v: Any) -> tuple[str, str] | None:
        if type(v) is str:
            return None  # unknown strings score as the pipeline's "unseen" code
        return "type", f"must be a string ({f.describe_range()}; other strings score as unseen)"

    return check


def field_check(f: Field) -> Check:
    if f.dtype in ("float", "int"):
        return _number_check(f)
    if f.dtype == "bool":
        return _bool_check
    if f.dtype == "category":
        return _category_check(f)
    return lambda v: None if type(v) is str else ("type", "must be a string")


class RequestParser:
    """Validates request bodies against a schema; `parse` returns records and whether it was a batch."""

    def __init__(self, schema: Schema, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1; got {max_batch}")
        self.schema = schema
        self.max_batch = max_batch
        self.id_field = schema.id
        self._checks = [(f.name, f.nullable, field_check(f)) for f in schema.features]
        self._id_check = field_check(schema[schema.id])

    def load(self, body: bytes) -> Any:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as err:
            # orjson refuses NaN/Infinity literals; the stdlib accepts them, so a record carrying one
            # gets an error naming its field instead of a bare "malformed JSON".
            try:
                return json.loads(body)
            except (ValueError, UnicodeDecodeError, RecursionError):
                # RecursionError: nesting deeper than orjson's limit (1024) is deeper than Python's stack
                # allows the stdlib parser; it is the client's malformed body, a 400, never a 500.
                raise RequestError(400, "malformed_json", f"request body is not valid JSON: {err}",
                                   received=body[:_RECEIVED_MAX].decode("utf-8", "replace")) from err

    def parse(self, body: bytes) -> tuple[list[dict[str, Any]], bool]:
        items, batch = self.items(body)
        for i, rec in enumerate(items):
            self.check(rec, i if batch else None)
        return items, batch

    def items(self, body: bytes) -> tuple[list[Any], bool]:
        """The envelope: one object, a list, or {"instances": [...]}; the items are not checked yet."""
        doc = self.load(body)
        if isinstance(doc, dict) and INSTANCES in doc:
            items, batch = doc[INSTANCES], True
            if not isinstance(items, list):
                raise RequestError(400, "type", f"'{INSTANCES}' must be a list of transactions; "
                                   f"got {type(items).__name__}", field=INSTANCES, received=items)
        elif isinstance(doc, dict):
            items, batch = [doc], False
        elif isinstance(doc, list):
            items, batch = doc, True
        else:
            raise RequestError(400, "type", "request body must be a transaction object, a list of them, or "
                               f'{{"{INSTANCES}": [...]}}; got {type(doc).__name__}', received=doc)
        if not items:
            raise RequestError(400, "empty_batch", "the batch holds no transactions", field=INSTANCES, received=[])
        if len(items) > self.max_batch:
            raise RequestError(413, "batch_size", f"a batch may hold at most {self.max_batch} transactions; "
                               f"got {len(items)}", field=INSTANCES, received=len(items))
        return items, batch

    def check(self, rec: Any, index: int | None, missing: tuple[str, ...] = ()) -> None:
        """`missing`: features the online store could not supply (a degraded answer scores them missing)."""
        where = "" if index is None else f"{INSTANCES}[{index}]."
        if not isinstance(rec, dict):
            raise RequestError(400, "type", f"{where or 'the transaction '}must be a JSON object; "
                               f"got {type(rec).__name__}", received=rec, index=index)
        for name, nullable, check in self._checks:
            v = rec.get(name)
            if v is None:
                if nullable or name in missing:
                    continue
                rule = "not_null" if name in rec else "required"
                verb = "must not be null" if name in rec else "is required"
                raise RequestError(400, rule, f"field '{where}{name}' {verb}", field=name, received=None,
                                   index=index)
            bad = check(v)
            if bad is not None:
                rule, requirement = bad
                raise RequestError(400, rule, f"field '{where}{name}' {requirement}; got {received_value(v)!r}",
                                   field=name, received=v, index=index)
        tid = rec.get(self.id_field)
        if tid is not None:
            bad = self._id_check(tid)
            if bad is not None:
                raise RequestError(400, bad[0], f"field '{where}{self.id_field}' {bad[1]}; "
                                   f"got {received_value(tid)!r}", field=self.id_field, received=tid, index=index)
