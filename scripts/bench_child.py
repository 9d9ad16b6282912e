"""The bench's child processes: each prints one line ``BENCH_RESULT {json}``, which its parent reads.

Used by scripts/bench.py (memory), scripts/bench_memory_child.py and scripts/bench_waiting.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

PREFIX = "BENCH_RESULT "


def print_result(result: dict[str, Any]) -> None:
    """Report a child's result to its parent (the one line :func:`run_child` reads)."""
    print(PREFIX + json.dumps(result), flush=True)


def run_child(args: list[str], *, what: str, timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python args...`` and return the result it printed; raise with its output's tail if none came.

    :param args: the script and its arguments.
    :param what: the child's name in the error message.
    :param timeout: seconds the child may take.
    :param env: the child's environment (default: this process's).
    """
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout)
    for line in done.stdout.splitlines():
        if line.startswith(PREFIX):
            return json.loads(line.removeprefix(PREFIX))
    raise RuntimeError(f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
