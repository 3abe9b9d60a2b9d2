"""The validation report: every event read is accounted for as kept or dropped, with the reason."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class TableReport:
    """rows_read = outside_partition + duplicates_dropped + kept; unknown refs are kept and counted."""

    table: str
    rows_read: int = 0
    outside_partition: int = 0
    duplicates_dropped: int = 0
    kept: int = 0
    first_duplicate: str | None = None
    unknown_refs: dict[str, int] = field(default_factory=dict)

    def balanced(self) -> bool:
        return self.rows_read == self.outside_partition + self.duplicates_dropped + self.kept


@dataclass
class ValidationReport:
    partition: str
    tables: dict[str, TableReport] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"partition": self.partition, "tables": {k: asdict(v) for k, v in self.tables.items()},
                "notes": list(self.notes)}

    def to_text(self) -> str:
        lines = [f"partition {self.partition}:"]
        for t in self.tables.values():
            line = (f"  {t.table:<20} read {t.rows_read:>11,}  outside partition {t.outside_partition:>11,}  "
                    f"duplicates dropped {t.duplicates_dropped:>7,}  kept {t.kept:>11,}")
            unknown = {k: v for k, v in t.unknown_refs.items() if v}
            if unknown:
                line += "  unknown refs (kept): " + ", ".join(f"{k}={v:,}" for k, v in unknown.items())
            if t.first_duplicate is not None:
                line += f"  first duplicate id {t.first_duplicate}"
            lines.append(line)
        lines += ["  note: " + n for n in self.notes]
        return "\n".join(lines)
