"""The model bundle: round trip bit for bit, tampering caught with a clear message, SageMaker packaging."""
from __future__ import annotations

import hashlib
import io
import json
import math
import tarfile
from dataclasses import fields, replace
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import expit
from strategies import record_strategy

from fraudcore.bundle import (FILES, MANIFEST, BundleError, BundleRecord, ModelParts, _manifest_digest, load_bundle,
                              package_bundle, predict_scores, unpack_bundle, write_bundle)
from fraudcore.metrics import evaluate
from fraudcore.pipeline import FeaturePipeline
from fraudcore.profile import build_profile
from fraudcore.schema import paylink_schema
from fraudcore.synth import generate_frame
from fraudcore.thresholds import choose_thresholds

SEED = 41
SCHEMA = paylink_schema()
OFFSET = math.log(0.25)  # as if negatives had been kept at rate 0.25


@pytest.fixture(scope="module")
def trained():
    train, valid = generate_frame(20000, SEED), generate_frame(8000, SEED + 1)
    pipe = FeaturePipeline(SCHEMA).fit(train)
    ds = lgb.Dataset(pipe.transform(train), train[SCHEMA.label].to_numpy(), feature_name=pipe.feature_names_out_,
                     categorical_feature=pipe.categorical_indices_)
    booster = lgb.train({"objective": "binary", "num_leaves": 15, "learning_rate": 0.1, "verbose": -1,
                         "num_threads": 1, "seed": SEED, "deterministic": True}, ds, num_boost_round=50)
    scores = predict_scores(booster, pipe.transform(valid), OFFSET)
    y = valid[SCHEMA.label].to_numpy()
    th = choose_thresholds(y, scores)
    return {"pipe": pipe, "booster": booster, "valid": valid, "scores": scores, "thresholds": th,
            "metrics": {"validation": evaluate(y, scores, th.review)},
            "profile": build_profile(valid, scores, schema=SCHEMA, review_threshold=th.review)}


def write(trained, out: Path, **overrides) -> Path:
    """A bundle of the trained model; `overrides` replace fields of its ModelParts or BundleRecord."""
    model = ModelParts(trained["booster"], trained["pipe"], trained["thresholds"], SCHEMA, logit_offset=OFFSET)
    record = BundleRecord("1764345600123456", trained["profile"], trained["metrics"], config={"trees": 50, "seed": SEED},
                          data_fingerprint={"rows": 20000, "sha256": "ab" * 32}, extra={"note": "test"})
    parts = {f.name for f in fields(ModelParts)}
    model = replace(model, **{k: v for k, v in overrides.items() if k in parts})
    record = replace(record, **{k: v for k, v in overrides.items() if k not in parts})
    return write_bundle(out, model, record)


@pytest.fixture
def bundle_dir(trained, tmp_path: Path) -> Path:
    return write(trained, tmp_path / "bundle")


def test_round_trip_scores_bit_for_bit(trained, bundle_dir: Path) -> None:
    b = load_bundle(bundle_dir)
    np.testing.assert_array_equal(b.score(trained["valid"]), trained["scores"])
    assert b.version == "1764345600123456" and b.logit_offset == OFFSET
    assert b.thresholds == trained["thresholds"] and b.schema == SCHEMA
    assert b.pipeline.feature_names_out_ == trained["pipe"].feature_names_out_
    assert b.metrics == json.loads(json.dumps(trained["metrics"]))
    assert b.decide(b.score(trained["valid"].iloc[:3])).tolist() == \
        [("decline" if s >= b.thresholds.decline else "review" if s >= b.thresholds.review else "approve")
         for s in trained["scores"][:3]]
    reasons = b.explain(trained["valid"].iloc[:2], k=2)
    assert len(reasons) == 2 and all(len(r) <= 2 for r in reasons)


