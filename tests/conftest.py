"""Test setup shared by every test: an isolated AIRFLOW_HOME and Feishu connections to the bundled double."""

from __future__ import annotations

import importlib.metadata
import json
import os
import tempfile

# Airflow reads its configuration when first imported: isolate it before any test module imports it.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="feishu-provider-tests-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
# dag.test() syncs DAGs from the configured folder, and Airflow keeps that path once read: one folder per session.
_DAGS_FOLDER = os.path.join(_AIRFLOW_HOME, "dags")
os.makedirs(_DAGS_FOLDER)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = _DAGS_FOLDER
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# Airflow 2.11's `airflow db migrate` writes LocalExecutor into the new airflow.cfg, which refuses the tests'
# SQLite database; 2.11's dag.test() loads the default executor for every sensor task (ReadyToRescheduleDep).
if int(importlib.metadata.version("apache-airflow").split(".")[0]) < 3:
    os.environ.setdefault("AIRFLOW__CORE__EXECUTOR", "SequentialExecutor")

import pytest  # noqa: E402

# Fixtures that run DAGs (run_dag, examples) live in their own module. The double's fixtures
# (feishu_double, feishu_connection) come from the package's pytest plugin, as users get them.
pytest_plugins = ["tests.dag_runs"]


def connection_json(double, *, app_type: str = "self_built", **overrides) -> str:
    """Return an Airflow connection (JSON form) for the double's self-built or store app.

    The same as ``double.connection(...)``, which new tests call directly.
    """
    return double.connection(app_type, **overrides)


@pytest.fixture
def feishu_conn(feishu_connection, feishu_double):
    """The double behind the shipped ``feishu_connection`` fixture (connection ``feishu_default``)."""
    return feishu_double


@pytest.fixture
def make_hook(feishu_conn):
    """Build hooks on ``feishu_default`` with short retry waits, and close them after the test."""
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    hooks = []

    def make(**kwargs):
        kwargs.setdefault("backoff_base", 0.01)
        kwargs.setdefault("backoff_max", 0.05)
        kwargs.setdefault("timeout", 2.0)
        hook = FeishuWorkplaceHook(**kwargs)
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


@pytest.fixture(scope="session")
def airflow_db():
    """Create Airflow's metadata database (SQLite in the test AIRFLOW_HOME) once per session."""
    import subprocess
    import sys
    from pathlib import Path

    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True, timeout=300)
    return _AIRFLOW_HOME


@pytest.fixture
def dag_folder(airflow_db):
    """Airflow's DAGs folder, emptied after the test.

    ``load(source, dag_id)`` writes a DAG file there and parses the folder with a DagBag.
    """
    import shutil
    from pathlib import Path

    folder = Path(_DAGS_FOLDER)

    class Folder:
        path = folder

        @staticmethod
        def load(source: str | None, dag_id: str, file_name: str | None = None):
            """Write ``source`` (unless None) as a DAG file, parse the folder, and return the DAG ``dag_id``."""
            if source is not None:
                (folder / (file_name or f"{dag_id}.py")).write_text(source)
            bag = Folder.parse()
            assert bag.import_errors == {}, bag.import_errors
            return bag.get_dag(dag_id)

        @staticmethod
        def parse():
            """Parse the folder as Airflow's DAG processor does (the folder on sys.path)."""
            from tests.airflow_versions import parse_dag_folder

            return parse_dag_folder(folder)

        @staticmethod
        def add_example_dags():
            """Copy the project's example DAGs (dags/*.py) into the folder."""
            for example in Path(__file__).resolve().parent.parent.joinpath("dags").glob("*.py"):
                shutil.copy(example, folder / example.name)

    yield Folder
    for child in folder.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def expected_jsonl(double, dataset: str, day: str) -> bytes:
    """The file a fault-free run writes for one day: the double's items as JSON Lines."""
    items = double.expected_items(dataset, day, day)
    return "".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in items).encode()


def task_states(dag_run) -> dict[str, str]:
    """Return ``{task_id: state}`` for a finished ``dag.test()`` run."""
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


@pytest.fixture(scope="session")
def postgres_uri():
    """A throwaway PostgreSQL server on 127.0.0.1 for the session (see tests/postgres_server.py).

    Where the server cannot be had, the tests that need it fail in CI and are skipped elsewhere.
    """
    from contextlib import ExitStack

    from tests.postgres_server import PostgresUnavailable, running_postgres

    with ExitStack() as stack:
        try:
            uri = stack.enter_context(running_postgres())
        except PostgresUnavailable as error:
            unavailable = str(error)
        else:
            unavailable = None
        if unavailable and os.environ.get("CI") in ("true", "1"):
            pytest.fail(f"PostgreSQL is required in CI: {unavailable}")
        if unavailable:
            pytest.skip(f"PostgreSQL is not available here: {unavailable}")
        yield uri


@pytest.fixture(scope="session")
def figures():
    """Record named figures (counts, seconds) for docs/RELIABILITY.md; written where the report script asks.

    ``figures(section, name, value)``. Without ``FEISHU_RELIABILITY_FIGURES`` the figures are only kept in memory.
    """
    recorded: dict[str, dict[str, object]] = {}

    def record(section: str, name: str, value: object) -> None:
        recorded.setdefault(section, {})[name] = value

    yield record
    target = os.environ.get("FEISHU_RELIABILITY_FIGURES")
    if not target:
        return
    # Under pytest-xdist every worker ends its session here: each adds its figures to the file, in turn.
    import fcntl

    with open(target, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        earlier = handle.read()
        merged = json.loads(earlier) if earlier.strip() and os.environ.get("PYTEST_XDIST_WORKER") else {}
        for section, values in recorded.items():
            merged.setdefault(section, {}).update(values)
        handle.seek(0)
        handle.truncate()
        json.dump(merged, handle, indent=2, sort_keys=True, default=str)
