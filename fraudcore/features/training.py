"""Where TrainFlow's feature table comes from: a table given as is (`data.path`), or a backfill from raw
events (`data.events`, or the synthetic default's events, generated once and reused).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from fraudcore.config import DataConfig
from fraudcore.features.backfill import BackfillPlan, plan_backfill
from fraudcore.features.errors import FeatureConfigError
from fraudcore.features.featureset import DEFAULT_FEATURES_PATH, load_feature_set
from fraudcore.schema import Schema

EVENTS_MANIFEST = "manifest.json"


def synthetic_events_dir(root: str | Path, rows: int, seed: int) -> Path:
    return Path(root) / f"rows={rows}-seed={seed}"


def ensure_synthetic_events(root: str | Path, rows: int, seed: int) -> tuple[Path, bool]:
    """The synthetic default's raw events, generated unless a complete copy is there. Returns (dir, reused).

    The generator writes manifest.json last, and the folder is written under a temporary name and renamed,
    so a folder with a manifest for the same rows and seed is complete.
    """
    from fraudcore.synth.events import write_events
    from fraudcore.synth.events.spec import EventSpec

    out = synthetic_events_dir(root, rows, seed)
    manifest = out / EVENTS_MANIFEST
    spec = EventSpec().as_dict()
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        if saved.get("rows") == rows and saved.get("seed") == seed and saved.get("spec") == spec:
            return out, True
        shutil.rmtree(out)
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    write_events(tmp, rows, seed)
    tmp.rename(out)
    return out, False


def plan_training_backfill(data: DataConfig, schema: Schema) -> BackfillPlan | None:
    """The backfill that builds the training table, or None when `data.path` names a feature table."""
    if data.path:
        return None
    features = Path(data.features) if data.features else DEFAULT_FEATURES_PATH
    fs = load_feature_set(features)
    if fs.schema.name != schema.name:
        raise FeatureConfigError(f"data.features: {features} declares features of schema {fs.schema.name!r}, but "
                                 f"the run trains schema {schema.name!r} (data.schema); use the same schema file")
    if data.events:
        events = Path(data.events)
        if not events.is_dir():
            raise FeatureConfigError(f"data.events: must be a directory of raw events; got {data.events!r}")
    elif data.features or data.schema:
        raise FeatureConfigError("data.events is required with your own data.features or data.schema; the synthetic "
                                 "default exists only for PayLink's declarations")
    else:
        events, _ = ensure_synthetic_events(data.synthetic_events_root, data.synthetic_rows, data.synthetic_seed)
    return plan_backfill(events, features, data.feature_root)
