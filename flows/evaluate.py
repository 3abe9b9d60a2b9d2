"""EvaluateFlow: back-test a run (or the champion) against a challenger on any labelled window.

    python flows/evaluate.py run                                   # champion on its training holdout
    python flows/evaluate.py run --model champion --challenger RUN_ID --data new_weeks/ --start 2026-11-01

The work is fraudcore.workflow.evaluate_models, shared with `fraud evaluate`; this flow adds a card
and keeps the result as a versioned artifact.
"""
import sys
from pathlib import Path

from metaflow import Config, FlowSpec, Parameter, card, current, project, resources, step

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@project(name="paylink_fraud")
class EvaluateFlow(FlowSpec):
    """Back-test a TrainFlow run (or the champion), optionally against a challenger, on any labelled window:
    the same figures as TrainFlow's evaluate step, computed on the same rows for every model, and a card."""

    config = Config("config", default=str(ROOT / "config" / "train.toml"), parser="fraudcore.config.parse_train_toml",
                    help="config whose [evaluation] and [data] sections apply")
    model = Parameter("model", default="champion", help="TrainFlow run id, or 'champion'")
    challenger = Parameter("challenger", default="", help="a second TrainFlow run id to compare")
    data = Parameter("data", default="", help="labelled dataset; empty: the model's training holdout")
    window_start = Parameter("window-start", default="", help="window start, ISO date (inclusive)")
    window_end = Parameter("window-end", default="", help="window end, ISO date (exclusive)")
    # The weekly chain (docs/deployment.md): TrainFlow's success starts this flow with challenger=latest and
    # request_approval=true, so the newest gate-passed run is compared with the champion and, if it is a
    # new run, put in the SageMaker Model Registry as PendingManualApproval (deploy/approval.py).
    request_approval = Parameter("request_approval", default=False, type=bool,
                                 help="ask for approval of the challenger in the Model Registry")
    label_maturity_days = Parameter("label_maturity_days", default=0, type=int,
                                    help="with no window given: the 7 days ending this many days ago "
                                         "(labels need time to mature: chargebacks arrive for weeks)")

    @step
    def start(self):
        """Resolve the model and challenger specs ('champion' or a run id) to run ids, once, for the record."""
        from deploy.approval import matured_window, resolve_challenger
        from fraudcore.registry.lookup import resolve

        self.model_run_id = resolve(self.model)
        self.challenger_run_id = resolve_challenger(self.challenger)
        self.start_date, self.end_date = matured_window(self.window_start, self.window_end, self.label_maturity_days)
        self.next(self.evaluate)

    @resources(**config.resources.data_steps)
    @card(type="blank", id="evaluation")
    @step
    def evaluate(self):
        """Score every model on the window (fraudcore.workflow.evaluate_models, shared with `fraud evaluate`)
        and draw the comparison card."""
        from cards.evaluate_card import evaluate_card
        from fraudcore.config import TrainConfig
        from fraudcore.workflow import evaluate_models

        cfg = TrainConfig.from_dict(self.config.to_dict())
        self.result = evaluate_models(cfg, self.model_run_id, self.challenger_run_id, self.data,
                                      self.start_date, self.end_date)
        self.summary = {n: {k: m[k] for k in ("pr_auc", "roc_auc", "recall_at_precision", "alert_rate")}
                        for n, m in self.result["models"].items()}
        for component in evaluate_card(self.result):
            current.card["evaluation"].append(component)
        self.next(self.approval)

    @step
    def approval(self):
        """The weekly chain's approval request: the challenger as a PendingManualApproval ModelPackage."""
        from deploy.approval import request_for_evaluation

        self.model_package = request_for_evaluation(
            self.request_approval, self.model_run_id, self.challenger_run_id, self.summary,
            evaluation=f"EvaluateFlow/{current.run_id}",
            card=f"EvaluateFlow/{current.run_id}/evaluate (card id 'evaluation'; python flows/evaluate.py card get "
                 f"{current.run_id}/evaluate card.html --id evaluation)")
        self.next(self.end)

    @step
    def end(self):
        """Print each model's headline figures."""
        for name, s in self.summary.items():
            print(f"{name} {self.result['versions'][name]}: " + ", ".join(f"{k} {v:.4f}" for k, v in s.items()))


if __name__ == "__main__":
    EvaluateFlow()
