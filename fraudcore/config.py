"""The training config: typed, frozen, with every default in this file and nowhere else.

`config/train.toml` (read by TrainFlow through Metaflow `Config`) holds only the choices that differ
from these defaults; a user's own config (see docs/training.md) does the same. Unknown keys are an
error, and every range is checked on construction, so a typo fails before any data is read.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from fraudcore.schema import Schema

SPLIT_MODES = ("months", "dates")
REFIT_MODES = ("train_val", "none")
# Search-space entries Optuna may tune, and whether each is an integer parameter.
TUNABLE = {"learning_rate": False, "num_leaves": True, "min_child_samples": True, "min_sum_hessian_in_leaf": False,
           "feature_fraction": False, "bagging_fraction": False, "lambda_l1": False, "lambda_l2": False,
           "min_gain_to_split": False, "max_depth": True, "cat_smooth": False, "cat_l2": False,
           "max_cat_threshold": True, "scale_pos_weight": False, "path_smooth": False}


class ConfigError(ValueError):
    """The config cannot be used; the message names the key, the rule and the value received."""


def _need(ok: bool, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}' {rule}; got {value!r}")


@dataclass(frozen=True)
class DataConfig:
    path: str = ""                      # "" -> the synthetic default (generated or reused)
    schema: str = ""                    # "" -> config/schema.toml (PayLink)
    synthetic_rows: int = 2_000_000     # the embedded default: `make train` in ~6 min on 2 cores
    synthetic_seed: int = 7
    synthetic_root: str = "data/synthetic"
    work_root: str = "artifacts/train"  # per-run binned training set and validation sample
    workers: int = 2                    # processes validating files side by side
    prepared_root: str = "data/prepared"  # validated copies of files that needed cleaning
    on_error: str = "quarantine"
    time_order: str = "reject"
    column_map: tuple[tuple[str, str], ...] = ()  # your column name -> schema field name

    def __post_init__(self) -> None:
        _need(self.synthetic_rows >= 1000, "data.synthetic_rows", "must be an int >= 1000", self.synthetic_rows)
        _need(self.workers >= 1, "data.workers", "must be an int >= 1", self.workers)
        _need(self.on_error in ("quarantine", "reject"), "data.on_error", "must be 'quarantine' or 'reject'",
              self.on_error)
        _need(self.time_order in ("reject", "sort"), "data.time_order", "must be 'reject' or 'sort'", self.time_order)


@dataclass(frozen=True)
class SplitConfig:
    """Out-of-time split. mode "months": the last `holdout_months` months are the holdout and the
    `validation_months` before them validation; mode "dates": explicit [start, end) ranges."""

    mode: str = "months"
    validation_months: int = 3
    holdout_months: int = 3
    gap_days: int = 0                   # months mode: rows this many days before validation/holdout start are dropped
    train: tuple[str, ...] = ()         # dates mode: ("YYYY-MM-DD", "YYYY-MM-DD"), start inclusive, end exclusive
    validation: tuple[str, ...] = ()
    holdout: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _need(self.mode in SPLIT_MODES, "split.mode", f"must be one of {SPLIT_MODES}", self.mode)
        if self.mode == "months":
            _need(self.validation_months >= 1, "split.validation_months", "must be an int >= 1", self.validation_months)
            _need(self.holdout_months >= 1, "split.holdout_months", "must be an int >= 1", self.holdout_months)
            _need(0 <= self.gap_days <= 365, "split.gap_days", "must be an int in [0, 365]", self.gap_days)
            return
        for key in ("train", "validation", "holdout"):
            rng = getattr(self, key)
            _need(len(rng) == 2, f"split.{key}", "must be [start, end] (ISO dates) in dates mode", list(rng))
            try:
                start, end = (date.fromisoformat(str(x)) for x in rng)
            except ValueError as err:
                raise ConfigError(f"config key 'split.{key}' must hold ISO dates YYYY-MM-DD; got {list(rng)!r}") from err
            _need(start < end, f"split.{key}", "must have start < end", list(rng))
        _need(str(self.train[1]) <= str(self.validation[0]), "split.validation",
              "must start on or after split.train ends", list(self.validation))
        _need(str(self.validation[1]) <= str(self.holdout[0]), "split.holdout",
              "must start on or after split.validation ends", list(self.holdout))


@dataclass(frozen=True)
class PipelineConfig:
    missing_indicator_min_rate: float = 0.001
    suggest_derived: bool = True        # add the ratio/z-score features implied by the schema's names
    derived: tuple[Mapping[str, Any], ...] = ()  # extra {name, op, inputs[, field]} declarations

    def __post_init__(self) -> None:
        _need(0.0 <= self.missing_indicator_min_rate <= 1.0, "pipeline.missing_indicator_min_rate",
              "must be a number in [0, 1]", self.missing_indicator_min_rate)


@dataclass(frozen=True)
class SamplingConfig:
    """Negative downsampling, so tuning and training cost the same at 2M and 42M rows.

    All positives are kept; negatives are kept at rate r = min(negative_rate, budget / negatives),
    and the model's scores are corrected by logit_offset = log(r)."""

    max_train_rows: int = 1_500_000
    max_valid_rows: int = 200_000        # tuning/early-stopping sample of validation (negatives re-weighted)
    negative_rate: float = 0.25         # measured on 2M rows: 0.1, 0.3 and 1.0 gave the same holdout PR-AUC

    def __post_init__(self) -> None:
        _need(self.max_train_rows >= 1000, "sampling.max_train_rows", "must be an int >= 1000", self.max_train_rows)
        _need(self.max_valid_rows >= 1000, "sampling.max_valid_rows", "must be an int >= 1000", self.max_valid_rows)
        _need(0.0 < self.negative_rate <= 1.0, "sampling.negative_rate", "must be in (0, 1]", self.negative_rate)


