"""Many writers of one output path at once, some failing, some killed with SIGKILL at random points.

Each round starts N writer processes on one path (forked from a server process that has imported Airflow
once, so a round costs milliseconds, not seconds of imports). Each writer streams its own distinct lines
through ``open_output``, the operators' writer; some raise half-way (a failed pull), and the test
kills a random subset at random moments. After the round the path must hold one complete file of exactly
one writer that finished, or the previous good file: never a mix, never NUL bytes, never no file. Every
writer that was neither killed nor made to fail must have succeeded.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from airflow_provider_feishu_workplace.outputs.files import STALE_AFTER_SECONDS, remove_stale_temps, temp_prefix
from tests.s3_fixtures import BUCKET, FAKE_AWS_ENV, aws_connection, keys, s3_bucket, s3_server  # noqa: F401

LINES = 1500  # about 150 KB a writer
FORK_SERVER = r"""
import json, os, sys, time
from airflow.providers.common.compat.sdk import ObjectStoragePath
from airflow_provider_feishu_workplace.outputs.files import open_output

LINES = int(sys.argv[1])

def write_jsonl_atomically(target, items):
    with open_output(target, "jsonl") as output:
        for item in items:
            output.write(item)
        return output.commit()

def lines(writer, fail, pause):
    for number in range(LINES):
        if fail and number == LINES // 2:
            raise RuntimeError("the pull failed half-way")
        if number % 50 == 0:
            time.sleep(pause)  # let the writers interleave
        yield {"writer": writer, "line": number, "pad": "x" * 80}

for command in sys.stdin:
    command = json.loads(command)
    children = {}
    for writer in command["writers"]:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                target = ObjectStoragePath(command["target"])
                write_jsonl_atomically(target, lines(writer["id"], writer["fail"], writer.get("pause", 0.003)))
            except BaseException:
                code = 3
            os._exit(code)
        children[pid] = writer["id"]
    print("@@" + json.dumps({"pids": {str(pid): writer for pid, writer in children.items()}}), flush=True)
    results = {}
    for _ in children:
        pid, status = os.wait()
        results[children[pid]] = os.waitstatus_to_exitcode(status)
    print("@@" + json.dumps({"results": results}), flush=True)
"""


def writer_bytes(writer: str) -> bytes:
    """The whole file a writer that finishes writes."""
    return "".join(
        json.dumps({"writer": writer, "line": n, "pad": "x" * 80}, separators=(",", ":")) + "\n" for n in range(LINES)
    ).encode()


PREVIOUS = b'{"writer":"previous","line":0}\n'


class ForkServer:
    """A process that has imported Airflow once and forks the writers of each round."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER, str(LINES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )

    def message(self) -> dict:
        """The next message of the protocol (Airflow may log to stdout in between)."""
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the fork server ended")
            if line.startswith("@@"):
                return json.loads(line[2:])

    def round(self, target: str, writers: list[dict], kill_probability: float, rng: random.Random, conn_id=None):
        """Run one round; return ``{writer: exit code}`` (-9 for the killed) and the writers killed."""
        self.process.stdin.write(json.dumps({"target": target, "writers": writers, "conn_id": conn_id}) + "\n")
        self.process.stdin.flush()
        pids = self.message()["pids"]
        kills = sorted(
            (rng.uniform(0.0, 0.15), int(pid), writer)
            for pid, writer in pids.items()
            if rng.random() < kill_probability
        )
        started = time.monotonic()
        for at, pid, _ in kills:
            time.sleep(max(0.0, at - (time.monotonic() - started)))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it had finished already
        results = self.message()["results"]
        return results, {writer for _, _, writer in kills}

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def fork_server():
    servers = []

    def start(env=None) -> ForkServer:
        servers.append(ForkServer(env))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def check_round(content: bytes | None, results: dict[str, int], writers: list[dict]) -> str:
    """Assert the round's outcome; return whose file the path holds."""
    failing = {writer["id"] for writer in writers if writer["fail"]}
    for writer, code in results.items():
        if code == -signal.SIGKILL:
            continue
        assert code == (3 if writer in failing else 0), f"writer {writer} ended with {code}: {results}"
    assert content is not None, "no file is left at the path"
    assert b"\x00" not in content
    if content == PREVIOUS:
        return "previous"
    owners = {json.loads(line)["writer"] for line in content.splitlines()}  # every line is valid JSON
    assert len(owners) == 1, f"the file mixes writers {owners}"
    (owner,) = owners
    assert content == writer_bytes(owner), f"writer {owner}'s file is incomplete"
    # A writer killed after its move but before it exited did finish its file; one that failed never did.
    assert owner not in failing, f"the file is from writer {owner}, which failed half-way"
    return owner


