"""Cast the engine's result to the dtypes the schema declares (the same ones the training path reads)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from fraudcore.features.featureset import FeatureSet


def to_schema_frame(fs: FeatureSet, raw: pd.DataFrame) -> pd.DataFrame:
    """float -> float32; int -> int32 (float32 when nullable); bool -> bool; category -> Categorical;
    ids -> int64; timestamps -> datetime64[ns, UTC]. Columns in `fs.output_columns` order."""
    out: dict[str, object] = {}
    for name in fs.output_columns:
        f = fs.schema[name]
        s = raw[name]
        if f.dtype == "timestamp":
            out[name] = pd.to_datetime(s.to_numpy(dtype=np.int64), utc=True)
        elif f.dtype == "category":
            values = s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s
            out[name] = pd.Categorical(values, categories=list(f.categories or ()))
        elif f.dtype == "bool":
            out[name] = s.fillna(False).astype(bool).to_numpy() if f.nullable is False else s.astype("float32")
        elif f.dtype == "float" or (f.dtype == "int" and f.nullable):
            out[name] = pd.to_numeric(s).astype(np.float32).to_numpy()
        elif f.role == "id":
            out[name] = s.astype(np.int64).to_numpy()
        else:
            out[name] = pd.to_numeric(s).fillna(0).astype(np.int32).to_numpy()
    return pd.DataFrame(out)
