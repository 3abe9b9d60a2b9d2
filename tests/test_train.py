"""Training on downsampled negatives: calibrated scores, one binned Dataset for all trials, pruning, merging."""
from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from fraudcore.config import DataConfig, TrainConfig
from fraudcore.prepare import RowDraw, count_split, load_part, negative_rate, prepare_dataset
from fraudcore.split import plan_split
from fraudcore.synth import write_dataset
from fraudcore.context import TrainContext
from fraudcore.evaluation import booster_scorer, score_window
from fraudcore.train import Matrices, base_params, build_matrices, fit_booster, load_datasets, recency_weights
from fraudcore.tuning import PruningCallback, merge_trials, run_branch, summarize

CFG = TrainConfig.from_dict({
    "sampling": {"max_train_rows": 8000, "max_valid_rows": 4000},
    "tuning": {"branches": 2, "trials_per_branch": 2, "max_rounds": 40, "early_stopping_rounds": 10,
               "pruning_warmup_rounds": 10, "startup_trials": 1},
})


@pytest.fixture(scope="module")
def data(tmp_path_factory, schema, seed):
    root = tmp_path_factory.mktemp("data")
    write_dataset(root / "ds", 60_000, seed, schema=schema)
    data_cfg = DataConfig(prepared_root=str(root / "prepared"), workers=1)
    prepared = prepare_dataset(schema, root / "ds", data_cfg, synthetic=True)
    plan = plan_split(CFG.split, prepared.first_time, prepared.last_time)
    counts = count_split(prepared, schema, plan)
    pipeline, mat = build_matrices(TrainContext(CFG, schema, prepared, plan, counts), root / "work")
    return prepared, plan, counts, pipeline, mat


def test_prepared_data_accounts_for_every_row(data, schema) -> None:
    prepared, plan, counts, _, _ = data
    assert prepared.rows == 60_000 and sum(m["rows"] for m in prepared.months.values()) == 60_000
    assert sum(c["rows"] for c in counts.values()) == 60_000
    assert len(prepared.months) == 18 and prepared.report["rows_quarantined"] == 0


def test_sampling_keeps_every_positive_and_drops_negatives(data) -> None:
    _, _, counts, _, mat = data
    assert mat.train_positives == counts["train"]["positives"]
    assert 0 < mat.train_rate < 1
    expected_neg = (counts["train"]["rows"] - counts["train"]["positives"]) * mat.train_rate
    assert abs((mat.train_rows - mat.train_positives) - expected_neg) < 4 * np.sqrt(expected_neg)
    assert mat.logit_offset == pytest.approx(np.log(mat.train_rate))


def test_negative_rate_hits_the_row_budget() -> None:
    counts = {"train": {"rows": 1_000_000, "positives": 10_000}}
    r = negative_rate(counts, ["train"], 110_000, 1.0)
    assert 10_000 + 990_000 * r == pytest.approx(110_000)
    assert negative_rate(counts, ["train"], 5_000_000, 1.0) == 1.0
    assert negative_rate(counts, ["train"], 5_000_000, 0.3) == 0.3


def test_load_part_is_deterministic_and_keeps_positives(data, schema) -> None:
    prepared, plan, counts, _, _ = data
    a = load_part(prepared, schema, plan, ["validation"], ["amount"], RowDraw(0.2, seed=3))
    b = load_part(prepared, schema, plan, ["validation"], ["amount"], RowDraw(0.2, seed=3))
    pd.testing.assert_frame_equal(a, b)
    assert int(a[schema.label].sum()) == counts["validation"]["positives"]
    assert len(a) < counts["validation"]["rows"] / 2


def test_logit_offset_keeps_scores_calibrated(data, schema) -> None:
    prepared, plan, counts, pipeline, mat = data
    train, _, _, _ = load_datasets(mat, CFG)
    params = {**base_params(CFG, 0, 1), "learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 20}
    booster = fit_booster(params, train, None, 60, None)
    scores, frame = score_window(prepared, schema, plan.bounds("validation"),
                                 {"fixed": booster_scorer(booster, pipeline, mat.logit_offset),
                                  "uncorrected": booster_scorer(booster, pipeline, 0.0)})
    rate = frame[schema.label].mean()
    assert len(frame) == counts["validation"]["rows"]
    # corrected: the mean score is the fraud rate; uncorrected: the odds are inflated by 1 / sampling rate
    assert 0.7 < scores["fixed"].mean() / rate < 1.4
    assert scores["uncorrected"].mean() / rate > 1.8

    def logit(p):
        return np.log(p) - np.log1p(-p)

    np.testing.assert_allclose(logit(scores["uncorrected"]) - logit(scores["fixed"]), -mat.logit_offset, rtol=1e-6)


def test_one_binned_dataset_serves_every_trial(data) -> None:
    _, _, _, pipeline, mat = data
    a, va, _, _ = load_datasets(mat, CFG)
    b, _, _, _ = load_datasets(mat, CFG)
    a.construct()
    b.construct()
    assert a.num_data() == b.num_data() == mat.train_rows
    assert a.num_feature() == pipeline.n_features_out_
    assert va.construct().num_data() == mat.valid_rows


def test_branches_merge_into_one_study(data) -> None:
    _, _, _, _, mat = data
    branches = [run_branch(CFG, mat, b) for b in range(2)]
    assert [len(b) for b in branches] == [2, 2]
    assert branches[0][0]["params"] != branches[1][0]["params"]  # each branch has its own seed
    study = merge_trials(CFG, branches)
    assert len(study.trials) == 4
    summary = summarize(study)
    done = [r["value"] for b in branches for r in b if r["state"] == "COMPLETE"]
    assert summary["best_value"] == max(done)
    assert summary["best_iteration"] >= 1
    assert summary["history"][-1]["best_so_far"] == max(done)


def test_pruning_callback_stops_a_bad_trial(data) -> None:
    _, _, _, _, mat = data
    train, valid, _, _ = load_datasets(mat, CFG)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.999))

    def objective(trial: optuna.Trial) -> float:
        booster = fit_booster({**base_params(CFG, 0, 1), "num_leaves": 7}, train, valid, 100, None,
                              [PruningCallback(trial, warmup=20)])
        return float(booster.best_score["valid"]["average_precision"])

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert max(trial.intermediate_values) == 20  # reported every 10 rounds, pruned at the first check after warmup


def test_recency_weights_halve_every_half_life() -> None:
    end = pd.Timestamp("2026-01-01", tz="UTC")
    t = pd.Series(pd.to_datetime(["2026-01-01", "2025-12-02", "2025-11-02"], utc=True))
    assert recency_weights(t, end, 30).tolist() == pytest.approx([1.0, 0.5, 0.25])
    assert recency_weights(t, end, 0).tolist() == [1.0, 1.0, 1.0]


def test_refit_uses_train_and_validation_with_its_own_offset(data, schema) -> None:
    from fraudcore.train import refit_train_val

    prepared, plan, counts, pipeline, mat = data
    params = {"learning_rate": 0.1, "num_leaves": 7}
    ctx = TrainContext(CFG, schema, prepared, plan, counts)
    booster, info = refit_train_val(ctx, pipeline, params, 20, mat.train_rows, 1)
    assert info["positives"] == counts["train"]["positives"] + counts["validation"]["positives"]
    assert booster.current_iteration() == info["rounds"] == round(20 * info["rows"] / mat.train_rows)
    assert info["logit_offset"] == pytest.approx(np.log(info["negative_rate"]))


def test_matrices_round_trip_as_an_artifact(data) -> None:
    mat = data[4]
    assert Matrices(**mat.to_dict()) == mat
