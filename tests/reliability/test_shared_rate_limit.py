"""The app-wide rate limit across processes: 4 task processes of one app pull at once against the double's
real limit (20 requests/s per app and endpoint) and, with a shared rate limit, get no 429 at all.

Without one, each process paces only itself, and the same pulls meet the limit: the control case shows
the test can tell the difference.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.testing import served_double
from tests.loopback import free_port
from tests.redis_server import running_redis
from tests.starting_gate import run_together

REPO_ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
SEARCHES = 25

PULLER = """
import sys, time
from pathlib import Path
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

shared, barrier, number = sys.argv[1] or None, Path(sys.argv[2]), int(sys.argv[3])
hook = FeishuWorkplaceHook("feishu_default", shared_rate_limit=shared, backoff_base=0.2)
hook.settings
(barrier / f"ready-{{number}}").touch()
while not (barrier / "go").exists():
    time.sleep(0.005)
items = 0
for index in range({searches}):
    day = f"2026-{{1 + index // 28:02d}}-{{1 + index % 28:02d}}"
    items += len(list(hook.iter_access_data("block", day, day)))
hook.close()
print(items)
"""


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A private redis-server on 127.0.0.1 for this module."""
    with running_redis(tmp_path_factory.mktemp("redis")) as port:
        yield f"redis://127.0.0.1:{port}/0"


def pull_at_once(served, shared: str, tmp_path: Path) -> list[str]:
    """Run the pullers at once; return their outputs (items pulled each)."""
    script = tmp_path / "puller.py"
    script.write_text(PULLER.format(searches=SEARCHES))
    env = {
        **os.environ,
        "AIRFLOW_CONN_FEISHU_DEFAULT": served.connection(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    gate = tmp_path / "barrier"
    commands = [[sys.executable, str(script), shared, str(gate), str(number)] for number in range(PROCESSES)]
    results = run_together(commands, gate, env, before_go=served.clear_requests)
    assert [result.stderr[-2000:] for result in results if result.returncode != 0] == []
    return [result.stdout.strip().splitlines()[-1] for result in results]


@pytest.fixture(scope="module")
def served():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with served_double(env=env) as double:  # the platform's real limit: 20 requests/s per app and endpoint
        yield double


def rate_limited(stats: dict) -> int:
    return sum(statuses.get("429", 0) for statuses in stats["by_endpoint"].values())


@pytest.mark.parametrize("backend", ["redis", "file"])
def test_four_processes_sharing_the_apps_limit_get_no_429(served, backend, request, tmp_path, figures):
    shared = request.getfixturevalue("redis_url") if backend == "redis" else f"file://{tmp_path / 'pace'}"
    started = time.monotonic()

    outputs = pull_at_once(served, shared, tmp_path)

    elapsed = time.monotonic() - started
    stats = served.stats()
    assert outputs == [str(SEARCHES * 5)] * PROCESSES
    assert stats["by_endpoint"]["block"] == {"200": PROCESSES * SEARCHES}
    assert rate_limited(stats) == 0
    # 100 searches at 20/s take 5 s at least: the pace is the app's, not each process's.
    assert elapsed >= (PROCESSES * SEARCHES - 20) / 20
    figures("shared rate limit", f"{backend}: seconds for {PROCESSES}x{SEARCHES} searches", round(elapsed, 2))


def test_without_a_shared_limit_the_same_pulls_meet_the_apps_limit(served, tmp_path):
    outputs = pull_at_once(served, "", tmp_path)

    assert outputs == [str(SEARCHES * 5)] * PROCESSES  # the hooks wait the 429s out and retry
    assert rate_limited(served.stats()) > 0


def test_a_shared_rate_limit_that_is_no_backend_is_refused_without_its_password():
    from airflow_provider_feishu_workplace.exceptions import FeishuConfigError
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    with pytest.raises(FeishuConfigError, match="redis://host:6379/0") as raised:
        FeishuWorkplaceHook(shared_rate_limit="http://user:hunter2@limits.example.com/")

    assert "hunter2" not in str(raised.value) and "***" in str(raised.value)


def test_the_connections_extra_names_the_shared_rate_limit(feishu_double, tmp_path):
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    folder = tmp_path / "pace"
    with feishu_double.connection_env("feishu_paced", extra={"shared_rate_limit": f"file://{folder}"}):
        hook = FeishuWorkplaceHook("feishu_paced")
        items = list(hook.iter_access_data("block", "2026-10-01", "2026-10-01"))
        hook.close()

    assert len(items) == 5
    assert len(list(folder.glob("feishu-pace-*"))) == 2  # the token path and the block path


def test_an_unreachable_shared_rate_limit_slows_pulls_down_instead_of_failing_them(feishu_double, caplog):
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    closed = f"redis://127.0.0.1:{free_port()}/0"
    with feishu_double.connection_env("feishu_paced", extra={"shared_rate_limit_password": "secret-pw"}):
        hook = FeishuWorkplaceHook("feishu_paced", shared_rate_limit=closed)
        items = list(hook.iter_access_data("block", "2026-10-01", "2026-10-01"))
        hook.close()

    assert len(items) == 5
    warnings = [r.getMessage() for r in caplog.records if "shared rate limit" in r.getMessage()]
    assert warnings and "pacing this process alone" in warnings[0]
    assert "secret-pw" not in caplog.text


def test_a_schedule_left_far_ahead_by_a_clock_step_back_starts_again_from_now(feishu_double, tmp_path):
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    folder = tmp_path / "pace"
    with feishu_double.connection_env("feishu_paced"):
        hook = FeishuWorkplaceHook("feishu_paced", shared_rate_limit=f"file://{folder}")
        list(hook.iter_access_data("block", "2026-10-01", "2026-10-01"))
        for schedule in folder.glob("feishu-pace-*"):
            schedule.write_text(repr(time.time() + 3600))  # as if written before the clock went back an hour
        started = time.monotonic()
        items = list(hook.iter_access_data("block", "2026-10-02", "2026-10-02"))
        hook.close()

    assert len(items) == 5
    assert time.monotonic() - started < 5
