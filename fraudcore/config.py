"""The training config: typed, frozen, with every default in this file and nowhere else.

`config/train.toml` (read by TrainFlow through Metaflow `Config`) holds only the choices that differ
from these defaults; a user's own config (see docs/training.md) does the same. Unknown keys are an
error, and every range is checked on construction, so a typo fails before any data is read.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from fraudcore.config_loader import ConfigError, ConfigFile, check_types, need
from fraudcore.schema import Schema

SPLIT_MODES = ("months", "dates")
# How to supply a holdout when the training data has none (said by every error about a missing holdout).
HOLDOUT_HINT = ("; to evaluate on a separate test file instead, set split.holdout = \"path/to/test.parquet\" "
                "in the config or pass --holdout-data PATH to TrainFlow")
REVIEW_RULES = ("precision", "alert_budget")
REFIT_MODES = ("train_val", "none")
# Search-space entries Optuna may tune, and whether each is an integer parameter.
TUNABLE = {"learning_rate": False, "num_leaves": True, "min_child_samples": True, "min_sum_hessian_in_leaf": False,
           "feature_fraction": False, "bagging_fraction": False, "lambda_l1": False, "lambda_l2": False,
           "min_gain_to_split": False, "max_depth": True, "cat_smooth": False, "cat_l2": False,
           "max_cat_threshold": True, "scale_pos_weight": False, "path_smooth": False}


@dataclass(frozen=True)
class DataConfig:
    path: str = ""                      # a feature table (parquet/CSV) to train on as is; "" -> from raw events
    events: str = ""                    # raw events (docs/feature-engine.md); "" -> the synthetic default's
    features: str = ""                  # feature declarations; "" -> config/features.toml (PayLink)
    feature_root: str = "data/features"  # backfills, one folder per content key (events + declarations)
    synthetic_events_root: str = "data/events"
    # backfill months computed by one `features` branch, one after the other. 6 on a 2-core machine (3
    # branches for 18 months: one process per core, not 18 competing ones); 1 on AWS Batch, where every
    # branch has its own instance.
    months_per_branch: int = 6
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
        check_types(self, "data")
        need(self.synthetic_rows >= 1000, "data.synthetic_rows", "must be an int >= 1000", self.synthetic_rows)
        need(self.workers >= 1, "data.workers", "must be an int >= 1", self.workers)
        need(self.months_per_branch >= 1, "data.months_per_branch", "must be an int >= 1", self.months_per_branch)
        need(self.on_error in ("quarantine", "reject"), "data.on_error", "must be 'quarantine' or 'reject'",
              self.on_error)
        need(self.time_order in ("reject", "sort"), "data.time_order", "must be 'reject' or 'sort'", self.time_order)


@dataclass(frozen=True)
class SplitConfig:
    """Out-of-time split. mode "months": the last `holdout_months` months are the holdout and the
    `validation_months` before them validation; mode "dates": explicit [start, end) ranges.

    `holdout` may instead be the path of a separate test file (or directory): train and validation then
    come from the training data alone (in months mode, its last `validation_months` months are validation),
    and the holdout is every row of that file, validated like the training data and fingerprinted. It must
    start after the training data ends. `--holdout-data PATH` on TrainFlow sets it for one run.
    """

    mode: str = "months"
    validation_months: int = 3
    holdout_months: int = 3
    gap_days: int = 0                   # months mode: rows this many days before validation/holdout start are dropped
    train: tuple[str, ...] = ()         # dates mode: ("YYYY-MM-DD", "YYYY-MM-DD"), start inclusive, end exclusive
    validation: tuple[str, ...] = ()
    holdout: tuple[str, ...] | str = ()  # [start, end), or the path of a separate test file

    def __post_init__(self) -> None:
        check_types(self, "split")
        need(self.mode in SPLIT_MODES, "split.mode", f"must be one of {SPLIT_MODES}", self.mode)
        need(not isinstance(self.holdout, str) or self.holdout.strip() != "", "split.holdout",
             "must be [start, end] or the path of a test file, not an empty string", self.holdout)
        if self.mode == "months":
            need(self.validation_months >= 1, "split.validation_months", "must be an int >= 1", self.validation_months)
            need(self.holdout_months >= 1, "split.holdout_months", "must be an int >= 1", self.holdout_months)
            need(0 <= self.gap_days <= 365, "split.gap_days", "must be an int in [0, 365]", self.gap_days)
            return
        for key in ("train", "validation", "holdout"):
            rng = getattr(self, key)
            if key == "holdout" and (self.holdout_path or not rng):
                continue  # a test file, or one given at launch (--holdout-data): see `check_holdout`
            need(len(rng) == 2, f"split.{key}", "must be [start, end] (ISO dates) in dates mode"
                 + (HOLDOUT_HINT if key == "holdout" else ""), list(rng))
            try:
                start, end = (date.fromisoformat(str(x)) for x in rng)
            except ValueError as err:
                raise ConfigError(f"config key 'split.{key}' must hold ISO dates YYYY-MM-DD; got {list(rng)!r}") from err
            need(start < end, f"split.{key}", "must have start < end", list(rng))
        need(str(self.train[1]) <= str(self.validation[0]), "split.validation",
              "must start on or after split.train ends", list(self.validation))
        if self.holdout and not self.holdout_path:
            need(str(self.validation[1]) <= str(self.holdout[0]), "split.holdout",
                 "must start on or after split.validation ends", list(self.holdout))

    def check_holdout(self) -> None:
        """Dates mode needs a holdout: a period or a test file. Checked once the run's overrides are applied
        (TrainFlow's `start`), so `--holdout-data` can supply what the config leaves out."""
        need(self.mode != "dates" or bool(self.holdout), "split.holdout",
             "must be [start, end] (ISO dates) in dates mode" + HOLDOUT_HINT, list(self.holdout))

    @property
    def holdout_path(self) -> str:
        """The separate test file's path, or "" when the holdout is a period of the training data."""
        return self.holdout if isinstance(self.holdout, str) else ""


@dataclass(frozen=True)
class PipelineConfig:
    missing_indicator_min_rate: float = 0.001
    suggest_derived: bool = True        # add the ratio/z-score features implied by the schema's names
    derived: tuple[Mapping[str, Any], ...] = ()  # extra {name, op, inputs[, field]} declarations

    def __post_init__(self) -> None:
        check_types(self, "pipeline")
        need(0.0 <= self.missing_indicator_min_rate <= 1.0, "pipeline.missing_indicator_min_rate",
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
        check_types(self, "sampling")
        need(self.max_train_rows >= 1000, "sampling.max_train_rows", "must be an int >= 1000", self.max_train_rows)
        need(self.max_valid_rows >= 1000, "sampling.max_valid_rows", "must be an int >= 1000", self.max_valid_rows)
        need(0.0 < self.negative_rate <= 1.0, "sampling.negative_rate", "must be in (0, 1]", self.negative_rate)


@dataclass(frozen=True)
class SearchRange:
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        check_types(self, "tuning.space")


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
        check_types(self, "tuning")
        for key in ("branches", "trials_per_branch", "max_rounds"):
            need(getattr(self, key) >= 1, f"tuning.{key}", "must be an int >= 1", getattr(self, key))
        need(self.early_stopping_rounds >= 1, "tuning.early_stopping_rounds", "must be an int >= 1",
              self.early_stopping_rounds)
        need(self.pruning_warmup_rounds >= 0, "tuning.pruning_warmup_rounds", "must be an int >= 0",
              self.pruning_warmup_rounds)
        need(self.startup_trials >= 0, "tuning.startup_trials", "must be an int >= 0", self.startup_trials)
        need(self.num_threads >= 1, "tuning.num_threads", "must be an int >= 1", self.num_threads)
        for name, rng in self.space.items():
            need(name in TUNABLE, f"tuning.space.{name}", f"must name a tunable LightGBM parameter {sorted(TUNABLE)}",
                  name)
            need(rng.low <= rng.high, f"tuning.space.{name}", "must have low <= high", (rng.low, rng.high))
            need(not rng.log or rng.low > 0, f"tuning.space.{name}", "must have low > 0 when log = true", rng.low)
            if TUNABLE[name]:
                need(float(rng.low).is_integer() and float(rng.high).is_integer(), f"tuning.space.{name}",
                      "must have integer low and high", (rng.low, rng.high))
        clash = sorted(set(self.fixed) & set(self.space))
        need(not clash, "tuning.fixed", "must not repeat a parameter of tuning.space", clash)


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
        check_types(self, "final")
        need(self.num_threads >= 1, "final.num_threads", "must be an int >= 1", self.num_threads)
        need(self.refit in REFIT_MODES, "final.refit", f"must be one of {REFIT_MODES}", self.refit)
        need(self.recency_half_life_days >= 0 and math.isfinite(self.recency_half_life_days),
              "final.recency_half_life_days", "must be a finite number >= 0", self.recency_half_life_days)


@dataclass(frozen=True)
class ThresholdConfig:
    """Review and decline thresholds, chosen on validation (fraudcore/thresholds.py).

    Two rules for the review threshold: "precision" (the highest recall with precision >= precision_floor)
    and "alert_budget" (the lowest threshold that raises at most `alerts_per_day` alerts a day on average
    over the validation days: what the analysts can review). With alerts_per_day > 0 both are computed and
    reported; `review_rule` says which one the bundle's review band uses.
    """

    precision_floor: float = 0.20
    decline_precision: float = 0.60
    alerts_per_day: float = 0.0         # analyst capacity; 0: no alert-budget rule
    review_rule: str = "precision"

    def __post_init__(self) -> None:
        check_types(self, "thresholds")
        need(self.alerts_per_day >= 0 and math.isfinite(self.alerts_per_day), "thresholds.alerts_per_day",
             "must be a finite number >= 0 (0: no alert budget)", self.alerts_per_day)
        need(self.review_rule in REVIEW_RULES, "thresholds.review_rule", f"must be one of {REVIEW_RULES}",
             self.review_rule)
        need(self.review_rule != "alert_budget" or self.alerts_per_day > 0, "thresholds.review_rule",
             "'alert_budget' needs thresholds.alerts_per_day > 0", self.review_rule)
        need(0.0 < self.precision_floor <= 1.0, "thresholds.precision_floor", "must be in (0, 1]",
              self.precision_floor)
        need(self.precision_floor <= self.decline_precision <= 1.0, "thresholds.decline_precision",
              "must be in [precision_floor, 1]", self.decline_precision)


@dataclass(frozen=True)
class GateConfig:
    """What a model must reach on the holdout to be tagged gate:passed. The defaults are PayLink's."""

    min_pr_auc: float = 0.42
    # rule "precision": recall at precision >= thresholds.precision_floor must reach min_recall_at_precision;
    # rule "alert_budget": recall at the alert-budget threshold must reach min_recall_at_alert_budget.
    rule: str = "precision"
    min_recall_at_precision: float = 0.75
    min_recall_at_alert_budget: float = 0.5
    max_pr_auc_drop: float = 0.02       # vs the champion scored on the same holdout

    def __post_init__(self) -> None:
        check_types(self, "gate")
        need(self.rule in REVIEW_RULES, "gate.rule", f"must be one of {REVIEW_RULES}", self.rule)
        for key in ("min_pr_auc", "min_recall_at_precision", "min_recall_at_alert_budget", "max_pr_auc_drop"):
            need(0.0 <= getattr(self, key) <= 1.0, f"gate.{key}", "must be in [0, 1]", getattr(self, key))


@dataclass(frozen=True)
class BelowSlice:
    name: str
    field: str
    below: float

    def __post_init__(self) -> None:
        check_types(self, "evaluation.below_slices")


@dataclass(frozen=True)
class EvaluationConfig:
    # Holdout slices. When none of the three is given, they come from the schema (`for_schema`): one per
    # category feature's value and one per nullable feature's missing rows; a schema with neither gets none.
    categorical_slices: tuple[str, ...] = ()
    missing_slices: tuple[str, ...] = ()
    below_slices: tuple[BelowSlice, ...] = ()
    baseline: bool = True               # fit the logistic-regression yardstick
    baseline_max_negatives: int = 200_000
    chunk_rows: int = 1_000_000         # holdout/validation are scored this many rows at a time
    shap_rows: int = 2000
    profile_rows: int = 200_000
    reason_examples: int = 10
    # Entity-level evaluation (fraudcore/entity_metrics.py): the schema field naming the card or customer
    # (role "id"); "" -> none. Investigators review the top k entities a day: precision at each k is reported,
    # and with entity_remove_known an entity with a fraud on an earlier day is left out of later days.
    entity: str = ""
    entity_top_k: tuple[int, ...] = (10, 25, 50, 100)
    entity_remove_known: bool = True

    def __post_init__(self) -> None:
        check_types(self, "evaluation")
        for key in ("baseline_max_negatives", "chunk_rows", "shap_rows", "profile_rows"):
            need(getattr(self, key) >= 100, f"evaluation.{key}", "must be an int >= 100", getattr(self, key))
        need(self.reason_examples >= 0, "evaluation.reason_examples", "must be an int >= 0", self.reason_examples)
        need(len(self.entity_top_k) > 0 and all(k >= 1 for k in self.entity_top_k), "evaluation.entity_top_k",
             "must be a non-empty list of ints >= 1", list(self.entity_top_k))

    def for_schema(self, schema: Schema) -> EvaluationConfig:
        """This config with its slices filled in from `schema` when the config names none."""
        if self.categorical_slices or self.missing_slices or self.below_slices:
            return self
        feats = schema.features
        return dataclasses.replace(self, categorical_slices=tuple(f.name for f in feats if f.dtype == "category"),
                                   missing_slices=tuple(f.name for f in feats if f.nullable))

    def check_fields(self, schema: Schema) -> None:
        """Slices name schema fields; a config written for another schema fails here, by name."""
        wanted = [("evaluation.categorical_slices", n, "category") for n in self.categorical_slices]
        wanted += [("evaluation.missing_slices", n, None) for n in self.missing_slices]
        wanted += [("evaluation.below_slices", s.field, "numeric") for s in self.below_slices]
        for key, name, kind in wanted:
            f = schema.by_name.get(name)
            need(f is not None and f.role == "feature", key, f"must name a feature of schema '{schema.name}'", name)
            if kind == "category":
                need(f.dtype == "category", key, "must name a category feature", f"{name} ({f.dtype})")
            if kind == "numeric":
                need(f.dtype in ("int", "float"), key, "must name a numeric feature", f"{name} ({f.dtype})")
        if self.entity:
            f = schema.by_name.get(self.entity)
            ids = [g.name for g in schema.fields if g.role == "id" and g.name != schema.id]
            need(f is not None and f.role == "id" and f.name != schema.id, "evaluation.entity",
                 f"must name a field of schema '{schema.name}' with role 'id' other than the row id "
                 f"'{schema.id}' (a card or customer column; candidates: {ids})", self.entity)


@dataclass(frozen=True)
class StepResources:
    """What one step asks AWS Batch (or Kubernetes) for; ignored by local runs."""

    cpu: int = 2
    memory: int = 16000                 # MB

    def __post_init__(self) -> None:
        check_types(self, "resources")
        need(1 <= self.cpu <= 96, "resources.*.cpu", "must be an int in [1, 96]", self.cpu)
        need(512 <= self.memory <= 786_432, "resources.*.memory", "must be MB in [512, 786432]", self.memory)


@dataclass(frozen=True)
class ResourcesConfig:
    """@resources of the flow steps, read by Metaflow from the config when the flow is deployed."""

    data_steps: StepResources = StepResources()  # steps reading the dataset: start, features, train, evaluate
    tune: StepResources = StepResources(cpu=1, memory=8000)  # one tuning branch (tuning.num_threads threads)

    def __post_init__(self) -> None:
        check_types(self, "resources")


@dataclass(frozen=True)
class BacktestConfig:
    """The weekly walk-forward backtest (fraudcore/backtest.py): retrain each week on the labels known by
    then, score the next week. Needs raw events (for when each label became known)."""

    enabled: bool = True
    weeks: int = 13                     # the last `weeks` weeks of the data are replayed
    train_days: int = 182               # each week's model trains on this many days before the week

    def __post_init__(self) -> None:
        check_types(self, "backtest")
        need(1 <= self.weeks <= 104, "backtest.weeks", "must be an int in [1, 104]", self.weeks)
        need(7 <= self.train_days <= 1096, "backtest.train_days", "must be an int in [7, 1096]", self.train_days)


@dataclass(frozen=True)
class TrainConfig(ConfigFile):
    FILE = "train.toml"

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
    resources: ResourcesConfig = ResourcesConfig()
    backtest: BacktestConfig = BacktestConfig()

    def __post_init__(self) -> None:
        check_types(self, "")
        need(0 <= self.seed < 2**32, "seed", "must be an int in [0, 2**32)", self.seed)
        need(self.gate.rule != "alert_budget" or self.thresholds.alerts_per_day > 0, "gate.rule",
             "'alert_budget' needs thresholds.alerts_per_day > 0", self.gate.rule)


def load_train_config(path: str | Path | None = None) -> TrainConfig:
    """Read a training config file (None -> config/train.toml)."""
    return TrainConfig.load(path)


def parse_train_toml(text: str) -> dict[str, Any]:
    """Metaflow `Config(parser=...)` for TrainFlow and EvaluateFlow: the file checked, every default filled in.

    Runs when the flow is launched or deployed, so a bad key, or a slice naming no field of the schema the
    config names, fails before any step starts.
    """
    from fraudcore.schema import load_schema

    cfg = TrainConfig.from_toml(text, "the training config")
    cfg.evaluation.check_fields(load_schema(cfg.data.schema or None))
    return cfg.to_dict()
