"""Real flow runs on tiny data, in a throwaway Metaflow datastore (never the developer's .metaflow)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAIN_FLOW = ROOT / "flows" / "train.py"
EVALUATE_FLOW = ROOT / "flows" / "evaluate.py"

# Small enough for `make test`: few trees, 2 branches x 2 trials, small samples.
TINY = """
[data]
synthetic_root = "{root}/synthetic"
synthetic_events_root = "{root}/events"
feature_root = "{root}/features"
months_per_branch = 18
prepared_root = "{root}/prepared"
work_root = "{root}/work"
workers = 1
{data_extra}
[tuning]
branches = 2
trials_per_branch = 2
max_rounds = 60
early_stopping_rounds = 15
pruning_warmup_rounds = 20
startup_trials = 1

[backtest]
weeks = 4

[evaluation]
shap_rows = 300
profile_rows = 3000
baseline_max_negatives = 5000
reason_examples = 3
{evaluation_extra}
"""


class Store:
    """A datastore directory plus the environment every flow run and client read in it needs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / ".metaflow").mkdir(exist_ok=True)
        self.env = {"METAFLOW_DATASTORE_SYSROOT_LOCAL": str(root), "METAFLOW_USER": "paylink-test",
                    "FRAUD_REGISTRY_LOG": str(root / "fraud-registry" / "champion-events.jsonl")}

    def config(self, name: str, body: str = "", data_extra: str = "", evaluation_extra: str = "") -> Path:
        path = self.root / name
        path.write_text(TINY.format(root=self.root, data_extra=data_extra, evaluation_extra=evaluation_extra) + body)
        return path

    def run(self, flow: Path, config: Path | None, extra_env: dict | None = None, **params):
        """Run a flow to completion through metaflow.Runner; returns (status, metaflow Run)."""
        from metaflow import Runner

        kwargs = {"pylint": False}
        if config is not None:
            kwargs["config"] = [("config", str(config))]
        with Runner(str(flow), show_output=False, env={**self.env, **(extra_env or {})}, cwd=str(ROOT),
                    **kwargs).run(**params) as running:
            return running.status, running.run, running.stdout + running.stderr

    def resume(self, flow: Path, origin_run_id: str):
        """Resume reuses the origin run's config (Metaflow refuses --config with resume)."""
        from metaflow import Runner

        with Runner(str(flow), show_output=False, env=self.env, cwd=str(ROOT), pylint=False).resume(
                origin_run_id=origin_run_id) as running:
            return running.status, running.run, running.stdout + running.stderr

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.env}
        res = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        if check and res.returncode != 0:
            raise AssertionError(f"{args} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
        return res


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("metaflow"))
    with pytest.MonkeyPatch.context() as mp:  # the client reads in this test process use the same store
        for k, v in s.env.items():
            mp.setenv(k, v)
        yield s
