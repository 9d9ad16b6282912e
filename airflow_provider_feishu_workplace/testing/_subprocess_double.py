"""Serve the Feishu double from its command line in a subprocess (for tools that need another process)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, fields
from typing import Any

from airflow_provider_feishu_workplace.testing import _connection
from airflow_provider_feishu_workplace.testing._auth import Credentials


@dataclass(frozen=True)
class ServedDouble(Credentials):
    """A double running in another process: its URL and credentials, as its command line printed them.

    Its control API (``control_url``; ``None`` when served with ``--no-control``), which needs the run's
    ``control_token`` on every request, is wrapped by :meth:`publish_at`, :meth:`inject`,
    :meth:`add_endpoint`, :meth:`requests`, :meth:`stats`, :meth:`clear_requests` and :meth:`reset`.
    """

    url: str
    control_url: str | None
    #: The control API's credential (sent as ``Authorization: Bearer``), printed with the URL.
    control_token: str | None = None

    def connection(self, app_type: str = "self_built", **overrides: Any) -> str:
        """An Airflow connection to this double (JSON); arguments as in :meth:`FeishuDouble.connection`."""
        credentials = {field.name: getattr(self, field.name) for field in fields(Credentials)}
        return _connection.connection_json(self.url, credentials, app_type, **overrides)

    def connection_env(
        self, conn_id: str = "feishu_default", *, app_type: str = "self_built", **overrides: Any
    ) -> AbstractContextManager[str]:
        """Set connection ``conn_id`` in this process's environment while in the block; yields ``conn_id``.

        Arguments as in :meth:`FeishuDouble.connection_env`. For a subprocess's environment, put
        ``{env_var: double.connection()}`` in it, with ``env_var = "AIRFLOW_CONN_" + conn_id.upper()``.
        """
        return _connection.connection_env(conn_id, self.connection(app_type, **overrides))

    # The control API (see _control.py for its routes).

    def publish_at(self, day: str, seconds_from_now: float | None) -> bool:
        """Hold ``day`` (``YYYY-MM-DD``) back for ``seconds_from_now`` s (``None``: until told); returns
        whether it is published now. As :meth:`FeishuDouble.publish_at`."""
        return self._control("POST", "/publish", {"day": day, "seconds_from_now": seconds_from_now})["published"]

    def is_published(self, day: str) -> bool:
        """Whether ``day`` is published now."""
        return self._control("GET", "/publish?" + urllib.parse.urlencode({"day": day}))["published"]

    def inject(self, kind: str, *, endpoint: str = "search", skip: int = 0, times: int | None = 1, **params) -> None:
        """Queue a fault, as :meth:`FeishuDouble.inject` (parameters must be JSON values)."""
        fault = {"kind": str(kind), "endpoint": endpoint, "skip": skip, "times": times, **params}
        self._control("POST", "/faults", fault)

    def add_endpoint(self, name: str, **spec: Any) -> None:
        """Serve one more search endpoint, as :meth:`FeishuDouble.add_endpoint` (same keyword arguments,
        JSON values: ``ids`` and ``counts`` as lists or tuples)."""
        self._control("POST", "/endpoints", {"name": name, **{key: _json_value(value) for key, value in spec.items()}})

    def requests(self, endpoint: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The latest ``limit`` requests ``endpoint`` selects (all when ``None``), oldest first, as dicts
        with the fields of :class:`RecordedRequest`; credentials in them read ``***``."""
        query = {"limit": limit, **({"endpoint": endpoint} if endpoint else {})}
        return self._control("GET", "/requests?" + urllib.parse.urlencode(query))["requests"]

    def stats(self) -> dict[str, Any]:
        """Every request since the start or the last clear: ``{"total": n, "by_endpoint": {name: {status: n}}}``
        (status ``"reset"`` for a connection reset), also those the bounded log no longer holds."""
        return self._control("GET", "/stats")

    def clear_requests(self) -> None:
        """Forget the request log and the counts."""
        self._control("DELETE", "/requests")

    def reset(self) -> None:
        """Put the double back as it started, as :meth:`FeishuDouble.reset`."""
        self._control("POST", "/reset")

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self.control_url:
            raise RuntimeError("this double serves no control API (it was started with --no-control)")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.control_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.control_token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            message = json.loads(error.read() or b"{}").get("error", error.reason)
            raise ValueError(f"the double's control API refused {method} {path}: {message}") from None


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | set | frozenset) else value


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
    stdout = process.stdout
    assert stdout is not None  # stdout=PIPE
    try:
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the double's command line exited ({process.wait()}) before printing its URL")
        yield ServedDouble(**json.loads(line))
    finally:
        process.terminate()
        process.wait(timeout=10)
        stdout.close()
