"""Hyperparameter search: one seeded Optuna study per foreach branch, merged into one study at the join.

Each branch loads the shared binned Dataset (no re-binning), runs TPE with its own seed, and prunes
unpromising trials from the validation PR-AUC reported during boosting. Trials leave a branch as
plain dicts, so the join can rebuild them with `optuna.trial.create_trial` whatever process ran them.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna

from fraudcore.config import TUNABLE, SearchRange, TrainConfig
from fraudcore.train import METRIC, Matrices, base_params, fit_booster, load_datasets

STUDY_NAME = "trainflow-tuning"
REPORT_EVERY = 10  # rounds between pruning checks; each check is one comparison, not an evaluation


def distributions(space: Mapping[str, SearchRange]) -> dict[str, optuna.distributions.BaseDistribution]:
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    for name, r in space.items():
        if TUNABLE[name]:
            out[name] = optuna.distributions.IntDistribution(int(r.low), int(r.high), log=r.log)
        else:
            out[name] = optuna.distributions.FloatDistribution(float(r.low), float(r.high), log=r.log)
    return out


def suggest(trial: optuna.Trial, name: str, dist: optuna.distributions.BaseDistribution) -> float | int:
    if isinstance(dist, optuna.distributions.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


class PruningCallback:
    """LightGBM callback: report validation PR-AUC to the trial, stop the trial when Optuna says so."""

    order = 30  # after LightGBM's own evaluation

    def __init__(self, trial: optuna.Trial, warmup: int) -> None:
        self.trial = trial
        self.warmup = warmup

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        step = env.iteration + 1
        if step % REPORT_EVERY:
            return
        value = next(v for _, name, v, _ in env.evaluation_result_list if name == METRIC)
        self.trial.report(float(value), step)
        if step >= self.warmup and self.trial.should_prune():
            raise optuna.TrialPruned(f"round {step}: validation {METRIC} {value:.4f}")


def run_branch(cfg: TrainConfig, mat: Matrices, branch: int, n_trials: int | None = None) -> list[dict[str, Any]]:
    """Run one branch's study; return its trials as plain records (see `trial_record`)."""
    t = cfg.tuning
    seed = cfg.seed * 1000 + branch
    train, valid, _, _ = load_datasets(mat, cfg)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=t.startup_trials)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=max(1, t.startup_trials), n_warmup_steps=t.pruning_warmup_rounds)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner, study_name=f"{STUDY_NAME}-{branch}")
    dists = distributions(t.space)

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("branch", branch)
        params = {name: suggest(trial, name, dist) for name, dist in dists.items()}
        full = {**base_params(cfg, seed + trial.number, t.num_threads), **params}
        started = time.perf_counter()
        booster = fit_booster(full, train, valid, t.max_rounds, t.early_stopping_rounds,
                              [PruningCallback(trial, t.pruning_warmup_rounds)])
        trial.set_user_attr("best_iteration", int(booster.best_iteration or booster.current_iteration()))
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
        return float(booster.best_score["valid"][METRIC])

    study.optimize(objective, n_trials=n_trials or t.trials_per_branch, catch=())
    return [trial_record(tr, branch) for tr in study.trials]


def trial_record(trial: optuna.trial.FrozenTrial, branch: int) -> dict[str, Any]:
    return {"branch": branch, "number": trial.number, "state": trial.state.name, "value": trial.value,
            "params": dict(trial.params), "intermediate": {int(k): float(v) for k, v in trial.intermediate_values.items()},
            "user_attrs": dict(trial.user_attrs),
            "seconds": (trial.datetime_complete - trial.datetime_start).total_seconds()
            if trial.datetime_complete and trial.datetime_start else None}


def merge_trials(cfg: TrainConfig, branches: Iterable[Sequence[Mapping[str, Any]]]) -> optuna.Study:
    """One in-memory study holding every branch's trials, for history plots and the best trial."""
    study = optuna.create_study(direction="maximize", study_name=STUDY_NAME)
    dists = distributions(cfg.tuning.space)
    records = sorted((r for b in branches for r in b), key=lambda r: (r["branch"], r["number"]))
    study.add_trials([
        optuna.trial.create_trial(
            state=optuna.trial.TrialState[r["state"]], value=r["value"] if r["state"] == "COMPLETE" else None,
            params=r["params"], distributions={k: dists[k] for k in r["params"]},
            intermediate_values=r["intermediate"], user_attrs={**r["user_attrs"], "branch_trial": r["number"]})
        for r in records])
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        raise RuntimeError(f"tuning finished no trial ({len(records)} trials, states "
                           f"{sorted({r['state'] for r in records})}); raise tuning.trials_per_branch")
    return study


def summarize(study: optuna.Study) -> dict[str, Any]:
    """The best trial and the history as JSON-ready data (for the card and the bundle manifest)."""
    best = study.best_trial
    states = [t.state.name for t in study.trials]
    values = [t.value for t in study.trials]
    running = np.maximum.accumulate([v if v is not None else -np.inf for v in values]).tolist()
    return {"best_value": float(best.value), "best_params": dict(best.params),
            "best_iteration": int(best.user_attrs.get("best_iteration", 0)),
            "best_branch": int(best.user_attrs.get("branch", -1)), "n_trials": len(study.trials),
            "n_complete": states.count("COMPLETE"), "n_pruned": states.count("PRUNED"),
            "history": [{"number": t.number, "branch": t.user_attrs.get("branch"), "state": t.state.name,
                         "value": t.value, "best_so_far": b if b != -np.inf else None,
                         "best_iteration": t.user_attrs.get("best_iteration"), "params": t.params}
                        for t, b in zip(study.trials, running)]}
