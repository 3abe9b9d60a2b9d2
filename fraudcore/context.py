"""What TrainFlow's steps work from once the data is prepared, passed as one typed value.

Every step after `start` needs the typed config, the schema and the prepared data; from `features` on,
also the split plan and its row counts. `TrainContext` carries them, so the steps' functions take it
and a few results of their own instead of long positional lists.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fraudcore.config import TrainConfig
from fraudcore.prepare import PreparedData
from fraudcore.schema import Schema
from fraudcore.split import SplitPlan


@dataclass(frozen=True)
class TrainContext:
    cfg: TrainConfig
    schema: Schema
    prepared: PreparedData
    plan: SplitPlan | None = None  # None until the `features` step plans the split
    counts: Mapping[str, Mapping[str, int]] | None = None  # rows and positives per split part
    features: Mapping[str, Any] | None = None  # the feature declarations, their hash and the backfill key

    @property
    def split(self) -> SplitPlan:
        """The split plan; ValueError before it has been planned."""
        if self.plan is None:
            raise ValueError("TrainContext.plan is None: the split is planned in the `features` step, "
                             "after which every step has it")
        return self.plan

    @property
    def part_counts(self) -> Mapping[str, Mapping[str, Any]]:
        """Rows and positives per split part; ValueError before they have been counted."""
        if self.counts is None:
            raise ValueError("TrainContext.counts is None: the split is counted in the `features` step")
        return self.counts
