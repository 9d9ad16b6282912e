"""The local stack is safe on a shared host: nobody without its credentials gets into its servers.

PostgreSQL and Redis are started by the stack's own code (``scripts/stack/stack.py``: ``_start_postgres``,
``_start_redis``) from a checkout in a private folder (pytest's mode-0700 temporary folder, as root: the
``postgres`` user cannot enter it, so the cluster lives under its home). A client without the password,
and a second local user (``nobody``, through ``setpriv``), are refused by both; that user cannot read the
files holding the credentials either. The served double's control API (a real subprocess) refuses
requests without the run's token, with a foreign ``Origin`` or a foreign ``Host``, and a refused request
changes nothing.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import urllib.parse
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")


def free_port() -> int:
    return stack_module().free_port()


def stack_module():
    folder = str(REPO_ROOT / "scripts" / "stack")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import stack

    return stack


@pytest.fixture(scope="module")
def stack_servers(tmp_path_factory):
    """PostgreSQL and Redis as ``make stack`` starts them, from ``<private 0700 folder>/checkout/.stack``."""
    stack = stack_module()
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/stack/install-redis.sh)")
    private = tmp_path_factory.mktemp("private")
    private.chmod(0o700)
    base = private / "checkout" / ".stack"
    (base / "logs").mkdir(parents=True)
    base.chmod(0o700)
    stack.pg_cluster.let_server_user_through(base)  # as stack.start does
    state = {
        "id": uuid.uuid4().hex,
        "dir": str(base),
        "ports": {"postgres": free_port(), "redis": free_port(), "api_server": free_port()},
        "secrets": {
            "fernet_key": "unused",
            "jwt_secret": "unused",
            "api_secret_key": "unused",
            "redis_password": secrets.token_hex(16),
        },
        "processes": [],
        "sessions": [],
    }
    env = {name: value for name, value in os.environ.items() if name != stack.MARKER}
    cluster_home = None
    try:
        stack._start_postgres(base, state, env)
        cluster_home = Path(state["postgres"]["socket_dir"])
        stack._start_redis(base, state, env)
        yield base, state
    finally:
        stopped = stack.stop(base)
        assert stopped["remaining"] == [] and stopped["open_ports"] == []
        if cluster_home is not None and not cluster_home.is_relative_to(base):
            shutil.rmtree(cluster_home, ignore_errors=True)


def psql(state, via: str, *, password: str | None, as_nobody: bool = False) -> subprocess.CompletedProcess:
    stack = stack_module()
    import pg_cluster

    host = state["postgres"]["socket_dir"] if via == "socket" else "127.0.0.1"
    command = [str(pg_cluster.find_server_bin() / "psql"), "-h", host, "-p", str(state["ports"]["postgres"])]
    command += ["-U", stack.PG_USER, "-d", "postgres", "-w", "-tAc", "SELECT 1"]
    env = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run([*AS_NOBODY, *command] if as_nobody else command, env=env, capture_output=True, text=True)


@needs_root
def test_the_cluster_of_a_checkout_in_a_private_folder_starts_outside_it_private_to_postgres(stack_servers):
    base, state = stack_servers
    home = Path(state["postgres"]["socket_dir"])

    assert not home.is_relative_to(base)
    info = home.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == __import__("pwd").getpwnam("postgres").pw_uid
    assert psql(state, "tcp", password=state["postgres"]["password"]).stdout.strip() == "1"
    assert psql(state, "socket", password=state["postgres"]["password"]).stdout.strip() == "1"


@needs_root
def test_a_stack_folder_postgres_can_reach_keeps_its_cluster_inside():
    import tempfile

    stack = stack_module()
    shared = Path(tempfile.mkdtemp(prefix="feishu-stack-", dir="/tmp"))  # /tmp: every user may pass
    try:
        shared.chmod(0o755)
        base = shared / ".stack"
        base.mkdir(mode=0o700)

        stack.pg_cluster.let_server_user_through(base)

        assert stat.S_IMODE(base.stat().st_mode) == 0o710
        assert stack.pg_cluster.Cluster(base / "postgres").home == base / "postgres"
    finally:
        shutil.rmtree(shared)


@pytest.mark.parametrize("via", ["socket", "tcp"])
@pytest.mark.parametrize(
    ("who", "password"),
    [
        pytest.param("stack-user", None, id="no-password"),
        pytest.param("stack-user", "wrong", id="wrong-password"),
        pytest.param("nobody", None, id="another-user", marks=needs_root),
    ],
)
def test_postgres_refuses_a_client_without_the_password(stack_servers, via, who, password):
    _, state = stack_servers

    result = psql(state, via, password=password, as_nobody=who == "nobody")

    assert result.returncode != 0, result.stdout
    refusals = ("no password supplied", "password authentication failed", "Permission denied")
    assert any(refusal in result.stderr for refusal in refusals), result.stderr


def redis_says(port: int, *commands: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall("".join(f"{command}\r\n" for command in commands).encode())
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer


@pytest.mark.parametrize(
    ("commands", "refusal"),
    [
        pytest.param(("PING",), b"-NOAUTH", id="no-password"),
        pytest.param(("SET pace 1",), b"-NOAUTH", id="write-without-password"),
        pytest.param(("AUTH wrong", "PING"), b"-WRONGPASS", id="wrong-password"),
        pytest.param(("LPUSH default junk",), b"-NOAUTH", id="broker-queue-without-password"),
    ],
)
def test_redis_refuses_a_client_without_the_password(stack_servers, commands, refusal):
    _, state = stack_servers

    assert redis_says(state["ports"]["redis"], *commands).startswith(refusal)


def test_the_celery_broker_url_and_the_password_reach_redis(stack_servers):
    import redis

    base, state = stack_servers
    password = state["secrets"]["redis_password"]
    state["postgres"].setdefault("password", "")
    broker = stack_module().airflow_env(base, state)["AIRFLOW__CELERY__BROKER_URL"]

    assert urllib.parse.urlsplit(broker).password == password
    assert redis.Redis.from_url(broker).ping() is True
    assert redis_says(state["ports"]["redis"], f"AUTH {password}", "PING") == b"+OK\r\n+PONG\r\n"


def test_the_redis_password_is_not_on_any_command_line(stack_servers):
    _, state = stack_servers
    password = state["secrets"]["redis_password"].encode()

    redis_pid = next(p["pid"] for p in state["processes"] if p["name"] == "redis")
    assert password not in Path(f"/proc/{redis_pid}/cmdline").read_bytes()


@needs_root
@pytest.mark.parametrize("name", ["stack.json", "redis/redis.conf", "postgres/password", "logs/redis.log"])
def test_another_user_cannot_read_the_files_holding_the_stack_credentials(stack_servers, name):
    base, _ = stack_servers
    assert (base / name).exists()

    result = subprocess.run([*AS_NOBODY, "cat", str(base / name)], capture_output=True, text=True)

    assert result.returncode != 0
    assert "Permission denied" in result.stderr


# The served double's control API


@pytest.fixture(scope="module")
def served():
    from airflow_provider_feishu_workplace.testing import served_double

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with served_double("--no-rate-limit", env=env) as double:
        yield double


def control_request(served, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
    address = urllib.parse.urlsplit(served.control_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"{}")
    finally:
        connection.close()


HELD_DAY = "2026-10-01"
HOLD = json.dumps({"day": HELD_DAY, "seconds_from_now": None}).encode()


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        pytest.param({}, 401, "no valid token", id="no-token"),
        pytest.param({"Authorization": "Bearer guessed"}, 401, "no valid token", id="wrong-token"),
        pytest.param({"Authorization": "Basic {token}"}, 401, "no valid token", id="token-in-another-scheme"),
        pytest.param(
            {"Content-Type": "text/plain", "Origin": "https://evil.example"},
            403,
            "Origin 'https://evil.example'",
            id="cross-origin-text-plain-post",
        ),
        pytest.param(
            {"Authorization": "Bearer {token}", "Origin": "http://localhost:1"},
            403,
            "cross-origin requests are refused",
            id="foreign-origin-with-token",
        ),
        pytest.param(
            {"Authorization": "Bearer {token}", "Host": "evil.example:80"},
            403,
            "Host 'evil.example:80' is not loopback",
            id="foreign-host-dns-rebinding",
        ),
    ],
)
def test_the_control_api_refuses_requests_from_outside_and_they_change_nothing(served, headers, status, message):
    headers = {name: value.format(token=served.control_token) for name, value in headers.items()}
    served.reset()

    answer = control_request(served, "POST", "/publish", headers, HOLD)

    assert answer[0] == status
    assert message in answer[1]["error"]
    assert served.is_published(HELD_DAY) is True  # the refused request held nothing back


def test_the_control_api_answers_the_run_token_and_its_own_origin(served):
    address = urllib.parse.urlsplit(served.control_url)
    headers = {"Authorization": f"Bearer {served.control_token}", "Origin": f"http://{address.netloc}"}
    served.reset()

    assert control_request(served, "POST", "/publish", headers, HOLD) == (200, {"day": HELD_DAY, "published": False})
    assert served.is_published(HELD_DAY) is False
    served.reset()


def test_each_run_of_the_double_has_a_token_of_its_own(served):
    from airflow_provider_feishu_workplace.testing import served_double

    with served_double("--no-rate-limit") as other:
        assert other.control_token and other.control_token != served.control_token
        status, _ = control_request(other, "GET", "/health", {"Authorization": f"Bearer {served.control_token}"})
    assert status == 401
