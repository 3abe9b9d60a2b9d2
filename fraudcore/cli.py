"""The `fraud` command: a thin dispatcher over command groups.

Each group (`data`, `models`, `serve`, `deploy`, `monitor`, ...) is a module with `main(argv) -> int`,
registered under the `fraud.commands` entry-point group in setup.py. A group is imported only when it
is invoked, so `fraud data ...` never imports boto3, and `fraudcore` never imports `deploy/`: the
dependency arrow keeps pointing from the edge to the core.

Errors are caught here and only here: a `FraudError` (fraudcore/errors.py) prints `fraud COMMAND:
message` on stderr, without a traceback, and exits with the error's `exit_code`. The exit codes are
tabled in docs/runbook.md ("Exit codes"). Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points

from fraudcore.errors import EXIT_USAGE, FraudError

GROUP = "fraud.commands"


def _commands() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def _usage(commands: dict[str, str]) -> str:
    lines = ["usage: fraud COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} ({target.split(':')[0]})" for name, target in sorted(commands.items())]
    lines += ["", "Run `fraud COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = _commands()
    if not args or args[0] in ("-h", "--help"):
        print(_usage(commands))
        return 0
    name, rest = args[0], args[1:]
    if name not in commands:
        print(f"fraud: unknown command {name!r}; expected one of {sorted(commands)}", file=sys.stderr)
        return EXIT_USAGE
    module_name, _, func = commands[name].partition(":")
    handler = getattr(import_module(module_name), func or "main")
    return run_command(name, handler, rest)


def run_command(name: str, handler: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """Run one command group; its FraudError becomes a one-line message and the error's exit code."""
    try:
        return int(handler(argv) or 0)
    except FraudError as err:
        print(f"fraud {name}: {err}", file=sys.stderr)
        return err.exit_code
    except SystemExit as exit_:  # argparse printed the usage error (2) or the help (0)
        code = exit_.code
        return 0 if code is None else code if isinstance(code, int) else EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
