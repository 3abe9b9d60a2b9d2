"""`fraud monitor`: run the monitor over a capture, or the end-to-end demo through the real server.

    fraud monitor run --capture DIR|s3://bucket/prefix --bundle PATH|RUN_ID|champion [--labels FILE]
    fraud monitor demo [--scenario new_pattern]
    fraud monitor sweep [--seeds 7,11,23,31,42] [--months 6]
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from fraudcore.errors import EXIT_FAILED


def _time(value: str) -> datetime:
    from fraudcore.monitoring.capture import parse_time

    try:
        return parse_time(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"must be an ISO-8601 time such as 2026-12-01T00:00:00Z; got {value!r}") from err


def _parser() -> argparse.ArgumentParser:
    from fraudcore.synth.scenarios import SCENARIOS

    p = argparse.ArgumentParser(prog="fraud monitor", description="Monitor the live model from its capture.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="analyse a capture window and print the verdict")
    run.add_argument("--capture", required=True, help="capture folder or s3://bucket/prefix")
    run.add_argument("--bundle", required=True, help="bundle directory, model.tar.gz, TrainFlow run id or 'champion'")
    run.add_argument("--labels", help="labels that have arrived: parquet/csv/jsonl with transaction_id, is_fraud, "
                                      "label_time")
    run.add_argument("--config", help="monitor config TOML (default config/monitor.toml)")
    run.add_argument("--as-of", type=_time, help="the time the run pretends it is (default now); labels later "
                                                 "than this are not used")
    run.add_argument("--window-days", type=float,
                     help="days of traffic up to --window-end (default from config; 0 = the whole capture)")
    run.add_argument("--window-end", type=_time, help="end of the traffic window (default --as-of)")
    run.add_argument("--json", dest="json_out", help="also write the full report as JSON to this file")
    run.add_argument("--publish", action="store_true",
                     help="send the figures to CloudWatch (endpoint from AWS_ENDPOINT_URL if set)")
    demo = sub.add_parser("demo", help="replay a generated window through the real server, then monitor it")
    demo.add_argument("--scenario", default="new_pattern", choices=SCENARIOS)
    demo.add_argument("--rows", type=int, default=10_000, help="transactions to replay (~70 frauds: enough to judge)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--bundle", help="bundle to serve (default: train a small one from the generator)")
    demo.add_argument("--out", default="monitor-demo", help="folder for the bundle, capture, labels and report")
    demo.add_argument("--publish", action="store_true", help="send the figures to CloudWatch")
    sw = sub.add_parser("sweep", help="measure signals per scenario and the false alarm rate over seeds")
    sw.add_argument("--seeds", default="7,11,23,31,42", help="comma-separated training seeds")
    sw.add_argument("--months", type=int, default=6, help="production months per seed and scenario")
    sw.add_argument("--rows", type=int, default=20_000, help="transactions per window")
    sw.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated scenario names")
    sw.add_argument("--config", help="monitor config TOML (default config/monitor.toml)")
    sw.add_argument("--json", dest="json_out", help="also write every window's result and the summary here")
    return p


def _sweep(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from fraudcore.monitoring.config import load_monitor_config
    from fraudcore.monitoring.sweep import SweepPlan, summarize, sweep

    seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    names = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    results = sweep(SweepPlan(seeds, args.months, args.rows, scenarios=names), load_monitor_config(args.config),
                    on_result=lambda r: print(f"seed {r.seed} {r.scenario:<16} month +{r.months_after}: "
                                              f"{r.early_verdict:>11} early, {r.mature_verdict:>11} mature  "
                                              f"{', '.join(r.signals) or '-'}", flush=True))
    summary = summarize(results)
    print(json.dumps(summary, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"summary": summary, "windows": [asdict(r) for r in results]},
                                                  indent=2) + "\n")
    return 0


def _print_report(report, json_out: str | None) -> None:  # noqa: ANN001
    print("\n".join(report.summary_lines()))
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False, default=str) + "\n")
        print(f"report: {json_out}")


def _run(args: argparse.Namespace) -> int:
    from fraudcore.monitoring.config import load_monitor_config
    from fraudcore.monitoring.publish import cloudwatch_client, publish_report
    from fraudcore.monitoring.report import MonitorJob, MonitorWindow, monitor

    cfg = load_monitor_config(args.config)
    window = MonitorWindow(as_of=args.as_of, days=args.window_days, end=args.window_end)
    report = monitor(MonitorJob(args.capture, args.bundle, args.labels or "", window), cfg)
    _print_report(report, args.json_out)
    if args.publish:
        names = publish_report(cloudwatch_client(), report, cfg.publish)
        print(f"published {len(names)} metrics to {cfg.publish.namespace}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Errors (FraudError) are reported by `fraud` (fraudcore/cli.py) with their exit codes."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command == "run":
        return _run(args)
    if args.command == "sweep":
        return _sweep(args)
    from fraudcore.monitoring.demo import run_demo

    report = run_demo(args.scenario, rows=args.rows, seed=args.seed, out=Path(args.out), bundle=args.bundle,
                      publish=args.publish)
    return 0 if report is not None else EXIT_FAILED


if __name__ == "__main__":
    from fraudcore.cli import run_command

    sys.exit(run_command("monitor", main, sys.argv[1:]))