def test_logit_offset_is_applied(trained) -> None:
    X = trained["pipe"].transform(trained["valid"].iloc[:50])
    raw = trained["booster"].predict(X, raw_score=True)
    np.testing.assert_array_equal(predict_scores(trained["booster"], X, OFFSET), expit(raw + OFFSET))
    assert (predict_scores(trained["booster"], X, OFFSET) < predict_scores(trained["booster"], X)).all()


def test_manifest_records_versions_and_checksums(bundle_dir: Path) -> None:
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    assert manifest["format_version"] == 1 and manifest["flow"] == "TrainFlow"
    assert manifest["run_id"] == "1764345600123456" and manifest["data_fingerprint"]["rows"] == 20000
    assert set(manifest["versions"]) >= {"python", "lightgbm", "numpy", "fraudcore"}
    assert "git_commit" in manifest and manifest["extra"] == {"note": "test"}
    for name in FILES:
        assert manifest["files"][name] == hashlib.sha256((bundle_dir / name).read_bytes()).hexdigest()
    assert sorted(p.name for p in bundle_dir.iterdir()) == sorted((*FILES, MANIFEST))
    for p in bundle_dir.iterdir():
        assert not p.read_bytes().startswith(b"\x80"), f"{p.name} looks like a pickle"


def test_one_byte_edit_in_the_model_is_caught(bundle_dir: Path) -> None:
    model = bundle_dir / "model.txt"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    msg = str(err.value)
    assert "model.txt checksum mismatch" in msg
    assert hashlib.sha256(bytes(data)).hexdigest() in msg  # both hashes are named
    assert json.loads((bundle_dir / MANIFEST).read_text())["files"]["model.txt"] in msg


@pytest.mark.parametrize("name", ["pipeline.json", "thresholds.json", MANIFEST])
def test_deleted_file_is_caught(bundle_dir: Path, name: str) -> None:
    (bundle_dir / name).unlink()
    with pytest.raises(BundleError, match=f"{name} is missing"):
        load_bundle(bundle_dir)


def test_manifest_edits_are_caught(bundle_dir: Path) -> None:
    path = bundle_dir / MANIFEST
    original = json.loads(path.read_text())
    path.write_text(json.dumps({**original, "format_version": 2}))
    with pytest.raises(BundleError, match="format_version is 2; this fraudcore reads 1"):
        load_bundle(bundle_dir)
    path.write_text(json.dumps({**original, "scoring": {"logit_offset": 0.0}}))
    with pytest.raises(BundleError, match="manifest.json was modified"):
        load_bundle(bundle_dir)
    forged = {**original, "versions": {**original["versions"], "lightgbm": "3.3.5"}}
    forged["manifest_sha256"] = _manifest_digest(forged)
    path.write_text(json.dumps(forged))
    with pytest.raises(BundleError, match=r"written by lightgbm 3.3.5; installed lightgbm .* another major version"):
        load_bundle(bundle_dir)


