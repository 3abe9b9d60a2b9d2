"""`fraud serve` argument handling: bad settings and unresolvable models fail fast, with the exit codes of
docs/runbook.md (2: bad arguments or config; 1: the model cannot be found)."""
from __future__ import annotations

from fraudcore.cli import main
from fraudcore.serving.cli import config_from_args


def test_bad_model_or_setting_exits_with_its_code(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "missing" / "bundle")]) == 1
    assert "not a directory" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path), "--capture-sample", "2"]) == 2
    assert "capture_sample" in capsys.readouterr().err


def test_config_file_is_read_and_flags_override_it(tmp_path, capsys):
    path = tmp_path / "serve.toml"
    path.write_text('port = 9001\nmax_batch = 64\n')
    cfg = config_from_args(["--config", str(path), "--max-batch", "32"])
    assert (cfg.port, cfg.max_batch, cfg.reasons_k) == (9001, 32, 3)
    path.write_text('prot = 9001\n')
    assert main(["serve", "--config", str(path)]) == 2
    assert f"{path}: unknown config key 'prot'" in capsys.readouterr().err


def test_emf_defaults_on_inside_sagemaker(monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith(("SM_", "SAGEMAKER_"))]:
        monkeypatch.delenv(key)
    assert config_from_args(["--model", "x"]).emf is False
    monkeypatch.setenv("SM_CURRENT_HOST", "algo-1")
    assert config_from_args(["--model", "x"]).emf is True
    assert config_from_args(["--model", "x", "--no-emf"]).emf is False
