"""The scorer uses the bundle's own pipeline and booster: one row alone, in a batch and Bundle.score agree."""
from __future__ import annotations

import numpy as np

from fraudcore.bundle import load_bundle
from fraudcore.serving.scoring import COMPILED_PREDICT_MAX, Scorer, model_time_us


def _columns(frame, names, rows):
    return {k: [None if (isinstance(v, float) and v != v) else v for v in frame[k].iloc[rows].astype(object)]
            for k in names}


def _records(frame, names, rows):
    cols = _columns(frame, names, rows)
    return [{k: cols[k][i] for k in names} for i in range(len(rows))]


def test_scores_alone_and_in_batches_equal_bundle_score(bundle_a, holdout):
    bundle = load_bundle(bundle_a)
    scorer = Scorer(bundle)
    names = scorer.feature_names
    expected = bundle.score(holdout.head(200))
    batch = scorer.score(_columns(holdout, names, list(range(200))))
    small = [r for a in range(0, 200, COMPILED_PREDICT_MAX)  # micro-batch sizes take the compiled walk
             for r in scorer.score(_columns(holdout, names, list(range(a, min(a + COMPILED_PREDICT_MAX, 200)))))]
    alone = [scorer.score(_columns(holdout, names, [i]))[0] for i in range(200)]
    np.testing.assert_allclose([r["score"] for r in batch], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose([r["score"] for r in alone], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose([r["score"] for r in small], expected, rtol=0, atol=1e-12)
    assert [r["decision"] for r in alone] == list(bundle.decide(expected))
    for r in alone:
        assert ("reasons" in r) == (r["decision"] != "approve")
    assert any("reasons" in r for r in alone)
    # records, the way requests arrive: the same scores, decisions and reasons, bit for bit
    assert [scorer.score(_records(holdout, names, [i]))[0] for i in range(200)] == alone
    assert [r for a in range(0, 200, 5) for r in scorer.score(_records(holdout, names, list(range(a, a + 5))))] == \
        [r for a in range(0, 200, 5) for r in scorer.score(_columns(holdout, names, list(range(a, a + 5))))]


def test_model_time_is_measured_per_record(bundle_a, holdout):
    scorer = Scorer(load_bundle(bundle_a))
    recs = [{k: v[0] for k, v in _columns(holdout, scorer.feature_names, [i]).items()} for i in range(20)]
    t = model_time_us(scorer, recs)
    assert t.shape == (20,) and (t > 0).all()
