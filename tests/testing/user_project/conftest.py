"""Airflow for DAG tests, offline: a throwaway home and metadata database. The Feishu double's fixtures
(feishu_connection, feishu_double) come with the provider: nothing to write for them."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

DAGS = Path(__file__).parent / "dags"  # your DAGs folder
# Airflow reads its configuration when first imported: set it before any test module imports Airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-tests-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
sys.path.insert(0, str(DAGS))  # tests import DAG files the way Airflow's parser does

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def airflow_db():
    """dag.test() records its runs in Airflow's metadata database: create it once per session, with
    the DAGs and their assets written to it as the DAG processor would (Airflow 3.0 needs that)."""
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        subprocess.run([sys.executable, "-m", "airflow", *command], check=True, capture_output=True)
