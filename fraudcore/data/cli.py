"""`fraud data generate | validate | difficulty | schema-doc`.

Exit codes (docs/runbook.md): 0 done, 1 invalid data (DataValidationError, reported by `fraud`),
2 bad arguments or config, 3 `validate` quarantined rows, 4 `difficulty` missed the spec.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fraudcore.config import DataConfig, SplitConfig
from fraudcore.data import load_dataset
from fraudcore.errors import EXIT_OK
from fraudcore.schema import load_schema

EXIT_QUARANTINED = 3   # `validate`: the data is usable, but some rows were quarantined
EXIT_SPEC_MISSED = 4   # `difficulty`: the data misses the difficulty spec
_DATA = DataConfig()   # the flags' defaults are the config's


def _generate(args: argparse.Namespace) -> int:
    from fraudcore.synth import write_dataset

    schema = load_schema(args.schema)
    t0 = time.perf_counter()

    def progress(i: int, label: str, n: int) -> None:
        print(f"  month {i + 1:2d}/18 {label}: {n:,} rows ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)

    files = write_dataset(args.out, args.rows, args.seed, schema=schema, progress=progress)
    print(json.dumps({"out": str(args.out), "rows": args.rows, "seed": args.seed, "files": len(files),
                      "seconds": round(time.perf_counter() - t0, 2)}))
    return 0


def _validate(args: argparse.Namespace) -> int:
    schema = load_schema(args.schema)
    loaded = load_dataset(schema, args.path, on_error=args.on_error, time_order=args.time_order)
    print(json.dumps(loaded.report.to_dict(), indent=2) if args.json else loaded.report.to_text())
    if args.quarantine_out and len(loaded.quarantine):
        Path(args.quarantine_out).parent.mkdir(parents=True, exist_ok=True)
        loaded.quarantine.to_csv(args.quarantine_out, index=False)
        print(f"quarantined rows written to {args.quarantine_out}", file=sys.stderr)
    return EXIT_OK if loaded.report.rows_quarantined == 0 else EXIT_QUARANTINED


def _difficulty(args: argparse.Namespace) -> int:
    from fraudcore.difficulty import measure_difficulty
    from fraudcore.synth import generate_frame

    schema = load_schema(args.schema)
    if args.path:
        frame = load_dataset(schema, args.path).frame
    else:
        frame = generate_frame(args.rows, args.seed, schema=schema)
    result = measure_difficulty(schema, frame, holdout_months=args.holdout_months)
    print(json.dumps(result, indent=2))
    return EXIT_OK if all(result["spec"].values()) else EXIT_SPEC_MISSED


def _schema_doc(args: argparse.Namespace) -> int:
    from fraudcore.docs import feature_table

    print(feature_table(load_schema(args.schema)))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fraud data", description="Generate, validate and profile datasets.")
    parser.add_argument("--schema", default=None, help="schema file (default: config/schema.toml)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write the synthetic PayLink dataset as monthly parquet partitions")
    g.add_argument("--rows", type=int, default=_DATA.synthetic_rows)
    g.add_argument("--seed", type=int, default=_DATA.synthetic_seed)
    g.add_argument("--out", type=Path, required=True)
    g.set_defaults(func=_generate)
    v = sub.add_parser("validate", help="check a parquet/CSV dataset against the schema and report")
    v.add_argument("path")
    v.add_argument("--on-error", choices=["quarantine", "reject"], default=_DATA.on_error)
    v.add_argument("--time-order", choices=["reject", "sort"], default=_DATA.time_order)
    v.add_argument("--json", action="store_true")
    v.add_argument("--quarantine-out", default=None, help="CSV file for quarantined rows with their reason")
    v.set_defaults(func=_validate)
    d = sub.add_parser("difficulty", help="oracle and logistic-regression PR-AUC on the last months")
    d.add_argument("--path", default=None, help="a dataset with the oracle column (default: generate)")
    d.add_argument("--rows", type=int, default=1_000_000)
    d.add_argument("--seed", type=int, default=_DATA.synthetic_seed)
    d.add_argument("--holdout-months", type=int, default=SplitConfig().holdout_months)
    d.set_defaults(func=_difficulty)
    s = sub.add_parser("schema-doc", help="print the feature table (Markdown) derived from the schema")
    s.set_defaults(func=_schema_doc)
    args = parser.parse_args(argv)
    return args.func(args)
