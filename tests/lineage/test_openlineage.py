"""OpenLineage events of real DAG runs, with the OpenLineage provider and its file transport, and without it.

Each run happens in a fresh process: the OpenLineage provider reads its configuration once per process,
and the "without" runs must not have imported it at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.testing import FeishuDouble
from tests.site_without import site_packages, site_without

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-19"
FIRST_DAY = "2026-11-18"
ALL_SUCCEEDED = dict.fromkeys(["workplace", "custom_workplace", "block", "block_days", "published"], "success")
DAG_ID = "lineage_extract"
# Runs one DAG of the test folder with dag.test(); writes the task states and the OpenLineage modules loaded to argv[5].
# Started with ``python -S`` and a site directory (argv[1]): the environment's own, or a copy of it without
# the OpenLineage provider and client.
RUNNER = r"""
import json, site, sys

site.addsitedir(sys.argv[1])
from pathlib import Path
import pendulum
from tests.airflow_versions import parse_dag_folder, run_dag_test

dag = parse_dag_folder(Path(sys.argv[2])).get_dag(sys.argv[3])
run = run_dag_test(dag, logical_date=pendulum.parse(sys.argv[4]))
states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
loaded = sorted(
    m for m in sys.modules if m == "openlineage" or m.startswith(("openlineage.", "airflow.providers.openlineage"))
)
# To a file: on Airflow 2 the listener's emitting process may still be printing to stdout.
Path(sys.argv[5]).write_text(json.dumps({"states": states, "openlineage_modules": loaded}))
"""


@pytest.fixture(scope="session")
def without_openlineage(tmp_path_factory) -> Path:
    """This environment's site-packages as symlinks, minus the OpenLineage provider and client."""
    return site_without(
        tmp_path_factory.mktemp("site-without-openlineage"),
        ("openlineage", "apache_airflow_providers_openlineage"),
        airflow_providers=("openlineage",),
    )


def extract_dag(lake: Path) -> str:
    """One DAG: workplace to JSON Lines, custom workplace to Parquet, block into XCom, two days of blocks to
    a Parquet file each, and the sensor."""
    return textwrap.dedent(
        f"""
        import pendulum
        from airflow.providers.common.compat.sdk import DAG
        from airflow_provider_feishu_workplace.operators.feishu_workplace import (
            FeishuCustomWorkplaceAccessOperator,
            FeishuWorkplaceAccessOperator,
            FeishuWorkplaceBlockAccessOperator,
        )
        from airflow_provider_feishu_workplace.sensors.feishu_workplace import FeishuWorkplaceDataSensor

        with DAG({DAG_ID!r}, schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
            FeishuWorkplaceAccessOperator(
                task_id="workplace", date={DAY!r}, output_path="file://{lake}/workplace/part.jsonl"
            )
            FeishuCustomWorkplaceAccessOperator(
                task_id="custom_workplace", date={DAY!r}, output_path="file://{lake}/custom_workplace/part.parquet"
            )
            FeishuWorkplaceBlockAccessOperator(task_id="block", date={DAY!r})
            FeishuWorkplaceBlockAccessOperator(
                task_id="block_days",
                from_date={FIRST_DAY!r},
                to_date={DAY!r},
                output_path="file://{lake}/block/{{date}}.parquet",
            )
            FeishuWorkplaceDataSensor(
                task_id="published", date={DAY!r}, dataset="block", deferrable=False, poke_interval=1, timeout=60
            )
        """
    )


def run_in_fresh_process(dag_folder: Path, work: Path, site_dir: Path | None = None) -> tuple[dict, list[dict]]:
    """Run the DAG in a new process (with ``site_dir`` as its site-packages); return its report and events."""
    work.mkdir(parents=True, exist_ok=True)
    # One file per event (append off): on Airflow 2 events are emitted from several processes at once, and
    # appends of events longer than a write buffer to one file could interleave.
    events_dir = work / "openlineage"
    shutil.rmtree(events_dir, ignore_errors=True)
    events_dir.mkdir()
    report_file = work / "report.json"
    report_file.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        # Configured in both cases: without the provider nothing may read it.
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_dir / "event"), "append": False}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "feishu_tests",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            RUNNER,
            str(site_dir or site_packages()),
            str(dag_folder),
            DAG_ID,
            f"{DAY}T00:00:00+00:00",
            str(report_file),
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0 and report_file.exists(), result.stdout[-4000:] + result.stderr[-4000:]
    events = [json.loads(path.read_text()) for path in sorted(events_dir.iterdir())]
    outcome = json.loads(report_file.read_text())
    outcome["log"] = (result.stdout + result.stderr)[-6000:]  # for assertion messages
    return outcome, events


