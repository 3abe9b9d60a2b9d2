"""The model bundle as deployment sees it: verified before anything is sent, packed as model.tar.gz,
and used to predict what the endpoint must answer to a smoke request.

The bundle contract and its checks belong to `fraudcore.bundle` (manifest digest, format and library
versions, sha256 of every file); this module only adapts them to the deploy steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudcore.bundle import BundleError, load_bundle, package_bundle
from fraudcore.bundle import verify_bundle as _verify_bundle

__all__ = ["BundleError", "VerifiedBundle", "expected_answers", "package_model", "verify_bundle"]


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle directory whose files match its manifest."""

    path: Path
    run_id: str
    manifest: dict[str, Any]


def verify_bundle(path: str | Path) -> VerifiedBundle:
    """Check the bundle (fraudcore.bundle.verify_bundle); BundleError names the file and what differed."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"bundle directory {str(root)!r} does not exist or is not a directory")
    manifest = _verify_bundle(root)
    run_id = manifest.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise BundleError(f"bundle {root}: manifest 'run_id' must be a non-empty string; got {run_id!r}")
    return VerifiedBundle(path=root, run_id=run_id, manifest=manifest)


def package_model(bundle: VerifiedBundle, out: str | Path) -> tuple[Path, str]:
    """Write the reproducible model.tar.gz (files at the root, as /opt/ml/model expects); return path, sha256."""
    out_path = Path(out)
    return out_path, package_bundle(bundle.path, out_path)


def expected_answers(bundle: VerifiedBundle, requests: list[dict[str, Any]]) -> list[tuple[float, str]]:
    """(score, decision) the bundle gives each raw request: what the live endpoint must answer."""
    loaded = load_bundle(bundle.path)
    columns = {name: [r.get(name) for r in requests] for name in loaded.pipeline.feature_names_in_}
    scores = loaded.score(columns)
    decisions = loaded.decide(scores)
    return [(float(s), str(d)) for s, d in zip(scores, decisions)]


def schema_of(bundle: VerifiedBundle) -> Any:
    """The Schema the bundle was trained on."""
    return load_bundle(bundle.path).schema
