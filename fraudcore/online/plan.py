"""What the online path keeps and reads, derived from the same FeatureSet the offline engine reads.

- a `GroupPlan` per (stream, key) an aggregate (or a `null_without` history) reads: the event columns
  it keeps and how long (the longest window over it);
- an `EntityPlan` per entity table a derived input or a chain of refs passes through, and the
  round of reads in which its key is known (1 when the checkout request carries it);
- a `SnapshotPlan` per reference table;
- the checkout form: the target columns a request sends (id, time, request and vendor fields, and
  the entity ids the aggregates and refs start from).
"""
from __future__ import annotations

from dataclasses import dataclass

from fraudcore.features.definitions import AggregateFeature, ReferenceFeature
from fraudcore.features.featureset import FeatureSet
from fraudcore.features.tables import Hop
from fraudcore.features.usage import entity_paths


@dataclass(frozen=True)
class GroupPlan:
    stream: str
    key: tuple[str, ...]
    time: str                              # the stream's time column
    id: str                                # the stream's event id column
    columns: tuple[str, ...]               # value and filter columns kept with each event
    retention_ns: int                      # the longest window reading this group
    aggregates: tuple[AggregateFeature, ...]

    def state_key(self, values: tuple) -> str:
        return "a|" + self.stream + "|" + ",".join(self.key) + "|" + "|".join(map(str, values))


@dataclass(frozen=True)
class EntityPlan:
    table: str
    key: str
    chain: tuple[Hop, ...]                 # refs from the target to this entity
    columns: tuple[str, ...]               # the columns kept (those read by features or later hops)

    @property
    def round(self) -> int:
        return len(self.chain)

    def state_key(self, value: object) -> str:
        return f"e|{self.table}|{value}"


@dataclass(frozen=True)
class SnapshotPlan:
    table: str
    key: str                               # the snapshot's key column
    time: str
    entity: str                            # the entity the key points at
    chain: tuple[Hop, ...]                 # refs from the target to that entity
    columns: tuple[str, ...]
    features: tuple[ReferenceFeature, ...]

    @property
    def round(self) -> int:               # the key is the last hop's column, known one round earlier
        return len(self.chain)

    def state_key(self, value: object) -> str:
        return f"s|{self.table}|{value}"


@dataclass(frozen=True)
class OnlinePlan:
    fs: FeatureSet
    groups: tuple[GroupPlan, ...]
    entities: tuple[EntityPlan, ...]
    snapshots: tuple[SnapshotPlan, ...]
    checkout_fields: tuple[str, ...]       # target columns a checkout request carries
    id_column: str
    time_column: str

    @property
    def rounds(self) -> int:
        return max([1] + [e.round for e in self.entities] + [s.round for s in self.snapshots])

    def streams(self) -> dict[str, tuple[GroupPlan, ...]]:
        out: dict[str, list[GroupPlan]] = {}
        for g in self.groups:
            out.setdefault(g.stream, []).append(g)
        return {k: tuple(v) for k, v in out.items()}


def build_plan(fs: FeatureSet) -> OnlinePlan:
    target = fs.target_table
    groups: dict[tuple[str, tuple[str, ...]], dict] = {}

    def group(stream: str, key: tuple[str, ...]) -> dict:
        return groups.setdefault((stream, key), {"columns": set(), "retention": 0, "aggregates": []})

    for f in fs.of_kind("aggregate"):
        assert isinstance(f, AggregateFeature)
        g = group(f.stream, f.key)
        g["aggregates"].append(f)
        g["retention"] = max(g["retention"], f.window_ns)
        g["columns"].update([f.column] if f.column else [])
        g["columns"].update(c.column for c in f.filters)
        if f.null_without is not None:
            h = group(f.null_without.stream, f.key)
            h["retention"] = max(h["retention"], f.null_without.window_ns)
    group_plans = tuple(
        GroupPlan(stream, key, fs.tables[stream].time, fs.tables[stream].id, tuple(sorted(g["columns"])),
                  g["retention"], tuple(g["aggregates"]))
        for (stream, key), g in sorted(groups.items()))

    paths = entity_paths(fs)
    snapshot_entities = {fs.tables[f.table].refs[fs.tables[f.table].key] for f in fs.of_kind("reference")}
    read_cols: dict[str, set[str]] = {}
    for f in fs.of_kind("derived"):
        for ref in f.inputs:
            if ref.table != fs.target:
                read_cols.setdefault(ref.table, set()).add(ref.column)
    for chain in paths.values():
        for hop in chain:
            if hop.table != fs.target:
                read_cols.setdefault(hop.table, set()).add(hop.column)
    # An entity a snapshot is keyed by is fetched even when none of its columns is read: as in the
    # engine (a LEFT JOIN through the entity table), a snapshot counts only for a known entity.
    entities = tuple(
        EntityPlan(name, fs.tables[name].key, paths[name], tuple(sorted(read_cols.get(name, ()))))
        for name in sorted(paths, key=lambda n: (len(paths[n]), n)) if name in read_cols or name in snapshot_entities)

    snaps = []
    for table in sorted({f.table for f in fs.of_kind("reference")}):
        snap = fs.tables[table]
        feats = tuple(f for f in fs.of_kind("reference") if f.table == table)
        entity = snap.refs[snap.key]
        snaps.append(SnapshotPlan(table, snap.key, snap.time, entity, paths[entity],
                                  tuple(sorted({f.column for f in feats})), feats))

    fields = [target.id, target.time]
    fields += [f.column for f in fs.of_kind("request", "vendor")]
    for chain in paths.values():
        fields += [chain[0].column] if chain else []
    for g in group_plans:
        fields += list(g.key)
    seen: set[str] = set()
    checkout = tuple(c for c in fields if not (c in seen or seen.add(c)))
    return OnlinePlan(fs, group_plans, entities, tuple(snaps), checkout, target.id, target.time)
