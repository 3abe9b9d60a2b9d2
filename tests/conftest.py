"""Shared fixtures: the schema, a seed, and small synthetic frames built with the project's generator."""
from __future__ import annotations

import os

import pytest

# Metaflow refuses to run without a user name and refuses "root".
if not os.environ.get("METAFLOW_USER") or os.environ.get("METAFLOW_USER") == "root":
    os.environ["METAFLOW_USER"] = "paylink-test"

from fraudcore.schema import paylink_schema  # noqa: E402
from fraudcore.synth import generate_frame  # noqa: E402


@pytest.fixture(scope="session")
def schema():
    return paylink_schema()


@pytest.fixture(scope="session")
def seed() -> int:
    return 7


@pytest.fixture(scope="session")
def small_frame(seed):
    """~60k rows over 18 months: enough positives (~400) for metric tests, fast to build."""
    return generate_frame(60_000, seed)
