"""The online store: a key-value table with per-key versions (compare-and-set) and expiry.

Two implementations share the `Store` protocol:
- `SqliteStore`, the embedded default (stdlib sqlite3, WAL mode: many server workers read while one
  ingest process writes; a point read is a few microseconds, and the file can be opened with the
  `sqlite3` shell to see what the server sees);
- `DynamoStore` (fraudcore/online/dynamo.py), the networked store production uses on AWS.

Values are opaque bytes to the store (orjson-encoded state, see fraudcore/online/state.py). A write
names the version it read (`expected_version`, 0 for a key never written) and fails with
`StoreConflict` if another writer got there first; the ingestor re-reads and retries those keys. A
call that cannot finish inside the store's `timeout_s` raises `StoreUnavailable`, never hangs.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol, Sequence

from fraudcore.errors import FraudError


class Item(NamedTuple):
    """A stored value and its version (a named tuple: a read builds one per key, on the request path)."""

    value: bytes
    version: int          # increments on every write of the key; 0 = never written


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes
    expires_at: int        # epoch seconds after which the item may be deleted; 0 = never
    expected_version: int  # write only if the stored version equals this (0 = the key is absent)


class StoreUnavailable(FraudError):
    """The store is down, or did not answer within its budget."""


class StoreConflict(FraudError):
    """A compare-and-set write lost: another writer changed these keys after they were read."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = tuple(keys)
        shown = ", ".join(self.keys[:5]) + (" ..." if len(self.keys) > 5 else "")
        super().__init__(f"{len(self.keys)} key(s) changed since they were read: {shown}")


class Store(Protocol):
    name: str

    def get_many(self, keys: Sequence[str]) -> dict[str, Item]: ...

    def put_many(self, items: Sequence[Put]) -> None: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    version INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID
