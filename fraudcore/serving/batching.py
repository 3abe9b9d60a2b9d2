"""Opportunistic micro-batching: requests that are ready together are scored together.

Under load several requests are parsed in the same event-loop iteration. Each one's validated
records go to `MicroBatcher.submit`, which returns a future; the first submission schedules one
flush with `loop.call_soon`. A callback scheduled that way runs after the handles already queued
for this iteration, i.e. after the other request tasks that were ready, so the flush sees all of
them and never waits on a timer: at low load a request is alone in its batch and pays one loop
iteration (microseconds), under load the per-call costs of transform, predict and explain are
paid once per batch. With the few-records transform those costs are now small, and a batch mostly
spreads bursts: near the top rate batching on and off cost the same CPU per request, and batching
on had the lower worst case (docs/serving.md#where-the-time-goes-in-the-http-path).

A flush groups submissions by the `Loaded` model they started on (a swap mid-flight does not move
a request to the new model), caps a batch at `max_rows`, scores it with one `Scorer.predict`, one
`explain` and one `results`, and hands each request its slice. A failure fails only the requests
of its batch (their handler answers 500); the worker keeps serving.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from fraudcore.serving.holder import Loaded

Results = list[dict[str, Any]]


@dataclass(slots=True)
class Submission:
    """One request's validated records, the model it started on, and whether it asked for all reasons."""

    loaded: Loaded
    records: list[dict[str, Any]]
    explain_all: bool = False


def score_submissions(loaded: Loaded, subs: Sequence[Submission]) -> list[Results]:
    """Score the records of several requests in one pass; one result list per submission, in order."""
    scorer = loaded.scorer
    records = [r for s in subs for r in s.records]
    bounds = list(accumulate((len(s.records) for s in subs), initial=0))
    explain_rows = {i for s, a, b in zip(subs, bounds, bounds[1:]) if s.explain_all for i in range(a, b)}
    scored = scorer.predict(records, explain_rows=explain_rows)
    results = scorer.results(scored, scorer.explain(scored))
    return [results[a:b] for a, b in zip(bounds, bounds[1:])]


class MicroBatcher:
    """Collects submissions of one worker's event loop and scores them in one flush per iteration."""

    def __init__(self, max_rows: int, on_batch: Callable[[int], None] | None = None) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1; got {max_rows}")
        self.max_rows = max_rows
        self.on_batch = on_batch
        self._pending: list[tuple[Submission, asyncio.Future[Results]]] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None  # a batcher serves one event loop

    def submit(self, sub: Submission) -> asyncio.Future[Results]:
        loop = self._loop
        if loop is None:  # looked up once: get_running_loop() costs a getpid() system call each time
            loop = self._loop = asyncio.get_running_loop()
        fut: asyncio.Future[Results] = loop.create_future()
        self._pending.append((sub, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        pending, self._pending, self._scheduled = self._pending, [], False
        for batch in self._batches(pending):
            self._run(batch)

    def _batches(self, pending: list[tuple[Submission, asyncio.Future[Results]]]
                 ) -> list[list[tuple[Submission, asyncio.Future[Results]]]]:
        """Group by model object (in arrival order), then cut each group at max_rows."""
        groups: dict[int, list[tuple[Submission, asyncio.Future[Results]]]] = {}
        for item in pending:
            groups.setdefault(id(item[0].loaded), []).append(item)
        out = []
        for items in groups.values():
            batch: list[tuple[Submission, asyncio.Future[Results]]] = []
            rows = 0
            for item in items:
                k = len(item[0].records)
                if batch and rows + k > self.max_rows:
                    out.append(batch)
                    batch, rows = [], 0
                batch.append(item)
                rows += k
            out.append(batch)
        return out

    def _run(self, batch: list[tuple[Submission, asyncio.Future[Results]]]) -> None:
        live = [(s, f) for s, f in batch if not f.done()]  # a cancelled request needs no score
        if not live:
            return
        try:
            results = score_submissions(live[0][0].loaded, [s for s, _ in live])
        except Exception as err:  # noqa: BLE001 - fail this batch's requests (500), not the worker
            for _, fut in live:
                fut.set_exception(err)
            return
        if self.on_batch is not None:
            self.on_batch(sum(len(s.records) for s, _ in live))
        for (_, fut), res in zip(live, results):
            fut.set_result(res)
