"""What every month's draws read: category codes, the population, the spec and the calendar."""
from __future__ import annotations

from dataclasses import dataclass

from fraudcore.synth.events.clock import Clock
from fraudcore.synth.events.codes import Codes
from fraudcore.synth.events.population import Population
from fraudcore.synth.events.spec import EventSpec


@dataclass(frozen=True)
class World:
    """The fixed inputs of every month's traffic and attack sessions; each month adds its own index,
    row count and generator."""

    codes: Codes
    pop: Population
    spec: EventSpec
    clock: Clock
