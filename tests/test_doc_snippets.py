"""Every code block of README.md and docs/*.md is run or checked, so no snippet can drift (docs/README.md).

- ``python`` blocks run, page by page, in a process of their own against a running Feishu double;
- ``bash`` blocks: every command line is checked against what it names (make targets, Airflow's own
  command-line parser, pip's constraints files, extras and versions, modules) and the block against ``bash -n``;
- ``text``, ``json``, ``dockerfile``, ... are not run; a block without a tag fails.

docs/testing-your-dags.md's Python blocks are the files of a user project that
tests/testing/test_testing_your_dags_doc.py runs; they are left to it here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import airflow_provider_feishu_workplace
from tests.airflow_versions import AIRFLOW_V_3_0_PLUS

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PACKAGE = "airflow-provider-feishu-workplace"
EXTRAS = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
PINNED_AIRFLOWS = {
    match.group(1)
    for path in (ROOT / "constraints").glob("airflow-*.in")
    for match in re.finditer(r"^apache-airflow==(\S+)$", path.read_text(), re.MULTILINE)
}
RUN = {"python"}
CHECKED = {"bash"}
NOT_RUN = {"text", "json", "dockerfile", "ini", "toml", "yaml", "nginx"}
# Commands a bash block may use besides make, airflow, pip and python (checked below), and shell keywords.
KNOWN_COMMANDS = {"export", "cp", "source", "cd", "mkdir", "git", "bash", "curl", "sleep", "cat"}
SHELL_KEYWORDS = {"until", "while", "for", "if", "then", "else", "fi", "do", "done"}
FENCE = re.compile(r"^```(?P<tag>[^\n`]*)\n(?P<code>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
FILE_MARKER = re.compile(r"<!-- file: \S+ -->\n$")


@dataclass
class Block:
    doc: Path
    line: int
    tag: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        marker = FILE_MARKER.search(text, 0, match.start())
        if marker and marker.end() == match.start():
            continue  # a file of docs/testing-your-dags.md's user project: run by its own test
        found.append(
            Block(doc, text.count("\n", 0, match.start()) + 1, match.group("tag").strip(), match.group("code"))
        )
    return found


def _ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(ROOT)) for path in paths]


def test_every_block_has_a_tag_the_test_knows():
    bad = [
        f"{block.where}: ```{block.tag}"
        for doc in DOCS
        for block in blocks(doc)
        if block.tag not in RUN | CHECKED | NOT_RUN
    ]

    assert not bad, (
        "Tag each code block: python (run), bash (checked) or one of "
        f"{sorted(NOT_RUN)} (not run); see docs/README.md. Untagged or unknown: {bad}"
    )


# -- python: run against a double ------------------------------------------------------------------------

RUNNER = r"""
import inspect, json, sys
from airflow_provider_feishu_workplace.testing import FeishuDouble, page_of

USERS = [{"open_id": f"ou_{n}", "name": f"User {n}"} for n in range(3)]
with FeishuDouble() as double, double.connection_env("feishu_default"):
    # One template serves both (the double's router counts users/find_by_department as users/{user_id}).
    double.add_route(
        "GET",
        "/open-apis/contact/v3/users/{user_id}",
        lambda request: page_of(USERS, request)
        if request.path_params["user_id"] == "find_by_department"
        else {"user": {"open_id": request.path_params["user_id"], "name": "User"}},
    )
    fixtures = {"feishu_connection": "feishu_default", "feishu_double": double}
    namespace = {"__name__": "doc_snippet"}
    for where, code in json.load(open(sys.argv[1])):
        before = set(namespace)
        exec(compile(code, where, "exec"), namespace)
        for name, value in list(namespace.items()):
            if name.startswith("test_") and name not in before and inspect.isfunction(value):
                double.reset()
                value(**{parameter: fixtures[parameter] for parameter in inspect.signature(value).parameters})
                print(f"ran {name} of {where}")