@dataclass(frozen=True)
class SearchRange:
    low: float
    high: float
    log: bool = False


_DEFAULT_SPACE = {
    "learning_rate": SearchRange(0.03, 0.2, True),
    # Capped at 63: on 2M rows 127 leaves bought no PR-AUC over 31-63 but doubled the cost of exact
    # TreeSHAP reasons on every flagged request (benchmarks/results/complexity.json, docs/tradeoffs.md).
    "num_leaves": SearchRange(7, 63, True),
    "min_child_samples": SearchRange(20, 800, True),
    "feature_fraction": SearchRange(0.4, 1.0),
    "bagging_fraction": SearchRange(0.5, 1.0),
    "lambda_l2": SearchRange(1e-3, 30.0, True),
    "cat_smooth": SearchRange(1.0, 100.0, True),
}


@dataclass(frozen=True)
class TuningConfig:
    branches: int = 2                   # foreach branches; each runs its own seeded TPE study
    trials_per_branch: int = 5
    max_rounds: int = 1500
    early_stopping_rounds: int = 60
    pruning_warmup_rounds: int = 100    # no pruning before this many rounds
    startup_trials: int = 2             # per branch: random trials before TPE and before pruning
    num_threads: int = 1                # per branch: branches run side by side
    space: Mapping[str, SearchRange] = field(default_factory=lambda: dict(_DEFAULT_SPACE))
    fixed: Mapping[str, Any] = field(default_factory=lambda: {"max_bin": 255, "bagging_freq": 1,
                                                              "min_data_per_group": 50, "max_cat_to_onehot": 8})

    def __post_init__(self) -> None:
        for key in ("branches", "trials_per_branch", "max_rounds"):
            _need(getattr(self, key) >= 1, f"tuning.{key}", "must be an int >= 1", getattr(self, key))
        _need(self.early_stopping_rounds >= 1, "tuning.early_stopping_rounds", "must be an int >= 1",
              self.early_stopping_rounds)
        _need(self.pruning_warmup_rounds >= 0, "tuning.pruning_warmup_rounds", "must be an int >= 0",
              self.pruning_warmup_rounds)
        _need(self.startup_trials >= 0, "tuning.startup_trials", "must be an int >= 0", self.startup_trials)
        _need(self.num_threads >= 1, "tuning.num_threads", "must be an int >= 1", self.num_threads)
        for name, rng in self.space.items():
            _need(name in TUNABLE, f"tuning.space.{name}", f"must name a tunable LightGBM parameter {sorted(TUNABLE)}",
                  name)
            _need(rng.low <= rng.high, f"tuning.space.{name}", "must have low <= high", (rng.low, rng.high))
            _need(not rng.log or rng.low > 0, f"tuning.space.{name}", "must have low > 0 when log = true", rng.low)
            if TUNABLE[name]:
                _need(float(rng.low).is_integer() and float(rng.high).is_integer(), f"tuning.space.{name}",
                      "must have integer low and high", (rng.low, rng.high))
        clash = sorted(set(self.fixed) & set(self.space))
        _need(not clash, "tuning.fixed", "must not repeat a parameter of tuning.space", clash)


