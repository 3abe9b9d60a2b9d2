"""TrainFlow runs through the Metaflow client: find one by id, the champion, the latest passed run; list them.

- A version is a TrainFlow run id. Its gate result is the tag `gate:passed` / `gate:failed`.
- The champion is per environment (`ENVIRONMENTS`): the tag `champion` on exactly one successful TrainFlow run
  for production (the tag every earlier record and `--model champion` mean), `champion:staging` for staging
  (`champion` moves them).

Where the runs live: the Metaflow local datastore is the `.metaflow` directory found from the current
directory upwards, or `METAFLOW_DATASTORE_SYSROOT_LOCAL`; failing both, the repository root (so the
commands work from anywhere inside the checkout).

Metaflow is imported lazily: importing fraudcore never touches it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fraudcore.registry import RegistryError

TRAIN_FLOW = "TrainFlow"
CHAMPION = "champion"
ENVIRONMENTS = ("production", "staging")
DEFAULT_ENVIRONMENT = "production"
GATE_PASSED, GATE_FAILED = "gate:passed", "gate:failed"
HEADLINE_ARTIFACT = "headline"
REPO_ROOT = Path(__file__).resolve().parents[2]


def datastore_root() -> Path:
    """The directory holding `.metaflow` (see the module docstring for the search order)."""
    env = os.environ.get("METAFLOW_DATASTORE_SYSROOT_LOCAL")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / ".metaflow").is_dir():
            return d
    if (REPO_ROOT / ".metaflow").is_dir():
        return REPO_ROOT
    raise RegistryError(f"no Metaflow datastore: no .metaflow directory in {here} or its parents, none in the "
                        f"repository root {REPO_ROOT}, and METAFLOW_DATASTORE_SYSROOT_LOCAL is not set. "
                        "Run a TrainFlow first (make train)")


def _metaflow() -> Any:
    import metaflow

    if metaflow.get_metadata().startswith("local"):
        # every call: the datastore may have moved since metaflow was imported (tests, other checkouts)
        metaflow.metadata(f"local@{datastore_root()}")
    metaflow.namespace(None)  # every user's and the scheduler's runs
    return metaflow


def train_flow() -> Any:
    """The Metaflow client's TrainFlow; RegistryError when no TrainFlow has run here yet."""
    mf = _metaflow()
    from metaflow.exception import MetaflowNotFound

    try:
        return mf.Flow(TRAIN_FLOW)
    except MetaflowNotFound as err:
        raise RegistryError(f"no {TRAIN_FLOW} runs in metadata {mf.get_metadata()}; run a TrainFlow first") from err


def get_run(run_id: str) -> Any:
    """The TrainFlow run `run_id`; RegistryError naming it when there is none."""
    from metaflow.exception import MetaflowNotFound

    try:
        flow = train_flow()
    except RegistryError as err:
        raise RegistryError(f"run id {run_id!r}: cannot be resolved: {err}") from err
    try:
        return flow[str(run_id)]
    except (MetaflowNotFound, KeyError) as err:  # Flow[id] raises KeyError for an unknown run of a known flow
        raise RegistryError(f"run id {run_id!r}: no {TRAIN_FLOW} run with that id in "
                            f"{_metaflow().get_metadata()}") from err


def gate_of(tags: Any) -> str:
    tags = set(tags)
    return "passed" if GATE_PASSED in tags else "failed" if GATE_FAILED in tags else "unknown"


def check_environment(environment: str) -> str:
    if environment not in ENVIRONMENTS:
        raise RegistryError(f"environment must be one of {ENVIRONMENTS}; got {environment!r}")
    return environment


def champion_tag(environment: str = DEFAULT_ENVIRONMENT) -> str:
    """`champion` for production (unchanged from when there was one champion), `champion:<env>` otherwise."""
    check_environment(environment)
    return CHAMPION if environment == DEFAULT_ENVIRONMENT else f"{CHAMPION}:{environment}"


def champion_run_id(environment: str = DEFAULT_ENVIRONMENT) -> str | None:
    """The run tagged as `environment`'s champion, or None when there is none yet."""
    tag = champion_tag(environment)
    try:
        runs = [str(r.id) for r in train_flow().runs(tag)]
    except RegistryError:
        return None
    if len(runs) > 1:
        raise RegistryError(f"tag {tag!r} must be on exactly one {TRAIN_FLOW} run; found it on {runs}. "
                            f"Fix with `fraud models promote RUN_ID --env {environment} --force --reason ...`")
    return runs[0] if runs else None


def latest_passed_run_id() -> str | None:
    """The newest successful run tagged `gate:passed`, or None."""
    try:
        runs = train_flow().runs(GATE_PASSED)
    except RegistryError:
        return None
    return next((str(r.id) for r in runs if r.successful), None)


def resolve(run_id_or_champion: str) -> str:
    """A run id as given, or a champion's run id for "champion" (production) or "champion:<environment>"."""
    spec = str(run_id_or_champion)
    if spec == CHAMPION or spec.startswith(CHAMPION + ":"):
        environment = spec.partition(":")[2] or DEFAULT_ENVIRONMENT
        rid = champion_run_id(environment)
        if rid is None:
            raise RegistryError(f"model {spec!r} requested but no run is tagged {champion_tag(environment)!r}; "
                                f"promote one first (fraud models promote RUN_ID --env {environment} --reason ...)")
        return rid
    return spec


def _headline(run: Any) -> dict[str, Any] | None:
    try:
        return dict(getattr(run["end"].task.data, HEADLINE_ARTIFACT))
    except (KeyError, AttributeError):
        return None
    except Exception as err:  # a half-written run: say which, don't hide the listing
        return {"error": f"{type(err).__name__}: {err}"}


def list_runs(limit: int | None = None) -> list[dict[str, Any]]:
    """TrainFlow runs, newest first, with gate, champion flag and headline metrics."""
    try:
        flow = train_flow()
    except RegistryError:
        return []
    out = []
    for run in flow.runs():
        tags = set(run.tags)
        finished = run.finished_at
        out.append({"run_id": str(run.id), "gate": gate_of(tags), "champion": CHAMPION in tags,
                    "champion_of": [e for e in ENVIRONMENTS if champion_tag(e) in tags],
                    "successful": bool(run.successful), "finished": bool(run.finished),
                    "created_at": run.created_at.isoformat() if run.created_at else None,
                    "finished_at": finished.isoformat() if finished else None,
                    "metrics": _headline(run) if run.successful else None})
        if limit is not None and len(out) >= limit:
            break
    return out


def tag_gate(run_id: str, passed: bool) -> None:
    """Record a run's gate result as its tag (replacing an earlier result, e.g. after resume)."""
    run = get_run(run_id)
    new, old = (GATE_PASSED, GATE_FAILED) if passed else (GATE_FAILED, GATE_PASSED)
    if old in run.tags:
        run.replace_tag(old, new)
    else:
        run.add_tag(new)
