"""Event-level synthetic PayLink data: raw events from which the feature engine computes all 40 features.

`write_events(out, rows, seed)` writes the layout of issue14-contract.md month by month (bounded memory);
`generate_events(rows, seed)` returns the same tables in memory. `rows` counts the dataset's
authorisations; a lead-in month before `EventSpec.start` is written too (manifest.json lists it), so
30-day windows and "new device" hold from the first dataset month. The oracle table (kept aside) holds
the exact P(label | computed features, date); see oracle.py for how it stays exact.
"""
from __future__ import annotations

from fraudcore.synth.events.spec import EventSpec
from fraudcore.synth.events.write import EventData, generate_events, write_events

__all__ = ["EventData", "EventSpec", "generate_events", "write_events"]
