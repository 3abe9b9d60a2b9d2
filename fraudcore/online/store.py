"""The online store: a key-value table with per-key versions (compare-and-set) and expiry.

Two implementations share the `Store` protocol:
- `LmdbStore`, the embedded default (one LMDB file: server workers read snapshots that never block
  while one ingest process writes; a point read is about a microsecond);
- `DynamoStore` (fraudcore/online/dynamo.py), the networked store production uses on AWS.

Values are opaque bytes to the store (orjson-encoded state, see fraudcore/online/state.py). A write
names the version it read (`expected_version`, 0 for a key never written) and fails with
`StoreConflict` if another writer got there first; the ingestor re-reads and retries those keys. A
call that cannot finish inside the store's `timeout_s` raises `StoreUnavailable`, never hangs.
"""
from __future__ import annotations

import hashlib
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple, Protocol, Sequence

import lmdb

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


class StoreItemTooLarge(FraudError):
    """A value past the store's item limit (DynamoDB: 400 KB). Nothing of the call was written."""

    def __init__(self, key: str, size: int, limit: int) -> None:
        self.key, self.size, self.limit = key, size, limit
        super().__init__(f"online store item {key!r} would be {size:,} bytes, past the store's limit of {limit:,} "
                         f"bytes; a window this busy needs a declared hop (docs/tradeoffs.md, 'The online path as "
                         f"built'); nothing of this write was applied")


class Store(Protocol):
    name: str

    def get_many(self, keys: Sequence[str]) -> dict[str, Item]: ...

    def put_many(self, items: Sequence[Put]) -> None: ...

    def close(self) -> None: ...


_HEAD = struct.Struct("<QQ")     # version, expires_at (epoch seconds, 0 = never), then the value
_MAP_SIZE = 1 << 36               # 64 GiB of address space (grown when full); the file holds only the pages written

# LMDB allows one open environment per file and process (closing a second handle would drop the
# first one's locks), so every LmdbStore on a file shares one, counted, closed with the last store.
_ENVS: dict[str, list] = {}
_ENVS_LOCK = threading.Lock()


def _acquire_env(path: Path, create: bool) -> lmdb.Environment:
    key = str(path.resolve())
    with _ENVS_LOCK:
        held = _ENVS.get(key)
        if held is not None:
            held[1] += 1
            return held[0]
        opts = dict(subdir=False, map_size=_MAP_SIZE, readahead=False, sync=False, metasync=False,
                    max_spare_txns=4, lock=True)
        try:
            env = lmdb.open(key, create=create, **opts)
            env.reader_check()   # free the reader slots of processes that died (they would pin old pages)
        except lmdb.Error:
            if create:
                raise
            env = lmdb.open(key, readonly=True, create=False, **opts)   # a file (or lock file) we may only read
        _ENVS[key] = [env, 1]
        return env


def _release_env(path: Path) -> None:
    key = str(path.resolve())
    with _ENVS_LOCK:
        held = _ENVS.get(key)
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            del _ENVS[key]
            env = held[0]
            if not env.flags()["readonly"]:
                env.sync(True)
            env.close()


