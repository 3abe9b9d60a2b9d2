"""Event-level data built once per session with the project's generator."""
from __future__ import annotations

import pytest

from fraudcore.synth.events import generate_events
from fraudcore.synth.events.generate import iter_months, setup


@pytest.fixture(scope="session")
def events_200k(seed):
    return generate_events(200_000, seed)


@pytest.fixture(scope="session")
def months_200k(seed):
    """The same data as generator months (internal arrays, the features the oracle read)."""
    s = setup(200_000, seed)
    return s, list(iter_months(200_000, seed, prepared=s))
