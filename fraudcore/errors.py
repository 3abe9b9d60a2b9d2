"""The root of every error the project raises on purpose, and the exit code each one maps to.

`fraud` (fraudcore/cli.py) catches `FraudError` once, prints its message without a traceback and
exits with its `exit_code`. Anything else escaping a command is a bug and keeps its traceback. The
table of exit codes is in docs/runbook.md ("Exit codes"); tests/test_errors.py checks it against the
code.
"""
from __future__ import annotations

from typing import ClassVar

EXIT_OK = 0
EXIT_FAILED = 1      # the command ran and failed or refused; the message says why
EXIT_USAGE = 2       # bad arguments or config: nothing was attempted (argparse uses 2 as well)


class FraudError(Exception):
    """An error whose message a person can act on (field, rule, value received)."""

    exit_code: ClassVar[int] = EXIT_FAILED
