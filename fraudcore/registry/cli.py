"""`fraud models list [--json] | promote RUN_ID --reason WHY [--force] | rollback --reason WHY | history [--json]`.

`--env` picks the environment whose champion moves (production by default, staging). After a move, the
endpoint of that environment is asked what it serves (through the `fraud.live` entry point, which `deploy/`
provides, so fraudcore never imports deploy): when it serves another run, a warning says so and names the
command that puts the champion live.
"""
from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import entry_points

from fraudcore.registry import RegistryError, champion, lookup

LIVE_GROUP = "fraud.live"

COLUMNS = ("pr_auc", "roc_auc", "recall_at_p20", "threshold", "oracle_pr_auc")


def _list(args: argparse.Namespace) -> int:
    runs = lookup.list_runs(limit=args.limit)
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print("no TrainFlow runs yet (make train)")
        return 0
    head = f"{'run_id':<20} {'champ':<5} {'gate':<7} {'finished_at':<26} " + " ".join(f"{c:>13}" for c in COLUMNS)
    print(head)
    for r in runs:
        m = r["metrics"] or {}
        vals = " ".join(f"{m[c]:>13.4f}" if isinstance(m.get(c), float) else f"{'-':>13}" for c in COLUMNS)
        state = r["finished_at"] or ("running/failed" if not r["successful"] else "-")
        print(f"{r['run_id']:<20} {'*' if r['champion'] else '':<5} {r['gate']:<7} {state:<26} {vals}")
    return 0


def warn_if_not_live(run_id: str, environment: str) -> str | None:
    """The `fraud.live` provider's warning when `environment`'s endpoint serves another run (printed on stderr)."""
    for ep in entry_points(group=LIVE_GROUP):
        warning = ep.load()(run_id, environment)
        if warning:
            print(f"fraud models: warning: {warning}", file=sys.stderr)
            return str(warning)
    return None


def _promote(args: argparse.Namespace) -> int:
    event = champion.promote(args.run_id, args.reason, user=args.user, force=args.force, resync=args.force,
                             environment=args.env)
    print(json.dumps(event))
    warn_if_not_live(event["to"], args.env)
    return 0


def _rollback(args: argparse.Namespace) -> int:
    event = champion.rollback(args.reason, user=args.user, environment=args.env)
    print(json.dumps(event))
    warn_if_not_live(event["to"], args.env)
    return 0


def _history(args: argparse.Namespace) -> int:
    events = champion.history(args.env)
    if args.json:
        print(json.dumps(events, indent=2))
        return 0
    for e in events:
        print(f"{e['at']}  {e['event']:<8} {e.get('from') or '-':>18} -> {e.get('to') or '-':<18} by {e['user']}: "
              f"{e['reason']}")
    if not events:
        print(f"no champion moves recorded ({champion.log_location(args.env)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fraud models", description="List, promote and roll back model versions "
                                     "(TrainFlow run ids); every champion move is logged.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="runs with gate result, headline holdout metrics and the champion")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--limit", type=int, default=None)
    ls.set_defaults(func=_list)
    pr = sub.add_parser("promote", help="make RUN_ID the champion")
    pr.add_argument("run_id")
    pr.add_argument("--reason", required=True)
    pr.add_argument("--force", action="store_true",
                    help="promote even without gate:passed, or when the champion tag and the log disagree "
                         "(either is recorded in the event)")
    pr.add_argument("--user", default=None, help="who is promoting (default: METAFLOW_USER or the login)")
    pr.set_defaults(func=_promote)
    rb = sub.add_parser("rollback", help="move the champion back to the previous one")
    rb.add_argument("--reason", required=True)
    rb.add_argument("--user", default=None)
    rb.set_defaults(func=_rollback)
    hi = sub.add_parser("history", help="every recorded champion move, oldest first")
    hi.add_argument("--json", action="store_true")
    hi.set_defaults(func=_history)
    for command in (pr, rb, hi):
        command.add_argument("--env", choices=lookup.ENVIRONMENTS, default=lookup.DEFAULT_ENVIRONMENT,
                             help="whose champion (default production; staging has its own tag and log)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except RegistryError as err:
        print(f"fraud models: {err}", file=sys.stderr)
        return 1
