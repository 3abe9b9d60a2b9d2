"""`fraud models ...`: the registry commands of fraudcore/registry/cli.py, plus the approval decisions.

    fraud models approve RUN_ID --reason WHY   approve the run's pending ModelPackage: DeployFlow's canary starts
    fraud models reject RUN_ID --reason WHY    reject it (recorded; nothing deploys)
    fraud models approvals [--json]            every decision made here, oldest first

Everything else (`list`, `promote`, `rollback`, `history`) is fraudcore's. The approval commands live
here, at the AWS edge, because they call SageMaker: fraudcore never imports deploy/.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

DECISIONS = ("approve", "reject")


def _decision(argv: list[str]) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from deploy.approval import approval_history, decide
    from deploy.clients import AwsClients, DeployError
    from deploy.config import load_deploy_config

    p = argparse.ArgumentParser(prog="fraud models", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, default=None, help="deploy settings (default config/deploy.toml)")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in DECISIONS:
        d = sub.add_parser(name, help=f"{name} RUN_ID's pending model package (recorded)")
        d.add_argument("run_id")
        d.add_argument("--reason", required=True)
        d.add_argument("--user", default=None, help="who decides (default: METAFLOW_USER or the login)")
    h = sub.add_parser("approvals", help="every approval decision made with this command")
    h.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    cfg = load_deploy_config(args.config)
    clients = AwsClients.create(cfg)
    try:
        if args.cmd == "approvals":
            records = [asdict(r) for r in approval_history(clients, cfg)]
            if args.json:
                print(json.dumps(records, indent=2))
            for r in [] if args.json else records:
                print(f"{r['at']}  {r['decision']:<9} {r['run_id']:<20} by {r['by']}: {r['reason']}")
            return 0
        record = decide(clients, cfg, args.run_id, approve=args.cmd == "approve", reason=args.reason, user=args.user)
    except (ClientError, BotoCoreError) as err:
        raise DeployError(f"models {args.cmd}: AWS call failed: {err}") from err
    print(json.dumps(asdict(record)))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in (*DECISIONS, "approvals") for a in args):
        return _decision(args)
    from fraudcore.registry.cli import main as registry_main

    try:
        return registry_main(args)
    except SystemExit:
        if any(a in ("-h", "--help") for a in args[:1]):  # `fraud models --help`: name ours too
            print("\napproval (deploy/models_cli.py):\n  approve RUN_ID --reason WHY   approve the run's pending "
                  "model package (DeployFlow's canary starts)\n  reject RUN_ID --reason WHY    reject it (recorded)\n"
                  "  approvals [--json]            every decision made here")
        raise
