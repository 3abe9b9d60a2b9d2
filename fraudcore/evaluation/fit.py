"""Whether a model bundle fits the data and config it is asked to evaluate on, said before any row is scored.

`fraud evaluate` and EvaluateFlow judge bundles that may have been trained on another schema than
PayLink's. Without `--config` the model's own training config (kept in the bundle, with its column map
and [evaluation] section) applies; a config, a challenger or a data file whose columns do not fit is a
`ColumnMismatchError` naming the columns, never a KeyError from deep inside the scoring.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fraudcore.config import TrainConfig
from fraudcore.config_loader import ConfigError
from fraudcore.errors import EXIT_USAGE, FraudError
from fraudcore.schema import Schema


class ColumnMismatchError(FraudError, ValueError):
    """A model, a config or a data file whose columns do not fit each other; the message names the columns."""

    exit_code = EXIT_USAGE


def bundle_config(bundle: Any) -> TrainConfig:
    """The training config the bundle was trained with (its column map, [evaluation] slices, entity)."""
    try:
        return TrainConfig.from_dict(bundle.config, f"the training config kept in bundle {bundle.version}")
    except ConfigError as err:
        raise ConfigError(f"{err}. Give a config that fits the model with --config") from err


def _columns(path: str) -> list[str]:
    """The column names of a data file (the first file of a directory), read from its header only."""
    import pandas as pd
    import pyarrow.parquet as pq

    from fraudcore.data import _files

    if path.startswith("s3://"):
        return []
    first = _files(path)[0]
    if first.endswith(".csv"):
        return [str(c) for c in pd.read_csv(first, nrows=0).columns]
    return [str(c) for c in pq.read_schema(first).names]


def check_fit(bundles: Mapping[str, Any], cfg: TrainConfig, data_path: str = "") -> None:
    """Every bundle's input columns are in the model's schema; the config's slices and entity name fields of
    it; the data file (after the config's column map) has every column the schema requires."""
    first = next(iter(bundles))
    schema: Schema = bundles[first].schema
    for name, b in bundles.items():
        missing = [c for c in map(str, b.pipeline.feature_names_in_) if c not in schema.by_name]
        if missing:
            raise ColumnMismatchError(f"{name} {b.version} needs columns {missing} that the data's schema "
                                      f"'{schema.name}' (of {first} {bundles[first].version}) does not have; compare "
                                      "models trained on the same schema")
    try:
        cfg.evaluation.check_fields(schema)
    except ConfigError as err:
        raise ColumnMismatchError(f"the config's [evaluation] does not fit {first} {bundles[first].version} "
                                  f"(schema '{schema.name}'): {err}. Without --config the model's own config "
                                  "applies") from err
    if not data_path:
        return
    cmap = dict(cfg.data.column_map)
    present = [cmap.get(c, c) for c in _columns(data_path)]
    required = [f.name for f in schema.fields if f.role != "oracle"]
    lacking = [c for c in required if c not in present]
    if present and lacking:
        inverse = {v: k for k, v in cmap.items()}
        shown = ", ".join(f"'{c}' (your '{inverse[c]}')" if c in inverse else f"'{c}'" for c in lacking)
        raise ColumnMismatchError(f"{Path(data_path)} lacks columns {shown} that {first} {bundles[first].version} "
                                  f"(schema '{schema.name}') needs; it has {sorted(_columns(data_path))}. Map your "
                                  "names with [data.column_map] (the model's own map applies without --config)")
