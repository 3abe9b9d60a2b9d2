"""Bundles on this machine: a run's bundle downloaded from its artifact, verified and cached, and the one
resolver from what a person types (a directory, a `model.tar.gz`, a run id or `champion`) to a bundle.

The server, the monitor, evaluation and deployment all resolve through `resolve_bundle_dir`, so they
judge by the same bundle. Bundle files are written to disk in one place, `write_bundle_files`.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fraudcore.bundle import Bundle, BundleError, load_bundle, unpack_bundle
from fraudcore.registry import RegistryError
from fraudcore.registry.lookup import datastore_root, get_run, resolve

BUNDLE_ARTIFACT = "bundle"
SPEC_FORMS = "a bundle directory, a model.tar.gz, a TrainFlow run id or 'champion'"


class ModelSpecError(BundleError):
    """A model spec that names no loadable bundle; the message says what was tried."""


def bundle_files(run_id: str) -> dict[str, bytes]:
    """The run's `bundle` artifact (file name -> bytes): it survives AWS Batch, a worker's disk does not."""
    run = get_run(run_id)
    try:
        files = getattr(run["end"].task.data, BUNDLE_ARTIFACT)
    except (KeyError, AttributeError) as err:
        raise RegistryError(f"run id {run.id!r}: has no {BUNDLE_ARTIFACT!r} artifact (did it finish?)") from err
    if not isinstance(files, dict) or not files:
        raise RegistryError(f"run id {run.id!r}: artifact {BUNDLE_ARTIFACT!r} must map file names to bytes; "
                            f"got {type(files).__name__}")
    return {str(k): v if isinstance(v, bytes) else str(v).encode() for k, v in files.items()}


def write_bundle_files(files: dict[str, bytes], dest: str | Path) -> Path:
    """Write a bundle's files (name -> bytes) into `dest` (created) and return it; names must be plain."""
    out = Path(dest)
    bad = [name for name in files if "/" in name or name.startswith(".")]
    if bad:
        raise RegistryError(f"bundle file name {bad[0]!r} must be a plain file name (no '/', no leading '.')")
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out / name).write_bytes(content)
    return out


def cache_root() -> Path:
    """Where run bundles are cached: `fraud-registry/bundles` beside the Metaflow datastore."""
    return datastore_root() / "fraud-registry" / "bundles"


def materialize_bundle(run_id_or_champion: str, dest_root: str | Path | None = None) -> Path:
    """Write a run's bundle (or the champion's) to `<dest_root>/<run_id>/` and verify it.

    A cached copy that still verifies is reused. Default `dest_root`: `cache_root()`.
    """
    rid = resolve(run_id_or_champion)
    root = Path(dest_root) if dest_root is not None else cache_root()
    dest = root / rid
    if dest.is_dir():
        try:
            load_bundle(dest)
            return dest
        except BundleError:
            shutil.rmtree(dest)
    files = bundle_files(rid)
    tmp = root / f".{rid}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    write_bundle_files(files, tmp)
    load_bundle(tmp)  # raises BundleError naming the file that differs
    tmp.rename(dest)
    return dest


def resolve_bundle_dir(spec: str | Path, workdir: str | Path | None = None) -> Path:
    """A bundle directory, a `model.tar.gz`, a TrainFlow run id or "champion" -> a bundle directory here.

    A directory is returned as it is (loading verifies it); an archive is unpacked and verified under
    `workdir` (default: a new temporary directory); a run id or the champion is materialised from its
    run. A spec that looks like a path but names no directory or archive is not tried as a run id.
    """
    text = str(spec)
    if not text:
        raise ModelSpecError(f"model spec is empty; give {SPEC_FORMS}")
    path = Path(text)
    if path.is_dir():
        return path
    if path.is_file() and text.endswith(".tar.gz"):
        work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="fraud-bundle-"))
        return unpack_bundle(path, work / "bundle")
    if "/" in text or text.startswith(".") or text.endswith(".tar.gz"):
        raise ModelSpecError(f"model {text!r} looks like a path but is not a directory or a model.tar.gz on this "
                             "machine, so it is not tried as a run id")
    try:
        return materialize_bundle(text)
    except Exception as err:  # noqa: BLE001 - Metaflow's and the registry's failures: one message, chained
        raise ModelSpecError(f"model {text!r} is not a directory or a model.tar.gz and could not be resolved as a "
                             f"TrainFlow run id or 'champion': {err}") from err


def resolve_bundle(spec: str | Path, workdir: str | Path | None = None) -> Bundle:
    """The loaded, verified bundle `spec` names (see `resolve_bundle_dir`)."""
    return load_bundle(resolve_bundle_dir(spec, workdir))

