"""The throwaway PostgreSQL server of tests/postgres_server.py works, and goes away afterwards."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg2
import pytest

from tests import postgres_server
from tests.postgres_server import PostgresUnavailable, running_postgres


def test_database_is_usable(postgres_uri):
    # The session's database serves every test of one xdist worker, in whatever order they come: this test
    # works in a schema of its own, empty when made, and drops it.
    with psycopg2.connect(postgres_uri) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA usable_check")
        cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'usable_check'")
        assert cur.fetchone() == (0,)
        cur.execute("CREATE TABLE usable_check.notes (id serial PRIMARY KEY, body text NOT NULL)")
        cur.execute("INSERT INTO usable_check.notes (body) VALUES (%s) RETURNING id", ("飞书",))
        (note_id,) = cur.fetchone()
        cur.execute("SELECT body FROM usable_check.notes WHERE id = %s", (note_id,))
        assert cur.fetchone() == ("飞书",)
        cur.execute("DROP SCHEMA usable_check CASCADE")
    conn.close()


def test_listens_on_loopback_with_password(postgres_uri):
    assert re.fullmatch(r"postgresql://[^:]+:[^@]+@127\.0\.0\.1:\d+/\w+", postgres_uri)
    conn = psycopg2.connect(postgres_uri)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT host(inet_server_addr())")
            assert cur.fetchone() == ("127.0.0.1",)
            if not os.environ.get(postgres_server.URI_ENV):
                cur.execute("SHOW listen_addresses")
                assert cur.fetchone() == ("127.0.0.1",)
    finally:
        conn.close()
    if not os.environ.get(postgres_server.URI_ENV):
        wrong = re.sub(r":[^:@]+@", ":not-the-password@", postgres_uri)
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(wrong)


def test_server_stops_and_is_removed_on_exit(postgres_uri, monkeypatch):
    monkeypatch.delenv(postgres_server.URI_ENV, raising=False)
    with pytest.raises(ZeroDivisionError), running_postgres() as uri:
        conn = psycopg2.connect(uri)
        with conn.cursor() as cur:
            cur.execute("SHOW data_directory")
            (data_directory,) = cur.fetchone()
        conn.close()
        assert Path(data_directory).is_dir()
        raise ZeroDivisionError  # any error inside the block
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(uri, connect_timeout=2)
    assert not Path(data_directory).parent.exists()


def test_given_uri_is_used_as_is(monkeypatch):
    monkeypatch.setenv(postgres_server.URI_ENV, "postgresql://u:p@127.0.0.1:5/db")
    with running_postgres() as uri:
        assert uri == "postgresql://u:p@127.0.0.1:5/db"


def test_missing_binaries_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv(postgres_server.URI_ENV, raising=False)
    monkeypatch.setattr(postgres_server, "_SERVER_ROOT", tmp_path)
    with pytest.raises(PostgresUnavailable, match=r"bash scripts/install-postgres\.sh"), running_postgres():
        pass


def test_runs_where_sbin_is_not_on_path(postgres_uri, monkeypatch):
    # A non-login root shell or a CI runner may lack /usr/sbin on PATH, where Debian keeps runuser.
    monkeypatch.delenv(postgres_server.URI_ENV, raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if "sbin" not in p))
    if os.geteuid() == 0:
        assert Path(postgres_server.find_runuser()).parent.name == "sbin"
    with running_postgres() as uri:
        conn = psycopg2.connect(uri)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        conn.close()


def test_runuser_is_found_in_sbin_only_when_there(tmp_path):
    in_sbin = next((p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.access(p, os.X_OK)), None)
    assert postgres_server.find_runuser(path=str(tmp_path)) == in_sbin
    (tmp_path / "runuser").write_text("#!/bin/sh\n")
    (tmp_path / "runuser").chmod(0o755)
    assert postgres_server.find_runuser(path=str(tmp_path)) == str(tmp_path / "runuser")
