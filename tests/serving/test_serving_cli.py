"""`fraud serve` argument handling: bad settings and unresolvable models fail fast with exit code 2."""
from __future__ import annotations

from fraudcore.serving.cli import config_from_args, main


def test_bad_model_or_setting_exits_2(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "missing" / "bundle")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["--model", str(tmp_path), "--capture-sample", "2"]) == 2
    assert "capture_sample" in capsys.readouterr().err


def test_emf_defaults_on_inside_sagemaker(monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith(("SM_", "SAGEMAKER_"))]:
        monkeypatch.delenv(key)
    assert config_from_args(["--model", "x"]).emf is False
    monkeypatch.setenv("SM_CURRENT_HOST", "algo-1")
    assert config_from_args(["--model", "x"]).emf is True
    assert config_from_args(["--model", "x", "--no-emf"]).emf is False
