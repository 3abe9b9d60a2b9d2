"""The training card at a glance (issue 16): reason values as a person reads them, and SHAP beeswarm field
names inside the figure however long they are."""
from __future__ import annotations

import numpy as np
import pytest

import cards.train_card as tc


@pytest.mark.parametrize("value, shown", [(0.41332730650901794, "0.413"), (12345.678, "12,346"), (1.5, "1.5"),
                                          (900.0, "900"), (-2.71828, "-2.72"), (0.000123456, "0.000123"),
                                          (3, "3"), ("giftcard", "giftcard"), (True, "True"), (None, "missing"),
                                          (float("nan"), "missing"), (np.float32(0.25), "0.25")])
def test_reason_values_are_rounded_to_three_significant_digits(value, shown) -> None:
    assert tc.reason_value(value) == shown


def test_beeswarm_field_names_are_not_clipped_on_the_left(monkeypatch) -> None:
    figures = []
    monkeypatch.setattr(tc, "_image", lambda fig: figures.append(fig) or fig)
    rng = np.random.default_rng(0)
    fields = ["x", "merchant_category_chargeback_rate_90d", "ant_category", "is_new_device_for_this_customer"]
    explain = {"fields": fields, "shap": rng.normal(size=(200, 4)), "values": rng.normal(size=(200, 4)),
               "field_importance": {f: 1.0 / (i + 1) for i, f in enumerate(fields)},
               "group_importance": {"transaction": 1.0}}
    tc.shap_plots(explain)
    beeswarm = figures[0]
    beeswarm.canvas.draw()
    renderer = beeswarm.canvas.get_renderer()
    ax = beeswarm.axes[0]
    labels = ax.get_yticklabels()
    assert sorted(t.get_text() for t in labels) == sorted(fields)
    assert min(t.get_window_extent(renderer).x0 for t in labels) >= 0  # inside the figure, not cut off
