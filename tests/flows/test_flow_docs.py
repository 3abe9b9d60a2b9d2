"""Every flow and step explains itself in `show`, and step sizes come from the config, not the code."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fraudcore.config import ResourcesConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[2]
FLOWS = sorted((ROOT / "flows").glob("*.py"))


def _flow_classes(path: Path) -> list[ast.ClassDef]:
    tree = ast.parse(path.read_text())
    return [n for n in tree.body if isinstance(n, ast.ClassDef)
            and any(getattr(b, "id", "") == "FlowSpec" for b in n.bases)]


def _steps(cls: ast.ClassDef) -> list[ast.FunctionDef]:
    return [n for n in cls.body if isinstance(n, ast.FunctionDef)
            and any(getattr(d, "id", "") == "step" for d in n.decorator_list)]


@pytest.mark.parametrize("path", FLOWS, ids=[p.name for p in FLOWS])
def test_every_flow_and_step_has_a_docstring(path: Path) -> None:
    classes = _flow_classes(path)
    assert classes, f"{path.name} defines no FlowSpec"
    for cls in classes:
        assert ast.get_docstring(cls), f"{path.name}: {cls.name} has no docstring"
        steps = _steps(cls)
        assert steps, f"{path.name}: {cls.name} has no steps"
        missing = [s.name for s in steps if not ast.get_docstring(s)]
        assert missing == [], f"{path.name}: {cls.name} steps without a docstring: {missing}"


@pytest.mark.parametrize("path", FLOWS, ids=[p.name for p in FLOWS])
def test_resources_come_from_the_config(path: Path) -> None:
    literal = re.findall(r"@resources\((?!\*\*config\.resources\.)[^)]*\)", path.read_text())
    assert literal == [], f"{path.name}: @resources with values written in the code: {literal}"


def test_show_prints_the_step_docstrings(tmp_path) -> None:
    env = {**os.environ, "METAFLOW_USER": "paylink-test", "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path)}
    (tmp_path / ".metaflow").mkdir()
    out = subprocess.run([sys.executable, str(ROOT / "flows" / "train.py"), "show"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    tree = next(iter(_flow_classes(ROOT / "flows" / "train.py")))
    for step in _steps(tree):
        first_line = ast.get_docstring(step).splitlines()[0]
        assert f"Step {step.name}\n    {first_line}" in out


def test_resources_are_config_keys_with_checked_ranges() -> None:
    cfg = TrainConfig.from_dict({"resources": {"tune": {"cpu": 4, "memory": 12000}}})
    assert (cfg.resources.tune.cpu, cfg.resources.tune.memory) == (4, 12000)
    assert cfg.resources.data_steps == ResourcesConfig().data_steps
    assert cfg.to_dict()["resources"]["tune"] == {"cpu": 4, "memory": 12000}
