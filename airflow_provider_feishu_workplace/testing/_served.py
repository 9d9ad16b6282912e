"""Serve the Feishu double from its command line in a subprocess (for tools that need another process)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_feishu_workplace.testing import _connection


@dataclass(frozen=True)
class ServedDouble:
    """A double running in another process: its URL and credentials, as its command line printed them."""

    url: str
    app_id: str
    app_secret: str
    store_app_id: str
    store_app_secret: str
    app_ticket: str
    tenant_key: str

    def connection(self, app_type: str = "self_built", **overrides: Any) -> str:
        """An Airflow connection to this double (JSON); arguments as in :meth:`FeishuDouble.connection`."""
        credentials = {name: value for name, value in asdict(self).items() if name != "url"}
        return _connection.connection_json(self.url, credentials, app_type, **overrides)

    def connection_env(
        self, conn_id: str = "feishu_default", *, app_type: str = "self_built", **overrides: Any
    ) -> AbstractContextManager[str]:
        """Set connection ``conn_id`` in this process's environment while in the block; yields ``conn_id``.

        Arguments as in :meth:`FeishuDouble.connection_env`. For a subprocess's environment, put
        ``{env_var: double.connection()}`` in it, with ``env_var = "AIRFLOW_CONN_" + conn_id.upper()``.
        """
        return _connection.connection_env(conn_id, self.connection(app_type, **overrides))


@contextmanager
def served_double(*cli_args: str, env: Mapping[str, str] | None = None) -> Iterator[ServedDouble]:
    """Run ``python -m airflow_provider_feishu_workplace.testing serve --port 0 CLI_ARGS...``.

    Yields a :class:`ServedDouble` (its ``url``, credentials and ``connection()``) and stops the
    server on exit.

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
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the double's command line exited ({process.wait()}) before printing its URL")
        yield ServedDouble(**json.loads(line))
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