SCHEMA_FIELDS = {
    "workplace": ["date", "all_workplace", "default_workplace"],
    "custom_workplace": ["date", "custom_workplace_id", "access_data", "custom_workplace_name"],
    "block": ["date", "block_id", "access_data"],
}


def task_events(events: list[dict], task_id: str) -> dict[str, dict]:
    """The task's events by type (START, COMPLETE, ...)."""
    return {event["eventType"]: event for event in events if event["job"]["name"] == f"{DAG_ID}.{task_id}"}


@dataclass
class LineageRun:
    """One run of the DAG with the OpenLineage provider: its double, lake, report and events."""

    double: FeishuDouble
    folder: Path
    work: Path
    lake: Path
    report: dict
    events: list[dict]

    @property
    def namespace(self) -> str:
        return f"feishu://{self.double.url.split('://', 1)[1]}/{self.double.app_id}"


@pytest.fixture(scope="module")
def lineage_run(airflow_db, tmp_path_factory):
    """Run the DAG once for the module's tests (each run is a fresh process: seconds of CPU)."""
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    work = tmp_path_factory.mktemp("lineage")
    lake = work / "lake"
    dag_file = folder / f"{DAG_ID}.py"
    with FeishuDouble() as double, double.connection_env("feishu_default"):
        dag_file.write_text(extract_dag(lake))
        try:
            report, events = run_in_fresh_process(folder, work / "with")
            yield LineageRun(double, folder, work, lake, report, events)
        finally:
            dag_file.unlink()


def test_each_pull_reports_the_feishu_data_set_in_and_the_written_file_out_with_its_item_count(lineage_run):
    run, double = lineage_run, lineage_run.double

    assert run.report["states"] == ALL_SUCCEEDED, run.report["log"]
    written = {
        "workplace": run.lake / "workplace/part.jsonl",
        "custom_workplace": run.lake / "custom_workplace/part.parquet",
        "block": None,  # XCom: no file, so no output dataset
    }
    for dataset, path in written.items():
        by_type = task_events(run.events, dataset)
        assert set(by_type) == {"START", "COMPLETE"}, dataset
        for event in by_type.values():
            [source] = event["inputs"]
            assert (source["namespace"], source["name"]) == (run.namespace, dataset)
            assert [field["name"] for field in source["facets"]["schema"]["fields"]] == SCHEMA_FIELDS[dataset]
        items = len(double.expected_items(dataset, DAY, DAY))
        outputs = by_type["COMPLETE"]["outputs"]
        if path is None:
            assert outputs == []
            continue
        [output] = outputs
        assert (output["namespace"], output["name"]) == ("file", str(path))
        assert output["outputFacets"]["outputStatistics"]["rowCount"] == items > 0
        assert output["outputFacets"]["outputStatistics"]["size"] == path.stat().st_size
        assert [field["name"] for field in output["facets"]["schema"]["fields"]] == SCHEMA_FIELDS[dataset]
        assert path.exists()
        # The file as planned before the pull, without a count yet.
        [planned] = by_type["START"]["outputs"]
        assert (planned["namespace"], planned["name"]) == ("file", str(path))
        assert "outputStatistics" not in planned.get("outputFacets", {})


def test_no_secret_reaches_the_lineage_events(lineage_run):
    text = json.dumps(lineage_run.events)

    assert lineage_run.double.app_id in text
    for secret in [lineage_run.double.app_secret, *lineage_run.double.issued_tokens]:
        assert secret not in text


