"""Every fault the double can inject, at every position, for the operator writing to object storage.

The hook alone is covered the same way in tests/hooks/test_feishu_workplace.py; here the whole task runs
through real Airflow (``dag.test()``) and the file it leaves must be byte-identical to a fault-free run.
"""

from __future__ import annotations

import time

import pendulum
import pytest

from tests.conftest import expected_jsonl
from tests.fault_cases import CLIENT_TIMEOUT, TRANSIENT_FAULTS

DAY = "2026-11-19"
FAULTS = [*TRANSIENT_FAULTS, pytest.param("token_expired", {}, id="token-expiry")]
# Five blocks a day, two a page: the day takes three pages.
POSITIONS = [
    pytest.param("token", 0, id="token-call"),
    pytest.param("block", 0, id="first-page"),
    pytest.param("block", 1, id="middle-page"),
    pytest.param("block", 2, id="last-page"),
]
TIMES = 2  # each fault hits twice in a row


def test_a_fault_free_run_writes_exactly_the_reference_bytes(run_dag, feishu_conn, tmp_path):
    target = tmp_path / "part.jsonl"

    run = run_dag(
        "matrix_clean",
        pendulum.datetime(2026, 11, 20, tz="UTC"),
        operator="FeishuWorkplaceBlockAccessOperator",
        operator_args=f'output_path="file://{target}", page_size=2',
    )

    assert run.states["pull"] == "success"
    assert target.read_bytes() == expected_jsonl(feishu_conn, "block", DAY)
    assert feishu_conn.count("block") == 3


# A token call carries no token that could expire.
CASES = [
    pytest.param(*fault.values, *position.values, id=f"{fault.id}-at-{position.id}")
    for fault in FAULTS
    for position in POSITIONS
    if not (fault.values[0] == "token_expired" and position.values[0] == "token")
]


@pytest.mark.parametrize("kind, params, endpoint, skip", CASES)
def test_operator_output_is_byte_identical_despite_the_fault(
    run_dag, feishu_conn, tmp_path, figures, kind, params, endpoint, skip
):
    target = tmp_path / "part.jsonl"
    feishu_conn.inject(kind, endpoint=endpoint, skip=skip, times=1 if kind == "token_expired" else TIMES, **params)

    started = time.monotonic()
    run = run_dag(
        "matrix",
        pendulum.datetime(2026, 11, 20, tz="UTC"),
        operator="FeishuWorkplaceBlockAccessOperator",
        operator_args=f'output_path="file://{target}", page_size=2',
        hook_params=f'{{"backoff_base": 0.01, "timeout": {CLIENT_TIMEOUT}}}',
    )
    elapsed = time.monotonic() - started

    assert run.states["pull"] == "success", run.log
    assert target.read_bytes() == expected_jsonl(feishu_conn, "block", DAY)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith("jsonl") or p.name.endswith(".tmp")) == [
        "part.jsonl"
    ]
    requests = feishu_conn.count("any")
    assert requests <= 1 + 3 + TIMES + 1  # token + pages + the faulted attempts + a token renewal
    assert elapsed < 30
    figures("fault_matrix", f"{kind} @ {endpoint}+{skip}", {"requests": requests, "seconds": round(elapsed, 2)})
