"""MonitorFlow: a day of captured traffic + the labels that have arrived -> figures, signals, verdict, card.

    python flows/monitor.py run --capture capture/ --bundle champion [--labels labels.parquet]
    python flows/monitor.py run --capture s3://bucket/capture --bundle RUN_ID --publish yes --retrain true

The logic lives in fraudcore.monitoring; this file reads config, calls it, stores the report, draws the
card, publishes to CloudWatch and tags the run `verdict:<verdict>`. With --retrain, a "retrain" verdict
launches TrainFlow through metaflow.Runner (off by default; docs/monitoring-notes.md lists the
event-driven alternatives for scheduled deployments).
"""
import os
import sys
from pathlib import Path

from metaflow import Config, FlowSpec, Parameter, card, current, project, schedule, step

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # cards/ and fraudcore/ when run from a plain checkout

PUBLISH_CHOICES = ("auto", "yes", "no")


def _on_aws() -> bool:
    """Publish by default when an AWS endpoint is configured (the emulator) or when running on AWS Batch."""
    return bool(os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_BATCH_JOB_ID"))


@project(name="paylink_fraud")
@schedule(daily=True)
class MonitorFlow(FlowSpec):
    """Judge the live model from its capture: operations, drift against the bundle's reference profile,
    and quality once labels have matured; the verdict (ok, investigate, retrain) tags the run."""

    config = Config("config", default=str(ROOT / "config" / "monitor.toml"),
                    parser="fraudcore.monitoring.config.parse_monitor_toml",
                    help="monitor config (TOML); keys and defaults: fraudcore/monitoring/config.py")
    capture = Parameter("capture", default="capture", help="capture folder or s3://bucket/prefix")
    bundle = Parameter("bundle", default="champion", help="bundle directory, model.tar.gz, TrainFlow run id or "
                                                          "'champion'")
    labels = Parameter("labels", default="", help="labels file (parquet/csv/jsonl); empty: no labels yet")
    as_of = Parameter("as-of", default="", help="ISO time the run pretends it is; empty: now")
    window_days = Parameter("window-days", default=-1.0, type=float,
                            help="days of traffic to read; -1: the config's; 0: the whole capture")
    publish = Parameter("publish", default="auto", help="CloudWatch: auto (when AWS_ENDPOINT_URL or on Batch), "
                                                        "yes or no")
    retrain = Parameter("retrain", default=False, type=bool,
                        help="on a 'retrain' verdict, launch TrainFlow with metaflow.Runner")

    @card(type="blank", id="monitor")
    @step
    def start(self):
        """Read the capture window and the labels, compute the figures and signals, and draw the card."""
        from cards.monitor_card import monitor_card
        from fraudcore.monitoring.capture import parse_time
        from fraudcore.monitoring.config import MonitorConfig
        from fraudcore.monitoring.publish import report_metrics
        from fraudcore.monitoring.report import MonitorJob, MonitorWindow, monitor

        if self.publish not in PUBLISH_CHOICES:
            raise ValueError(f"--publish must be one of {PUBLISH_CHOICES}; got {self.publish!r}")
        cfg = MonitorConfig.from_dict(self.config.to_dict())
        window = MonitorWindow(as_of=parse_time(self.as_of) if self.as_of else None,
                               days=None if self.window_days < 0 else self.window_days)
        report = monitor(MonitorJob(self.capture, self.bundle, self.labels, window), cfg)
        self.model_version = report.model_version
        self.report = report.to_dict()
        self.verdict = report.verdict
        self.monitor_config = cfg.to_dict()
        print("\n".join(report.summary_lines()))
        for component in monitor_card(report):
            current.card["monitor"].append(component)
        self.metrics = report_metrics(report)
        self.next(self.publish_metrics)

    @step
    def publish_metrics(self):
        """Send the figures to CloudWatch (with --publish yes, or on AWS), where deploy's alarms watch them."""
        from fraudcore.monitoring.config import MonitorConfig
        from fraudcore.monitoring.publish import cloudwatch_client, publish_metrics

        self.published = []
        if self.publish == "yes" or (self.publish == "auto" and _on_aws()):
            cfg = MonitorConfig.from_dict(self.config.to_dict())
            self.published = publish_metrics(cloudwatch_client(), self.metrics, cfg.publish)
            print(f"published {len(self.published)} metrics to {cfg.publish.namespace}")
        self.next(self.end)

    @step
    def end(self):
        """Tag the run verdict:<verdict>; with --retrain, a 'retrain' verdict launches TrainFlow."""
        from metaflow import Run, namespace

        namespace(None)
        Run(f"{current.flow_name}/{current.run_id}").add_tag(f"verdict:{self.verdict}")
        self.retrain_run = None
        if self.retrain and self.verdict == "retrain":
            from metaflow import Runner

            with Runner(str(ROOT / "flows" / "train.py"), show_output=True).run() as running:
                self.retrain_run = running.run.pathspec
            print(f"retrain verdict: launched {self.retrain_run} ({running.status})")
        print(f"verdict: {self.verdict} (run tagged verdict:{self.verdict})")


if __name__ == "__main__":
    MonitorFlow()
