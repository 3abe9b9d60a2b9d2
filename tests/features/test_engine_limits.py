"""DuckDB limits for the feature engine are checked on construction and name the bad setting."""
from __future__ import annotations

import pytest

from fraudcore.features import EngineLimits


@pytest.mark.parametrize(("field", "value"), [("threads", 0), ("threads", True), ("threads", 1.5),
                                              ("memory_limit", 4)])
def test_engine_limits_name_the_bad_setting(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"engine limit '{field}' must be"):
        EngineLimits(**{field: value})


def test_defaults_leave_duckdb_alone() -> None:
    assert EngineLimits() == EngineLimits(threads=None, memory_limit=None)