def test_write_refuses_bad_input(trained, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(BundleError, match="must be empty or absent"):
        write(trained, tmp_path / "full")
    with pytest.raises(BundleError, match="metrics.json: content must be JSON without NaN"):
        write(trained, tmp_path / "nan", metrics={"pr_auc": float("nan")})
    with pytest.raises(BundleError, match="logit_offset must be a finite number"):
        write(trained, tmp_path / "inf", logit_offset=float("inf"))
    other = FeaturePipeline(SCHEMA, derived=[]).fit(trained["valid"])
    with pytest.raises(BundleError, match="the booster has .* features; the pipeline outputs"):
        write(trained, tmp_path / "mismatch", pipeline=other)


def test_package_is_reproducible_flat_and_unpacks_to_a_loadable_bundle(trained, bundle_dir: Path,
                                                                      tmp_path: Path) -> None:
    sha1 = package_bundle(bundle_dir, tmp_path / "a" / "model.tar.gz")
    sha2 = package_bundle(bundle_dir, tmp_path / "b" / "model.tar.gz")
    assert sha1 == sha2 == hashlib.sha256((tmp_path / "a" / "model.tar.gz").read_bytes()).hexdigest()
    with tarfile.open(tmp_path / "a" / "model.tar.gz") as tar:
        assert sorted(tar.getnames()) == sorted((*FILES, MANIFEST))
    out = unpack_bundle(tmp_path / "a" / "model.tar.gz", tmp_path / "opt" / "ml" / "model")
    np.testing.assert_array_equal(load_bundle(out).score(trained["valid"]), trained["scores"])


def test_unpack_refuses_paths_outside_the_root(tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(BundleError, match="'../escape.txt' is not a plain top-level file"):
        unpack_bundle(evil, tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()


def test_raising_strong_risk_signals_does_not_lower_the_score(trained) -> None:
    """Behavioural: more failed logins and a riskier device must not make a transaction look safer."""
    rows = trained["valid"].iloc[:2000]
    riskier = rows.copy()
    riskier["failed_logins_24h"] = riskier["failed_logins_24h"] + 4
    riskier["device_risk_score"] = np.maximum(riskier["device_risk_score"], np.float32(0.9))
    b_score = predict_scores(trained["booster"], trained["pipe"].transform(rows))
    r_score = predict_scores(trained["booster"], trained["pipe"].transform(riskier))
    assert r_score.mean() > b_score.mean() * 1.5
    assert np.mean(r_score >= b_score) > 0.9


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(recs=st.lists(record_strategy(SCHEMA), min_size=2, max_size=20))
def test_any_valid_record_scores_the_same_alone_and_in_a_batch(trained, bundle_dir: Path, recs) -> None:
    b = load_bundle(bundle_dir)
    batch = b.score({name: [r[name] for r in recs] for name in SCHEMA.feature_names})
    alone = np.array([b.score({k: [v] for k, v in r.items()})[0] for r in recs])
    np.testing.assert_array_equal(batch, alone)
    assert ((batch >= 0) & (batch <= 1)).all()


def test_a_manifest_must_name_its_run(trained, tmp_path: Path) -> None:
    out = write(trained, tmp_path / "no-run-id", run_id="")
    with pytest.raises(BundleError, match="'run_id' must be a non-empty string"):
        load_bundle(out)


def test_one_resolver_for_a_directory_and_an_archive(bundle_dir: Path, tmp_path: Path) -> None:
    from fraudcore.registry.store import ModelSpecError, resolve_bundle, resolve_bundle_dir

    assert resolve_bundle_dir(bundle_dir) == bundle_dir
    tar = tmp_path / "model.tar.gz"
    package_bundle(bundle_dir, tar)
    assert resolve_bundle_dir(tar, tmp_path / "work") == tmp_path / "work" / "bundle"
    assert resolve_bundle(str(tar)).version == load_bundle(bundle_dir).version
    for missing in (tmp_path / "missing" / "bundle", tmp_path / "missing.tar.gz"):
        with pytest.raises(ModelSpecError, match="looks like a path but is not a directory or a model.tar.gz"):
            resolve_bundle_dir(missing)
    with pytest.raises(ModelSpecError, match="model spec is empty"):
        resolve_bundle_dir("")


def test_a_bundle_trained_with_a_column_map_scores_the_users_column_names(trained, tmp_path: Path) -> None:
    cmap = {"Amount": "amount", "PayMethod": "payment_method"}
    b = load_bundle(write(trained, tmp_path / "mapped", config={"data": {"column_map": cmap}, "seed": SEED}))
    rows = trained["valid"].iloc[:500]
    users = rows.rename(columns={v: k for k, v in cmap.items()})
    np.testing.assert_array_equal(b.score(users), b.score(rows))
    assert b.column_map == cmap
    one = {("Amount" if k == "amount" else k): v for k, v in rows.iloc[0].to_dict().items()}
    np.testing.assert_array_equal(b.score(pd.DataFrame([one])), b.score(rows.iloc[:1]))
    assert b.explain(users.iloc[:2], k=2) == b.explain(rows.iloc[:2], k=2)
    with pytest.raises(BundleError, match="'Amount' -> 'amount'"):
        b.score(users.assign(amount=1.0))
