"""TrainFlow: raw transactions -> a gated, explained, versioned model bundle (docs/training.md).

    python flows/train.py run [--data PATH] [--rows N] [--trials N] [--seed N]
    python flows/train.py --config config config/examples/orders_train.toml run --data ...
    python flows/train.py --config config MY.toml run --data train.csv --holdout-data test.csv
    python flows/train.py resume --origin-run-id RUN_ID        # after a failed step

Every step reads config and artifacts, calls fraudcore, and stores small results: paths, hashes,
split definitions and metrics, never the big frames (steps re-read the parquet columns they need).
"""
import os
import sys
from dataclasses import replace
from pathlib import Path

from metaflow import Config, FlowSpec, Parameter, card, current, project, resources, retry, schedule, step

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # cards/ and fraudcore/ when run from a plain checkout

FAIL_ENV = "FRAUD_FAIL_AT_STEP"  # test hook: fail the named step once, to exercise resume


def _maybe_fail(name):
    if os.environ.get(FAIL_ENV) == name:
        raise RuntimeError(f"{FAIL_ENV}={name}: injected failure in step {name!r}")


@project(name="paylink_fraud")
@schedule(weekly=True)
class TrainFlow(FlowSpec):
    """Train the fraud model: validate the data, split it out of time, tune LightGBM, refit, pick the
    thresholds, evaluate on the holdout against the yardsticks and the champion, and gate.

    The result is a model bundle (docs/contracts.md) kept as an artifact and tagged gate:passed or
    gate:failed; DeployFlow and `fraud serve --model champion` take it from there. The config is checked
    when the flow is launched (Metaflow Config parser), before any step runs.
    """

    config = Config("config", default=str(ROOT / "config" / "train.toml"), parser="fraudcore.config.parse_train_toml",
                    help="training config (TOML); keys and defaults: fraudcore/config.py")
    data = Parameter("data", default="", help="dataset path (parquet/CSV file or directory); empty: synthetic default")
    holdout_data = Parameter("holdout-data", default="", help="a separate test file (parquet/CSV file or directory) "
                             "to use as the holdout; empty: split.holdout of the config")
    rows = Parameter("rows", default=0, type=int, help="rows of the synthetic default; 0: data.synthetic_rows")
    trials = Parameter("trials", default=0, type=int, help="trials per tuning branch; 0: tuning.trials_per_branch")
    seed = Parameter("seed", default=-1, type=int, help="training seed; -1: the config's seed")

    def _cfg(self):
        from fraudcore.config import TrainConfig

        return TrainConfig.from_dict(self.cfg)

    def _workdir(self, cfg):
        """This run's local scratch folder (binned inputs, the bundle before it becomes an artifact)."""
        return Path(cfg.data.work_root) / str(current.run_id)

    def _local_matrices(self, cfg):
        from fraudcore.train import ensure_local_matrices

        return ensure_local_matrices(self.matrices, self.matrix_files, self._workdir(cfg))

    def _ctx(self):
        from fraudcore.context import TrainContext
        from fraudcore.prepare import PreparedData
        from fraudcore.schema import schema_from_dict
        from fraudcore.split import SplitPlan

        split = hasattr(self, "split")
        return TrainContext(self._cfg(), schema_from_dict(self.schema), PreparedData.from_dict(self.prepared),
                            SplitPlan.from_dict(self.split) if split else None, self.split_counts if split else None,
                            getattr(self, "feature_set", None))

    def _ctx_schema(self):
        from fraudcore.schema import schema_from_dict

        return schema_from_dict(self.schema)

    def _model(self):
        from fraudcore.workflow import FinalModel

        return FinalModel(self.model_text, self.pipeline_state, self.final, self.thresholds, self.validation_metrics)

    @resources(**config.resources.data_steps)
    @step
    def start(self):
        """Apply the run's overrides to the config and plan the training table: a backfill of every feature
        from raw events (the synthetic default's are generated once and reused), data.months_per_branch a branch, or
        the feature table given with --data as is."""
        from fraudcore.config import TrainConfig
        from fraudcore.features.training import plan_training_backfill
        from fraudcore.schema import load_schema

        cfg = TrainConfig.from_dict(self.config.to_dict())  # checked already by the Config parser
        overrides = {"data.path": self.data or None, "split.holdout": self.holdout_data or None,
                     "data.synthetic_rows": self.rows or None,
                     "tuning.trials_per_branch": self.trials or None, "seed": None if self.seed < 0 else self.seed}
        cfg = cfg.replace(**{k: v for k, v in overrides.items() if v is not None})
        cfg.split.check_holdout()
        schema = load_schema(cfg.data.schema or None)
        self.cfg, self.schema = cfg.to_dict(), schema.to_dict()
        plan = plan_training_backfill(cfg.data, schema)
        self.backfill = None if plan is None else plan.to_dict()
        step = cfg.data.months_per_branch
        self.month_groups = ([list(plan.months[i:i + step]) for i in range(0, len(plan.months), step)] if plan
                             else [["given"]])
        if plan:
            print(f"features: {len(plan.months)} months in {len(self.month_groups)} branches from {plan.events} "
                  f"with {plan.features} -> {plan.out}"
                  f"{' (complete: reused)' if plan.complete else ''}")
        self.next(self.features, foreach="month_groups")

    @resources(**config.resources.data_steps)
    @step
    def features(self):
        """Months of the training table (data.months_per_branch a branch): every declared feature of every
        authorisation, point in time, from the raw events, labelled; a month already computed under the same
        content key is reused."""
        from dataclasses import asdict

        from fraudcore.features.backfill import BackfillPlan, backfill_month

        self.month_group, self.month_results = self.input, []
        if self.backfill is not None:
            plan = BackfillPlan.from_dict(self.backfill)
            for month in self.month_group:
                # one DuckDB thread a branch: Metaflow runs the branches side by side, one process each
                result = backfill_month(plan, month, threads=1)
                self.month_results.append(asdict(result))
                print(f"{month}: {result.rows:,} rows, {result.positives:,} fraud"
                      f"{' (reused)' if result.reused else f' in {result.seconds:.1f}s'}", flush=True)
        self.next(self.join_features)

    @resources(**config.resources.data_steps)
    @step
    def join_features(self, inputs):
        """Mark the backfill complete, then validate the training table against the schema: bad rows are
        quarantined with their reason, and the data is fingerprinted."""
        from dataclasses import replace as dc_replace

        from fraudcore.features.backfill import BackfillPlan, MonthResult, finish_backfill
        from fraudcore.features.featureset import load_feature_set
        from fraudcore.prepare import attach_holdout, prepare_dataset, set_aside_lines

        self.merge_artifacts(inputs, exclude=["month_group", "month_results"])
        cfg, schema = self._cfg(), self._ctx_schema()
        self.feature_set = None
        if self.backfill is None:
            prepared = prepare_dataset(schema, cfg.data.path, cfg.data)
        else:
            plan = BackfillPlan.from_dict(self.backfill)
            out = finish_backfill(plan, [MonthResult(**r) for i in inputs for r in i.month_results])
            fs = load_feature_set(plan.features)
            self.feature_set = {"key": plan.key, "fingerprint": fs.fingerprint(), "declarations": fs.to_dict()}
            synthetic = not cfg.data.events
            data = dc_replace(cfg.data, column_map=(), **({"on_error": "reject", "time_order": "reject"}
                                                          if synthetic else {}))
            prepared = prepare_dataset(schema, out, data, synthetic=synthetic)
        if cfg.split.holdout_path:  # a separate test file: the same checks, its own fingerprint
            prepared = attach_holdout(prepared, prepare_dataset(schema, cfg.split.holdout_path, cfg.data), schema)
            print(f"holdout: {prepared.holdout['rows']:,} valid rows from {prepared.holdout['source']}")
        self.prepared = prepared.to_dict()
        self.fingerprint, self.validation_report = prepared.fingerprint, prepared.report
        print(f"data: {prepared.rows:,} valid rows in {len(prepared.files)} files from {prepared.source}")
        for line in set_aside_lines(prepared.report):
            print("data: " + line)
        self.next(self.training_sets)

    @resources(**config.resources.data_steps)
    @step
    def training_sets(self):
        """Split out of time, fit the feature pipeline on the training months, and write the binned,
        negative-downsampled training and validation sets that every tuning branch reuses."""
        from fraudcore.prepare import count_split
        from fraudcore.split import check_counts, plan_split
        from fraudcore.train import build_matrices, pack_matrices

        ctx = self._ctx()
        plan = plan_split(ctx.cfg.split, ctx.prepared.first_time, ctx.prepared.last_time, ctx.prepared.holdout_range)
        self.split = plan.to_dict()
        self.split_counts = count_split(ctx.prepared, ctx.schema, plan)
        check_counts(plan, self.split_counts)
        cfg = ctx.cfg
        pipeline, mat = build_matrices(replace(ctx, plan=plan, counts=self.split_counts), self._workdir(cfg))
        self.pipeline_state, self.matrices = pipeline.get_state(), mat.to_dict()
        self.matrix_files = pack_matrices(mat)  # bytes in the datastore: Batch steps don't share a disk
        print(f"split: {plan.describe()}\nsampling: {mat.to_dict()}")
        self.branches = list(range(cfg.tuning.branches))
        self.next(self.tune, foreach="branches")

    @resources(**config.resources.tune)
    @retry(times=1)
    @step
    def tune(self):
        """One tuning branch: a seeded Optuna TPE study with pruning, early-stopped on validation PR-AUC."""
        from fraudcore.tuning import run_branch

        self.branch = self.input
        cfg = self._cfg()
        self.trials_run = run_branch(cfg, self._local_matrices(cfg), self.branch)
        self.next(self.join_tuning)

    @step
    def join_tuning(self, inputs):
        """Merge the branches' trials and keep the best parameters and number of rounds."""
        from fraudcore.tuning import merge_trials, summarize

        self.merge_artifacts(inputs, exclude=["branch", "trials_run"])
        self.tuning = summarize(merge_trials(self._cfg(), [i.trials_run for i in inputs]))
        print(f"tuning: best validation PR-AUC {self.tuning['best_value']:.4f} after "
              f"{self.tuning['best_iteration']} rounds; {self.tuning['best_params']}")
        self.next(self.train)

    @resources(**config.resources.data_steps)
    @step
    def train(self):
        """Fit the final model with the best parameters (refit on train + validation unless configured
        otherwise) and choose the review and decline thresholds on validation."""
        from fraudcore.workflow import fit_final

        _maybe_fail("train")
        ctx = self._ctx()
        model = fit_final(ctx, self._local_matrices(ctx.cfg).to_dict(), self.pipeline_state, self.tuning)
        self.model_text, self.final, self.thresholds = model.model_text, model.final, model.thresholds
        self.validation_metrics = model.validation_metrics
        print(f"final model: {self.final}")
        self.next(self.evaluate)

    @resources(**config.resources.data_steps)
    @step
    def evaluate(self):
        """Score the holdout: PR-AUC, recall at the precision floor, slices, the logistic baseline, the
        oracle, the champion on the same rows, reasons and the drift reference; then apply the gate."""
        from fraudcore.workflow import evaluate_run

        _maybe_fail("evaluate")
        result = evaluate_run(self._ctx(), self._model())
        self.result = result.to_dict()
        self.headline, self.gate = result.headline, result.gate
        print("\n".join(self.gate["lines"]))
        self.next(self.backtest)

    @resources(**config.resources.data_steps)
    @step
    def backtest(self):
        """Replay the last weeks as production runs them: each week, retrain on the labels known by then and
        score the next week; model against oracle per week and pooled (needs raw events and an oracle)."""
        from fraudcore.backtest import run_backtest
        from fraudcore.features.backfill import BackfillPlan, labels_known_at
        from fraudcore.features.featureset import load_feature_set

        ctx = self._ctx()
        self.walk_forward = None
        # (not with a separate test file: the walk-forward replays the raw events' own weeks)
        if ctx.cfg.backtest.enabled and self.backfill is not None and ctx.schema.oracle and not ctx.prepared.holdout:
            plan = BackfillPlan.from_dict(self.backfill)
            fs = load_feature_set(plan.features)

            def show(i, week):
                print(f"  week {i + 1}/{ctx.cfg.backtest.weeks} from {week.cutoff}: model {week.model_pr_auc:.4f}, "
                      f"oracle {week.oracle_pr_auc:.4f} ({week.train_positives_known}/{week.train_positives_final} "
                      f"training frauds known)", flush=True)

            result = run_backtest(ctx, lambda ids: labels_known_at(fs, plan.events, ids), self.tuning, self.matrices,
                                  show)
            self.walk_forward = result.to_dict()
            print(f"walk-forward: model/oracle {result.pooled_ratio:.3f} pooled over {len(result.weeks)} weeks "
                  f"(median weekly {result.median_weekly_ratio:.3f}); skipped (no fraud to learn or score): "
                  f"{list(result.skipped) or 'none'}")
        self.next(self.report)

    @card(type="blank", id="report")
    @step
    def report(self):
        """Write the model bundle (an artifact and model.tar.gz) and draw the training card."""
        from cards.train_card import train_card
        from fraudcore.evaluation import EvaluationResult
        from fraudcore.workflow import make_bundle

        model, result = self._model(), EvaluationResult.from_dict(self.result)
        self.bundle, self.bundle_tar_sha256, self.bundle_tar = make_bundle(
            self._ctx(), model, result, self.matrices, self.tuning, str(current.run_id))
        for component in train_card(str(current.run_id), result, model, self.tuning, self.split, self.split_counts,
                                    walk_forward=self.walk_forward, features=self.feature_set,
                                    data_report=self.validation_report):
            current.card["report"].append(component)
        self.next(self.end)

    @step
    def end(self):
        """Tag the run gate:passed or gate:failed and print the headline figures."""
        from fraudcore.registry.lookup import tag_gate

        tag_gate(current.run_id, self.gate["passed"])
        h = self.headline
        print(f"run {current.run_id}: gate {'passed' if self.gate['passed'] else 'failed'}; holdout PR-AUC "
              f"{h['pr_auc']:.4f}, recall@P{h['precision_floor']:.0%} {h['recall_at_p20']:.4f}; bundle {self.bundle_tar}")


if __name__ == "__main__":
    TrainFlow()