@dataclass(frozen=True)
class FinalConfig:
    # "train_val": the final model is refit on train + validation with the best params (docs/training.md);
    # "none": the final model is the train-only model that picked the thresholds.
    refit: str = "train_val"
    recency_half_life_days: float = 90.0  # > 0: weight rows by 0.5 ** (age / half-life); 0 = off
    # LightGBM threads for the final fits. 1 on a shared 2-core machine: with the other core busy, 2 threads
    # measured 3x slower per round (0.20 s vs 0.065 s on 330k rows). Raise it on a dedicated Batch instance.
    num_threads: int = 1

    def __post_init__(self) -> None:
        _need(self.num_threads >= 1, "final.num_threads", "must be an int >= 1", self.num_threads)
        _need(self.refit in REFIT_MODES, "final.refit", f"must be one of {REFIT_MODES}", self.refit)
        _need(self.recency_half_life_days >= 0 and math.isfinite(self.recency_half_life_days),
              "final.recency_half_life_days", "must be a finite number >= 0", self.recency_half_life_days)


@dataclass(frozen=True)
class ThresholdConfig:
    precision_floor: float = 0.20
    decline_precision: float = 0.60

    def __post_init__(self) -> None:
        _need(0.0 < self.precision_floor <= 1.0, "thresholds.precision_floor", "must be in (0, 1]",
              self.precision_floor)
        _need(self.precision_floor <= self.decline_precision <= 1.0, "thresholds.decline_precision",
              "must be in [precision_floor, 1]", self.decline_precision)


@dataclass(frozen=True)
class GateConfig:
    min_pr_auc: float = 0.42
    min_recall_at_precision: float = 0.75
    max_pr_auc_drop: float = 0.02       # vs the champion scored on the same holdout

    def __post_init__(self) -> None:
        for key in ("min_pr_auc", "min_recall_at_precision", "max_pr_auc_drop"):
            _need(0.0 <= getattr(self, key) <= 1.0, f"gate.{key}", "must be in [0, 1]", getattr(self, key))


@dataclass(frozen=True)
class BelowSlice:
    name: str
    field: str
    below: float


