"""Drift reference: decile bins with open ends, an unseen bucket, PSI, and identical binning for live data."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fraudcore.profile import UNSEEN, ProfileBinning, bin_counts, build_profile, drift_report, missing_rate, psi
from fraudcore.schema import paylink_schema
from fraudcore.synth import generate_frame

SEED = 21
SCHEMA = paylink_schema()
NUMERIC = [f.name for f in SCHEMA.features if f.dtype in ("float", "int")]
CATEGORICAL = [f for f in SCHEMA.features if f.dtype == "category"]
NULLABLE = [f.name for f in SCHEMA.features if f.nullable and f.dtype != "category"]
# a continuous, always-present field (amount in the PayLink schema)
CONTINUOUS = next(f.name for f in SCHEMA.features if f.dtype == "float" and not f.nullable and (f.max or 0) > 1)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_frame(4000, SEED)


@pytest.fixture(scope="module")
def scores(frame: pd.DataFrame) -> np.ndarray:
    return frame[SCHEMA.oracle].to_numpy()


@pytest.fixture(scope="module")
def profile(frame: pd.DataFrame, scores: np.ndarray) -> dict:
    return build_profile(frame, scores, schema=SCHEMA, review_threshold=0.05)


def test_profile_covers_every_feature_and_is_json(profile: dict, scores: np.ndarray) -> None:
    assert set(profile["features"]) == set(SCHEMA.feature_names)
    again = json.loads(json.dumps(profile, allow_nan=False))
    assert again == profile
    for name, entry in profile["features"].items():
        assert sum(entry["freqs"]) == pytest.approx(1.0), name
        if entry["kind"] == "numeric":
            assert len(entry["freqs"]) == len(entry["edges"]) + 1
            assert entry["edges"] == sorted(set(entry["edges"])) and len(entry["edges"]) <= 9
    assert profile["alert_rate"] == pytest.approx(np.mean(scores >= 0.05))
    assert len(profile["score"]["freqs"]) == len(profile["score"]["edges"]) + 1


def test_continuous_feature_gets_deciles(profile: dict, frame: pd.DataFrame) -> None:
    entry = profile["features"][CONTINUOUS]  # ten equal bins on its own training data
    assert len(entry["edges"]) == 9
    np.testing.assert_allclose(entry["freqs"], 0.1, atol=0.002)
    assert entry["edges"] == pytest.approx(np.quantile(frame[CONTINUOUS].to_numpy(np.float64), np.arange(1, 10) / 10))


def test_missing_rates_match_the_frame(profile: dict, frame: pd.DataFrame) -> None:
    for name in NULLABLE:
        assert profile["features"][name]["missing_rate"] == pytest.approx(frame[name].isna().mean()), name


def test_ends_are_open_and_live_lists_bin_like_series(profile: dict, frame: pd.DataFrame) -> None:
    entry = profile["features"][CONTINUOUS]
    counts = bin_counts(entry, [-1e12, 1e12, None, entry["edges"][0]])
    assert counts[0] == 2 and counts[-1] == 1 and counts.sum() == 3  # an edge value falls in the bin below it
    some = frame[CONTINUOUS].iloc[:500]
    np.testing.assert_array_equal(bin_counts(entry, some), bin_counts(entry, some.tolist()))


def test_unseen_bucket_catches_unknown_categories(profile: dict) -> None:
    f = CATEGORICAL[0]
    entry = profile["features"][f.name]
    assert entry["categories"] == [*f.categories, UNSEEN]
    counts = bin_counts(entry, [f.categories[0], "brand-new", None, 5])
    assert counts[0] == 1 and counts[-1] == 2 and counts.sum() == 3
    assert missing_rate(entry, [f.categories[0], None]) == 0.5


def test_psi_zero_for_same_and_large_for_shifted(profile: dict, frame: pd.DataFrame, scores: np.ndarray) -> None:
    same = drift_report(profile, frame, scores)
    assert all(v["psi"] < 1e-9 for v in same.values() if v["psi"] is not None)
    shifted = frame.copy()
    shifted[CONTINUOUS] = shifted[CONTINUOUS] * 3
    rep = drift_report(profile, shifted, scores * 2)
    assert rep[CONTINUOUS]["psi"] > 0.25
    assert rep["__score__"]["psi"] > 0.1 and rep["__score__"]["alert_rate"] > profile["alert_rate"]
    assert psi([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0
    assert psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]) > 0.1  # an empty reference bin filling up registers
    with pytest.raises(ValueError, match="equal length"):
        psi([0.5, 0.5], [1.0])


def test_edges_from_a_sample_are_reproducible(frame: pd.DataFrame, scores: np.ndarray) -> None:
    binning = ProfileBinning(sample_rows=1000, seed=1)
    a = build_profile(frame, scores, schema=SCHEMA, review_threshold=0.05, binning=binning)
    b = build_profile(frame, scores, schema=SCHEMA, review_threshold=0.05, binning=binning)
    assert a == b
    assert sum(a["features"][CONTINUOUS]["freqs"]) == pytest.approx(1.0)


@pytest.mark.parametrize("field", ["n_bins", "score_bins", "sample_rows"])
def test_binning_rejects_a_bin_or_sample_count_below_one(field: str) -> None:
    with pytest.raises(ValueError, match=f"'{field}' must be an integer >= 1; got 0"):
        ProfileBinning(**{field: 0})


def test_binning_settings_reach_the_profile(frame: pd.DataFrame, scores: np.ndarray) -> None:
    coarse = build_profile(frame, scores, schema=SCHEMA, review_threshold=0.05,
                           binning=ProfileBinning(n_bins=4, score_bins=5))
    assert len(coarse["features"][CONTINUOUS]["edges"]) <= 3 and len(coarse["score"]["edges"]) <= 4
