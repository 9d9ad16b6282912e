"""A local Airflow deployment of the example pipeline: ``make stack`` / ``make stack-stop``.

    python scripts/stack/stack.py start [--dir DIR]   # PostgreSQL, Redis, the double, Airflow on Celery
    python scripts/stack/stack.py status [--dir DIR]  # what runs, with pids, ports and URLs
    python scripts/stack/stack.py stop [--dir DIR]    # ends exactly the processes ``start`` started
    python scripts/stack/stack.py start-worker NAME [--dir DIR]  # (re)start one Celery worker

Everything lives under one folder (default ``.stack/`` in the checkout): ``logs/`` (one log per
process, Airflow's task logs in ``logs/airflow/``), ``postgres/`` (the cluster: metadata database
``airflow`` and warehouse ``warehouse``), ``redis/``, ``airflow/`` (``AIRFLOW_HOME``), ``lake/``,
``stack.json`` (pids, ports, URLs) and ``env`` (``source`` it to run ``airflow`` commands against the stack).

Every process is started as the leader of a session of its own (and with a marker in its environment,
``FEISHU_STACK_ID``); ``stop`` signals exactly those process groups, then kills whatever is left in those
sessions (Airflow moves each task into a process group of its own, not out of the session) or still
shows the marker, and checks that no process and none of the stack's ports is left.
Every server listens on 127.0.0.1 only: Airflow's log servers, which bind every interface and have no
setting for it in Airflow 3.3, are not started (``--skip-serve-logs``); the API server reads the task
logs from the shared log folder instead.

With ``AIRFLOW_CONN_FEISHU_DEFAULT`` set in the environment, the pipeline pulls from that Feishu app and
no double is started. Only the standard library is imported here, so ``stop`` runs with any Python 3.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pg_cluster  # scripts/stack/pg_cluster.py: the PostgreSQL launcher the tests use too

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / ".stack"
WORKERS = ("worker-1", "worker-2")
# Task slots per worker: six with two workers, more than the pool's four, so that loads and sensors never
# keep four pulls from running at once (the e2e checks they stay under the app's rate limit together).
WORKER_CONCURRENCY = 3
POOL = os.environ.get("FEISHU_WORKPLACE_POOL") or "feishu_workplace"
POOL_SLOTS = 4
LOAD_SWEEP = "*/2 * * * *"
PG_USER = "feishu"
DATABASES = ("airflow", "warehouse")
MARKER = "FEISHU_STACK_ID"
# How long a process group gets to end after its stop signal before it is killed.
STOP_GRACE_SECONDS = 20
START_TIMEOUT_SECONDS = 240


class StackError(RuntimeError):
    """The stack could not be started or stopped; the message says why and what to do."""


# ----------------------------------------------------------------------------------------------- state


def _state_file(base: Path) -> Path:
    return base / "stack.json"


def load_state(base: Path) -> dict | None:
    """The stack's recorded state (pids, ports, URLs), or None when none is recorded."""
    try:
        return json.loads(_state_file(base).read_text())
    except FileNotFoundError:
        return None


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by this user only from its first byte."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def _save_state(base: Path, state: dict) -> None:
    path = _state_file(base)
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(state, indent=2) + "\n")
    temp.chmod(0o600)  # it holds the database password and the double's (fake) app secret
    os.replace(temp, path)


# ------------------------------------------------------------------------------------------- processes


