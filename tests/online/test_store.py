"""The embedded store: compare-and-set versions, conflicts, expiry, readers that never block, and a
reader that recovers."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from fraudcore.online.errors import OnlineConfigError
from fraudcore.online.store import LazyStore, LmdbStore, Put, StoreConflict, StoreUnavailable, open_store


def test_versions_count_writes_and_a_stale_write_loses(tmp_path):
    s = LmdbStore(tmp_path / "s.lmdb")
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
    s.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        s.get_many(["a"])


def test_sweep_deletes_only_expired_items(tmp_path):
    s = LmdbStore(tmp_path / "s.lmdb")
    s.put_many([Put("old", b"1", 100, 0), Put("new", b"1", 300, 0), Put("never", b"1", 0, 0),
                Put("zz-last", b"1", 50, 0)])
    assert s.sweep(now_s=200) == 2                               # the last key in order goes too
    assert sorted(s.get_many(["old", "new", "never", "zz-last"])) == ["never", "new"]
    assert s.count() == 2


def test_keys_past_lmdbs_limit_are_stored_by_digest(tmp_path):
    s = LmdbStore(tmp_path / "s.lmdb")
    long_a, long_b = "a|" + "x" * 600, "a|" + "x" * 599 + "y"
    s.put_many([Put(long_a, b"A", 0, 0), Put(long_b, b"B", 0, 0)])
    got = s.get_many([long_a, long_b])
    assert (got[long_a].value, got[long_b].value) == (b"A", b"B")


def test_a_reader_and_a_writer_in_one_process_share_the_file(tmp_path):
    path = tmp_path / "later.lmdb"
    lazy = LazyStore(f"lmdb:{path}", timeout_s=0.05, retry_s=0.0)
    with pytest.raises(StoreUnavailable, match="does not exist"):
        lazy.get_many(["k"])
    writer = LmdbStore(path)
    writer.put_many([Put("k", b"v", 0, 0)])
    assert lazy.get_many(["k"])["k"].value == b"v"
    with pytest.raises(StoreUnavailable, match="read-only"):
        lazy.put_many([Put("k", b"w", 0, 1)])
    lazy.close()
    writer.put_many([Put("k", b"w", 0, 1)])                      # the writer's handle outlives the reader's
    assert writer.get_many(["k"])["k"].version == 2


_HOLD_WRITE = """
import sys, time, lmdb
env = lmdb.open(sys.argv[1], subdir=False, map_size=1 << 38)
with env.begin(write=True) as txn:
    txn.put(b"k", bytes(16) + b"uncommitted")
    print("holding", flush=True)
    time.sleep(30)
"""


def test_a_reader_is_never_blocked_by_a_writer(tmp_path):
    path = tmp_path / "s.lmdb"
    writer = LmdbStore(path)
    writer.put_many([Put("k", b"v", 0, 0)])
    writer.close()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_WRITE, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"    # another process holds the write lock
        reader = LmdbStore(path, readonly=True)
        t0 = time.perf_counter()
        got = reader.get_many(["k"])
        assert time.perf_counter() - t0 < 0.5
        assert got["k"].value == b"v"                           # the last committed value, not the open write
    finally:
        holder.kill()
        holder.wait()


def test_a_bad_store_spec_names_the_forms():
    with pytest.raises(OnlineConfigError, match="lmdb:PATH"):
        open_store("redis:host")
