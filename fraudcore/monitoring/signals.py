"""Signals and the verdict.

A signal is one threshold crossed, with the value, the limit and a sentence a person can act on. The
verdict is the worst level among them: "retrain" only when matured labels show the model is worse
(drift alone is a reason to look, not proof that the model is wrong: a feed outage is fixed in the
feed, not by retraining on broken data), "investigate" for any other signal, else "healthy".
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

LEVELS = ("healthy", "investigate", "retrain")


@dataclass(frozen=True)
class Signal:
    name: str          # e.g. "missing_rate_shift"
    level: str         # "investigate" or "retrain"
    value: float
    threshold: float
    subject: str       # the feature, "score", "latency", ...
    message: str

    def __post_init__(self) -> None:
        if self.level not in LEVELS[1:]:
            raise ValueError(f"signal level must be one of {LEVELS[1:]}; got {self.level!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(signals: Iterable[Signal]) -> str:
    """The worst level among `signals`, or "healthy" when there are none."""
    worst = 0
    for s in signals:
        worst = max(worst, LEVELS.index(s.level))
    return LEVELS[worst]
