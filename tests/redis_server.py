"""A private redis-server on 127.0.0.1 for a test module (Debian's redis-server package)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loopback import free_port


@contextlib.contextmanager
def running_redis(folder: Path, *options: str) -> Iterator[int]:
    """Start redis-server with ``options`` (e.g. ``--requirepass``) in ``folder``; yield its port; stop it.

    Skips where redis-server is not installed, and fails in CI, which must have it.
    """
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI") in ("true", "1"):
            pytest.fail("redis-server is required in CI: apt-get install redis-server")
        pytest.skip("redis-server is not installed here (apt-get install redis-server)")
    port = free_port()
    command = [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", *options]
    process = subprocess.Popen([*command, "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