class LmdbStore:
    """The embedded store: one LMDB file (memory-mapped B+tree, copy-on-write, MVCC).

    Why LMDB (docs/tradeoffs.md, "The embedded store"): a reader never blocks and is never blocked (it
    reads a snapshot through the memory map while one writer at a time commits new pages), a point
    read is about a microsecond with no query to plan, and the server's worker processes share the
    pages the OS caches. SQLite in WAL mode, the first choice, spent 3-5 us a key in statement
    overhead: a quarter of the checkout form's enrichment time.

    `readonly=True` (server workers) refuses writes; the file must exist then. `put_many` is one
    transaction: it checks every expected version and writes what matched. Commits are not fsynced
    one by one (`sync=False`; the last `close` syncs): a host crash can lose the last commits but never
    corrupts the file, and the ingest re-applies them from its source (event ids make that idempotent).
    """

    name = "lmdb"

    def __init__(self, path: str | Path, timeout_s: float = 0.05, readonly: bool = False) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s        # reads never wait on a lock; kept for the Store interface
        self.readonly = readonly
        if readonly and not self.path.exists():
            raise StoreUnavailable(f"online store {str(self.path)!r} does not exist; create it with "
                                   f"`fraud features load` or `fraud features ingest`")
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._env: lmdb.Environment | None = _acquire_env(self.path, create=not readonly)
        except (lmdb.Error, OSError) as err:
            raise StoreUnavailable(f"online store {str(self.path)!r} cannot be opened: {err}") from err
        self._max_key = self._env.max_key_size()

    def _open_env(self) -> lmdb.Environment:
        if self._env is None:
            raise StoreUnavailable(f"online store {str(self.path)!r} is closed")
        return self._env

    def _key(self, key: str) -> bytes:
        raw = key.encode()
        if len(raw) > self._max_key or not raw:
            # LMDB keys are 1-511 bytes: a longer (or empty) one is stored under its digest
            raw = b"#" + hashlib.sha256(raw).digest()
        return raw

    def get_many(self, keys: Sequence[str]) -> dict[str, Item]:
        out: dict[str, Item] = {}
        if not keys:
            return out
        for attempt in (0, 1):
            try:
                with self._open_env().begin(buffers=True) as txn:
                    get, key = txn.get, self._key
                    for k in keys:
                        raw = get(key(k))
                        if raw is not None:
                            out[k] = Item(bytes(raw[16:]), _HEAD.unpack_from(raw)[0])
                return out
            except lmdb.MapResizedError:
                if attempt:
                    raise StoreUnavailable(f"online store {str(self.path)!r} kept growing during a read") from None
                self._env.set_mapsize(0)       # a writer grew the map: adopt its size and read again
            except lmdb.Error as err:
                raise StoreUnavailable(f"online store {str(self.path)!r} read failed: {err}") from err
        return out

    def put_many(self, items: Sequence[Put]) -> None:
        if self.readonly:
            raise StoreUnavailable(f"online store {str(self.path)!r} is open read-only")
        if not items:
            return
        while True:
            lost: list[str] = []
            try:
                with self._open_env().begin(write=True) as txn:
                    for p in items:
                        key = self._key(p.key)
                        cur = txn.get(key)
                        version = 0 if cur is None else _HEAD.unpack_from(cur)[0]
                        if version != p.expected_version:
                            lost.append(p.key)
                            continue
                        txn.put(key, _HEAD.pack(version + 1, p.expires_at) + p.value)
                break
            except lmdb.MapFullError:          # the transaction was aborted: grow the map and redo it
                self._env.set_mapsize(self._env.info()["map_size"] * 2)
            except lmdb.Error as err:
                raise StoreUnavailable(f"online store {str(self.path)!r} write failed: {err}") from err
        if lost:
            raise StoreConflict(lost)

    def sweep(self, now_s: int | None = None) -> int:
        """Delete items past their expiry; returns how many went."""
        now_s = int(time.time()) if now_s is None else now_s
        if self.readonly:
            raise StoreUnavailable(f"online store {str(self.path)!r} is open read-only")
        gone = 0
        try:
            with self._open_env().begin(write=True, buffers=True) as txn:
                cursor = txn.cursor()
                more = cursor.first()
                while more:
                    expires = _HEAD.unpack_from(cursor.value())[1]
                    if 0 < expires < now_s:
                        more = cursor.delete() and bool(cursor.key())   # moves to the next item
                        gone += 1
                    else:
                        more = cursor.next()
        except lmdb.Error as err:
            raise StoreUnavailable(f"online store {str(self.path)!r} sweep failed: {err}") from err
        return gone

    def items(self) -> Iterator[tuple[str, Item]]:
        """Every stored key and item, in key order (for checks and tools; keys stored by digest show
        as '#' and hex)."""
        with self._open_env().begin() as txn:
            for key, raw in txn.cursor():
                name = "#" + key[1:].hex() if key[:1] == b"#" and len(key) == 33 else key.decode()
                yield name, Item(raw[16:], _HEAD.unpack_from(raw)[0])

    def count(self) -> int:
        return int(self._open_env().stat()["entries"])

    def close(self) -> None:
        if getattr(self, "_env", None) is not None:
            self._env = None
            _release_env(self.path)


class LazyStore:
    """A store opened on first use and reopened after a failure (at most once per `retry_s`), so a
    server starts before its store exists and recovers when the store comes back. While it cannot
    open, every call raises StoreUnavailable at once (no waiting)."""

    def __init__(self, spec: str, timeout_s: float, retry_s: float = 1.0) -> None:
        self.spec, self.timeout_s, self.retry_s = spec, timeout_s, retry_s
        self.name = spec.partition(":")[0] if ":" in spec else "lmdb"
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
    """`lmdb:PATH` (or a plain path) or `dynamodb:TABLE`."""
    kind, _, rest = spec.partition(":")
    if kind == "dynamodb" and rest:
        from fraudcore.online.dynamo import DynamoStore
        return DynamoStore(rest, timeout_s=timeout_s)
    if kind == "lmdb" and rest:
        return LmdbStore(rest, timeout_s=timeout_s, readonly=readonly)
    if not rest:
        return LmdbStore(spec, timeout_s=timeout_s, readonly=readonly)
    from fraudcore.online.errors import OnlineConfigError
    raise OnlineConfigError(f"online store: must be 'lmdb:PATH' or 'dynamodb:TABLE'; got {spec!r}")
