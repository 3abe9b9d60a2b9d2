"""Find the bundle to monitor against: a directory, a model.tar.gz, a TrainFlow run id or "champion".

Run ids and the champion resolve through `fraudcore.registry` (the Metaflow client and the `bundle`
artifact), the same way the scoring server resolves them, so the monitor always judges traffic
against the bundle that served it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from fraudcore.bundle import Bundle, BundleError, load_bundle, unpack_bundle


def resolve_bundle(ref: str | Path, workdir: str | Path | None = None) -> Bundle:
    """Load the bundle named by `ref`; a model.tar.gz is unpacked under `workdir` (default a temp dir)."""
    p = Path(ref)
    if p.is_dir():
        return load_bundle(p)
    if p.is_file() and p.name.endswith(".tar.gz"):
        work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="monitor-bundle-"))
        return load_bundle(unpack_bundle(p, work / "bundle"))
    if str(ref).endswith(".tar.gz"):
        raise BundleError(f"bundle {str(ref)!r}: no such directory or model.tar.gz")
    from fraudcore.registry import RegistryError, resolve_bundle_dir

    try:
        return load_bundle(resolve_bundle_dir(ref))
    except RegistryError as err:
        raise BundleError(f"bundle {str(ref)!r}: no such directory or model.tar.gz, and not resolvable as a "
                          f"TrainFlow run id or 'champion': {err}") from err
