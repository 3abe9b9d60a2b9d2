"""The bring-your-own-data example's generator (config/examples/make_orders.py), loaded for tests."""
from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "config" / "examples"


def make_orders_function():
    """`make_orders(rows, seed)` from the example script (config/examples is not a package)."""
    spec = importlib.util.spec_from_file_location("make_orders", EXAMPLES / "make_orders.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_orders
