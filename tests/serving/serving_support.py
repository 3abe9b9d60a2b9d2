"""Helpers for the serving tests: train a small real bundle, records as clients send them, and a
real server process on a free loopback port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import lightgbm as lgb
import numpy as np
import pandas as pd

from fraudcore.bundle import BundleRecord, ModelParts, predict_scores, write_bundle
from fraudcore.config import load_train_config
from fraudcore.profile import build_profile
from fraudcore.schema import Schema
from fraudcore.thresholds import choose_thresholds
from fraudcore.train import make_pipeline

ROOT = Path(__file__).resolve().parents[2]

RUN_A = "1764000000000001"
RUN_B = "1764000000000002"


def train_bundle(out: Path, frame: pd.DataFrame, schema: Schema, run_id: str, trees: int, leaves: int,
                 seed: int) -> Path:
    """Fit the pipeline, a LightGBM model, thresholds and profile; write a verified bundle."""
    n = len(frame)
    train, valid = frame.iloc[: int(n * 0.7)], frame.iloc[int(n * 0.7): int(n * 0.85)]
    # the shipped config's features (ratios, z-score, log1p, diff), so the server is tested on every op
    pipe = make_pipeline(load_train_config(ROOT / "config" / "train.toml"), schema).fit(train)
    ds = lgb.Dataset(pipe.transform(train), train[schema.label].to_numpy(),
                     feature_name=list(pipe.feature_names_out_), categorical_feature=pipe.categorical_indices_)
    params = {"objective": "binary", "num_leaves": leaves, "learning_rate": 0.1, "verbose": -1,
              "num_threads": 1, "seed": seed, "min_data_in_leaf": 10, "deterministic": True}
    booster = lgb.train(params, ds, num_boost_round=trees)
    s_valid = predict_scores(booster, pipe.transform(valid))
    thresholds = choose_thresholds(valid[schema.label].to_numpy(), s_valid)
    profile = build_profile(valid, s_valid, schema=schema, review_threshold=thresholds.review)
    return write_bundle(out, ModelParts(booster, pipe, thresholds, schema),
                        BundleRecord(run_id, profile, metrics={"note": "serving test model"},
                                     config={"trees": trees, "leaves": leaves}, data_fingerprint={"rows": n, "seed": seed}))


def to_records(frame: pd.DataFrame, schema: Schema) -> list[dict[str, Any]]:
    """Rows as the JSON a client sends: schema features plus the transaction id, NaN as null."""
    names = [*schema.feature_names, schema.id]
    out = []
    for row in frame[names].astype(object).itertuples(index=False):
        rec = {}
        for name, v in zip(names, row):
            if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
                rec[name] = None
            else:
                rec[name] = v.item() if hasattr(v, "item") else v
        out.append(rec)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kw)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server not ready after {timeout}s:\n{log.read_text()[-3000:]}")


def start_server(args: list[str], log: Path, env: dict[str, str] | None = None,
                 cmd: list[str] | None = None, port: int | None = None) -> Server:
    port = port or free_port()
    full_env = {**os.environ, **(env or {})}
    base = cmd or [sys.executable, "-m", "fraudcore.serving.cli", "--host", "127.0.0.1", "--port", str(port)]
    fh = open(log, "wb")
    proc = subprocess.Popen([*base, *args], stdout=fh, stderr=subprocess.STDOUT, env=full_env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url, log)
    return Server(proc, url, log)


def matrix_with_edge_values(bundle: Any, holdout: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """The bundle's matrix of 400 holdout rows with missing values, exact zeros and unseen category
    codes planted, all of which LightGBM routes by its own rules."""
    X = bundle.pipeline.transform(holdout.head(400)).copy()
    numeric = [i for i in range(X.shape[1]) if i not in bundle.pipeline.categorical_indices_]
    X[rng.choice(len(X), 120, replace=False), rng.choice(numeric, 120)] = np.nan
    X[rng.choice(len(X), 40), rng.choice(numeric, 40)] = 0.0
    for i in bundle.pipeline.categorical_indices_:
        X[rng.choice(len(X), 30), i] = len(bundle.pipeline.categories_[bundle.pipeline.feature_names_out_[i]]) + 1
    return X


SPECIAL_VALUES = [0.0, -0.0, 1e-36, -1e-36, 1e-35, -1e-35, 2e-35, -2e-35, np.nan, np.inf, -np.inf, 2e300, -2e300,
                  0.3, -0.3]


def special_values_case(params: dict[str, Any], rng: np.random.Generator) -> tuple[lgb.Booster, np.ndarray]:
    """A small binary model trained on data with NaNs and zeros under `params` (a missing type), and
    60 rows of the values at LightGBM's edges: the zero band (kZeroThreshold 1e-35), NaN, +-inf and
    values past its +-1e300 clamp (+inf goes left at the 1e300 split that separates NaN)."""
    n = 3000
    X = rng.normal(size=(n, 4))
    X[rng.random((n, 4)) < 0.1] = np.nan
    X[rng.random((n, 4)) < 0.1] = 0.0
    y = ((np.nan_to_num(X[:, 0]) + np.isnan(X[:, 1]) + rng.normal(0, 0.5, n)) > 0.5).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1,
                         "min_data_in_leaf": 5, **params}, lgb.Dataset(X, y), num_boost_round=20)
    return booster, np.stack([np.roll(np.resize(SPECIAL_VALUES, 60), k) for k in range(4)], axis=1)
