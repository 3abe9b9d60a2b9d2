"""ShadowFlow: the shadow test's comparison as a card (docs/deployment.md, "Shadow testing").

    fraud deploy shadow RUN_ID --reason WHY     # the challenger scores a copy of live traffic
    python flows/shadow.py run                  # later: compare, from capture, and draw the card
    python flows/shadow.py card get RUN/end shadow.html --id shadow

The comparison is deploy.shadow.shadow_report (the same as `fraud deploy shadow-report`): the latest shadow's
capture records joined with the live ones by transaction id; agreement, score shift, alert-rate change.
"""
import sys
from pathlib import Path

from metaflow import Config, FlowSpec, card, current, step

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class ShadowFlow(FlowSpec):
    """Compare the running (or last) shadow with the live model from capture, and draw the card."""

    settings = Config("settings", default=str(ROOT / "config" / "deploy.toml"),
                      parser="deploy.config.parse_deploy_toml", help="deploy config (TOML); keys: deploy/config.py")

    @step
    def start(self):
        """Read both capture streams and compare them (deploy.shadow.shadow_report)."""
        from deploy.config import DeployConfig
        from deploy.sagemaker import AwsClients
        from deploy.shadow import shadow_report

        cfg = DeployConfig.from_dict(self.settings.to_dict())
        self.report = shadow_report(AwsClients.create(cfg), cfg)
        self.next(self.end)

    @card(type="blank", id="shadow")
    @step
    def end(self):
        """Draw the comparison card."""
        from deploy.shadow import shadow_card

        for component in shadow_card(self.report):
            current.card["shadow"].append(component)
        r = self.report
        print(f"shadow {r['shadow_run_id']} vs live {r['live_run_id']}: {r['joined']} joined, agreement "
              f"{r['agreement']}, alert rate change {r['alert_rate_change']}")


if __name__ == "__main__":
    ShadowFlow()
