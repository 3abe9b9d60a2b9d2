"""Docs cannot rot: every command in README.md and docs/*.md is checked against the real CLI.

For each shell line in a bash code block:
- `fraud ...`: the subcommand path must exist and every --flag must appear in its --help;
- `python flows/X.py ...`: the flow must exist and every --flag must appear in the Metaflow command's --help;
- `python benchmarks/X.py ...`: the script must exist and its flags appear in its --help;
- `make X`: the target must exist (`make -n X`);
- `aws SERVICE ...`: the service must exist in botocore's models;
- anything else must be one of the known external tools below.
Commands with real effects are exercised by the unit and integration tests; this checks the docs' wording.
"""
from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXTERNAL = {"source", "cd", "export", "git", "pip", "chromium", "docker", "curl", "cat", "ls", "mkdir", "echo",
            "tar", "cfn-lint", "python3", "bash", "open", "jq", "taskset"}
# Metaflow's top-level options and how many values each takes (flags such as --production take none).
TOP_LEVEL_ARITY = {"--with": 1, "--datastore": 1, "--metadata": 1, "--environment": 1, "--datastore-root": 1,
                   "--namespace": 1, "--package-suffixes": 1, "--config": 2, "--config-value": 2}
RESUME_FLAGS = ("--origin-run-id", "--step", "--max-workers", "--tag", "--run-id-file")  # Metaflow's resume options
BLOCK = re.compile(r"```(?:bash|sh|shell|console)\n(.*?)```", re.S)


def shell_lines(text: str) -> list[str]:
    lines = []
    for block in BLOCK.findall(text):
        joined = block.replace("\\\n", " ")
        for raw in joined.splitlines():
            line = raw.strip()
            if line.startswith("$ "):
                line = line[2:]
            line = re.sub(r"\s+#.*$", "", line).strip()
            if not line or line.startswith("#"):
                continue
            lines.append(line)
    return lines


def split_command(line: str) -> list[str]:
    line = line.split("|")[0].split("&&")[0].split(">")[0].strip()
    tokens = shlex.split(line)
    while tokens and re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0]):
        tokens.pop(0)
    return tokens


def all_commands() -> list[tuple[str, list[str]]]:
    out = []
    for doc in DOCS:
        for line in shell_lines(doc.read_text()):
            tokens = split_command(line)
            if tokens:
                out.append((f"{doc.relative_to(ROOT)}: {line}", tokens))
    return out


def flags(tokens: list[str]) -> list[str]:
    return [t.split("=")[0] for t in tokens if t.startswith("--") and len(t) > 2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("METAFLOW_USER", "paylink-test")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@functools.lru_cache(maxsize=None)
def help_text(*argv: str) -> tuple[int, str]:
    proc = subprocess.run([*argv, "--help"], capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def _subpath(tokens: list[str]) -> list[str]:
    """Leading words that are subcommands (lower-case words, not options or placeholders)."""
    path = []
    for t in tokens:
        if t.startswith("-") or not re.fullmatch(r"[a-z][a-z0-9-]*", t):
            break
        path.append(t)
    return path


def check(tokens: list[str]) -> str | None:
    """None if the command is valid, else what is wrong."""
    if tokens[0] == "nice":  # `nice -n 10 CMD ...` is checked as CMD
        tokens = tokens[3:] if len(tokens) > 3 and tokens[1] == "-n" else tokens[1:]
    head = tokens[0]
    if head == "fraud":
        words = _subpath(tokens[1:])
        rc, text = help_text(sys.executable, "-m", "fraudcore.cli", *words)
        if rc != 0:
            return f"`fraud {' '.join(words)} --help` failed: {text[-300:]}"
    elif head in ("python", "python3") and len(tokens) > 1 and tokens[1].startswith(("flows/", "benchmarks/")):
        script = ROOT / tokens[1]
        if not script.exists():
            return f"{tokens[1]} does not exist"
        rest = tokens[2:]
        if tokens[1].startswith("flows/"):
            # top-level options (--with batch, --datastore=s3, --config NAME PATH) go before the command
            while rest and rest[0].startswith("--"):
                option = rest.pop(0)
                if "=" not in option:
                    del rest[:TOP_LEVEL_ARITY.get(option, 0)]
            words = _subpath(rest)
            top_rc, top = help_text(sys.executable, str(script))
            if words[:1] == ["resume"]:
                # `resume --help` itself looks for a previous run and fails on a fresh clone, so check
                # that the flow offers resume and that only its documented flags are used.
                rc, text = top_rc, top + " ".join(RESUME_FLAGS) if re.search(r"\bresume\b", top) else top
            else:
                rc, text = help_text(sys.executable, str(script), *words)
                text = text + top
        else:
            rc, text = help_text(sys.executable, str(script))
        if rc != 0:
            return f"`{' '.join(tokens[:2])} --help` failed: {text[-300:]}"
    elif head in ("python", "python3") and len(tokens) > 1 and tokens[1].endswith(".py"):
        return None if (ROOT / tokens[1]).exists() else f"{tokens[1]} does not exist"
    elif head == "make":
        for target in tokens[1:]:
            if "=" in target:
                continue
            proc = subprocess.run(["make", "-n", target], capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                return f"make target {target!r} does not exist: {proc.stderr.strip()}"
        return None
    elif head == "aws":
        import botocore.session

        services = set(botocore.session.get_session().get_available_services())
        if len(tokens) < 2 or tokens[1] not in services:
            return f"aws service {tokens[1:2]} is not a botocore service"
        return None
    elif head in EXTERNAL or head.startswith(("./", ".venv/")):
        return None
    else:
        return f"unknown command {head!r}: add a check for it or list it in EXTERNAL"
    missing = [f for f in flags(tokens)
               if f != "--help" and not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text)]
    if missing:
        return f"flags {missing} do not appear in the command's --help"
    return None


COMMANDS = all_commands()


def test_docs_contain_commands():
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("where, tokens", COMMANDS, ids=[w[:90] for w, _ in COMMANDS])
def test_command_in_docs_is_valid(where, tokens):
    problem = check(tokens)
    assert problem is None, f"{where}\n  -> {problem}"


def test_the_check_catches_a_bad_command():
    assert check(["fraud", "models", "nonexistent-subcommand"]) is not None
    assert check(["fraud", "data", "generate", "--no-such-flag"]) is not None
    assert check(["fraud", "data", "generate", "--row"]) is not None  # a prefix of --rows is not --rows
    assert check(["make", "no-such-target"]) is not None
    assert check(["python", "config/examples/no_such_script.py"]) is not None
    assert check(["fraud", "data", "generate", "--rows", "5", "--out", "x"]) is None
