"""Each fast path has an off switch, and a server with one switched off gives the same answers.

Scores and decisions are bit-identical either way: the compiled walk adds LightGBM's leaf values in
LightGBM's order, and the transport changes only how bytes are written. Reasons from the compiled
explainer equal LightGBM's `pred_contrib` to ~1e-13, not bit for bit, so their contributions are
compared to 1e-9, and their order may differ only where two fields' contributions tie within that.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from serving_support import Server, start_server, to_records

from fraudcore.bundle import load_bundle
from fraudcore.schema import paylink_schema
from fraudcore.serving.cli import config_from_args, uvicorn_options
from fraudcore.serving.scoring import COMPILED_PREDICT_MAX, Scorer, ScorerOptions

SCHEMA = paylink_schema()
ATOL = 1e-9
SWITCHES = {"--no-compiled-walk": "compiled walk off", "--no-compiled-reasons": "compiled reasons off",
            "--no-one-write": "one-write transport off"}


def assert_same_reasons(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """Equal up to ties: the same contribution at every rank; a field shown by both with the same
    contribution and value; a field shown by one only if it ties with the last one shown (cut at k)."""
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert abs(g["contribution"] - w["contribution"]) <= ATOL, (got, want)
    by_field = {w["feature"]: w for w in want}
    for g in got:
        w = by_field.get(g["feature"])
        if w is None:
            assert abs(g["contribution"] - want[-1]["contribution"]) <= ATOL, (got, want)
        else:
            assert abs(g["contribution"] - w["contribution"]) <= ATOL and g["value"] == w["value"], (got, want)


def assert_same_answers(got: list[dict[str, Any]], want: list[dict[str, Any]], exact_reasons: bool) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g["score"], g["decision"], g["model_version"]) == (w["score"], w["decision"], w["model_version"])
        assert ("reasons" in g) == ("reasons" in w)
        if exact_reasons:
            assert g.get("reasons") == w.get("reasons")
        elif "reasons" in w:
            assert_same_reasons(g["reasons"], w["reasons"])


def test_the_check_catches_a_reordering_that_is_not_a_tie():
    a = {"feature": "amount", "contribution": 0.5, "value": 1.0}
    b = {"feature": "hour_of_day", "contribution": 0.5 + 1e-12, "value": 3}
    c = {"feature": "currency", "contribution": 0.2, "value": "EUR"}
    assert_same_reasons([a, b, c], [b, a, c])  # a tie may go either way
    with pytest.raises(AssertionError):
        assert_same_reasons([a, c], [c, a])
    assert_same_reasons([a, c], [a, dict(c, feature="proxy_score")])  # a tie at the cut: either is shown
    for wrong in (dict(c, value="USD"), dict(c, contribution=0.2 + 1e-6)):
        with pytest.raises(AssertionError):
            assert_same_reasons([a, c], [a, wrong])


def test_scorer_with_both_compiled_paths_off_gives_the_same_answers(bundle_a, holdout):
    bundle = load_bundle(bundle_a)
    fast, slow = Scorer(bundle), Scorer(bundle, ScorerOptions(compiled_walk=False, compiled_reasons=False))
    assert slow.trees is None and slow.explainer is None and fast.trees is not None and fast.explainer is not None
    records = to_records(holdout.head(240), SCHEMA)
    for size in (1, 5, COMPILED_PREDICT_MAX, 40):  # the walk serves up to COMPILED_PREDICT_MAX rows
        for i in range(0, len(records), size):
            chunk = records[i:i + size]
            assert_same_answers(slow.score(chunk, explain_all=True), fast.score(chunk, explain_all=True),
                                exact_reasons=False)


def test_switches_reach_the_settings():
    on = config_from_args(["--model", "x"])
    assert (on.compiled_walk, on.compiled_reasons, on.one_write) == (True, True, True)
    assert uvicorn_options(on)["http"] == "fraudcore.serving.transport:OneWriteHttpToolsProtocol"
    off = config_from_args(["--model", "x", *SWITCHES])
    assert (off.compiled_walk, off.compiled_reasons, off.one_write) == (False, False, False)
    assert uvicorn_options(off)["http"] == "httptools"


# ---- real servers ---------------------------------------------------------------------------------
def _requests(holdout) -> list[list[dict[str, Any]]]:
    """Holdout transactions one at a time and in requests of 8 (both on the compiled walk when it is
    on) and of 40 (`Booster.predict` either way)."""
    records = to_records(holdout.head(200), SCHEMA)
    return ([[r] for r in records[:60]] + [records[i:i + 8] for i in range(60, 140, 8)]
            + [records[i:i + 40] for i in range(140, 200, 40)])


def _answers(server: Server, requests: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    with server.client() as c:
        for recs in requests:
            r = c.post("/invocations", params={"explain": "all"}, content=json.dumps({"instances": recs}),
                       headers={"content-type": "application/json"})
            assert r.status_code == 200, r.text
            out += r.json()["predictions"]
    return out


def _serve(bundle_dir, log, *args: str) -> Server:
    return start_server(["--model", str(bundle_dir), "--max-batch", "64", *args], log)


@pytest.fixture(scope="module")
def fast_answers(bundle_a, holdout, tmp_path_factory) -> list[dict[str, Any]]:
    log = tmp_path_factory.mktemp("fast-paths") / "on.log"
    srv = _serve(bundle_a, log)
    try:
        answers = _answers(srv, _requests(holdout))
    finally:
        srv.stop()
    assert "compiled walk on, compiled reasons on, one-write transport on" in log.read_text()
    return answers


@pytest.mark.slow
@pytest.mark.parametrize("switch", list(SWITCHES))
def test_server_with_a_fast_path_off_answers_the_same(switch, bundle_a, holdout, fast_answers, tmp_path):
    log = tmp_path / "off.log"
    srv = _serve(bundle_a, log, switch)
    try:
        answers = _answers(srv, _requests(holdout))
    finally:
        srv.stop()
    assert SWITCHES[switch] in log.read_text()
    assert any("reasons" in a and a["decision"] != "approve" for a in answers)
    assert_same_answers(answers, fast_answers, exact_reasons=switch != "--no-compiled-reasons")
