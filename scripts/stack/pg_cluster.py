"""The one PostgreSQL launcher of the project: a private cluster on 127.0.0.1, run from Debian's server binaries.

Used by ``scripts/stack/stack.py`` (``make stack``: the cluster lives in the stack's folder and outlives a
stop) and by ``tests/postgres_server.py`` (a throwaway cluster per test session, one per xdist worker).
Standard library only, so the stack's ``stop`` works with any Python 3.

Run as root, PostgreSQL's programs run as the Debian package's ``postgres`` user (through ``runuser``).
When that user cannot reach the cluster's directory (a checkout under a mode-0700 folder), the cluster
lives in a folder of its own under the ``postgres`` user's home instead (:attr:`Cluster.home`).

Safe on a shared host: every connection needs the password (``scram-sha-256``, on TCP and on the Unix
socket alike), and the socket's folder is the cluster's own, mode 0700, so other local users cannot even
reach the socket.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

SERVER_ROOT = Path("/usr/lib/postgresql")
# Debian keeps runuser in /usr/sbin, which a non-login root shell or a CI runner may not have on PATH.
SBIN_DIRS = ("/usr/sbin", "/sbin")
SERVER_TOOLS = ("initdb", "postgres", "psql")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries, or no way to run them (as root: no runuser or no postgres user)."""


def find_server_bin(root: Path = SERVER_ROOT) -> Path | None:
    """Return the ``bin`` directory of the newest installed PostgreSQL server, or None."""
    candidates = []
    for bin_dir in Path(root).glob("*/bin"):
        version = bin_dir.parent.name
        if re.fullmatch(r"\d+(\.\d+)?", version) and all(os.access(bin_dir / tool, os.X_OK) for tool in SERVER_TOOLS):
            candidates.append((tuple(int(part) for part in version.split(".")), bin_dir))
    return max(candidates)[1] if candidates else None


def find_runuser(path: str | None = None) -> str | None:
    """Return the absolute path of ``runuser``, also where the sbin folders are not on ``PATH``.

    :param path: the search path to start from (default: ``$PATH``); ``/usr/sbin`` and ``/sbin`` are
        always searched after it.
    """
    search = path if path is not None else os.environ.get("PATH", os.defpath)
    return shutil.which("runuser", path=os.pathsep.join([search, *SBIN_DIRS]))


def run_as_prefix() -> list[str]:
    """What to put before a PostgreSQL program's command line: nothing, or ``runuser -u postgres --`` as root
    (PostgreSQL refuses to run as root). Raises PostgresUnavailable when that cannot be done."""
    if os.geteuid() != 0:
        return []
    runuser = find_runuser()
    if runuser is None:
        raise PostgresUnavailable(
            "running as root, but `runuser` (util-linux) is not on PATH nor in /usr/sbin or /sbin: "
            "install Debian's util-linux package"
        )
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root, but there is no `postgres` system user to run the server as: "
            "run `bash scripts/install-postgres.sh` (installs Debian's postgresql package)"
        ) from None
    return [runuser, "-u", "postgres", "--"]


