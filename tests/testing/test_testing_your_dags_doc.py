"""docs/testing-your-dags.md: every snippet is a file of tests/testing/user_project, and that project passes.

The project is what a DAG author has: a conftest, a DAGs folder and tests that use only the fixtures the
installed provider registers and the double's public API. It runs in a pytest process of its own, with
a fresh Airflow home, exactly as in a user's repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.testing.__main__ import fault_table

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "testing-your-dags.md"
PROJECT = Path(__file__).resolve().parent / "user_project"
CODE_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
FILE_MARKER = re.compile(r"<!-- file: (\S+) -->\n$")


def doc_files() -> dict[str, str]:
    """``{path: code}`` for every Python block of the doc; fails on a block that names no file."""
    text = DOC.read_text(encoding="utf-8")
    files = {}
    for block in CODE_BLOCK.finditer(text):
        if block.group(1) != "python":
            continue
        marker = FILE_MARKER.search(text, 0, block.start())
        assert marker and marker.end() == block.start(), f"a Python block names no file: {block.group(2)[:80]!r}"
        files[marker.group(1)] = block.group(2)
    return files


def test_every_python_snippet_is_a_file_of_the_user_project():
    files = doc_files()
    project_files = {
        str(path.relative_to(PROJECT)) for path in PROJECT.rglob("*.py") if "__pycache__" not in path.parts
    }

    assert set(files) == project_files
    for path, code in files.items():
        assert code == (PROJECT / path).read_text(encoding="utf-8"), f"{path} differs from the doc"


def test_the_fault_table_is_the_one_the_code_prints():
    text = DOC.read_text(encoding="utf-8")

    assert fault_table() in text


@pytest.mark.slow
def test_the_user_project_passes_in_a_pytest_process_of_its_own(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__pycache__"))
    # A user's shell: nothing of this session's Airflow setup or connections.
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "PYTEST"))}

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\b8 passed\b", done.stdout), done.stdout[-2000:]
