"""Find the bundle to monitor against: a directory, a model.tar.gz, a TrainFlow run id or "champion".

Run ids and the champion tag resolve through the Metaflow client (docs/contracts.md): TrainFlow stores
the bundle as the artifact `bundle`, a mapping of file name to content, which is written to a local
folder and then verified like any other bundle.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from fraudcore.bundle import Bundle, BundleError, load_bundle, unpack_bundle

TRAIN_FLOW = "TrainFlow"
CHAMPION = "champion"
BUNDLE_ARTIFACT = "bundle"


def _run_bundle(ref: str, dest: Path) -> Path:
    import metaflow
    from metaflow.exception import MetaflowNotFound

    metaflow.namespace(None)  # the champion may have been trained by another user or the scheduler
    try:
        flow = metaflow.Flow(TRAIN_FLOW)
        if ref == CHAMPION:
            runs = [r for r in flow.runs(CHAMPION) if r.successful]
            if not runs:
                raise BundleError(f"no successful {TRAIN_FLOW} run carries the tag {CHAMPION!r} "
                                  f"(metadata {metaflow.get_metadata()})")
            run = runs[0]
        else:
            run = flow[ref]
    except MetaflowNotFound as err:
        raise BundleError(f"bundle {ref!r}: not a path, and no {TRAIN_FLOW} run with that id in metadata "
                          f"{metaflow.get_metadata()}") from err
    if BUNDLE_ARTIFACT not in run.data:
        raise BundleError(f"{TRAIN_FLOW} run {run.id}: has no {BUNDLE_ARTIFACT!r} artifact")
    files = getattr(run.data, BUNDLE_ARTIFACT)
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{TRAIN_FLOW} run {run.id}: artifact {BUNDLE_ARTIFACT!r} must map file names to contents")
    dest.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if "/" in name or name.startswith(".."):
            raise BundleError(f"{TRAIN_FLOW} run {run.id}: bundle file name {name!r} must be a plain file name")
        (dest / name).write_bytes(content if isinstance(content, bytes) else str(content).encode())
    return dest


def resolve_bundle(ref: str | Path, workdir: str | Path | None = None) -> Bundle:
    """Load the bundle named by `ref`; run-id bundles are written under `workdir` (default a temp dir)."""
    p = Path(ref)
    if p.is_dir():
        return load_bundle(p)
    work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="monitor-bundle-"))
    if p.is_file() and p.name.endswith(".tar.gz"):
        return load_bundle(unpack_bundle(p, work / "bundle"))
    if str(ref) != CHAMPION and ("/" in str(ref) or str(ref).endswith(".tar.gz")):
        raise BundleError(f"bundle {str(ref)!r}: no such directory or model.tar.gz")
    return load_bundle(_run_bundle(str(ref), work / f"run-{ref}"))