@dataclass(frozen=True)
class EvaluationConfig:
    categorical_slices: tuple[str, ...] = ("payment_method", "merchant_category")
    missing_slices: tuple[str, ...] = ("merchant_risk_score",)
    below_slices: tuple[BelowSlice, ...] = (BelowSlice("new_customers", "account_age_days", 30),)
    baseline: bool = True               # fit the logistic-regression yardstick
    baseline_max_negatives: int = 200_000
    chunk_rows: int = 1_000_000         # holdout/validation are scored this many rows at a time
    shap_rows: int = 2000
    profile_rows: int = 200_000
    reason_examples: int = 10

    def __post_init__(self) -> None:
        for key in ("baseline_max_negatives", "chunk_rows", "shap_rows", "profile_rows"):
            _need(getattr(self, key) >= 100, f"evaluation.{key}", "must be an int >= 100", getattr(self, key))
        _need(self.reason_examples >= 0, "evaluation.reason_examples", "must be an int >= 0", self.reason_examples)

    def check_fields(self, schema: Schema) -> None:
        """Slices name schema fields; a config written for another schema fails here, by name."""
        wanted = [("evaluation.categorical_slices", n, "category") for n in self.categorical_slices]
        wanted += [("evaluation.missing_slices", n, None) for n in self.missing_slices]
        wanted += [("evaluation.below_slices", s.field, "numeric") for s in self.below_slices]
        for key, name, kind in wanted:
            f = schema.by_name.get(name)
            _need(f is not None and f.role == "feature", key, f"must name a feature of schema '{schema.name}'", name)
            if kind == "category":
                _need(f.dtype == "category", key, "must name a category feature", f"{name} ({f.dtype})")
            if kind == "numeric":
                _need(f.dtype in ("int", "float"), key, "must name a numeric feature", f"{name} ({f.dtype})")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 7
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    pipeline: PipelineConfig = PipelineConfig()
    sampling: SamplingConfig = SamplingConfig()
    tuning: TuningConfig = TuningConfig()
    final: FinalConfig = FinalConfig()
    thresholds: ThresholdConfig = ThresholdConfig()
    gate: GateConfig = GateConfig()
    evaluation: EvaluationConfig = EvaluationConfig()

    def __post_init__(self) -> None:
        _need(0 <= self.seed < 2**32, "seed", "must be an int in [0, 2**32)", self.seed)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TrainConfig:
        return _build(cls, data or {}, "")

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with dotted keys changed, e.g. replace(**{"data.path": "x", "seed": 3}); checked again."""
        d = self.to_dict()
        for dotted, value in changes.items():
            node = d
            *parents, leaf = dotted.split(".")
            for p in parents:
                node = node[p]
            if leaf not in node:
                raise ConfigError(f"config key '{dotted}' is not a known key")
            node[leaf] = value
        return TrainConfig.from_dict(d)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        if isinstance(obj, DataConfig):
            d = {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
            d["column_map"] = dict(obj.column_map)
            return d
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [_plain(v) for v in obj]
    return obj


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        _need(isinstance(value, Mapping), key, "must be a table", value)
        return _build(tp, value, key)
    if origin is tuple:
        args = typing.get_args(tp)
        if args and args[0] is not Ellipsis and args[-1] is Ellipsis and typing.get_origin(args[0]) is tuple:
            _need(isinstance(value, Mapping), key, "must be a table of name = value", value)
            return tuple((str(k), str(v)) for k, v in value.items())
        _need(isinstance(value, list | tuple), key, "must be a list", value)
        return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is Mapping or tp is Mapping:
        _need(isinstance(value, Mapping), key, "must be a table", value)
        args = typing.get_args(tp)
        inner = args[1] if args else Any
        if inner is SearchRange:
            return {k: _build(SearchRange, v, f"{key}.{k}") for k, v in value.items()}
        return dict(value)
    if tp is bool:
        _need(isinstance(value, bool), key, "must be true or false", value)
    elif tp is int:
        _need(isinstance(value, int) and not isinstance(value, bool), key, "must be an int", value)
    elif tp is float:
        _need(isinstance(value, int | float) and not isinstance(value, bool), key, "must be a number", value)
        return float(value)
    elif tp is str:
        _need(isinstance(value, str), key, "must be a string", value)
    return value


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = f"'{prefix}'" if prefix else "the top level"
        raise ConfigError(f"config: unknown key(s) {unknown} in {where}; allowed: {names}")
    kwargs = {}
    for name in names:
        if name in data:
            key = f"{prefix}.{name}" if prefix else name
            kwargs[name] = _convert(hints[name], data[name], key)
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"config '{prefix or cls.__name__}': {err}") from err


def load_train_config(path: str | Path | None) -> TrainConfig:
    """Read a TOML config file (None -> all defaults)."""
    if path is None:
        return TrainConfig()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        return TrainConfig.from_dict(tomllib.loads(p.read_text()))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {p} is not valid TOML: {err}") from err