"""

PYTHON_DOCS = [doc for doc in DOCS if any(block.tag == "python" for block in blocks(doc))]


@pytest.mark.parametrize("doc", PYTHON_DOCS, ids=_ids(PYTHON_DOCS))
def test_python_blocks_run_against_the_double(doc, tmp_path):
    code = [(block.where, block.code) for block in blocks(doc) if block.tag == "python"]
    (tmp_path / "blocks.json").write_text(json.dumps(code))

    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(tmp_path / "blocks.json")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, f"{doc.relative_to(ROOT)}'s Python blocks failed:\n{done.stderr[-4000:]}"


# -- bash: every command line checked ------------------------------------------------------------------


def command_lines(code: str) -> list[list[str]]:
    """The block's commands as argument lists: continuations joined, quotes spanning lines kept, comments dropped."""
    commands, pending = [], ""
    for line in code.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # a quote continues on the next line
            continue
        pending = ""
        # `a && b`, `a; b` and `a | b` are separate commands
        command: list[str] = []
        for word in words:
            if word in ("&&", "||", ";", "|", "&"):
                commands.append(command)
                command = []
            else:
                command.append(word.rstrip(";"))
        commands.append(command)
    assert not pending, f"an unterminated line: {pending!r}"
    return [command for command in commands if command]


def _airflow_parser():
    from airflow.cli import cli_parser

    return cli_parser.get_parser()


def check_airflow(argv: list[str]) -> str | None:
    if argv[1:3] == ["backfill", "create"] and not AIRFLOW_V_3_0_PLUS:
        return None  # Airflow 3's command; the page shows 2.11's beside it
    if argv[1:3] == ["dags", "backfill"] and AIRFLOW_V_3_0_PLUS:
        return None  # Airflow 2.11's command
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            _airflow_parser().parse_args(argv[1:])
    except SystemExit:
        return f"Airflow's parser refuses it: {stderr.getvalue().strip()[-400:]}"
    return None


def check_make(argv: list[str]) -> str | None:
    # Not the AIRFLOW or RESOLUTION of a `make test ...` running this (make passes them on in the environment).
    passed_down = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "AIRFLOW", "RESOLUTION")
    env = {k: v for k, v in os.environ.items() if k not in passed_down}
    done = subprocess.run(["make", "-n", *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    return None if done.returncode == 0 else f"make -n fails: {done.stderr.strip()[-400:]}"


def check_pip(args: list[str]) -> str | None:
    if not args or args[0] not in ("install", "wheel"):
        return f"pip {args[:1]}: only pip install and pip wheel are checked"
    with_value = {"--constraint", "-c", "-r", "--requirement", "--wheel-dir", "-w", "-e", "--editable"}
    flags = {"--no-deps", "--no-cache-dir", "--upgrade", "-U"}
    constraints, requirements, words = [], [], iter(args[1:])
    for word in words:
        if word in with_value:
            value = next(words)
            if word in ("--constraint", "-c"):
                constraints.append(value)
            elif word in ("-e", "--editable"):
                requirements.append(value)
        elif word.startswith("-"):
            if word not in flags:
                return f"pip option {word} is not one this test knows: add it to check_pip"
        else:
            requirements.append(word)
    for path in constraints:
        if not (ROOT / path).is_file():
            return f"no constraints file {path}"
    airflows = []
    for requirement in requirements:
        local = re.fullmatch(r"(?P<base>[^\[\]]+)(\[(?P<extras>[^\]]*)\])?", requirement)
        if local and (local.group("base") == "." or local.group("base").endswith(".whl")):
            base, extras = local.group("base"), local.group("extras")
            version = airflow_provider_feishu_workplace.__version__
            if (
                base.endswith(".whl")
                and Path(base).name != f"airflow_provider_feishu_workplace-{version}-py3-none-any.whl"
            ):
                return f"{base} is not the wheel of version {version}"
            names = set(filter(None, (extras or "").split(",")))
        else:
            try:
                parsed = Requirement(requirement)
            except InvalidRequirement as error:
                return f"{requirement!r} is no requirement: {error}"
            if canonicalize_name(parsed.name) == "apache-airflow":
                pins = [spec.version for spec in parsed.specifier if spec.operator == "=="]
                if pins and pins[0] not in PINNED_AIRFLOWS:
                    return f"apache-airflow=={pins[0]} is none of the tested releases {sorted(PINNED_AIRFLOWS)}"
                airflows += pins
                continue
            if canonicalize_name(parsed.name) != PACKAGE:
                continue
            names = set(parsed.extras)
        if names - EXTRAS:
            return f"extras {sorted(names - EXTRAS)} of {requirement!r} are not declared: {sorted(EXTRAS)}"
    for path in constraints:
        pinned = re.findall(r"^apache-airflow==(\S+)", (ROOT / path).read_text(), re.MULTILINE)
        if airflows and pinned and pinned != airflows[:1]:
            return f"{path} pins apache-airflow=={pinned[0]}, the command {airflows[0]}"
    return None


def check_command(argv: list[str]) -> str | None:
    if argv and re.match(r"[A-Za-z_][A-Za-z0-9_]*=\$\(", argv[0]):
        return None  # VAR=$(command): shlex cannot split a command substitution; bash -n checks it
    while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0], re.DOTALL):
        argv = argv[1:]  # VAR=value before a command
    if not argv or argv[0] in SHELL_KEYWORDS:
        return None
    name = argv[0]
    if name == "airflow":
        return check_airflow(argv)
    if name == "make":
        return check_make(argv)
    if name == "pip":
        return check_pip(argv[1:])
    if name in ("python", "python3"):
        if argv[1:3] == ["-m", "pip"]:
            return check_pip(argv[3:])
        if argv[1:2] == ["-m"] and importlib.util.find_spec(argv[2]) is None:
            return f"no module {argv[2]}"
        return None
    if name == "export":
        for assignment in argv[1:]:
            variable, _, value = assignment.partition("=")
            if variable.startswith("AIRFLOW_CONN_") and not value.startswith("{") and "://" not in value:
                return f"{variable} is neither JSON nor a URI"
            if variable.startswith("AIRFLOW_CONN_") and value.startswith("{"):
                json.loads(value)
        return None
    if name == "bash" and len(argv) > 1 and not (ROOT / argv[1]).is_file():
        return f"no script {argv[1]}"
    return None if name in KNOWN_COMMANDS else f"{name} is not a command this test knows: add it to KNOWN_COMMANDS"