def round_writers(round_number: int, count: int, rng: random.Random) -> list[dict]:
    return [{"id": f"r{round_number}w{i}", "fail": rng.random() < 0.25} for i in range(count)]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_concurrent_writers_of_one_local_path_leave_one_whole_file(fork_server, tmp_path, seed, figures):
    rng = random.Random(seed)
    target = tmp_path / "lake" / "part.jsonl"
    target.parent.mkdir()
    server = fork_server()
    tally = {"rounds": 0, "writers": 0, "killed": 0, "failed on purpose": 0, "kept previous": 0, "from a writer": 0}
    for round_number in range(6):
        target.write_bytes(PREVIOUS)
        writers = round_writers(round_number, 6, rng)
        results, killed = server.round(f"file://{target}", writers, 0.4, rng)

        owner = check_round(target.read_bytes() if target.exists() else None, results, writers)
        tally["rounds"] += 1
        tally["writers"] += len(writers)
        tally["killed"] += sum(code == -signal.SIGKILL for code in results.values())
        tally["failed on purpose"] += sum(w["fail"] and results[w["id"]] == 3 for w in writers)
        tally["kept previous" if owner == "previous" else "from a writer"] += 1
        # Temps left behind can only be those of killed writers.
        leftovers = [p.name for p in target.parent.iterdir() if p.name != "part.jsonl"]
        assert len(leftovers) <= len(killed), leftovers
        assert all(name.startswith(".part.jsonl.") and name.endswith(".tmp") for name in leftovers), leftovers

    # A later writer removes what the killed ones left (their processes are gone) and nothing else.
    results, _ = server.round(f"file://{target}", [{"id": "last", "fail": False}], 0.0, rng)
    assert results == {"last": 0}
    assert target.read_bytes() == writer_bytes("last")
    assert [p.name for p in target.parent.iterdir()] == ["part.jsonl"]
    figures("concurrent_writers", f"local, seed {seed}", tally)


@pytest.mark.slow
def test_a_writer_never_removes_a_live_writers_temp(fork_server, tmp_path):
    """A writer stopped (SIGSTOP) mid-write keeps its temp through another writer's whole run, then finishes."""
    target = tmp_path / "part.jsonl"
    server = fork_server()
    slow = {"id": "slow", "fail": False, "pause": 0.1}  # 30 pauses: about 3 s of writing
    server.process.stdin.write(json.dumps({"target": f"file://{target}", "writers": [slow]}) + "\n")
    server.process.stdin.flush()
    slow_pid = int(next(iter(server.message()["pids"])))
    deadline = time.monotonic() + 30
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(slow_pid, signal.SIGSTOP)
    try:
        temps = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert len(temps) == 1 and temps[0].startswith(".part.jsonl.") and f".{slow_pid}." in temps[0]

        # A second writer of the same path, in this process: it runs the stale-temp cleanup too.
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        from airflow_provider_feishu_workplace.outputs.files import open_output

        with open_output(ObjectStoragePath(f"file://{target}"), "jsonl") as output:
            output.write({"writer": "fast"})
            output.commit()
        assert target.read_bytes() == b'{"writer":"fast"}\n'
        assert (tmp_path / temps[0]).exists()
    finally:
        os.kill(slow_pid, signal.SIGCONT)
    assert server.message()["results"] == {"slow": 0}
    assert target.read_bytes() == writer_bytes("slow")
    assert [p.name for p in tmp_path.iterdir()] == ["part.jsonl"]


