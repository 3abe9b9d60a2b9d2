"""The embedded store: compare-and-set versions, conflicts, expiry, and a reader that recovers."""
from __future__ import annotations

import sqlite3

import pytest

from fraudcore.online.store import LazyStore, Put, SqliteStore, StoreConflict, StoreUnavailable, open_store
from fraudcore.online.errors import OnlineConfigError


def test_versions_count_writes_and_a_stale_write_loses(tmp_path):
    s = SqliteStore(tmp_path / "s.sqlite")
    s.put_many([Put("a", b"1", 0, 0), Put("b", b"x", 0, 0)])
    got = s.get_many(["a", "b", "c"])
    assert {k: (v.value, v.version) for k, v in got.items()} == {"a": (b"1", 1), "b": (b"x", 1)}
    s.put_many([Put("a", b"2", 0, 1)])
    with pytest.raises(StoreConflict) as err:
        s.put_many([Put("a", b"3", 0, 1), Put("b", b"y", 0, 1), Put("b2", b"new", 0, 0)])
    assert err.value.keys == ("a",)
    got = s.get_many(["a", "b", "b2"])
    assert (got["a"].value, got["a"].version) == (b"2", 2)       # the stale write did not land
    assert (got["b"].value, got["b"].version) == (b"y", 2)       # the others did
    with pytest.raises(StoreConflict):
        s.put_many([Put("b2", b"again", 0, 0)])                  # "absent" expected, but it exists


def test_sweep_deletes_only_expired_items(tmp_path):
    s = SqliteStore(tmp_path / "s.sqlite")
    s.put_many([Put("old", b"1", 100, 0), Put("new", b"1", 300, 0), Put("never", b"1", 0, 0)])
    assert s.sweep(now_s=200) == 1
    assert sorted(s.get_many(["old", "new", "never"])) == ["never", "new"]


def test_a_reader_starts_before_the_store_exists_and_recovers(tmp_path):
    path = tmp_path / "later.sqlite"
    lazy = LazyStore(f"sqlite:{path}", timeout_s=0.05, retry_s=0.0)
    with pytest.raises(StoreUnavailable, match="does not exist"):
        lazy.get_many(["k"])
    SqliteStore(path).put_many([Put("k", b"v", 0, 0)])
    assert lazy.get_many(["k"])["k"].value == b"v"
    with pytest.raises(StoreUnavailable, match="read-only"):
        lazy.put_many([Put("k", b"w", 0, 1)])


def test_a_locked_store_fails_within_its_budget(tmp_path):
    import time
    path = tmp_path / "s.sqlite"
    writer = SqliteStore(path)
    writer.put_many([Put("k", b"v", 0, 0)])
    writer.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        reader = SqliteStore(path, timeout_s=0.05, readonly=True)
        t0 = time.perf_counter()
        with pytest.raises(StoreUnavailable):
            reader.get_many(["k"])
        assert time.perf_counter() - t0 < 1.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_bad_store_spec_names_the_forms():
    with pytest.raises(OnlineConfigError, match="sqlite:PATH"):
        open_store("redis:host")
