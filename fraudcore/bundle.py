"""The model bundle: the one artifact every part of the system exchanges (see docs/contracts.md).

A directory of plain files (LightGBM text, JSON), so it loads across Python and library versions and
cannot run code when opened. The manifest holds a sha256 for every other file and one for itself;
`load_bundle` refuses any difference and says which file and what differed.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import math
import platform
import subprocess
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit

import fraudcore
from fraudcore.errors import FraudError
from fraudcore.explain import reason_codes
from fraudcore.pipeline import FeaturePipeline
from fraudcore.schema import Schema, schema_from_dict
from fraudcore.thresholds import Thresholds, decide

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODEL = "model.txt"
JSON_FILES = ("pipeline.json", "thresholds.json", "schema.json", "reference_profile.json", "metrics.json",
              "config.json")
FILES = (MODEL, *JSON_FILES)


class BundleError(FraudError, ValueError):
    """A bundle that cannot be written or trusted; the message names the file and what differed."""


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manifest_digest(manifest: Mapping[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _git_commit() -> str | None:
    """HEAD of the checkout fraudcore runs from, or None outside a git checkout (e.g. a container)."""
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(fraudcore.__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def _plain(obj: Any, what: str) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return obj.to_dict() if hasattr(obj, "to_dict") else dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    raise BundleError(f"{what} must be a mapping or a dataclass; got {type(obj).__name__}")


def predict_scores(booster: lgb.Booster, X: np.ndarray, logit_offset: float = 0.0) -> np.ndarray:
    """Calibrated probabilities: sigmoid(raw LightGBM score + logit_offset).

    The offset undoes negative downsampling: training on negatives kept at rate r inflates the odds
    by 1/r, so offset = log(r). Training and serving both call this, so their scores agree bit for bit.
    """
    params = {"num_threads": 1} if len(X) == 1 else {}
    raw = np.asarray(booster.predict(X, raw_score=True, **params), dtype=np.float64)
    return expit(raw + logit_offset)


@dataclass(frozen=True)
class ModelParts:
    """What scores: the booster, its fitted pipeline, the decision thresholds, the schema it was trained on,
    and the logit offset that undoes negative downsampling (see `predict_scores`)."""

    booster: lgb.Booster
    pipeline: FeaturePipeline
    thresholds: Thresholds
    schema: Schema
    logit_offset: float = 0.0


@dataclass(frozen=True)
class BundleRecord:
    """What describes the model: its version, drift reference, metrics, training config and data.

    `config` is a mapping or a dataclass; `extra` is stored in the manifest under "extra" (e.g. oracle
    figures, tuning summary). Everything must be JSON-serialisable and NaN-free.
    """

    run_id: str
    profile: Mapping[str, Any]
    metrics: Mapping[str, Any]
    config: Any
    data_fingerprint: Mapping[str, Any]
    extra: Mapping[str, Any] | None = None
    flow: str = "TrainFlow"


def write_bundle(out_dir: str | Path, model: ModelParts, record: BundleRecord) -> Path:
    """Write a bundle into `out_dir` (created; must be empty) and return its path."""
    booster, pipeline, logit_offset = model.booster, model.pipeline, model.logit_offset
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"bundle directory {out} must be empty or absent; "
                          f"it holds {sorted(p.name for p in out.iterdir())}")
    if not isinstance(logit_offset, (int, float)) or isinstance(logit_offset, bool) or not math.isfinite(logit_offset):
        raise BundleError(f"logit_offset must be a finite number; got {logit_offset!r}")
    n_model = booster.num_feature()
    if n_model != pipeline.n_features_out_:
        raise BundleError(f"the booster has {n_model} features; the pipeline outputs {pipeline.n_features_out_}")
    names = booster.feature_name()
    if not all(n == f"Column_{i}" for i, n in enumerate(names)) and names != list(pipeline.feature_names_out_):
        raise BundleError(f"booster feature names {names} differ from pipeline.feature_names_out_ "
                          f"{list(pipeline.feature_names_out_)}")
    docs = {
        "pipeline.json": pipeline.get_state(),
        "thresholds.json": _plain(model.thresholds, "thresholds"),
        "schema.json": model.schema.to_dict(),
        "reference_profile.json": _plain(record.profile, "profile"),
        "metrics.json": _plain(record.metrics, "metrics"),
        "config.json": _plain(record.config, "config"),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / MODEL).write_text(booster.model_to_string())
    for name, doc in docs.items():
        try:
            text = json.dumps(doc, indent=2, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise BundleError(f"{name}: content must be JSON without NaN/inf; {err}") from err
        (out / name).write_text(text + "\n")
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "run_id": str(record.run_id),
        "flow": record.flow,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"python": platform.python_version(), "lightgbm": lgb.__version__, "numpy": np.__version__,
                     "pandas": pd.__version__, "fraudcore": fraudcore.__version__},
        "git_commit": _git_commit(),
        "data_fingerprint": dict(record.data_fingerprint),
        "scoring": {"logit_offset": float(logit_offset)},
        "extra": dict(record.extra or {}),
        "files": {name: sha256_file(out / name) for name in FILES},
    }
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    try:
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n")
    except (TypeError, ValueError) as err:
        raise BundleError(f"{MANIFEST}: data_fingerprint and extra must be JSON without NaN/inf; {err}") from err
    return out


def verify_bundle(path: str | Path) -> dict[str, Any]:
    """Check the manifest, its own digest, the run id, the format and lightgbm versions and every file's sha256."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"bundle directory {root} does not exist or is not a directory")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"bundle {root}: {MANIFEST} is missing")
    try:
        manifest = json.loads(mpath.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise BundleError(f"bundle {root}: {MANIFEST} is not valid JSON: {err}") from err
    got = manifest.get("format_version")
    if got != FORMAT_VERSION:
        raise BundleError(f"bundle {root}: {MANIFEST} format_version is {got!r}; this fraudcore reads {FORMAT_VERSION}")
    digest = _manifest_digest(manifest)
    if manifest.get("manifest_sha256") != digest:
        raise BundleError(f"bundle {root}: {MANIFEST} was modified: recorded manifest_sha256 "
                          f"{manifest.get('manifest_sha256')!r}, content hashes to {digest}")
    run_id = manifest.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise BundleError(f"bundle {root}: {MANIFEST} 'run_id' must be a non-empty string (the model version); "
                          f"got {run_id!r}")
    files = manifest.get("files", {})
    for name in FILES:
        if name not in files:
            raise BundleError(f"bundle {root}: {MANIFEST} has no checksum for required file {name}")
        fpath = root / name
        if not fpath.is_file():
            raise BundleError(f"bundle {root}: required file {name} is missing")
        actual = sha256_file(fpath)
        if actual != files[name]:
            raise BundleError(f"bundle {root}: {name} checksum mismatch: manifest says {files[name]}, "
                              f"file has {actual}")
    saved = str(manifest.get("versions", {}).get("lightgbm", "?"))
    if saved.split(".")[0] != lgb.__version__.split(".")[0]:
        raise BundleError(f"bundle {root}: {MODEL} was written by lightgbm {saved}; installed lightgbm "
                          f"{lgb.__version__} has another major version")
    return manifest


@dataclass(eq=False)
class Bundle:
    """A verified, loaded bundle: the model plus everything needed to score, decide and explain."""

    path: Path
    manifest: dict[str, Any]
    booster: lgb.Booster
    pipeline: FeaturePipeline
    thresholds: Thresholds
    schema: Schema
    profile: dict[str, Any]
    metrics: dict[str, Any]
    config: dict[str, Any]

    @property
    def version(self) -> str:
        """The model version: the TrainFlow run id."""
        return str(self.manifest["run_id"])

    @property
    def logit_offset(self) -> float:
        return float(self.manifest["scoring"]["logit_offset"])

    @property
    def column_map(self) -> dict[str, str]:
        """The training config's `data.column_map`: your column name -> schema field name."""
        data = self.config.get("data") or {}
        return {str(k): str(v) for k, v in dict(data.get("column_map") or {}).items()}

    def to_schema_names(self, X: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame | Mapping[str, Any]:
        """`X` with your column names renamed to the schema's through the bundle's column map."""
        cmap = {k: v for k, v in self.column_map.items() if k in X}
        if not cmap:
            return X
        both = sorted(k for k, v in cmap.items() if v in X)
        if both:
            pairs = ", ".join(f"{k!r} -> {cmap[k]!r}" for k in both)
            raise BundleError(f"bundle {self.path}: input has both the mapped column and its schema field ({pairs}); "
                              "send one of them")
        if isinstance(X, pd.DataFrame):
            return X.rename(columns=cmap)
        return {cmap.get(k, k): v for k, v in X.items()}

    def score(self, X: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Calibrated fraud probabilities for raw rows (a DataFrame or a column mapping), in the schema's
        column names or in yours (see `column_map`)."""
        return predict_scores(self.booster, self.pipeline.transform(self.to_schema_names(X)), self.logit_offset)

    def decide(self, scores: Any) -> Any:
        return decide(scores, self.thresholds)

    def explain(self, X_rows: pd.DataFrame | Mapping[str, Any], k: int = 3) -> list[list[dict[str, Any]]]:
        """Top-k raw fields pushing each row's score up, with contribution (log-odds) and value seen."""
        return reason_codes(self.booster, self.pipeline, self.to_schema_names(X_rows), k)


def load_bundle(path: str | Path) -> Bundle:
    """Verify (see `verify_bundle`) and load a bundle directory."""
    root = Path(path)
    manifest = verify_bundle(root)
    docs = {}
    for name in JSON_FILES:
        try:
            docs[name] = json.loads((root / name).read_text())
        except ValueError as err:
            raise BundleError(f"bundle {root}: {name} is not valid JSON: {err}") from err
    try:
        booster = lgb.Booster(model_str=(root / MODEL).read_text())
    except lgb.basic.LightGBMError as err:
        raise BundleError(f"bundle {root}: {MODEL} is not a LightGBM model: {err}") from err
    loaders = {"pipeline.json": FeaturePipeline.from_state, "thresholds.json": Thresholds.from_dict,
               "schema.json": schema_from_dict}
    loaded = {}
    for name, load in loaders.items():
        try:
            loaded[name] = load(docs[name])
        except (ValueError, TypeError, KeyError) as err:
            raise BundleError(f"bundle {root}: {name} cannot be loaded: {err}") from err
    pipeline = loaded["pipeline.json"]
    if booster.num_feature() != pipeline.n_features_out_:
        raise BundleError(f"bundle {root}: {MODEL} has {booster.num_feature()} features; pipeline.json outputs "
                          f"{pipeline.n_features_out_}")
    return Bundle(root, manifest, booster, pipeline, loaded["thresholds.json"], loaded["schema.json"],
                  docs["reference_profile.json"], docs["metrics.json"], docs["config.json"])


def package_bundle(bundle_dir: str | Path, out_path: str | Path) -> str:
    """Write a verified bundle as `model.tar.gz` with its files at the archive root; return its sha256.

    Byte-for-byte reproducible (sorted names, zeroed times and owners), so the same bundle always
    gives the same hash. SageMaker unpacks it into /opt/ml/model.
    """
    root = Path(bundle_dir)
    verify_bundle(root)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted((*FILES, MANIFEST)):
            data = (root / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buf.getvalue())
    return sha256_file(out)


def unpack_bundle(tar_path: str | Path, dest: str | Path) -> Path:
    """Extract a `model.tar.gz` into `dest` (regular top-level files only) and verify it."""
    out = Path(dest)
    with tarfile.open(tar_path, mode="r:gz") as tar:
        for m in tar.getmembers():
            if not m.isfile() or "/" in m.name.strip("./") or m.name.startswith(("/", "..")):
                raise BundleError(f"{tar_path}: member {m.name!r} is not a plain top-level file; refusing to unpack")
        out.mkdir(parents=True, exist_ok=True)
        tar.extractall(out, filter="data")
    verify_bundle(out)
    return out
