"""Server config: one frozen dataclass, defaults in one place, types and ranges checked on construction.

Built by the project's one config loader (fraudcore/config_loader.py): `fraud serve --config FILE` reads
a TOML file of these keys, command-line flags override it, and the result reaches each worker process as
JSON in $PAYLINK_SERVE_CONFIG. A new switch is one field here (with its default) and one flag in cli.py.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from fraudcore.config_loader import ConfigError, ConfigFile, check_types, need

ENV_VAR = "PAYLINK_SERVE_CONFIG"


@dataclass(frozen=True)
class ServeConfig(ConfigFile):
    model: str = "/opt/ml/model"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 1_048_576
    max_batch: int = 256
    reasons_k: int = 3
    batching: bool = True               # score requests ready in the same loop iteration together
    capture: str | None = None          # local folder or s3://bucket/prefix; None disables capture
    capture_sample: float = 0.01        # share of successful requests captured (failures: all)
    emf: bool = False                   # CloudWatch EMF lines on stdout (on by default in SageMaker)
    emf_interval_s: float = 60.0
    admin_token: str | None = None      # without a token, /admin/* answers only loopback clients
    pin: bool = False                   # SIGHUP does not re-resolve the model spec
    keep_alive_s: int = 60
    graceful_timeout_s: int = 25        # SageMaker sends SIGKILL 30 s after SIGTERM
    log_level: str = "warning"
    # The checkout form (docs/serving.md#the-checkout-form): where request-time features are read.
    # "lmdb:PATH" (the embedded default, written by `fraud features load/ingest`), "dynamodb:TABLE"
    # on AWS, or "none" (features form only).
    online_store: str = "lmdb:data/online/store.lmdb"
    online_budget_ms: float = 25.0      # a store read slower than this scores the request degraded
    # Fast paths (docs/serving.md#fast-paths-and-their-switches); off, each falls back to the library
    # code it is tested against, with the same scores, decisions and reasons.
    compiled_walk: bool = True          # fastpredict's tree walk; off: LightGBM's Booster.predict
    compiled_reasons: bool = True       # fastshap's TreeSHAP; off: LightGBM's pred_contrib
    one_write: bool = True              # transport.py; off: uvicorn's own httptools protocol

    def __post_init__(self) -> None:
        check_types(self, "")
        checks = [
            ("port", 0 <= self.port <= 65535, "an int in [0, 65535]"),
            ("workers", self.workers >= 1, "an int >= 1"),
            ("max_body_bytes", self.max_body_bytes >= 1024, "an int >= 1024"),
            ("max_batch", self.max_batch >= 1, "an int >= 1"),
            ("reasons_k", 1 <= self.reasons_k <= 40, "an int in [1, 40]"),
            ("capture_sample", 0.0 <= self.capture_sample <= 1.0, "a number in [0, 1]"),
            ("emf_interval_s", self.emf_interval_s > 0, "a number > 0"),
            ("keep_alive_s", self.keep_alive_s >= 1, "an int >= 1"),
            ("graceful_timeout_s", self.graceful_timeout_s >= 0, "an int >= 0"),
            ("online_budget_ms", 0 < self.online_budget_ms <= 10_000, "a number in (0, 10000]"),
            ("online_store", self.online_store == "none" or self.online_store.split(":", 1)[0] in
             ("lmdb", "dynamodb") and len(self.online_store.split(":", 1)) == 2 and
             bool(self.online_store.split(":", 1)[1]), "'none', 'lmdb:PATH' or 'dynamodb:TABLE'"),
        ]
        for name, ok, rule in checks:
            need(ok, name, f"must be {rule}", getattr(self, name))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_env(cls) -> ServeConfig:
        raw = os.environ.get(ENV_VAR)
        if not raw:
            raise ConfigError(f"{ENV_VAR} is not set; start the server with `fraud serve`")
        return cls.from_dict(json.loads(raw), f"${ENV_VAR}")