def _proc(pid: int) -> dict | None:
    """A process's state letter, process group, session and start time (clock ticks since boot), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return {"state": fields[0], "pgid": int(fields[2]), "sid": int(fields[3]), "start_ticks": int(fields[19])}


def _start_ticks(pid: int) -> int | None:
    info = _proc(pid)
    return info["start_ticks"] if info else None


def _is_ours(entry: dict) -> bool:
    """Whether the recorded leader still runs (same pid and start time: not a reused pid)."""
    info = _proc(entry["pid"])
    return info is not None and info["start_ticks"] == entry["start_ticks"] and info["state"] != "Z"


def session_members(entries: list[dict]) -> list[int]:
    """Live processes in the sessions of ``entries`` (each started as a session leader).

    A session, unlike a process group, keeps the task processes Airflow's supervisor moves into groups
    of their own. Linux does not reuse a pid while it names a session with members, and a member cannot
    be older than the leader that started the session: both rule out strangers.
    """
    sessions = {entry["pid"]: entry["start_ticks"] for entry in entries}
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        info = _proc(int(name))
        if (
            info is not None
            and info["state"] != "Z"
            and info["sid"] in sessions
            and info["start_ticks"] >= sessions[info["sid"]]
        ):
            members.append(int(name))
    return members


def marked_processes(stack_id: str) -> list[int]:
    """Live processes whose environment still shows this stack's marker.

    This finds a process that left its session; it misses those that rewrite their title over their
    environment (redis-server, setproctitle), which the sessions find.
    """
    needle = f"{MARKER}={stack_id}".encode() + b"\0"
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes() + b"\0"
        except OSError:
            continue
        info = _proc(int(name))
        if needle in environ and info is not None and info["state"] != "Z":
            found.append(int(name))
    return found


def stack_processes(state: dict) -> list[int]:
    """Every live process the stack started, and their descendants (also those of replaced workers)."""
    return sorted(set(session_members(state["sessions"])) | set(marked_processes(state["id"])))


def _spawn(base: Path, state: dict, name: str, command: list[str], env: dict, *, stop_signal: str = "SIGTERM"):
    """Start ``command`` in a new session with its output in ``logs/<name>.log``; record it."""
    log_path = base / "logs" / f"{name}.log"
    with open(log_path, "ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**env, MARKER: state["id"]},
            cwd=base,
            start_new_session=True,
        )
    entry = {
        "name": name,
        "pid": process.pid,
        "start_ticks": _start_ticks(process.pid),
        "log": str(log_path),
        "stop_signal": stop_signal,
    }
    state["processes"] = [p for p in state["processes"] if p["name"] != name] + [entry]
    state["sessions"].append({"pid": entry["pid"], "start_ticks": entry["start_ticks"]})
    _save_state(base, state)
    return process


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _stop_sessions(entries: list[dict]) -> list[str]:
    """Send each entry's stop signal to its process group, give its session STOP_GRACE_SECONDS to end,
    then SIGKILL what is left of it; return the names that had to be killed."""
    signalled = []
    for entry in entries:
        if not session_members([entry]):
            continue
        try:
            os.killpg(entry["pid"], getattr(signal, entry["stop_signal"]))
        except ProcessLookupError:
            pass
        signalled.append(entry)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    killed = []
    for entry in signalled:
        while session_members([entry]) and time.monotonic() < deadline:
            time.sleep(0.2)
        if session_members([entry]):
            killed.append(entry["name"])
        end = time.monotonic() + 10
        while (left := session_members([entry])) and time.monotonic() < end:
            _kill_all(left)
            time.sleep(0.1)
    return killed


def kill_session(state: dict, name: str) -> list[int]:
    """SIGKILL every process of one recorded process's session, as if its machine died (a crashed
    worker: the worker, its pool and the task processes); return the pids killed."""
    (entry,) = [p for p in state["processes"] if p["name"] == name]
    members = session_members([entry])
    if not _is_ours(entry) or not members:
        raise StackError(f"{name} (pid {entry['pid']}) is not running")
    end = time.monotonic() + 10
    while (left := session_members([entry])) and time.monotonic() < end:
        _kill_all(left)
        time.sleep(0.05)
    return members


# --------------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: str | Path, lines: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait(what: str, check, log: str | Path, timeout: float = START_TIMEOUT_SECONDS, process=None) -> None:
    """Poll ``check()`` until true; on timeout or when ``process`` exits, raise with the log's tail."""
    deadline = time.monotonic() + timeout
    while True:
        # The process first: a ready answer from a port another program holds must not count.
        if process is not None and process.poll() is not None:
            raise StackError(f"{what} exited with status {process.returncode}; the end of {log}:\n{_tail(log)}")
        try:
            if check():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise StackError(f"{what} not ready after {timeout:.0f} s; the end of {log}:\n{_tail(log)}")
        time.sleep(0.5)


