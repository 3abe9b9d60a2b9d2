"""The online store's interface (issue 15 contract): what every store offers and the errors it raises.

Minimal version written for the DynamoDB store to build against; the lead's store.py (with SqliteStore)
replaces it at merge and keeps these names and meanings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from fraudcore.errors import FraudError


@dataclass(frozen=True)
class Item:
    value: bytes          # opaque to the store (orjson-encoded state)
    version: int          # increments on every write of the key; 0 = never written


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes
    expires_at: int        # epoch seconds after which the item may be deleted (DynamoDB TTL); 0 = never
    expected_version: int  # compare-and-set: write only if the stored version equals this (0 = absent)


class StoreUnavailable(FraudError):
    """The store cannot answer within its budget, or is down."""


class StoreConflict(FraudError):
    """Some compare-and-set writes found another version stored; `keys` names them (the others were written)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = tuple(keys)
        shown = ", ".join(repr(k) for k in self.keys[:5]) + (" ..." if len(self.keys) > 5 else "")
        super().__init__(f"{len(self.keys)} key(s) changed since they were read (expected_version did not match): "
                         f"{shown}")


class Store(Protocol):
    name: str

    def get_many(self, keys: Sequence[str]) -> dict[str, Item]: ...

    def put_many(self, items: Sequence[Put]) -> None: ...

    def close(self) -> None: ...
