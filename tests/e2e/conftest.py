"""The live stack for the end-to-end test (``make e2e``): one per session, started with ``make stack`` in
a folder of its own and stopped by the last test with ``make stack-stop``; the report printed at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e import live

# The double's blocks per day: a block pull takes 48 pages of 200 (2.4 s at the app's 20 requests/s), so
# that pulls running at once would pass the double's 20 requests/s per endpoint unless they share the limit.
# (The hook takes more than 10,000 items a day for a server that never ends its pages.)
BLOCKS_PER_DAY = 9600
REPORT: list[str] = []


def _make(*args: str, timeout: float) -> subprocess.CompletedProcess:
    python = Path(sys.executable)
    return subprocess.run(
        ["make", "--no-print-directory", *args, f"AIRFLOW={python.parent.parent.name.removeprefix('.venv-airflow-')}"],
        cwd=live.ROOT,
        env=live.clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def stack_dir(request):
    """A fresh folder for the stack (under /tmp: the postgres user must reach it), kept when a test failed."""
    base = Path(tempfile.mkdtemp(prefix="feishu-e2e-", dir="/tmp"))
    yield base
    state = live.stack.load_state(base)
    if state and live.stack.stack_processes(state):
        live.stack.stop(base)  # a test failed before the last one stopped it
    if request.session.testsfailed:
        REPORT.append(f"logs kept in {base / 'logs'}")
    else:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def live_stack(stack_dir) -> live.LiveStack:
    """``make stack`` in the session's folder, with a double of BLOCKS_PER_DAY blocks a day."""
    began = time.monotonic()
    args = f"--blocks-per-day {BLOCKS_PER_DAY} {os.environ.get('FEISHU_E2E_STACK_ARGS', '')}".strip()
    result = _make("stack", f"STACK_DIR={stack_dir}", f"STACK_ARGS={args}", timeout=600)
    if result.returncode:
        pytest.fail(f"make stack failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    REPORT.append(f"make stack: ready in {time.monotonic() - began:.0f} s ({stack_dir})")
    return live.LiveStack(stack_dir)


def make_stack_stop(stack_dir: Path) -> subprocess.CompletedProcess:
    return _make("stack-stop", f"STACK_DIR={stack_dir}", timeout=300)


def pytest_collection_modifyitems(items):
    """The test that stops the stack runs last, after the stages of every file (tests/e2e/test_*.py)."""
    items.sort(key=lambda item: item.name.startswith("test_report_and_stack_stop"))


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("make e2e report")
        for line in REPORT:
            terminalreporter.write_line(line)
