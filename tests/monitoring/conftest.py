"""Fixtures: one small real bundle per session (trained through fraudcore's own functions)."""
from __future__ import annotations

from pathlib import Path

import pytest
from monitor_helpers import BASE_ROWS, SEED

from fraudcore.bundle import Bundle, load_bundle
from fraudcore.monitoring.demo_bundle import train_small_bundle


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_bundle(tmp_path_factory.mktemp("bundle") / "b", rows=BASE_ROWS, seed=SEED)


@pytest.fixture(scope="session")
def bundle(bundle_dir: Path) -> Bundle:
    return load_bundle(bundle_dir)
