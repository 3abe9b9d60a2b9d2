"""`fraud deploy ...`: put a TrainFlow run on the SageMaker endpoint, roll back, show history and status.

    fraud deploy sagemaker --run-id R [--force --reason WHY]      deploy a TrainFlow run's bundle
    fraud deploy sagemaker --bundle DIR [--force --reason WHY]   deploy a bundle directory (same gate rules)
        [--adopt --reason WHY]                                   take over an endpoint that is not ours
    fraud deploy rollback [--reason WHY]                         back to the previous live run
    fraud deploy history [--json]                                every deploy and rollback
    fraud deploy status [--json]                                 what the endpoint serves, champion vs live
    fraud deploy shadow RUN_ID [--reason WHY]                    RUN_ID scores a copy of live traffic
    fraud deploy shadow-stop [--reason WHY]                      remove the shadow
    fraud deploy shadow-report [--json]                          shadow vs live, from capture

Both deploy forms go through deploy/release.py: the same gate, force and reason rules and the same history.

Exit status (docs/runbook.md, "Exit codes"): 0 done, 1 refused or failed (the message says why and
what is live), 2 bad arguments or config.
AWS settings come from config/deploy.toml (--config), credentials and endpoints from the environment.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fraud deploy", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, default=None, help="deploy settings (default config/deploy.toml)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sagemaker", help="deploy a run or bundle to the SageMaker endpoint")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--run-id", help="TrainFlow run id (must be tagged gate:passed unless --force)")
    src.add_argument("--bundle", type=Path, help="a bundle directory")
    s.add_argument("--reason", default="", help="why this deploy (recorded in the history)")
    s.add_argument("--force", action="store_true", help="deploy a run that did not pass its gate (needs --reason)")
    s.add_argument("--adopt", action="store_true",
                   help="take over an existing endpoint that lacks the project's tag (needs --reason; recorded)")
    r = sub.add_parser("rollback", help="return the endpoint to the previous live run")
    r.add_argument("--reason", default="manual rollback", help="why (recorded in the history)")
    # ---- shadow testing (deploy/shadow.py) ----
    sh = sub.add_parser("shadow", help="run RUN_ID as a shadow beside the live model (never affects decisions)")
    shadow_src = sh.add_mutually_exclusive_group(required=True)
    shadow_src.add_argument("run_id", nargs="?", help="TrainFlow run id of the challenger")
    shadow_src.add_argument("--bundle", type=Path, help="a bundle directory instead of a run")
    sh.add_argument("--reason", default="shadow test", help="why (recorded)")
    ss = sub.add_parser("shadow-stop", help="remove the shadow: back to the live config alone")
    ss.add_argument("--reason", default="shadow test over", help="why (recorded)")
    sr = sub.add_parser("shadow-report", help="compare shadow and live answers from capture")
    sr.add_argument("--json", action="store_true", help="print JSON")
    for name in ("history", "status"):
        q = sub.add_parser(name, help=f"show the deploy {name}")
        q.add_argument("--json", action="store_true", help="print JSON")
    return p


def _deploy(args: argparse.Namespace, cfg: Any, clients: Any) -> dict[str, Any]:
    from deploy.release import deploy_release, plan_bundle_release, plan_release
    from deploy.sagemaker import Adoption
    from fraudcore.bundle import load_bundle

    adopt = Adoption(args.reason) if args.adopt else None
    if args.bundle is not None:
        bundle = load_bundle(args.bundle)
        result = deploy_release(clients, cfg, plan_bundle_release(bundle, force=args.force, reason=args.reason),
                                bundle=bundle, adopt=adopt)
    else:
        result = deploy_release(clients, cfg, plan_release(args.run_id, force=args.force, reason=args.reason),
                                adopt=adopt)
    return asdict(result.record)


def _shadow(args: argparse.Namespace, cfg: Any, clients: Any) -> dict[str, Any]:
    from deploy import shadow

    if args.command == "shadow-stop":
        return asdict(shadow.stop_shadow(clients, cfg, reason=args.reason))
    if args.command == "shadow-report":
        return shadow.shadow_report(clients, cfg)
    import tempfile

    from fraudcore.bundle import load_bundle

    if args.bundle is not None:
        return asdict(shadow.start_shadow(clients, cfg, load_bundle(args.bundle), reason=args.reason))
    from fraudcore.registry.store import bundle_files, write_bundle_files

    with tempfile.TemporaryDirectory(prefix="paylink-shadow-") as tmp:
        bundle = load_bundle(write_bundle_files(bundle_files(args.run_id), Path(tmp) / "bundle"))
        return asdict(shadow.start_shadow(clients, cfg, bundle, reason=args.reason))


def _print(data: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    elif isinstance(data, list):
        for rec in data:
            forced = f" FORCED past gate {rec.get('gate') or '?'}" if rec["forced"] else ""
            was = (f"adopted from another's config {rec['adopted_from']}" if rec.get("adopted_from")
                   else f"was {rec['previous_run_id']}")
            print(f"{rec['at']}  {rec['event']:<8} {rec['outcome']:<16} {rec['run_id']:<20} "
                  f"({was})  by {rec['by']}{forced}: {rec['reason']}")
    else:
        for key, value in data.items():
            if key == "fix":
                print("champion and live disagree; to fix, run one of:")
                for line in value:
                    print(f"  {line}")
            else:
                print(f"{key}: {value}")


def main(argv: list[str] | None = None) -> int:
    """Errors (FraudError) are reported by `fraud` (fraudcore/cli.py); AWS failures become DeployError."""
    from deploy.config import load_deploy_config
    from deploy.history import read_history
    from deploy.sagemaker import AwsClients, DeployError, rollback
    from deploy.status import deploy_status

    args = _parser().parse_args(argv)
    cfg = load_deploy_config(args.config)
    try:
        clients = AwsClients.create(cfg)
        if args.command == "sagemaker":
            _print(_deploy(args, cfg, clients), as_json=True)
        elif args.command == "rollback":
            record = rollback(clients, cfg, reason=args.reason)
            if record.source == "run":
                from deploy.release import follow_rollback

                follow_rollback(record.run_id, args.reason, cfg.endpoint.environment)
            _print(asdict(record), as_json=True)
        elif args.command in ("shadow", "shadow-stop", "shadow-report"):
            _print(_shadow(args, cfg, clients), as_json=args.command != "shadow-report" or args.json)
        elif args.command == "history":
            _print([asdict(r) for r in read_history(clients.s3, cfg)], args.json)
        else:
            _print(deploy_status(clients, cfg), args.json)
    except (ClientError, BotoCoreError) as err:
        raise DeployError(f"{args.command}: AWS call failed: {err}") from err
    return 0


if __name__ == "__main__":
    from fraudcore.cli import run_command

    sys.exit(run_command("deploy", main, sys.argv[1:]))
