"""Run the reliability tests and write docs/RELIABILITY.md from what they did (``make reliability``).

The tests record their figures (requests, seconds, 429s, hits) through the ``figures`` fixture; pytest's
JUnit XML gives the case counts. Nothing here is typed in by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "RELIABILITY.md"
TEST_PATHS = ["tests/reliability", "tests/hooks/test_feishu_workplace.py", "tests/dags/test_load_trusts_nothing.py"]
COMMAND = "make reliability"

SECTIONS = {
    "tests/reliability/test_fault_matrix.py": "Fault matrix: the operator writing to object storage",
    "tests/hooks/test_feishu_workplace.py": "The hook: transient faults, non-retryable errors, tokens, pacing, secrets",
    "tests/reliability/test_hostile_server.py": "Hostile and malformed answers from the server",
    "tests/reliability/test_bad_input.py": "Bad input from users",
    "tests/reliability/test_secrets_audit.py": "Secrets audit",
    "tests/reliability/test_tls.py": "TLS verification",
    "tests/reliability/test_crash_and_concurrency.py": "Crash safety and concurrency",
    "tests/reliability/test_concurrent_writers.py": (
        "Concurrent writers of one path (local and S3), SIGKILL at random points"
    ),
    "tests/reliability/test_redirects.py": "Redirects: credentials go to one origin",
    "tests/reliability/test_deadlines.py": "One deadline per request: trickling servers",
    "tests/reliability/test_paging_contract.py": "The paging contract: missing and contradictory fields, foreign items",
    "tests/reliability/test_fail_fast.py": (
        "Fail fast: what a rerun cannot fix; the output target checked before the pull"
    ),
    "tests/reliability/test_bounded_errors.py": "Server answers become bounded Feishu errors without secrets",
    "tests/reliability/test_item_identity.py": "Exact item identity; lone surrogates",
    "tests/reliability/test_ticket_redaction.py": "The app ticket hidden in the REST API (real airflow api-server)",
    "tests/reliability/test_shared_rate_limit.py": "One app-wide rate limit across processes (Redis, files)",
    "tests/reliability/test_rate_limit_secrets.py": (
        "The shared rate limit's Redis password: every URL form, REST API, logs with Redis down, trigger kwargs"
    ),
    "tests/reliability/test_safe_files.py": (
        "Shared files: planted symlinks and hard links, folders others can write, another user's file, 0600"
    ),
    "tests/reliability/test_warehouse_bounds.py": (
        "Values the warehouse cannot hold refused by name (int64 counts, id limits); unknown nested fields reported"
    ),
    "tests/reliability/test_day_files_commit.py": (
        "Per-day files commit as a whole: a write failing on each day of a range (local, S3), bad templates"
    ),
    "tests/reliability/test_stack_security.py": (
        "The local stack on a shared host: PostgreSQL, Redis and the control API refuse clients without credentials"
    ),
    "tests/reliability/test_debug_logs.py": "DEBUG logs of dag.test(): no token; Airflow's own MaskSecret lines pinned",
    "tests/reliability/test_concurrent_loads.py": "Concurrent warehouse loads of one day (SQLite, PostgreSQL)",
    "tests/dags/test_load_trusts_nothing.py": (
        "The load trusts nothing it reads: bad rows, other days' rows, paths outside the lake (SQLite, PostgreSQL)"
    ),
}


def run_tests(junit: Path, figures: Path) -> int:
    env = {**os.environ, "FEISHU_RELIABILITY_FIGURES": str(figures)}
    command = [sys.executable, "-m", "pytest", "-q", f"--junitxml={junit}", *TEST_PATHS]
    print("+", " ".join(command), flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


def outcomes_per_file(junit: Path) -> dict[str, Counter]:
    per_file: dict[str, Counter] = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        path = case.get("classname", "").split(".")
        module = "/".join(part for part in path if not part[:1].isupper()) + ".py"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        per_file.setdefault(module, Counter())[outcome] += 1
    return per_file


def fault_matrix_table(matrix: dict[str, dict]) -> list[str]:
    by_kind: dict[str, list[dict]] = {}
    for case, numbers in matrix.items():
        by_kind.setdefault(case.split(" @ ")[0], []).append(numbers)
    lines = ["| fault | positions | most requests in a run | slowest run (s) |", "|---|---|---|---|"]
    for kind, runs in sorted(by_kind.items()):
        lines.append(
            f"| {kind} | {len(runs)} | {max(r['requests'] for r in runs)} | {max(r['seconds'] for r in runs):.2f} |"
        )
    return lines


def render(per_file: dict[str, Counter], figures: dict, exit_code: int) -> str:
    total = sum(per_file.values(), Counter())
    lines = [
        "# Reliability",
        "",
        f"Produced by `{COMMAND}` (`scripts/reliability_report.py`) on {dt.date.today().isoformat()} at revision "
        f"{_revision()}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        "Every figure below comes from that run; the same tests run in `make test`.",
        "",
        f"**{total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped** "
        f"(pytest exit code {exit_code}).",
        "",
        "| what was tried | test file | cases | passed |",
        "|---|---|---|---|",
    ]
    for path, title in SECTIONS.items():
        counts = per_file.get(path, Counter())
        lines.append(f"| {title} | `{path}` | {sum(counts.values())} | {counts['passed']} |")
    if "fault_matrix" in figures:
        lines += [
            "",
            "## Fault matrix",
            "",
            "Each fault the double can inject, twice in a row, at the token call, the first, a middle and the last "
            "page of a three-page day, for the block operator writing JSON Lines to `file://` through `dag.test()`. "
            "Every run's file was byte-identical to the fault-free reference, with no temporary file left. "
            "Requests include the token call; a fault-free run takes 4.",
            "",
            *fault_matrix_table(figures["fault_matrix"]),
        ]
    for section, title in (
        ("secrets_audit", "Secrets audit"),
        ("crash_safety", "Crash safety"),
        ("concurrency", "Concurrency against one double limited to 20 requests/second per endpoint"),
        ("concurrent_writers", "Concurrent writers of one output path"),
        ("deadlines", "Trickling servers (1 byte / 0.1 s; timeout 1 s, retry_deadline 5 s)"),
    ):
        if section in figures:
            lines += ["", f"## {title}", "", "```json", json.dumps(figures[section], indent=2, sort_keys=True), "```"]
    lines += [
        "",
        "## How to read it",
        "",
        "- 32 threads in one process share a pacer per app and endpoint, so they meet no 429; processes pace "
        "themselves separately, meet the platform's limiter, wait the `x-ogw-ratelimit-reset` time and retry. "
        "Cap concurrent Feishu tasks across workers with an Airflow pool (README, Concurrency).",
        "- The crash test kills `airflow tasks test` with SIGKILL while the task is stuck on a page: the "
        "previous file stays as it was and the next run writes the correct one.",
        "- Concurrent writers: each round starts 6 (local) or 4 (S3) writer processes on one path; about a "
        "quarter fail half-way on purpose and the test SIGKILLs a random subset at random moments. After every "
        "round the path held one complete file of exactly one writer that finished, or the previous file "
        "(`kept previous`), never a mix and never NUL bytes; a last writer removed the temporary files the "
        "killed ones left. On S3 no temporary key was ever written.",
        "- Trickling servers: every attempt was cut at its 1 s deadline, and the whole request with its "
        "retries ended within `retry_deadline + timeout` (6 s); `seconds` is the pull's total.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        junit, figures_file = Path(scratch, "junit.xml"), Path(scratch, "figures.json")
        exit_code = run_tests(junit, figures_file)
        figures = json.loads(figures_file.read_text()) if figures_file.exists() else {}
        per_file = outcomes_per_file(junit)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(render(per_file, figures, exit_code), encoding="utf-8")
    print(f"Wrote {REPORT.relative_to(ROOT)}")
    return exit_code


def _revision() -> str:
    """The checkout's short commit, marked ``+changes`` when the work tree differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"`{commit}`" + (" +changes" if git("status", "--porcelain", "--untracked-files=no") else "")


if __name__ == "__main__":
    sys.exit(main())
