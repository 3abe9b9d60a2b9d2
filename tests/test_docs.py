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
    elif head in ("python", "python3") and len(tokens) > 2 and tokens[1] == "-m":
        # `python -m deploy.schedule ...`: a module of ours whose --help works
        rc, text = help_text(sys.executable, "-m", tokens[2])
        return None if rc == 0 else f"`python -m {tokens[2]} --help` failed: {text[-300:]}"
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


# ---- links and anchors ------------------------------------------------------------------------
# Every relative link in the docs must reach a file, and a `#anchor` a heading of the file it names
# (GitHub's slugs), so that moving a file or renaming a heading cannot leave a dead link behind.
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.M)
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.I)
LINE_ANCHOR = re.compile(r"L\d+(?:-L\d+)?")  # GitHub's line anchors in a source file
CODE_DOC_REF = re.compile(r"\b(docs/[\w.-]+\.md)#([\w-]+)")


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower-cased, with everything but letters,
    digits, `_`, `-` and spaces dropped and each space made a `-` (github-slugger's rules)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link renders as its text
    parts = re.split(r"(`[^`]*`)", re.sub(r"<[^>]+>", "", text))
    text = "".join(part.strip("`") if part.startswith("`") else  # code spans verbatim
                   re.sub(r"\*+|(?<!\w)_+(?=\S)|(?<=\S)_+(?!\w)", "", part)  # emphasis marks, not snake_case
                   for part in parts)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a markdown file: heading slugs (repeats get -1, -2, ...) and <a name/id>."""
    text = FENCE.sub("", path.read_text())
    seen: dict[str, int] = {}
    out = set(HTML_ANCHOR.findall(text))
    for _, heading in ATX.findall(text):
        slug = github_slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(path: Path) -> list[str]:
    """Link targets in a markdown file, outside code blocks and code spans."""
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text()))
    return INLINE_LINK.findall(text) + REF_DEF.findall(text)


def link_problem(source: Path, target: str) -> str | None:
    """None if a relative link from `source` resolves (file, and heading for an anchor), else why not."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
        return None  # a URL (http:, mailto:, ...), not a file in the repository
    where, _, anchor = target.partition("#")
    dest = (source.parent / where).resolve() if where else source
    if not dest.exists():
        return f"{target}: {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest} does not exist"
    if not dest.is_relative_to(ROOT):
        return f"{target}: leaves the repository"
    if not anchor:
        return None
    if dest.suffix != ".md":
        return None if LINE_ANCHOR.fullmatch(anchor) else f"{target}: #{anchor} is not a line anchor (#L12)"
    if anchor not in anchors(dest):
        return f"{target}: {dest.relative_to(ROOT)} has no heading with anchor #{anchor}"
    return None


LINKS = [(doc, target) for doc in DOCS for target in links(doc)]


def test_docs_contain_relative_links():
    assert sum(1 for _, t in LINKS if not re.match(r"^[a-z]+:", t)) >= 50


@pytest.mark.parametrize("doc, target", LINKS, ids=[f"{d.relative_to(ROOT)}->{t}"[:90] for d, t in LINKS])
def test_relative_link_and_anchor_resolve(doc, target):
    problem = link_problem(doc, target)
    assert problem is None, f"{doc.relative_to(ROOT)}: {problem}"


def test_docs_sections_named_in_code_exist():
    """Comments point at the docs for figures (e.g. docs/serving.md#...): those sections must exist."""
    bad = []
    sources = sorted(p for d in ("fraudcore", "deploy", "flows", "cards", "benchmarks")
                     for p in (ROOT / d).rglob("*.py"))
    for src in sources:
        for doc, anchor in CODE_DOC_REF.findall(src.read_text()):
            if not (ROOT / doc).exists() or anchor not in anchors(ROOT / doc):
                bad.append(f"{src.relative_to(ROOT)}: {doc}#{anchor}")
    assert not bad, bad


def test_the_link_check_catches_broken_links(tmp_path):
    assert github_slug("3. The Metaflow configuration") == "3-the-metaflow-configuration"
    assert github_slug("Training on your own data (another schema)") == "training-on-your-own-data-another-schema"
    assert github_slug("`fraud serve` and **max_batch**") == "fraud-serve-and-max_batch"
    assert github_slug("`__init__` *only*") == "__init__-only"
    assert github_slug("Rates: p99 <= 10 ms / 1,000/s") == "rates-p99--10-ms--1000s"
    doc = tmp_path / "x.md"
    doc.write_text("# Top\n## Same\n## Same\n```\n# not a heading\n```\n")
    assert anchors(doc) == {"top", "same", "same-1"}
    source = ROOT / "docs" / "serving.md"
    assert link_problem(source, "no-such-file.md") is not None
    assert link_problem(source, "serving.md#no-such-heading") is not None
    assert link_problem(source, "../fraudcore/pipeline.py#definitely-not-a-line") is not None
    assert link_problem(source, "#running-it") is None and link_problem(source, "../fraudcore/") is None
    assert link_problem(source, "https://example.com/x.md#y") is None
    doc.write_text("see [a](a.md \"title\"), ![img](img/b.png) and `[c](c.md)`\n```\n[d](d.md)\n```\n[e]: e.md\n")
    assert links(doc) == ["a.md", "img/b.png", "e.md"]