BASH_DOCS = [doc for doc in DOCS if any(block.tag == "bash" for block in blocks(doc))]


@pytest.mark.parametrize("doc", BASH_DOCS, ids=_ids(BASH_DOCS))
def test_bash_blocks_name_commands_that_exist(doc):
    problems = []
    for block in blocks(doc):
        if block.tag != "bash":
            continue
        syntax = subprocess.run(["bash", "-n"], input=block.code, capture_output=True, text=True, check=False)
        if syntax.returncode != 0:
            problems.append(f"{block.where}: bash -n: {syntax.stderr.strip()}")
        for argv in command_lines(block.code):
            problem = check_command(argv)
            if problem:
                problems.append(f"{block.where}: {shlex.join(argv)[:120]}: {problem}")

    assert not problems, "\n".join(problems)


def test_the_checks_catch_what_drifts():
    """The checks themselves refuse a wrong command of each kind (or the tests above prove nothing)."""
    assert check_airflow(["airflow", "connections", "tset", "feishu_default"])
    assert check_airflow(["airflow", "pools", "set", "feishu_workplace", "4", "x", "--no-such-option"])
    assert check_make(["make", "no-such-target"])
    assert check_pip(["install", "--constraint", "constraints/airflow-9.9.txt", "."])
    assert check_pip(["install", f"{PACKAGE}[no-such-extra]"])
    assert check_pip(["install", "apache-airflow==1.10.15"])
    assert check_pip(["install", "dist/airflow_provider_feishu_workplace-0.0.1-py3-none-any.whl"])
    assert check_command(["python", "-m", "airflow_provider_feishu_workplace.no_such_module"])
    assert check_command(["rm", "-rf", "/"])
    assert check_airflow(["airflow", "connections", "test", "feishu_default"]) is None
    assert check_make(["make", "lint"]) is None