def _http_json(url: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read())


# ---------------------------------------------------------------------------------------- environment


def airflow_env(base: Path, state: dict) -> dict[str, str]:
    """The environment every Airflow process (and ``airflow`` command) of the stack runs with."""
    ports, pg = state["ports"], state["postgres"]
    db = f"{PG_USER}:{pg['password']}@127.0.0.1:{ports['postgres']}"
    api = f"http://127.0.0.1:{ports['api_server']}"
    env = {
        "AIRFLOW_HOME": str(base / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": state["secrets"]["fernet_key"],
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        # Each worker reports its own name on its task instances (scripts/stack/stack_hostname.py).
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "stack_hostname.hostname",
        # A local stack on loopback: every UI user is an admin, no password to look up.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{db}/airflow",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://:{state['secrets']['redis_password']}@127.0.0.1:{ports['redis']}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{db}/airflow",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(ports["api_server"]),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API__SECRET_KEY": state["secrets"]["api_secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": state["secrets"]["jwt_secret"],
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(base / "logs" / "airflow"),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(base / "logs" / "airflow" / "dag_processor"),
        # Short cycles, so that the tests and a first look do not wait: a lost worker's tasks are failed
        # (and retried) after a minute without heartbeat, new DAG files are seen within 10 s.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        # Tasks a dead worker had taken from the broker but not started are sent again after 90 s queued
        # (Airflow's default: 10 minutes; Celery would wait out Redis's 6-hour visibility timeout).
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "15",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__TRIGGERER__CAPACITY": "100",
        # The example DAGs' configuration (dags/feishu_workplace_config.py).
        "FEISHU_WORKPLACE_LAKE": f"file://{base / 'lake'}",
        "FEISHU_WORKPLACE_WAREHOUSE_CONN_ID": "feishu_warehouse",
        "FEISHU_WORKPLACE_POOL": POOL,
        # The load's safety net (it loads whatever the asset-triggered runs left) every few minutes, not hourly.
        "FEISHU_WORKPLACE_LOAD_SWEEP": state.get("load_sweep") or LOAD_SWEEP,
        "AIRFLOW_CONN_FEISHU_WAREHOUSE": f"postgresql://{db}/warehouse",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "scripts" / "stack"), os.environ.get("PYTHONPATH")])),
    }
    if state.get("double"):
        env["AIRFLOW_CONN_FEISHU_DEFAULT"] = state["double"]["connection"]
    if state.get("store_app"):
        env["AIRFLOW_CONN_FEISHU_STORE"] = state["store_app"]["connection"]
    return env


def _process_env(base: Path, state: dict) -> dict[str, str]:
    env = {**os.environ, **airflow_env(base, state)}
    env.pop(MARKER, None)
    return env


def _write_env_file(base: Path, state: dict) -> Path:
    """``<dir>/env``: ``source`` it to point ``airflow`` commands at the stack."""
    lines = ["# source this file to run `airflow ...` against the stack started by `make stack`"]
    lines.append(f"export PATH={_quote(str(Path(sys.executable).parent))}:$PATH")
    lines += [f"export {name}={_quote(value)}" for name, value in airflow_env(base, state).items()]
    path = base / "env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


# ------------------------------------------------------------------------------------------------ start


