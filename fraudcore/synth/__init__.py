"""Synthetic PayLink transactions with a known fraud probability per row (the oracle).

`generate_frame(rows, seed)` returns a DataFrame; `write_dataset(out, rows, seed)` writes parquet
partitioned by month, one month at a time, so memory stays bounded at 42M rows. Output is identical
for a given (rows, seed, spec), however it is chunked.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from fraudcore.schema import Schema, paylink_schema
from fraudcore.synth.calendar import MonthSpan, holidays, month_starts, rows_per_month
from fraudcore.synth.entities import Entities, draw_entities
from fraudcore.synth.month import generate_month
from fraudcore.synth.spec import GeneratorSpec

__all__ = ["GeneratorSpec", "generate_frame", "generate_window", "iter_months", "write_dataset"]


def _entities(schema: Schema, spec: GeneratorSpec, rows: int, seed: int, total_days: int) -> Entities:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    n_customers = max(500, rows // 30)
    n_merchants = max(400, rows // 2000)
    return draw_entities(schema, n_customers, n_merchants, total_days, rng)


def iter_months(rows: int, seed: int, spec: GeneratorSpec | None = None, schema: Schema | None = None,
                months: list[int] | None = None) -> Iterator[tuple[int, str, pd.DataFrame]]:
    """Yield (month index, 'YYYY-MM', frame) for each month (or the selected month indices)."""
    spec = spec or GeneratorSpec()
    schema = schema or paylink_schema()
    if rows < 1:
        raise ValueError(f"rows must be >= 1; got {rows}")
    starts = month_starts(spec.start, spec.months)
    counts = rows_per_month(rows, starts)
    total_days = (starts[-1] - starts[0]).days
    ent = _entities(schema, spec, rows, seed, total_days)
    hol = frozenset(holidays(range(starts[0].year, starts[-1].year + 1)))
    wanted = range(spec.months) if months is None else months
    for i in wanted:
        if not 0 <= i < spec.months:
            raise ValueError(f"month index must be in [0, {spec.months}); got {i}")
        frame = generate_month(schema, spec, ent, MonthSpan.of(starts, i, hol), int(counts[i]), seed)
        yield i, starts[i].strftime("%Y-%m"), frame


def generate_window(rows: int, seed: int, base_rows: int, months_after: int = 0,
                    spec: GeneratorSpec | None = None, schema: Schema | None = None) -> pd.DataFrame:
    """A "production" month after the training period, from the same customers and merchants.

    `base_rows` is the size of the dataset the model was trained on (it sizes the entity tables, so
    the window's customers and merchants are the training data's). `spec` may differ from the
    training spec (a feed outage, a new fraud pattern, a seasonal shift) to create controlled drift;
    the new pattern keeps ramping with the month index, as it would in production.
    """
    spec = spec or GeneratorSpec()
    schema = schema or paylink_schema()
    if rows < 1 or base_rows < 1:
        raise ValueError(f"rows and base_rows must be >= 1; got rows={rows}, base_rows={base_rows}")
    if months_after < 0:
        raise ValueError(f"months_after must be >= 0; got {months_after}")
    index = spec.months + months_after
    starts = month_starts(spec.start, index + 1)
    ent = _entities(schema, spec, base_rows, seed, (starts[spec.months] - starts[0]).days)
    hol = frozenset(holidays(range(starts[0].year, starts[-1].year + 1)))
    return generate_month(schema, spec, ent, MonthSpan.of(starts, index, hol), rows, seed)


def generate_frame(rows: int, seed: int, spec: GeneratorSpec | None = None, schema: Schema | None = None,
                   months: list[int] | None = None) -> pd.DataFrame:
    """All (or the selected) months in one frame, in time order."""
    parts = [f for _, _, f in iter_months(rows, seed, spec, schema, months)]
    frame = pd.concat(parts, ignore_index=True)
    return frame


def write_dataset(out: str | Path, rows: int, seed: int, spec: GeneratorSpec | None = None,
                  schema: Schema | None = None,
                  progress: Callable[[int, str, int], None] | None = None) -> list[Path]:
    """Write parquet partitions `out/month=YYYY-MM/part-0.parquet`; returns the files written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    written = []
    for i, label, frame in iter_months(rows, seed, spec, schema):
        part = out / f"month={label}"
        part.mkdir(parents=True, exist_ok=True)
        path = part / "part-0.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, compression="zstd")
        written.append(path)
        if progress is not None:
            progress(i, label, len(frame))
        del frame
    return written
