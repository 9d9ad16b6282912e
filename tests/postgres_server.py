"""A throwaway PostgreSQL server for tests that need a real one.

``running_postgres()`` yields the URI of an empty database on 127.0.0.1: either the
server named by ``FEISHU_TEST_POSTGRES_URI``, or a private cluster it creates with the
installed server binaries (see ``scripts/install-postgres.sh``) and removes afterwards.
The cluster is launched by ``scripts/stack/pg_cluster.py``, the launcher ``make stack`` uses too.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_STACK_SCRIPTS = str(Path(__file__).resolve().parents[1] / "scripts" / "stack")
if _STACK_SCRIPTS not in sys.path:
    sys.path.insert(0, _STACK_SCRIPTS)

import pg_cluster  # noqa: E402  scripts/stack/pg_cluster.py
from pg_cluster import PostgresUnavailable, find_runuser  # noqa: E402, F401  (the tests' names for them)

URI_ENV = "FEISHU_TEST_POSTGRES_URI"
USER = "feishu"
DATABASE = "feishu_test"
_SERVER_ROOT = pg_cluster.SERVER_ROOT
_START_ATTEMPTS = 3
_START_TIMEOUT = 60


def find_server_bin() -> Path | None:
    """Return the ``bin`` directory of the newest installed PostgreSQL server, or None."""
    return pg_cluster.find_server_bin(_SERVER_ROOT)


def _traversable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _make_workdir(as_root: bool) -> Path:
    """Create the cluster's directory (one per call: xdist workers each get their own)."""
    parent = Path(tempfile.gettempdir())
    if as_root and not _traversable_by_others(parent):
        parent = Path("/tmp")  # the server's user must be able to reach its data directory
    return Path(tempfile.mkdtemp(prefix="feishu-pg-", dir=parent))


def _stop(server: subprocess.Popen) -> None:
    """SIGINT (PostgreSQL's fast shutdown) to the server's process group; SIGKILL what is left."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGKILL, 30)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(log: Path) -> str:
    if not log.exists():
        return ""
    return "\n--- server log ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])


@contextmanager
def running_postgres() -> Iterator[str]:
    """Yield ``postgresql://USER:PASSWORD@127.0.0.1:PORT/DBNAME`` of a usable, empty database.

    Uses ``$FEISHU_TEST_POSTGRES_URI`` as is when set. Otherwise starts a private cluster
    (loopback only, random free port, fsync off) in a temporary directory, and on exit
    stops it and deletes the directory. Raises ``PostgresUnavailable`` when no server
    binaries are installed.
    """
    if os.environ.get(URI_ENV):
        yield os.environ[URI_ENV]
        return

    bin_dir = find_server_bin()
    if bin_dir is None:
        raise PostgresUnavailable(
            f"no PostgreSQL server binaries under {_SERVER_ROOT}/*/bin: run `bash scripts/install-postgres.sh` "
            f"(as root, installs Debian's postgresql package) or set {URI_ENV} to a server's URI"
        )
    try:
        workdir = _make_workdir(os.geteuid() == 0)
        cluster = pg_cluster.Cluster(workdir, bin_dir)
    except PostgresUnavailable as error:
        raise PostgresUnavailable(f"{error}, or set {URI_ENV} to a server's URI") from None
    log = workdir / "server.log"
    server = None
    try:
        password = secrets.token_hex(16)
        cluster.init(USER, password)
        # Another process may take the port between choosing and binding it: try a few.
        for attempt in range(_START_ATTEMPTS):
            port = pg_cluster.free_port()
            with open(log, "ab") as output:
                server = subprocess.Popen(
                    cluster.server_command(port),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=workdir,
                    start_new_session=True,
                )
            deadline = time.monotonic() + _START_TIMEOUT
            while server.poll() is None and not cluster.ready(port) and time.monotonic() < deadline:
                time.sleep(0.2)
            if server.poll() is None and cluster.ready(port):
                break
            _stop(server)
            server = None
            if attempt == _START_ATTEMPTS - 1:
                raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1:{port}{_tail(log)}")
        cluster.create_databases(port, DATABASE)
        yield f"postgresql://{USER}:{password}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if server is not None:
            _stop(server)
        cluster.remove()  # its home may be outside workdir (as root, when postgres cannot reach workdir)
        shutil.rmtree(workdir, ignore_errors=True)
