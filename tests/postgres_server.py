"""A throwaway PostgreSQL server for tests that need a real one.

``running_postgres()`` yields the URI of an empty database on 127.0.0.1: either the
server named by ``FEISHU_TEST_POSTGRES_URI``, or a private cluster it creates with the
installed server binaries (see ``scripts/install-postgres.sh``) and removes afterwards.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

URI_ENV = "FEISHU_TEST_POSTGRES_URI"
USER = "feishu"
DATABASE = "feishu_test"
_SERVER_ROOT = Path("/usr/lib/postgresql")
_START_ATTEMPTS = 3
# Debian keeps runuser in /usr/sbin, which a non-login root shell or a CI runner may not have on PATH.
_SBIN_DIRS = ("/usr/sbin", "/sbin")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries were found, and no server URI was given."""


def find_server_bin() -> Path | None:
    """Return the ``bin`` directory of the newest installed PostgreSQL server, or None."""
    candidates = []
    for bin_dir in _SERVER_ROOT.glob("*/bin"):
        version = bin_dir.parent.name
        if re.fullmatch(r"\d+(\.\d+)?", version) and all(
            os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")
        ):
            candidates.append((tuple(int(part) for part in version.split(".")), bin_dir))
    return max(candidates)[1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _traversable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _make_workdir(as_root: bool) -> Path:
    """Create the cluster's directory, owned by whoever will run the server."""
    parent = Path(tempfile.gettempdir())
    if as_root and not _traversable_by_others(parent):
        parent = Path("/tmp")  # the server's user must be able to reach its data directory
    workdir = Path(tempfile.mkdtemp(prefix="feishu-pg-", dir=parent))
    if as_root:
        shutil.chown(workdir, "postgres", "postgres")
    return workdir


def find_runuser(path: str | None = None) -> str | None:
    """Return the absolute path of ``runuser``, also where the sbin folders are not on ``PATH``.

    :param path: the search path to start from (default: ``$PATH``); ``/usr/sbin`` and ``/sbin`` are
        always searched after it.
    """
    search = path if path is not None else os.environ.get("PATH", os.defpath)
    return shutil.which("runuser", path=os.pathsep.join([search, *_SBIN_DIRS]))


def _run(cmd: list, *, as_root: bool, cwd: Path) -> subprocess.CompletedProcess:
    # PostgreSQL refuses to run as root: run its tools as the Debian package's system user.
    prefix = [find_runuser(), "-u", "postgres", "--"] if as_root else []
    return subprocess.run(prefix + [str(part) for part in cmd], cwd=cwd, capture_output=True, text=True, timeout=120)


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

    as_root = os.geteuid() == 0
    if as_root:
        if find_runuser() is None:
            raise PostgresUnavailable(
                "running as root, but `runuser` (util-linux) is not on PATH nor in /usr/sbin or /sbin: "
                "install Debian's util-linux package, or set " + URI_ENV + " to a server's URI"
            )
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root, but there is no `postgres` system user to run the server as: "
                "run `bash scripts/install-postgres.sh` (installs Debian's postgresql package)"
            ) from None
    workdir = _make_workdir(as_root)
    data, log = workdir / "data", workdir / "server.log"
    started = False
    try:
        password = secrets.token_hex(16)
        pwfile = workdir / "pwfile"
        pwfile.write_text(password + "\n")
        if as_root:
            shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        initdb = [
            bin_dir / "initdb",
            "-D",
            data,
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        _check(_run(initdb, as_root=as_root, cwd=workdir), "initdb")
        pwfile.unlink()

        # Another process may take the port between choosing and binding it: try a few.
        for attempt in range(_START_ATTEMPTS):
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='{workdir}' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            start = [bin_dir / "pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", log, "-o", options]
            result = _run(start, as_root=as_root, cwd=workdir)
            if result.returncode == 0:
                started = True
                break
            if attempt == _START_ATTEMPTS - 1:
                _check(result, "pg_ctl start", log)

        createdb = [bin_dir / "createdb", "-h", workdir, "-p", port, "-U", USER, DATABASE]
        _check(_run(createdb, as_root=as_root, cwd=workdir), "createdb", log)
        yield f"postgresql://{USER}:{password}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if started:
            _run([bin_dir / "pg_ctl", "stop", "-w", "-m", "immediate", "-D", data], as_root=as_root, cwd="/")
        shutil.rmtree(workdir, ignore_errors=True)


def _check(result: subprocess.CompletedProcess, what: str, log: Path | None = None) -> None:
    """Raise with the tool's output (and the server log's tail) when it failed."""
    if result.returncode == 0:
        return
    details = (result.stdout + result.stderr).strip()
    if log is not None and log.exists():
        details += "\n--- server log ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{details}")