def _start_postgres(base: Path, state: dict, env: dict) -> None:
    pg_dir = base / "postgres"
    password_file = pg_dir / "password"
    try:
        cluster = pg_cluster.Cluster(pg_dir)
    except pg_cluster.PostgresUnavailable as error:
        raise StackError(str(error)) from None
    if not cluster.initialized or not password_file.exists():
        cluster.remove()
        shutil.rmtree(pg_dir, ignore_errors=True)
        pg_dir.mkdir(parents=True, mode=0o700)
        _write_private(password_file, secrets.token_hex(16))
        try:
            cluster.init(PG_USER, password_file.read_text())
        except RuntimeError as error:
            raise StackError(str(error)) from None
    cluster.user, cluster.password = PG_USER, password_file.read_text().strip()
    # The cluster may live outside the stack's folder (as root, when the postgres user cannot enter it).
    state["postgres"] = {"password": cluster.password, "socket_dir": str(cluster.home)}
    port = state["ports"]["postgres"]
    # SIGINT: PostgreSQL's "fast" shutdown (SIGTERM would wait for every client to disconnect).
    command = cluster.server_command(port, "max_connections=200")
    process = _spawn(base, state, "postgres", command, env, stop_signal="SIGINT")

    def databases_ready() -> bool:
        if not cluster.ready(port):
            return False
        cluster.create_databases(port, *DATABASES)
        return True

    # Through the server's own socket in pg_dir first: a server that could not bind its TCP port exits (and
    # the log says why) rather than answering there.
    _wait("PostgreSQL", databases_ready, base / "logs" / "postgres.log", timeout=90, process=process)


def _start_redis(base: Path, state: dict, env: dict) -> None:
    redis = shutil.which("redis-server")
    if redis is None:
        raise StackError("redis-server not found: run `bash scripts/stack/install-redis.sh` (Debian's redis-server)")
    (base / "redis").mkdir(mode=0o700, exist_ok=True)
    port = state["ports"]["redis"]
    password = state["secrets"]["redis_password"]
    # The password goes in a file only this user can read, not on the command line every user can see.
    config = base / "redis" / "redis.conf"
    _write_private(config, f"requirepass {password}\n")
    command = [
        redis,
        str(config),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--protected-mode",
        "yes",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(base / "redis"),
        "--daemonize",
        "no",
    ]
    process = _spawn(base, state, "redis", command, env)

    def pong() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(f"AUTH {password}\r\nPING\r\n".encode())
            answer = b""
            while len(answer) < 12 and (chunk := sock.recv(64)):
                answer += chunk
            return answer.startswith(b"+OK\r\n+PONG")

    _wait("Redis", pong, base / "logs" / "redis.log", timeout=30, process=process)