"""
_CHUNK = 500   # keys per SELECT ... IN (...) (SQLite's default limit is 32766 host parameters)


class SqliteStore:
    """The embedded store: one SQLite file in WAL mode.

    `readonly=True` opens the file without the right to write (server workers); the file must exist
    then. Each thread gets its own connection (sqlite3 connections are not shared across threads).
    """

    name = "sqlite"

    def __init__(self, path: str | Path, timeout_s: float = 0.05, readonly: bool = False) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.readonly = readonly
        self._local = threading.local()
        if readonly and not self.path.exists():
            raise StoreUnavailable(f"online store {str(self.path)!r} does not exist; create it with "
                                   f"`fraud features load` or `fraud features ingest`")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = self._con()
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(_SCHEMA)

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            try:
                # a reader opens read-write without creating: WAL readers need the shared-memory file
                uri = f"file:{self.path}?mode={'rw' if self.readonly else 'rwc'}"
                con = sqlite3.connect(uri, uri=True, timeout=self.timeout_s, isolation_level=None,
                                      check_same_thread=False)
                con.execute("PRAGMA synchronous=NORMAL")
                # reads through a memory map: a window state spans overflow pages, and a read() per
                # page cost more than the lookup itself (benchmarks/online_replay.py)
                con.execute("PRAGMA mmap_size=4294967296")
                con.execute("PRAGMA cache_size=-65536")
            except sqlite3.Error as err:
                raise StoreUnavailable(f"online store {str(self.path)!r} cannot be opened: {err}") from err
            self._local.con = con
        return con

    def get_many(self, keys: Sequence[str]) -> dict[str, Item]:
        out: dict[str, Item] = {}
        if not keys:
            return out
        try:
            con = self._con()
            for i in range(0, len(keys), _CHUNK):
                chunk = list(keys[i:i + _CHUNK])
                marks = ",".join("?" * len(chunk))
                for key, value, version in con.execute(
                        f"SELECT key, value, version FROM kv WHERE key IN ({marks})", chunk):
                    out[key] = Item(value, version)
        except sqlite3.Error as err:
            raise StoreUnavailable(f"online store {str(self.path)!r} read failed: {err}") from err
        return out

    def put_many(self, items: Sequence[Put]) -> None:
        if self.readonly:
            raise StoreUnavailable(f"online store {str(self.path)!r} is open read-only")
        if not items:
            return
        lost: list[str] = []
        try:
            con = self._con()
            con.execute("BEGIN IMMEDIATE")
            try:
                for p in items:
                    if p.expected_version == 0:
                        cur = con.execute("INSERT INTO kv VALUES (?, ?, 1, ?) ON CONFLICT(key) DO NOTHING",
                                          (p.key, p.value, p.expires_at))
                    else:
                        cur = con.execute("UPDATE kv SET value = ?, version = version + 1, expires_at = ? "
                                          "WHERE key = ? AND version = ?",
                                          (p.value, p.expires_at, p.key, p.expected_version))
                    if cur.rowcount != 1:
                        lost.append(p.key)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except sqlite3.Error as err:
            raise StoreUnavailable(f"online store {str(self.path)!r} write failed: {err}") from err
        if lost:
            raise StoreConflict(lost)

    def sweep(self, now_s: int | None = None) -> int:
        """Delete items past their expiry; returns how many went."""
        now_s = int(time.time()) if now_s is None else now_s
        try:
            cur = self._con().execute("DELETE FROM kv WHERE expires_at > 0 AND expires_at < ?", (now_s,))
        except sqlite3.Error as err:
            raise StoreUnavailable(f"online store {str(self.path)!r} sweep failed: {err}") from err
        return cur.rowcount

    def count(self) -> int:
        return self._con().execute("SELECT count(*) FROM kv").fetchone()[0]

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


class LazyStore:
    """A store opened on first use and reopened after a failure (at most once per `retry_s`), so a
    server starts before its store exists and recovers when the store comes back. While it cannot
    open, every call raises StoreUnavailable at once (no waiting)."""

    def __init__(self, spec: str, timeout_s: float, retry_s: float = 1.0) -> None:
        self.spec, self.timeout_s, self.retry_s = spec, timeout_s, retry_s
        self.name = spec.partition(":")[0] if ":" in spec else "sqlite"
        self._store: Store | None = None
        self._failed_at = -1e9
        self._error = ""

    def _open(self) -> Store:
        if self._store is not None:
            return self._store
        if time.monotonic() - self._failed_at < self.retry_s:
            raise StoreUnavailable(self._error)
        try:
            self._store = open_store(self.spec, self.timeout_s, readonly=True)
        except StoreUnavailable as err:
            self._failed_at, self._error = time.monotonic(), str(err)
            raise
        return self._store

    def get_many(self, keys: Sequence[str]) -> dict[str, Item]:
        store = self._open()
        try:
            return store.get_many(keys)
        except StoreUnavailable as err:
            store.close()
            self._store, self._failed_at, self._error = None, time.monotonic(), str(err)
            raise

    def put_many(self, items: Sequence[Put]) -> None:
        raise StoreUnavailable("the server's store is read-only; `fraud features ingest` writes it")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def open_store(spec: str, timeout_s: float = 0.05, readonly: bool = False) -> Store:
    """`sqlite:PATH` (or a plain path) or `dynamodb:TABLE`."""
    kind, _, rest = spec.partition(":")
    if kind == "dynamodb" and rest:
        from fraudcore.online.dynamo import DynamoStore
        return DynamoStore(rest, timeout_s=timeout_s)
    if kind == "sqlite" and rest:
        return SqliteStore(rest, timeout_s=timeout_s, readonly=readonly)
    if not rest:
        return SqliteStore(spec, timeout_s=timeout_s, readonly=readonly)
    from fraudcore.online.errors import OnlineConfigError
    raise OnlineConfigError(f"online store: must be 'sqlite:PATH' or 'dynamodb:TABLE'; got {spec!r}")
