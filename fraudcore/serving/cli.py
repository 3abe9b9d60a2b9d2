"""`fraud serve`: start the scoring server (uvicorn, uvloop, httptools) around one model bundle.

    fraud serve --model champion --port 8080
    fraud serve --model /path/to/bundle --capture capture/ --capture-sample 0.05
    fraud serve --model 1764345600123456 --pin

Swap models without a restart: `POST /admin/model {"model": "<run id | dir | champion>"}`,
`POST /admin/rollback`, or SIGHUP to re-resolve the current spec (unless --pin).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields, replace

from fraudcore.serving.config import ENV_VAR, ServeConfig, ServeConfigError

_DEFAULTS = {f.name: f.default for f in fields(ServeConfig)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fraud serve", description="Serve a fraud model bundle over HTTP "
                                "(SageMaker contract: GET /ping, POST /invocations).")
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
    return p


def in_sagemaker() -> bool:
    return any(k.startswith("SM_") or k.startswith("SAGEMAKER_") for k in os.environ)


def config_from_args(argv: list[str]) -> ServeConfig:
    args = vars(build_parser().parse_args(argv))
    if args["emf"] is None:
        args["emf"] = in_sagemaker()
    return ServeConfig.from_dict(args)


def run(cfg: ServeConfig) -> None:
    os.environ[ENV_VAR] = cfg.to_json()
    import uvicorn

    # One write per response (`transport.py`); no proxy-header rewriting (SageMaker's front end is
    # the only client, and the admin loopback check must see the real peer) and no `server` header:
    # per-request work nobody reads.
    uvicorn.run("fraudcore.serving.app:create_app_from_env", factory=True, host=cfg.host, port=cfg.port,
                workers=cfg.workers, loop="uvloop", http="fraudcore.serving.transport:OneWriteHttpToolsProtocol",
                access_log=False, proxy_headers=False, server_header=False, log_level=cfg.log_level,
                timeout_keep_alive=cfg.keep_alive_s, timeout_graceful_shutdown=cfg.graceful_timeout_s, lifespan="on")


def main(argv: list[str] | None = None) -> int:
    # One OpenMP thread per worker: LightGBM's default thread pool turns a 0.2 ms one-row p95 into
    # 8 ms when another core is busy (DESIGN.md). Set before LightGBM is loaded in this process or
    # any worker it spawns.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        cfg = config_from_args(list(sys.argv[1:] if argv is None else argv))
    except ServeConfigError as err:
        print(f"fraud serve: {err}", file=sys.stderr)
        return 2
    from fraudcore.registry.store import resolve_bundle_dir

    try:
        # Resolve once here so a bad spec fails fast with its message; a pinned server keeps the
        # resolved directory, so no worker (or SIGHUP) can re-resolve `champion` to another run.
        bundle_dir = resolve_bundle_dir(cfg.model)
    except ValueError as err:
        print(f"fraud serve: {err}", file=sys.stderr)
        return 2
    if cfg.pin:
        cfg = replace(cfg, model=str(bundle_dir))
    run(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
