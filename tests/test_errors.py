"""One error root: every project error derives from FraudError, and docs/runbook.md tables the exit codes."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from fraudcore.cli import run_command
from fraudcore.config_loader import ConfigError
from fraudcore.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, FraudError

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fraudcore", "deploy")


def _error_classes() -> dict[str, type]:
    """Every class named *Error (or deriving from one) defined in fraudcore/ and deploy/, imported."""
    found: dict[str, type] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            names = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and not n.name.startswith("_")
                     and (n.name.endswith("Error") or any(getattr(b, "id", "").endswith("Error") for b in n.bases))]
            if names:
                module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
                found.update({name: getattr(module, name) for name in names})
    return found


def _table() -> dict[int, str]:
    text = (ROOT / "docs" / "runbook.md").read_text()
    section = text.split("## Exit codes", 1)[1]
    rows = re.findall(r"^\| (\d+) \| [^|]+ \|\s*([^|]*?)\s*\|$", section, flags=re.M)
    return {int(code): names for code, names in rows}


def test_every_error_derives_from_the_root() -> None:
    errors = _error_classes()
    assert len(errors) >= 18
    strays = sorted(name for name, cls in errors.items() if not issubclass(cls, FraudError))
    assert strays == [], f"errors outside the FraudError root: {strays}"


def test_the_exit_code_table_matches_the_code() -> None:
    from fraudcore.data import cli as data_cli

    table = _table()
    assert sorted(table) == [EXIT_OK, EXIT_FAILED, EXIT_USAGE, data_cli.EXIT_QUARANTINED, data_cli.EXIT_SPEC_MISSED]
    listed = {name: code for code, names in table.items() for name in re.findall(r"`(\w+)`", names)}
    for name, cls in {**_error_classes(), "FraudError": FraudError}.items():
        assert listed.get(name) == cls.exit_code, f"{name} exits {cls.exit_code}; the table says {listed.get(name)}"
    assert listed["EXIT_QUARANTINED"] == data_cli.EXIT_QUARANTINED
    assert listed["EXIT_SPEC_MISSED"] == data_cli.EXIT_SPEC_MISSED
    unknown = set(listed) - set(_error_classes()) - {"FraudError", "EXIT_QUARANTINED", "EXIT_SPEC_MISSED"}
    assert unknown == set(), f"the table names errors the code does not have: {unknown}"


@pytest.mark.parametrize("error, code", [(FraudError("refused: no champion"), EXIT_FAILED),
                                         (ConfigError("config key 'x' must be an int; got 'a'"), EXIT_USAGE)])
def test_errors_are_caught_once_with_their_code_and_no_traceback(error, code, capsys) -> None:
    def command(argv: list[str]) -> int:
        raise error

    assert run_command("demo", command, []) == code
    err = capsys.readouterr().err
    assert err == f"fraud demo: {error}\n"


def test_bugs_keep_their_traceback() -> None:
    def command(argv: list[str]) -> int:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run_command("demo", command, [])