def let_server_user_through(folder: Path) -> None:
    """As root, let the server's user pass through ``folder`` to a cluster inside it, and nobody else.

    The folder goes to group ``postgres`` with mode 0710: that user may enter it, not list or read it.
    Whether the cluster can then stay inside also depends on the folders above (see :class:`Cluster`).
    """
    if os.geteuid() != 0:
        return
    try:
        shutil.chown(folder, group="postgres")
    except (LookupError, OSError):  # no postgres group: the cluster lives under that user's home instead
        return
    folder.chmod(0o710)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A cluster for ``directory``: in :attr:`home` (``directory`` itself, or a folder of the server's user
    when it cannot reach ``directory``), ``data/`` (initdb's) and its Unix socket.

    ``init(user, password)`` creates it (once); ``server_command(port)`` is the command line of its server
    in the foreground, which the caller starts (in a session of its own) and stops with SIGINT, PostgreSQL's
    fast shutdown; ``ready(port)`` says when it answers; ``create_databases(...)`` adds databases. Set
    ``user`` and ``password`` before using a cluster made by an earlier run.
    """

    def __init__(self, directory: Path, bin_dir: Path | None = None) -> None:
        self.directory = Path(directory).absolute()
        found = bin_dir or find_server_bin()
        if found is None:
            raise PostgresUnavailable(
                f"no PostgreSQL server binaries under {SERVER_ROOT}/*/bin: run `bash scripts/install-postgres.sh` "
                "(as root, installs Debian's postgresql package)"
            )
        self.bin_dir = found
        self.prefix = run_as_prefix()
        #: Where the cluster's data and socket are: mode 0700, owned by the server's user.
        reached = self._server_reaches(self.directory.parent)  # the directory itself is given to that user
        self.home = self.directory if reached else _home_of_server_user(self.directory)
        self.data = self.home / "data"
        self.user: str | None = None
        self.password: str | None = None

    @property
    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def _server_reaches(self, directory: Path) -> bool:
        """Whether the server's user can reach ``directory`` (or where it will be): always, unless run as root."""
        if not self.prefix:
            return True
        existing = next(folder for folder in (directory, *directory.parents) if folder.exists())
        return subprocess.run([*self.prefix, "test", "-x", str(existing)], capture_output=True).returncode == 0

    def _give_to_server_user(self, path: Path) -> None:
        if self.prefix:
            shutil.chown(path, "postgres", "postgres")

    def remove(self) -> None:
        """Delete the cluster (its data and socket folder); the server must be stopped."""
        shutil.rmtree(self.home if self.home != self.directory else self.data, ignore_errors=True)

    def init(self, user: str, password: str) -> None:
        """Create the cluster: superuser ``user`` with ``password``, required on TCP and on the socket."""
        self.user, self.password = user, password
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        self._give_to_server_user(self.home)
        pwfile = self.home / "initdb-pw"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        self._give_to_server_user(pwfile)
        command = [
            self.bin_dir / "initdb",
            "-D",
            self.data,
            "-U",
            user,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        try:
            self.run(command, "initdb")
        finally:
            pwfile.unlink(missing_ok=True)

    def server_command(self, port: int, *settings: str) -> list[str]:
        """The server in the foreground: loopback only, its socket in the cluster's directory, no fsync."""
        options = [
            "listen_addresses=127.0.0.1",
            f"unix_socket_directories={self.home}",
            "unix_socket_permissions=0700",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            *settings,
        ]
        command = [*self.prefix, str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(port)]
        for option in options:
            command += ["-c", option]
        return command

    def psql(self, port: int, sql: str, database: str = "postgres") -> subprocess.CompletedProcess:
        """Run ``sql`` through the server's own socket (a server that could not bind its TCP port has exited)."""
        command = [self.bin_dir / "psql", "-h", self.home, "-p", port, "-U", self.user, "-d", database, "-w"]
        return self.run([*command, "-v", "ON_ERROR_STOP=1", "-tAc", sql], None)

    def ready(self, port: int) -> bool:
        """Whether the server answers on its socket and on its TCP port."""
        if self.psql(port, "SELECT 1").returncode != 0:
            return False
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    def create_databases(self, port: int, *names: str) -> None:
        """Create the databases of ``names`` that do not exist yet."""
        listed = self.psql(port, "SELECT datname FROM pg_database")
        if listed.returncode != 0:
            raise RuntimeError(f"psql failed: {listed.stdout}{listed.stderr}")
        for name in sorted(set(names) - set(listed.stdout.split())):
            created = self.psql(port, f'CREATE DATABASE "{name}"')
            if created.returncode != 0:
                raise RuntimeError(f"CREATE DATABASE {name} failed: {created.stdout}{created.stderr}")

    def run(self, command: list, what: str | None) -> subprocess.CompletedProcess:
        """Run one of PostgreSQL's programs (as the server's user); with ``what``, raise when it fails."""
        # The password goes in the environment (read by psql only), never on a command line others can see.
        env = {**os.environ, "PGPASSWORD": self.password} if self.password else None
        result = subprocess.run(
            [*self.prefix, *(str(part) for part in command)],
            cwd=self.home,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if what is not None and result.returncode != 0:
            raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{(result.stdout + result.stderr).strip()}")
        return result


def _home_of_server_user(directory: Path) -> Path:
    """A cluster folder for ``directory`` under the ``postgres`` user's home, which that user can enter."""
    import pwd

    home = Path(pwd.getpwnam("postgres").pw_dir)
    tag = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    return home / "feishu-clusters" / f"{directory.name}-{tag}"
