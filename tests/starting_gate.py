"""Start several processes, hold them at a gate until all are ready, then let them go at once.

Each process's script touches ``<gate>/ready-<n>`` when set up (imports done, connections opened) and waits
for ``<gate>/go``; :func:`run_together` opens the gate when every one is ready, so the part under test
starts within milliseconds in all of them.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def run_together(
    commands: Sequence[list[str]],
    gate: Path,
    env: dict[str, str],
    *,
    before_go: Callable[[], None] = lambda: None,
    timeout: float = 300,
) -> list[subprocess.CompletedProcess]:
    """Run ``commands`` at once through the gate (``before_go`` runs just before it opens); return their results."""
    gate.mkdir()
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for command in commands
    ]
    try:
        deadline = time.monotonic() + 180
        while len(list(gate.glob("ready-*"))) < len(processes):
            assert time.monotonic() < deadline, f"{commands[0]}: not every process got ready within 180 s"
            assert all(p.poll() is None for p in processes), [p.communicate()[1][-1500:] for p in processes]
            time.sleep(0.05)
        before_go()
        (gate / "go").touch()
        results = []
        for process in processes:
            out, err = process.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
        return results
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