def _start_double(base: Path, state: dict, env: dict) -> None:
    port, control_port = state["ports"]["double"], state["ports"]["double_control"]
    command = [sys.executable, "-m", "airflow_provider_feishu_workplace.testing", "serve", "--port", str(port)]
    command += ["--control-port", str(control_port), "--blocks-per-day", str(state["blocks_per_day"])]
    process = _spawn(base, state, "double", command, env)
    log = base / "logs" / "double.log"

    def info_line():
        for line in reversed(log.read_text().splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        return None

    _wait("the Feishu double", lambda: info_line() is not None, log, timeout=60, process=process)
    info = info_line()
    sys.path.insert(0, str(ROOT))
    from airflow_provider_feishu_workplace.testing import ServedDouble

    # The app's pulls in every worker share one request schedule, kept in the stack's Redis (database 1;
    # Celery's broker uses 0): together they stay under the app's 20 requests/s per endpoint.
    shared = f"redis://127.0.0.1:{state['ports']['redis']}/1" if state["shared_rate_limit"] else None
    extra = {"shared_rate_limit": shared, "shared_rate_limit_password": state["secrets"]["redis_password"]}
    connection = ServedDouble(**info).connection(extra=extra if shared else {})
    state["double"] = {"info": info, "connection": connection}


def _add_store_app(state: dict) -> None:
    """The double's store app as connection ``feishu_store``, with the Encrypt Key and verification token its
    events are signed and encrypted with (made here: the double takes them from :func:`_push_store_events`)."""
    from airflow_provider_feishu_workplace.testing import ServedDouble

    keys = {"encrypt_key_secret": secrets.token_urlsafe(24), "verification_token": secrets.token_urlsafe(16)}
    # No tenant_key: each pull names its tenant (dags/feishu_workplace_tenants.py).
    connection = ServedDouble(**state["double"]["info"]).connection("store", extra={**keys, "tenant_key": None})
    state["store_app"] = {"connection": connection, **keys}


def _push_store_events(state: dict) -> None:
    """Have the double push the store app's events (a ticket now, then hourly) to the API server's receiver."""
    from airflow_provider_feishu_workplace.testing import ServedDouble

    info, store = state["double"]["info"], state["store_app"]
    url = f"http://127.0.0.1:{state['ports']['api_server']}/feishu/events/feishu_store"
    body = {"url": url, "encrypt_key": store["encrypt_key_secret"], "verification_token": store["verification_token"]}
    ServedDouble(**info)._control("POST", "/events/callback", body)  # with the run's control token
    state["store_app"]["callback_url"] = url


def _airflow(env: dict | None = None) -> str:
    return str(Path(sys.executable).parent / "airflow")


def _run_airflow(base: Path, env: dict, name: str, *args: str, timeout: float = 600) -> str:
    """Run one ``airflow`` command to its end, its output appended to ``logs/<name>.log``."""
    log_path = base / "logs" / f"{name}.log"
    result = subprocess.run([_airflow(env), *args], env=env, capture_output=True, text=True, timeout=timeout)
    with open(log_path, "a") as log:
        log.write(f"\n==== airflow {' '.join(args)} (exit {result.returncode})\n{result.stdout}{result.stderr}")
    if result.returncode:
        raise StackError(
            f"`airflow {' '.join(args)}` failed (exit {result.returncode}); see {log_path}:\n{_tail(log_path)}"
        )
    return result.stdout


def _health(state: dict) -> dict:
    return _http_json(f"http://127.0.0.1:{state['ports']['api_server']}/api/v2/monitor/health")


def start_worker(base: Path, state: dict, name: str) -> None:
    """Start (or restart) the Celery worker ``name`` and wait until it takes tasks."""
    env = {**_process_env(base, state), "FEISHU_STACK_HOSTNAME": name}
    command = [_airflow(env), "celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"]
    log = base / "logs" / f"{name}.log"
    offset = log.stat().st_size if log.exists() else 0
    process = _spawn(base, state, name, command, env)

    def ready() -> bool:
        with open(log, "rb") as handle:
            handle.seek(offset)
            return re.search(rb"@\S+ ready\.", handle.read()) is not None

    _wait(f"Celery worker {name}", ready, log, process=process)


def _with_fresh_ports(base: Path, state: dict, names: list[str], start_server) -> None:
    """Run ``start_server()``; when its port was taken meanwhile (by any other program on the machine,
    between choosing the free port and binding it), choose new ones and try again, up to 3 times."""
    for attempt in range(3):
        try:
            start_server()
            _save_state(base, state)
            return
        except StackError as error:
            if attempt == 2 or "in use" not in str(error):
                raise
            print(f"stack: a port of {', '.join(names)} was taken meanwhile; trying others", file=sys.stderr)
            state["ports"].update({name: free_port() for name in names})


def _start_api_server(base: Path, state: dict) -> None:
    env = _process_env(base, state)
    port = state["ports"]["api_server"]
    command = [_airflow(env), "api-server", "--host", "127.0.0.1", "--port", str(port)]
    api = _spawn(base, state, "api-server", command, env)
    _wait("the API server", lambda: _health(state) is not None, base / "logs" / "api-server.log", process=api)


def start(base: Path, *, blocks_per_day: int = 5, load_sweep: str = LOAD_SWEEP, shared_rate_limit: bool = True) -> dict:
    """Start the whole stack under ``base`` and return its state (also in ``base/stack.json``)."""
    base = base.resolve()
    old = load_state(base)
    if old and any(_is_ours(p) for p in old["processes"]):
        raise StackError(f"a stack already runs from {base}: `make stack-stop` (or stack.py stop --dir {base}) first")
    try:
        import airflow.version
    except ImportError:
        raise StackError(f"{sys.executable} has no Airflow: run with the virtualenv's Python (make stack)") from None
    if int(airflow.version.version.split(".")[0]) < 3:
        raise StackError(f"the stack needs Airflow 3 (api-server, dag-processor); this is {airflow.version.version}")
    for folder in ("logs/airflow", "airflow", "lake"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    base.chmod(0o700)  # logs, state and configuration hold the stack's credentials
    pg_cluster.let_server_user_through(base)  # as root: 0710 for postgres's group, to reach postgres/
    ports = {name: free_port() for name in ("postgres", "redis", "api_server")}
    real_feishu = bool(os.environ.get("AIRFLOW_CONN_FEISHU_DEFAULT"))
    if not real_feishu:
        ports |= {"double": free_port(), "double_control": free_port()}
    old_secrets = (old or {}).get("secrets")
    if old_secrets:
        old_secrets.setdefault("redis_password", secrets.token_hex(16))  # a stack from before Redis had one
    state = {
        "id": uuid.uuid4().hex,
        "dir": str(base),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "ports": ports,
        "blocks_per_day": blocks_per_day,
        "load_sweep": load_sweep,
        "shared_rate_limit": shared_rate_limit,
        "processes": [],
        # Every session the stack ever started (restarted workers' too): what `stop` sweeps.
        "sessions": [],
        "secrets": old_secrets
        or {
            "fernet_key": _fernet_key(),
            "jwt_secret": secrets.token_urlsafe(32),
            "api_secret_key": secrets.token_urlsafe(32),
            "redis_password": secrets.token_hex(16),
        },
        "double": None,
    }
    _save_state(base, state)
    began = time.monotonic()
    try:
        env = {**os.environ}
        env.pop(MARKER, None)
        _with_fresh_ports(base, state, ["postgres"], lambda: _start_postgres(base, state, env))
        _with_fresh_ports(base, state, ["redis"], lambda: _start_redis(base, state, env))
        if not real_feishu:
            _with_fresh_ports(base, state, ["double", "double_control"], lambda: _start_double(base, state, env))
            _add_store_app(state)
        env = _process_env(base, state)
        _run_airflow(base, env, "airflow-setup", "db", "migrate")
        _run_airflow(base, env, "airflow-setup", "pools", "set", POOL, str(POOL_SLOTS), "Feishu Workplace app")
        _with_fresh_ports(base, state, ["api_server"], lambda: _start_api_server(base, state))
        if state.get("store_app"):
            _push_store_events(state)
        env = _process_env(base, state)
        _write_env_file(base, state)
        for name, command in (
            ("scheduler", ["scheduler", "--skip-serve-logs"]),
            ("dag-processor", ["dag-processor"]),
            ("triggerer", ["triggerer", "--skip-serve-logs"]),
        ):
            _spawn(base, state, name, [_airflow(env), *command], env)
        for name in WORKERS:
            start_worker(base, state, name)

        def healthy() -> bool:
            health = _health(state)
            return all(
                health.get(part, {}).get("status") == "healthy" for part in ("scheduler", "triggerer", "dag_processor")
            )

        _wait("scheduler, triggerer and DAG processor", healthy, base / "logs" / "scheduler.log")
    except BaseException:
        print(f"stack: start failed; stopping what was started (logs in {base / 'logs'})", file=sys.stderr)
        stop(base)
        raise
    state["ready_seconds"] = round(time.monotonic() - began, 1)
    _save_state(base, state)
    return state


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(os.urandom(32)).decode()


# ------------------------------------------------------------------------------------------------- stop


def stop(base: Path) -> dict:
    """End every process the stack started; return what was done (and what was still left, if anything)."""
    base = base.resolve()
    state = load_state(base)
    if state is None:
        return {"stopped": [], "killed": [], "leftovers": [], "remaining": [], "open_ports": []}
    entries = list(reversed(state["processes"]))
    running = [p["name"] for p in entries if session_members([p])]
    servers = ("double", "redis", "postgres")
    # Workers first (they finish or give back their tasks), then the Airflow services, then the servers.
    killed = _stop_sessions([p for p in entries if p["name"] in WORKERS])
    killed += _stop_sessions([p for p in entries if p["name"] not in WORKERS + servers])
    killed += _stop_sessions([p for p in entries if p["name"] in servers])
    # What is still alive: a process of a replaced worker's session, or one that left its session.
    leftovers = stack_processes(state)
    end = time.monotonic() + 10
    while (left := stack_processes(state)) and time.monotonic() < end:
        _kill_all(left)
        time.sleep(0.1)
    open_ports = [f"{name}:{port}" for name, port in state["ports"].items() if port_open(port)]
    remaining = stack_processes(state)
    return {
        "stopped": running,
        "killed": killed,
        "leftovers": leftovers,
        "remaining": remaining,
        "open_ports": open_ports,
    }


# ---------------------------------------------------------------------------------------------- status


def describe(state: dict) -> str:
    ports = state["ports"]
    lines = [f"stack {state['dir']} (started {state['started']})"]
    for entry in state["processes"]:
        alive = "running" if _is_ours(entry) else "gone"
        lines.append(f"  {entry['name']:<14} pid {entry['pid']:<8} {alive:<8} log {entry['log']}")
    lines.append(f"  Airflow UI and API   http://127.0.0.1:{ports['api_server']}/")
    lines.append(f"  PostgreSQL           127.0.0.1:{ports['postgres']} (databases airflow, warehouse)")
    lines.append(f"  Redis                127.0.0.1:{ports['redis']}")
    if state.get("double"):
        info = state["double"]["info"]
        lines.append(f"  Feishu double        {info['url']} (control API {info['control_url']})")
    else:
        lines.append("  Feishu               AIRFLOW_CONN_FEISHU_DEFAULT from the environment")
    lines.append(f"  airflow commands     source {Path(state['dir']) / 'env'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the stack's folder (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="start the stack")
    start_parser.add_argument("--blocks-per-day", type=int, default=5, help="the double's blocks per day")
    start_parser.add_argument(
        "--no-shared-rate-limit",
        dest="shared_rate_limit",
        action="store_false",
        help="let each task pace itself alone (to see the double's 429 answers when pulls overlap)",
    )
    start_parser.add_argument(
        "--load-sweep", default=LOAD_SWEEP, help="cron of the load DAG's safety-net runs (default: %(default)s)"
    )
    commands.add_parser("stop", help="stop exactly the processes the stack started")
    commands.add_parser("status", help="show pids, ports and URLs")
    worker = commands.add_parser("start-worker", help="(re)start one Celery worker")
    worker.add_argument("name", choices=WORKERS)
    args = parser.parse_args(argv)
    base = args.dir.resolve()
    try:
        if args.command == "start":
            state = start(
                base,
                blocks_per_day=args.blocks_per_day,
                load_sweep=args.load_sweep,
                shared_rate_limit=args.shared_rate_limit,
            )
            print(f"stack: ready in {state['ready_seconds']} s")
            print(describe(state))
            print("stop it with: make stack-stop")
        elif args.command == "stop":
            result = stop(base)
            print(f"stack: stopped {', '.join(result['stopped']) or 'nothing (no process of the stack was running)'}")
            if result["killed"]:
                print(f"stack: killed after {STOP_GRACE_SECONDS} s: {', '.join(result['killed'])}")
            if result["leftovers"]:
                print(f"stack: killed stray processes of the stack: {result['leftovers']}")
            if result["remaining"]:
                print(f"stack: processes of the stack still alive: {result['remaining']}", file=sys.stderr)
            if result["open_ports"]:
                print(f"stack: ports still open: {', '.join(result['open_ports'])}", file=sys.stderr)
            if result["remaining"] or result["open_ports"]:
                return 1
        elif args.command == "status":
            state = load_state(base)
            if state is None:
                print(f"stack: nothing recorded in {base}")
                return 1
            print(describe(state))
        elif args.command == "start-worker":
            state = load_state(base)
            if state is None:
                raise StackError(f"no stack recorded in {base}: make stack first")
            start_worker(base, state, args.name)
            print(f"stack: {args.name} ready")
    except StackError as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
