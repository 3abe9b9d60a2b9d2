"""Micro-batching: concurrent requests scored together give exactly their one-at-a-time answers,
batches group by model and respect the cap, and a failing batch fails only its own requests."""
from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import numpy as np
import pytest
from serving_support import RUN_A, RUN_B, to_records

from fraudcore.bundle import load_bundle
from fraudcore.schema import paylink_schema
from fraudcore.serving.batching import MicroBatcher, Submission, score_submissions
from fraudcore.serving.holder import Loaded
from fraudcore.serving.parsing import RequestParser
from fraudcore.serving.scoring import Scorer

SCHEMA = paylink_schema()


def _loaded(bundle_dir) -> Loaded:
    scorer = Scorer(load_bundle(bundle_dir))
    return Loaded(scorer, RequestParser(scorer.bundle.schema, 256), str(bundle_dir), time.time())


class _Broken:
    """A scorer whose predict fails, standing in for a bug inside a flush."""

    version = "broken"

    def predict(self, *args, **kwargs):
        raise RuntimeError("boom")


def test_submissions_scored_together_equal_scored_alone(bundle_a, holdout):
    loaded = _loaded(bundle_a)
    records = to_records(holdout.head(60), SCHEMA)
    subs = [Submission(loaded, records[i:i + k], explain_all=(i % 3 == 0))
            for i, k in zip(range(0, 60, 6), [1, 2, 3, 1, 5, 6, 1, 4, 2, 6])]
    together = score_submissions(loaded, subs)
    for sub, got in zip(subs, together):
        alone = score_submissions(loaded, [sub])[0]
        assert len(got) == len(sub.records)
        np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in alone], rtol=0, atol=1e-9)
        assert [r["decision"] for r in got] == [r["decision"] for r in alone]
        assert [r.get("reasons") for r in got] == [r.get("reasons") for r in alone]
        if sub.explain_all:
            assert all("reasons" in r for r in got)


def test_one_flush_per_loop_iteration_grouped_by_model_and_capped(bundle_a, bundle_b, holdout):
    a, b = _loaded(bundle_a), _loaded(bundle_b)
    records = to_records(holdout.head(20), SCHEMA)
    sizes: list[int] = []
    batcher = MicroBatcher(max_rows=4, on_batch=sizes.append)

    async def run():
        futs = [batcher.submit(Submission(a if i % 2 else b, records[i:i + 1])) for i in range(10)]
        futs.append(batcher.submit(Submission(a, records[10:13])))
        return await asyncio.gather(*futs)

    out = asyncio.run(run())
    # B: 5 single rows -> 4 + 1; A: 5 single rows, then a 3-row request -> 4 + (1 + 3)
    assert sorted(sizes) == [1, 4, 4, 4]
    for i in range(10):
        want = score_submissions(a if i % 2 else b, [Submission(a if i % 2 else b, records[i:i + 1])])[0]
        assert out[i] == want and out[i][0]["model_version"] == (RUN_A if i % 2 else RUN_B)
    assert len(out[10]) == 3


def test_a_failing_batch_fails_only_its_requests(bundle_a, holdout):
    good = _loaded(bundle_a)
    bad = Loaded(_Broken(), good.parser, "broken", time.time())
    records = to_records(holdout.head(4), SCHEMA)
    batcher = MicroBatcher(max_rows=256)

    async def run():
        futs = [batcher.submit(Submission(bad if i == 1 else good, records[i:i + 1])) for i in range(4)]
        return await asyncio.gather(*futs, return_exceptions=True)

    out = asyncio.run(run())
    assert isinstance(out[1], RuntimeError) and str(out[1]) == "boom"
    assert all(isinstance(r, list) and r[0]["model_version"] == RUN_A for i, r in enumerate(out) if i != 1)


def _batch_rows(text: str) -> tuple[int, int]:
    single = int(re.search(r'^fraud_batch_rows_bucket\{le="1"\} (\d+)$', text, re.M).group(1))
    total = int(re.search(r"^fraud_batch_rows_count (\d+)$", text, re.M).group(1))
    return single, total


def test_concurrent_single_requests_batch_and_equal_bundle_scores(server, holdout):
    """Many one-transaction requests at once through a real server: batches form, and every
    response is the bundle's own score and decision for that row."""
    bundle = load_bundle(httpx.get(server.url + "/admin/model").json()["bundle"])
    assert bundle.version == RUN_A
    rows = holdout.head(1200)
    scores = bundle.score(rows)
    decisions = bundle.decide(scores)
    records = to_records(rows, SCHEMA)
    single_before, total_before = _batch_rows(httpx.get(server.url + "/metrics").text)

    async def fire():
        limits = httpx.Limits(max_connections=48, max_keepalive_connections=48)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            sem = asyncio.Semaphore(48)

            async def one(rec):
                async with sem:
                    return await client.post("/invocations", content=json.dumps(rec),
                                             headers={"content-type": "application/json"})

            return await asyncio.gather(*(one(rec) for rec in records))

    responses = asyncio.run(fire())
    for i, r in enumerate(responses):
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["transaction_id"] == records[i][SCHEMA.id]
        assert abs(body["score"] - scores[i]) <= 1e-9
        assert body["decision"] == decisions[i]
        assert ("reasons" in body) == (decisions[i] != "approve")
    single_after, total_after = _batch_rows(httpx.get(server.url + "/metrics").text)
    flushes = total_after - total_before
    assert 0 < flushes < len(records), "no micro-batch held more than one request"
    assert single_after - single_before < flushes


@pytest.mark.parametrize("flag, expected", [([], True), (["--no-batching"], False)])
def test_batching_flag(flag, expected):
    from fraudcore.serving.cli import config_from_args

    assert config_from_args(["--model", "x", *flag]).batching is expected
