"""`fraud serve`: start the scoring server (uvicorn, uvloop, httptools) around one model bundle.

    fraud serve --model champion --port 8080
    fraud serve --model /path/to/bundle --capture capture/ --capture-sample 0.05
    fraud serve --model 1764345600123456 --pin
    fraud serve --model champion --no-compiled-reasons   # LightGBM's own TreeSHAP for the reasons
    fraud serve --config serve.toml --port 9000       # keys of ServeConfig; flags override the file

Swap models without a restart: `POST /admin/model {"model": "<run id | dir | champion>"}`,
`POST /admin/rollback`, or SIGHUP to re-resolve the current spec (unless --pin).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from fraudcore.config_loader import read_toml
from fraudcore.serving.config import ENV_VAR, ServeConfig

_DEFAULTS = {f.name: f.default for f in fields(ServeConfig)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fraud serve", description="Serve a fraud model bundle over HTTP "
                                "(SageMaker contract: GET /ping, POST /invocations).")
    p.add_argument("--config", type=Path, default=None,
                   help="TOML file of ServeConfig keys (fraudcore/serving/config.py); flags given override it")
    p.add_argument("--model", default=_DEFAULTS["model"],
                   help="bundle directory, TrainFlow run id, or 'champion' (default: %(default)s)")
    p.add_argument("--host", default=_DEFAULTS["host"])
    p.add_argument("--port", type=int, default=_DEFAULTS["port"])
    p.add_argument("--workers", type=int, default=_DEFAULTS["workers"],
                   help="worker processes (in-place model swaps need 1; default %(default)s)")
    p.add_argument("--max-body-bytes", type=int, default=_DEFAULTS["max_body_bytes"])
    p.add_argument("--max-batch", type=int, default=_DEFAULTS["max_batch"])
    p.add_argument("--batching", action=argparse.BooleanOptionalAction, default=_DEFAULTS["batching"],
                   help="score concurrent requests together, one transform and predict per event-loop "
                        "iteration, no timer (default: %(default)s)")
    p.add_argument("--reasons", dest="reasons_k", type=int, default=_DEFAULTS["reasons_k"],
                   help="reasons per explained transaction")
    p.add_argument("--capture", default=None, help="capture destination: a folder or s3://bucket/prefix")
    p.add_argument("--capture-sample", type=float, default=_DEFAULTS["capture_sample"],
                   help="share of successful requests captured; failures are always captured")
    p.add_argument("--emf", action=argparse.BooleanOptionalAction, default=None,
                   help="CloudWatch EMF metric lines on stdout (default: on when SM_* variables are set)")
    p.add_argument("--emf-interval", dest="emf_interval_s", type=float, default=_DEFAULTS["emf_interval_s"])
    p.add_argument("--admin-token", default=os.environ.get("PAYLINK_ADMIN_TOKEN"),
                   help="token for /admin/* (default: $PAYLINK_ADMIN_TOKEN; without one, loopback only)")
    p.add_argument("--pin", action="store_true", help="do not re-resolve the model on SIGHUP")
    p.add_argument("--keep-alive", dest="keep_alive_s", type=int, default=_DEFAULTS["keep_alive_s"])
    p.add_argument("--graceful-timeout", dest="graceful_timeout_s", type=int,
                   default=_DEFAULTS["graceful_timeout_s"])
    p.add_argument("--log-level", default=_DEFAULTS["log_level"])
    p.add_argument("--online-store", default=_DEFAULTS["online_store"],
                   help="where the checkout form reads request-time features: lmdb:PATH, dynamodb:TABLE or "
                        "'none' (default: %(default)s, written by `fraud features load` and `fraud features "
                        "ingest`)")
    p.add_argument("--online-budget-ms", type=float, default=_DEFAULTS["online_budget_ms"],
                   help="a store read slower than this answers `degraded` (default: %(default)s)")
    fast = p.add_argument_group("fast paths", "each defaults to on; off, the library code it is tested "
                                "against runs instead, with the same scores, decisions and reasons")
    fast.add_argument("--compiled-walk", action=argparse.BooleanOptionalAction, default=_DEFAULTS["compiled_walk"],
                      help="score small batches with the compiled tree walk; off: LightGBM's Booster.predict "
                           "(default: %(default)s)")
    fast.add_argument("--compiled-reasons", action=argparse.BooleanOptionalAction,
                      default=_DEFAULTS["compiled_reasons"],
                      help="exact TreeSHAP reasons from the compiled explainer; off: LightGBM's pred_contrib "
                           "(default: %(default)s)")
    fast.add_argument("--one-write", action=argparse.BooleanOptionalAction, default=_DEFAULTS["one_write"],
                      help="send each response's headers and body in one write; off: uvicorn's own httptools "
                           "protocol (default: %(default)s)")
    return p


def in_sagemaker() -> bool:
    return any(k.startswith("SM_") or k.startswith("SAGEMAKER_") for k in os.environ)


def config_from_args(argv: list[str]) -> ServeConfig:
    """The file given with --config (else the defaults), with the flags given on the command line over it."""
    parser = build_parser()
    known, _ = parser.parse_known_args(argv)
    if known.config is not None:  # only the keys the file sets: the others keep the flags' own defaults
        given = ServeConfig.load(known.config).to_dict()
        parser.set_defaults(**{k: given[k] for k in read_toml(known.config)})
    args = vars(parser.parse_args(argv))
    args.pop("config")
    if args["emf"] is None:
        args["emf"] = in_sagemaker()
    return ServeConfig.from_dict(args)


def uvicorn_options(cfg: ServeConfig) -> dict[str, Any]:
    """`uvicorn.run` keyword arguments for these settings."""
    # One write per response (`transport.py`) unless switched off; no proxy-header rewriting
    # (SageMaker's front end is the only client, and the admin loopback check must see the real peer)
    # and no `server` header: per-request work nobody reads.
    http = "fraudcore.serving.transport:OneWriteHttpToolsProtocol" if cfg.one_write else "httptools"
    return {"factory": True, "host": cfg.host, "port": cfg.port, "workers": cfg.workers, "loop": "uvloop",
            "http": http, "access_log": False, "proxy_headers": False, "server_header": False,
            "log_level": cfg.log_level, "timeout_keep_alive": cfg.keep_alive_s,
            "timeout_graceful_shutdown": cfg.graceful_timeout_s, "lifespan": "on"}


def run(cfg: ServeConfig) -> None:
    os.environ[ENV_VAR] = cfg.to_json()
    import uvicorn

    uvicorn.run("fraudcore.serving.app:create_app_from_env", **uvicorn_options(cfg))


def main(argv: list[str] | None = None) -> int:
    # One OpenMP thread per worker: a worker owns one core, and LightGBM's default thread pool makes
    # a one-row request wait for a busy core (docs/serving.md#where-the-time-goes-in-the-http-path).
    # Set before LightGBM is loaded in this process or any worker it spawns.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cfg = config_from_args(list(sys.argv[1:] if argv is None else argv))
    from fraudcore.registry.store import resolve_bundle_dir

    # Resolve once here so a bad spec fails fast with its message (ModelSpecError, reported by `fraud`);
    # a pinned server keeps the resolved directory, so no worker (or SIGHUP) can re-resolve `champion`.
    bundle_dir = resolve_bundle_dir(cfg.model)
    kind, _, where = cfg.online_store.partition(":")
    if kind == "lmdb":  # every worker opens the same file, wherever it was started
        cfg = replace(cfg, online_store=f"lmdb:{Path(where).resolve()}")
    if cfg.pin:
        cfg = replace(cfg, model=str(bundle_dir))
    run(cfg)
    return 0


if __name__ == "__main__":
    from fraudcore.cli import run_command

    sys.exit(run_command("serve", main, sys.argv[1:]))
