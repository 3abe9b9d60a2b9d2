"""Which tables and columns a feature set reads, so a partition loads only those."""
from __future__ import annotations

from fraudcore.features.featureset import FeatureSet


def entity_paths(fs: FeatureSet) -> dict[str, tuple]:
    """Entity -> chain of refs from the target, for every entity a derived or reference feature reaches."""
    out: dict[str, tuple] = {}
    for f in fs.of_kind("derived"):
        for ref in f.inputs:
            if ref.table != fs.target:
                out[ref.table] = fs.tables.path(fs.target, ref.table)
    for f in fs.of_kind("reference"):
        snap = fs.tables[f.table]
        entity = snap.refs[snap.key]
        out[entity] = fs.tables.path(fs.target, entity)
    for chain in list(out.values()):           # entities passed through on the way are read too
        for hop in chain:
            if hop.table != fs.target and hop.table not in out:
                out[hop.table] = fs.tables.path(fs.target, hop.table)
    return out


def needed_columns(fs: FeatureSet) -> dict[str, set[str]]:
    """Table -> the declared columns the engine reads from it."""
    need: dict[str, set[str]] = {}

    def add(table: str, *cols: str | None) -> None:
        need.setdefault(table, set()).update(c for c in cols if c is not None)

    schema_ids = [c for c in fs.output_columns if c not in fs.schema.feature_names]
    add(fs.target, *schema_ids)
    for f in fs.of_kind("request", "vendor"):
        add(fs.target, f.column)
    for f in fs.of_kind("derived"):
        for ref in f.inputs:
            add(ref.table, ref.column)
    for f in fs.of_kind("reference"):
        add(f.table, fs.tables[f.table].key, f.column)
    for f in fs.of_kind("aggregate"):
        add(f.stream, *f.key, f.column, *(c.column for c in f.filters))
        add(fs.target, *f.key)
        if f.null_without is not None:
            add(f.null_without.stream, *f.key)
    for chain in entity_paths(fs).values():
        for hop in chain:
            add(hop.table, hop.column)
            add(hop.to, fs.tables[hop.to].key)
    for table in list(need):
        t = fs.tables[table]
        add(table, t.id, t.time, t.key)
        for col, entity in t.refs.items():       # so unknown ids in every column read are counted
            if col in need[table]:
                add(entity, fs.tables[entity].key)
    return need
