"""Fixtures for the serving tests: small real bundles (trained with fraudcore's own functions on
generator data, once per session) and a real server process on a free loopback port."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest
from serving_support import RUN_A, RUN_B, Server, start_server, train_bundle

from fraudcore.schema import Schema
from fraudcore.synth import generate_frame


@pytest.fixture(scope="session")
def serving_frame(seed: int) -> pd.DataFrame:
    return generate_frame(40_000, seed)


@pytest.fixture(scope="session")
def bundle_a(tmp_path_factory: pytest.TempPathFactory, serving_frame: pd.DataFrame, schema: Schema) -> Path:
    return train_bundle(tmp_path_factory.mktemp("bundles") / RUN_A, serving_frame, schema, RUN_A, 100, 31, 1)


@pytest.fixture(scope="session")
def bundle_b(tmp_path_factory: pytest.TempPathFactory, serving_frame: pd.DataFrame, schema: Schema) -> Path:
    return train_bundle(tmp_path_factory.mktemp("bundles") / RUN_B, serving_frame, schema, RUN_B, 40, 15, 2)


@pytest.fixture(scope="session")
def holdout(serving_frame: pd.DataFrame) -> pd.DataFrame:
    return serving_frame.iloc[int(len(serving_frame) * 0.85):].reset_index(drop=True)


@pytest.fixture(scope="session")
def capture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("capture")


@pytest.fixture(scope="session")
def server(bundle_a: Path, capture_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the contract tests: bundle A, every request captured, batches up to 64."""
    log = tmp_path_factory.mktemp("logs") / "server.log"
    srv = start_server(["--model", str(bundle_a), "--capture", str(capture_dir), "--capture-sample", "1",
                        "--max-batch", "64", "--max-body-bytes", "200000"], log)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def np_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)
