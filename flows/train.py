"""TrainFlow: raw transactions -> a gated, explained, versioned model bundle (docs/training.md).

    python flows/train.py run [--data PATH] [--rows N] [--trials N] [--seed N]
    python flows/train.py --config config config/examples/merchant_train.toml run --data ...
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
                            SplitPlan.from_dict(self.split) if split else None, self.split_counts if split else None)

    def _model(self):
        from fraudcore.workflow import FinalModel

        return FinalModel(self.model_text, self.pipeline_state, self.final, self.thresholds, self.validation_metrics)

    @resources(**config.resources.data_steps)
    @step
    def start(self):
        """Apply the run's overrides to the config, then validate the dataset (or generate the synthetic one)
        against the schema: bad rows are quarantined with their reason, and the data is fingerprinted."""
        from fraudcore.config import TrainConfig
        from fraudcore.prepare import prepare_from_config
        from fraudcore.schema import load_schema

        cfg = TrainConfig.from_dict(self.config.to_dict())  # checked already by the Config parser
        overrides = {"data.path": self.data or None, "data.synthetic_rows": self.rows or None,
                     "tuning.trials_per_branch": self.trials or None, "seed": None if self.seed < 0 else self.seed}
        cfg = cfg.replace(**{k: v for k, v in overrides.items() if v is not None})
        schema = load_schema(cfg.data.schema or None)
        self.cfg, self.schema = cfg.to_dict(), schema.to_dict()
        prepared = prepare_from_config(cfg.data, schema)
        self.prepared = prepared.to_dict()
        self.fingerprint, self.validation_report = prepared.fingerprint, prepared.report
        print(f"data: {prepared.rows:,} valid rows in {len(prepared.files)} files from {prepared.source}")
        self.next(self.features)

    @resources(**config.resources.data_steps)
    @step
    def features(self):
        """Split out of time, fit the feature pipeline on the training months, and write the binned,
        negative-downsampled training and validation sets that every tuning branch reuses."""
        from fraudcore.prepare import count_split
        from fraudcore.split import check_counts, plan_split
        from fraudcore.train import build_matrices, pack_matrices

        ctx = self._ctx()
        plan = plan_split(ctx.cfg.split, ctx.prepared.first_time, ctx.prepared.last_time)
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
        for component in train_card(str(current.run_id), result, model, self.tuning, self.split, self.split_counts):
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
