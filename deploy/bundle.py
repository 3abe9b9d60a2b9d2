"""The model bundle as deployment sees it: verified before anything is sent, then packed as model.tar.gz.

The bundle contract (docs/contracts.md) is owned by `fraudcore.bundle`. Until that module lands, this
file checks the parts deployment relies on, straight from the contract: `manifest.json` names the run
and maps every other file to its sha256, and nothing unlisted rides along. Once
`fraudcore.bundle.load_bundle` / `package_bundle` exist, `verify_bundle` and `package_model` delegate
to them and keep only the deploy-specific packing rules (deterministic archive, files at the root).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
REQUIRED_FILES = ("model.txt", "pipeline.json", "thresholds.json", "schema.json",
                  "reference_profile.json", "metrics.json", "config.json")


class BundleError(ValueError):
    """A bundle is missing, incomplete or does not match its manifest; it must not be deployed."""


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle directory whose files match its manifest."""

    path: Path
    run_id: str
    manifest: dict[str, Any]

    @property
    def schema(self) -> dict[str, Any]:
        return json.loads((self.path / "schema.json").read_text())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_bundle(path: str | Path) -> VerifiedBundle:
    """Check the manifest and every checksum; raise BundleError naming the file and what differed."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"bundle directory {str(root)!r} does not exist or is not a directory")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"bundle {root}: '{MANIFEST}' is missing")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as err:
        raise BundleError(f"bundle {root}: '{MANIFEST}' is not valid JSON: {err}") from err
    run_id = manifest.get("run_id") if isinstance(manifest, dict) else None
    if not isinstance(run_id, str) or not run_id:
        raise BundleError(f"bundle {root}: manifest 'run_id' must be a non-empty string; got {run_id!r}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"bundle {root}: manifest 'files' must map file names to sha256; got {files!r}")
    missing_required = [f for f in REQUIRED_FILES if f not in files]
    if missing_required:
        raise BundleError(f"bundle {root}: manifest 'files' must list {list(REQUIRED_FILES)}; "
                          f"missing {missing_required}")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    unlisted = sorted(present - set(files))
    if unlisted:
        raise BundleError(f"bundle {root}: files not listed in the manifest: {unlisted}")
    for name, expected in sorted(files.items()):
        file = root / name
        if not file.is_file():
            raise BundleError(f"bundle {root}: file '{name}' is listed in the manifest but missing")
        actual = sha256_file(file)
        if actual != expected:
            raise BundleError(f"bundle {root}: file '{name}' has sha256 {actual}, manifest says {expected} "
                              "(the file was changed after training)")
    return VerifiedBundle(path=root, run_id=run_id, manifest=manifest)


def package_model(bundle: VerifiedBundle, out: str | Path) -> tuple[Path, str]:
    """Write model.tar.gz with the bundle's files at its root (SageMaker unpacks it to /opt/ml/model).

    The archive is byte-for-byte reproducible (sorted names, zero mtimes and owners), so the same
    bundle always gives the same sha256 and a re-deploy of a run re-uses its S3 object and Model.
    Returns the archive path and its sha256.
    """
    out_path = Path(out)
    names = sorted([MANIFEST, *bundle.manifest["files"]])
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            data = (bundle.path / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    with out_path.open("wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out_path, sha256_file(out_path)