def test_stale_temps_are_removed_only_when_their_writer_is_gone_or_they_are_old(tmp_path):
    target = tmp_path / "part.jsonl"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    own = temp_prefix("part.jsonl")  # this host, this (live) process
    host = own.split(".")[3]
    names = {
        "live, this host": f"{own}abc123.tmp",
        "dead, this host": f".part.jsonl.{host}.{dead_pid}.abc123.tmp",
        "other host, fresh": f".part.jsonl.0badc0de.{dead_pid}.abc123.tmp",
        "other host, old": f".part.jsonl.0badc0de.{dead_pid}.old999.tmp",
        "another file's temp": f".other.jsonl.{host}.{dead_pid}.abc123.tmp",
        "not a temp": "part.jsonl.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_text("x")
    old = time.time() - STALE_AFTER_SECONDS - 60
    os.utime(tmp_path / names["other host, old"], (old, old))

    removed = remove_stale_temps(target)

    assert sorted(removed) == sorted([names["dead, this host"], names["other host, old"]])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        names[k] for k in ("live, this host", "other host, fresh", "another file's temp", "not a temp")
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_concurrent_writers_of_one_s3_object_leave_one_whole_object(fork_server, s3_bucket, s3_server, seed, figures):
    rng = random.Random(seed)
    key = "block/dt=2026-11-19/part.jsonl"
    env = {**FAKE_AWS_ENV, "AIRFLOW_CONN_LAKE_S3": aws_connection(s3_server)}
    server = fork_server(env)
    tally = {"rounds": 0, "writers": 0, "killed": 0, "kept previous": 0, "from a writer": 0}
    for round_number in range(3):
        s3_bucket.put_object(Bucket=BUCKET, Key=key, Body=PREVIOUS)
        writers = round_writers(round_number, 4, rng)
        results, _ = server.round(f"s3://lake_s3@{BUCKET}/{key}", writers, 0.4, rng)

        content = s3_bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        owner = check_round(content, results, writers)
        assert keys(s3_bucket) == [key]  # no temporary object, ever
        tally["rounds"] += 1
        tally["writers"] += len(writers)
        tally["killed"] += sum(code == -signal.SIGKILL for code in results.values())
        tally["kept previous" if owner == "previous" else "from a writer"] += 1
    figures("concurrent_writers", f"s3, seed {seed}", tally)


@pytest.mark.slow
def test_four_airflow_task_processes_writing_one_path_all_succeed_with_one_whole_file(
    dag_folder, feishu_conn, tmp_path, figures
):
    """The issue's case end to end: 4 ``airflow tasks test`` runs of one day at once, one of them killed."""
    from tests.airflow_versions import prepare_concurrent_task_tests
    from tests.conftest import expected_jsonl
    from tests.dag_runs import dag_source
    from tests.reliability.test_crash_and_concurrency import run_task_in_its_own_process, wait_for

    day = "2026-11-19"
    target = tmp_path / "lake" / "part.jsonl"
    operator_args = f'output_path="file://{target}", page_size=1, date="{day}"'
    dag = dag_folder.load(
        dag_source(
            "same_path",
            received_file=tmp_path / "r.json",
            operator="FeishuWorkplaceBlockAccessOperator",
            operator_args=operator_args,
        ),
        "same_path",
    )
    dates = prepare_concurrent_task_tests(dag, ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"])
    feishu_conn.inject("slow", endpoint="block", delay=2.0, times=None)  # pages trickle in: the writes overlap
    # The first run writes the DAG to the metadata database; four doing it at once trip over SQLite.
    runs = [run_task_in_its_own_process("same_path", dates[0])]
    wait_for(lambda: feishu_conn.count("block") >= 1 or runs[0].poll() is not None, timeout=120)
    for logical_date in dates[1:]:
        runs.append(run_task_in_its_own_process("same_path", logical_date))
        time.sleep(0.3)
    # Each process asks for its own token before its first page: four tokens mean the last one is pulling too.
    wait_for(
        lambda: (feishu_conn.count("token") >= 4 and feishu_conn.count("block") >= 5) or runs[-1].poll() is not None,
        timeout=180,
    )
    time.sleep(random.Random(4).uniform(0.0, 2.0))
    assert runs[-1].poll() is None, "the run to kill ended early:\n" + runs[-1].communicate()[0].decode()[-3000:]
    os.killpg(runs[-1].pid, signal.SIGKILL)  # the last one, mid-pull
    outputs = [run.communicate(timeout=300)[0].decode() for run in runs]

    assert runs[-1].returncode == -signal.SIGKILL
    for run, output in zip(runs[:-1], outputs[:-1], strict=True):
        assert run.returncode == 0, output[-3000:]
        assert "FileNotFoundError" not in output
    content = target.read_bytes()
    assert b"\x00" not in content
    assert content == expected_jsonl(feishu_conn, "block", day)
    leftovers = [p.name for p in target.parent.iterdir() if p.name != "part.jsonl"]
    assert len(leftovers) <= 1  # at most the killed run's temp, until the next writer of the path
    figures(
        "concurrent_writers", "4 airflow task processes, 1 killed", {"succeeded": 3, "leftover temps": len(leftovers)}
    )
