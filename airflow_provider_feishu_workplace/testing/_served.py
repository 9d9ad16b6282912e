"""Serve the Feishu double from its command line in a subprocess (for tools that need another process)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def served_double(*cli_args: str, env: Mapping[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Run ``python -m airflow_provider_feishu_workplace.testing serve --port 0 CLI_ARGS...``.

    Yields the JSON line it prints (``url``, ``app_id``, ``app_secret`` and the store app's credentials)
    and stops the server on exit.

    :param cli_args: more options of ``serve``, for example ``"--no-rate-limit"``.
    :param env: the subprocess's environment (default: this process's).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_feishu_workplace.testing", "serve", "--port", "0", *cli_args],
        stdout=subprocess.PIPE,
        text=True,
        env=None if env is None else dict(env),
    )
    try:
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