def test_a_pull_of_one_file_per_day_reports_each_file_with_its_days_items(lineage_run):
    run = lineage_run

    assert run.report["states"]["block_days"] == "success", run.report["log"]
    by_type = task_events(run.events, "block_days")
    assert by_type["START"]["outputs"] == []  # the days are known once the run resolves them
    outputs = {output["name"]: output for output in by_type["COMPLETE"]["outputs"]}
    assert sorted(outputs) == [str(run.lake / f"block/{day}.parquet") for day in (FIRST_DAY, DAY)]
    for day in (FIRST_DAY, DAY):
        output = outputs[str(run.lake / f"block/{day}.parquet")]
        items = len(run.double.expected_items("block", day, day))
        assert output["namespace"] == "file"
        assert output["outputFacets"]["outputStatistics"]["rowCount"] == items > 0


def test_the_sensor_reports_the_data_set_it_waits_on(lineage_run):
    run = lineage_run

    assert run.report["states"]["published"] == "success", run.report["log"]
    by_type = task_events(run.events, "published")
    assert set(by_type) == {"START", "COMPLETE"}
    for event in by_type.values():
        assert [(source["namespace"], source["name"]) for source in event["inputs"]] == [(run.namespace, "block")]
        assert event["outputs"] == []


def test_schema_facet_types_counts_as_int64_structs_and_names_as_a_list_of_structs():
    from openlineage.client.serde import Serde

    from airflow_provider_feishu_workplace.outputs.lineage import schema_facet

    fields = {field["name"]: field for field in json.loads(Serde.to_json(schema_facet("custom_workplace")))["fields"]}

    assert fields["date"]["type"] == "date"
    assert fields["custom_workplace_id"]["type"] == "string"
    assert fields["access_data"]["type"] == "struct"
    assert [(f["name"], f["type"]) for f in fields["access_data"]["fields"]] == [("pv", "int64"), ("uv", "int64")]
    assert fields["custom_workplace_name"]["type"] == "array"
    [element] = fields["custom_workplace_name"]["fields"]
    assert [(f["name"], f["type"]) for f in element["fields"]] == [("language", "string"), ("name", "string")]


@pytest.mark.parametrize(
    ("host", "extra", "namespace"),
    [
        ("https://open.feishu.cn", {}, "feishu://open.feishu.cn/cli_a"),
        ("https://open.larksuite.com", {}, "lark://open.larksuite.com/cli_a"),
        ("https://feishu.example.com:8443", {}, "feishu://feishu.example.com:8443/cli_a"),
        (
            "https://open.feishu.cn",
            {"app_type": "store", "app_ticket_secret": "ticket-secret", "tenant_key": "tenant1"},
            "feishu://open.feishu.cn/cli_a/tenant1",
        ),
    ],
    ids=["feishu", "lark", "private deployment", "store app names the tenant"],
)
def test_input_namespace_names_the_platform_origin_and_app(monkeypatch, host, extra, namespace):
    from airflow_provider_feishu_workplace.outputs.lineage import feishu_namespace

    connection = {"conn_type": "feishu", "host": host, "login": "cli_a", "password": "app-secret", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_LINEAGE", json.dumps(connection))

    assert feishu_namespace("feishu_lineage") == namespace


def test_without_the_openlineage_provider_the_operators_import_and_run_unchanged(lineage_run, without_openlineage):
    run = lineage_run
    names = ("workplace/part.jsonl", "custom_workplace/part.parquet", f"block/{DAY}.parquet")
    files = {name: (run.lake / name).read_bytes() for name in names}
    for name in files:
        (run.lake / name).unlink()

    without, events = run_in_fresh_process(run.folder, run.work / "without", without_openlineage)

    assert without["states"] == run.report["states"] == ALL_SUCCEEDED, without["log"]
    assert without["openlineage_modules"] == []
    assert events == []
    assert {name: (run.lake / name).read_bytes() for name in files} == files


def test_importing_the_operators_loads_neither_openlineage_nor_pyarrow():
    # Airflow's own provider discovery imports each provider's package and get_provider_info: not ours to count.
    code = (
        "import sys; import airflow_provider_feishu_workplace.operators.feishu_workplace; "
        "print(sorted(m for m in sys.modules if not m.endswith('.get_provider_info') and ("
        "m.split('.')[0] in ('openlineage', 'pyarrow') or m.startswith('airflow.providers.openlineage.') "
        "or m.endswith(('.outputs.lineage', '.outputs.parquet')))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
