"""A task killed mid-write, and many clients against one rate-limited double."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from tests.conftest import expected_jsonl
from tests.dag_runs import dag_source

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DAY = "2026-11-19"


def run_task_in_its_own_process(dag_id: str, logical_date: str = "2026-11-20") -> subprocess.Popen:
    """``airflow tasks test`` of the pull task, in a new process group so it can be killed whole."""
    return subprocess.Popen(
        [AIRFLOW, "tasks", "test", dag_id, "pull", logical_date],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not come true in time")
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_mid_write_leaves_the_previous_file_and_the_next_run_repairs_it(
    dag_folder, feishu_conn, tmp_path, figures
):
    target = tmp_path / "lake" / "part.jsonl"
    target.parent.mkdir()
    target.write_bytes(b'{"previous": "good output"}\n')
    operator_args = f'output_path="file://{target}", page_size=1, date="{DAY}"'
    dag_folder.load(
        dag_source(
            "crash",
            received_file=tmp_path / "r.json",
            operator="FeishuWorkplaceBlockAccessOperator",
            operator_args=operator_args,
        ),
        "crash",
    )
    feishu_conn.inject("slow", endpoint="block", skip=3, delay=60)  # the task hangs on the fourth page

    task = run_task_in_its_own_process("crash")
    try:
        wait_for(lambda: feishu_conn.count("block") >= 4 or task.poll() is not None)
        assert task.poll() is None, task.stdout.read().decode()
        temps = [p.name for p in target.parent.iterdir() if p.name.startswith(".part.jsonl.")]
        assert len(temps) == 1 and temps[0].endswith(".tmp"), temps  # it was writing, into a temp of its own
        os.killpg(task.pid, signal.SIGKILL)
        task.wait(timeout=30)
    finally:
        if task.poll() is None:
            os.killpg(task.pid, signal.SIGKILL)
    killed_with = task.returncode

    assert target.read_bytes() == b'{"previous": "good output"}\n'

    rerun = run_task_in_its_own_process("crash")
    output = rerun.communicate(timeout=120)[0].decode()
    assert rerun.returncode == 0, output
    assert target.read_bytes() == expected_jsonl(feishu_conn, "block", DAY)
    assert sorted(p.name for p in target.parent.iterdir()) == ["part.jsonl"]
    figures(
        "crash_safety",
        "sigkill mid-write",
        {"killed_with": killed_with, "previous file intact": True, "rerun correct": True},
    )


@pytest.mark.slow
def test_32_threads_each_with_a_hook_against_one_rate_limited_double(feishu_conn, figures):
    expected = feishu_conn.expected_items("block", "2026-11-01", "2026-11-10")  # 50 items: 5 pages of 10
    results: list[list[dict] | Exception] = [None] * 32

    def read(index: int) -> None:
        hook = FeishuWorkplaceHook()
        try:
            results[index] = list(hook.iter_workplace_block_access_data("2026-11-01", "2026-11-10", page_size=10))
        except Exception as error:  # reported below
            results[index] = error
        finally:
            hook.close()

    started = time.monotonic()
    threads = [threading.Thread(target=read, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started

    assert all(result == expected for result in results), [r for r in results if isinstance(r, Exception)][:3]
    statuses = [r.status for r in feishu_conn.requests if r.endpoint == "block"]
    figures(
        "concurrency",
        "32 threads",
        {"pages": 32 * 5, "requests": len(statuses), "429s": statuses.count(429), "seconds": round(elapsed, 1)},
    )
    # The hooks share one pacer per app and endpoint: 160 pages at 20/s take about 8 s.
    assert statuses.count(429) == 0


WORKER = """
import json, sys
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
items = list(FeishuWorkplaceHook().iter_workplace_block_access_data("2026-11-01", "2026-11-10", page_size=5))
print(json.dumps(items))
"""


@pytest.mark.slow
def test_8_processes_against_one_rate_limited_double(feishu_conn, figures):
    expected = feishu_conn.expected_items("block", "2026-11-01", "2026-11-10")  # 10 pages of 5 per process
    started = time.monotonic()
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    elapsed = time.monotonic() - started

    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err.decode()[-2000:]
        assert json.loads(out.decode().strip().splitlines()[-1]) == expected
    statuses = [r.status for r in feishu_conn.requests if r.endpoint == "block"]
    figures(
        "concurrency",
        "8 processes",
        {"pages": 8 * 10, "requests": len(statuses), "429s": statuses.count(429), "seconds": round(elapsed, 1)},
    )
