"""One run of the memory figure, in a process of its own so that its peak RSS is its own.

``python scripts/bench_memory_child.py BLOCKS_PER_DAY DAYS OUTPUT_DIR [FORMAT]`` starts a Feishu double in
this process (no rate limit), runs ``FeishuWorkplaceBlockAccessOperator.execute()`` for DAYS days of
BLOCKS_PER_DAY blocks into ``file://OUTPUT_DIR/part.jsonl`` (or ``part.parquet`` for FORMAT ``parquet``;
pacing off), and prints one line ``BENCH_RESULT {json}`` with the peak RSS (KiB), the RSS just before
``execute()``, the items written and the requests the double saw. Run by ``scripts/bench.py``.

The peak is ``VmHWM``, the high-water mark of this process's own memory since it started. It also
reports ``ru_maxrss``, but on Linux that keeps the parent's size when a big parent starts the child
(``subprocess`` forks, then execs; the exec keeps the larger mark), so it says more about the parent.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from bench_child import print_result

FIRST_DAY = (2025, 1, 1)


def status_kib(field: str) -> int:
    """A memory field of /proc/self/status (``VmRSS``: now, ``VmHWM``: the peak), in KiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def run(blocks_per_day: int, days: int, output_dir: Path, output_format: str = "jsonl") -> dict[str, int]:
    """Pull ``days`` days of ``blocks_per_day`` blocks through the operator into a JSON Lines or Parquet file."""
    import pendulum

    from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceBlockAccessOperator
    from airflow_provider_feishu_workplace.testing import FeishuDouble

    double = FeishuDouble(rate_limit_per_second=None, blocks_per_day=blocks_per_day)
    with double, double.connection_env("feishu_default"):
        operator = FeishuWorkplaceBlockAccessOperator(
            task_id="bench_memory",
            timezone="UTC",
            output_path=f"file://{output_dir}/part.{output_format}",
            hook_params={"requests_per_second": None},
        )
        # The run's data interval picks the days (from its start's day to the day before its end),
        # the way a scheduled run does; the other context keys the operator reads may be absent.
        start = pendulum.datetime(*FIRST_DAY, tz="UTC")
        context = {"data_interval_start": start, "data_interval_end": start.add(days=days)}
        rss_before = status_kib("VmRSS")
        written = operator.execute(context)
        requests = len(double.requests)
    if output_format == "parquet":
        import pyarrow.parquet as pq  # loaded by the writer already; reading the footer adds little

        items = pq.ParquetFile(written.removeprefix("file://")).metadata.num_rows
    else:
        with open(written.removeprefix("file://"), encoding="utf-8") as lines:
            items = sum(1 for _ in lines)
    return {
        "peak_rss_kib": status_kib("VmHWM"),
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_before_execute_kib": rss_before,
        "items": items,
        "requests": requests,
    }


def main() -> None:
    blocks_per_day, days, output_dir = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    output_format = sys.argv[4] if len(sys.argv) > 4 else "jsonl"
    output_dir.mkdir(parents=True, exist_ok=True)
    print_result(run(blocks_per_day, days, output_dir, output_format))


if __name__ == "__main__":
    main()
