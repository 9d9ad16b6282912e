"""Command line: ``python -m airflow_provider_feishu_workplace.testing serve [options]`` or ``... faults``.

``serve`` starts a :class:`FeishuDouble`, prints one JSON line with its URL, its control API's URL
(``control_url``: publish days late, queue faults, read the request log; see ``_control.py``) and its
credentials, and serves until SIGINT or SIGTERM. ``faults`` prints the fault kinds ``inject`` accepts, with their
parameters and what each answers, as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from airflow_provider_feishu_workplace.testing import HOSTILE_MODES, FaultKind, FeishuDouble
from airflow_provider_feishu_workplace.testing._control import Control
from airflow_provider_feishu_workplace.testing._http_server import DoubleServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_feishu_workplace.testing",
        description="Run a fake Feishu Open Platform for offline tests and demos.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve until SIGINT/SIGTERM")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    limit = serve.add_mutually_exclusive_group()
    limit.add_argument("--rate-limit", type=float, default=20, help="requests/s per app and endpoint (default: 20)")
    limit.add_argument("--no-rate-limit", action="store_true", help="do not rate-limit")
    serve.add_argument("--blocks-per-day", type=int, default=5, help="blocks with data each day (default: 5)")
    serve.add_argument("--custom-workplaces", type=int, default=3, help="custom workplaces (default: 3)")
    control = serve.add_mutually_exclusive_group()
    control.add_argument(
        "--control-port", type=int, default=0, help="port of the control API (on loopback); 0 picks a free one"
    )
    control.add_argument("--no-control", action="store_true", help="serve no control API")
    serve.add_argument(
        "--max-requests",
        type=_positive_int,
        default=10_000,
        help="requests the log keeps, the latest ones (default: %(default)s); counts cover every request",
    )
    commands.add_parser("faults", help="list the fault kinds and hostile modes as Markdown tables")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number >= 1")
    return value


def fault_table() -> str:
    """The fault kinds as a Markdown table: kind, parameters with defaults, what it answers."""
    lines = ["| kind | parameters (defaults) | answers |", "|---|---|---|"]
    for kind in FaultKind:
        params = ", ".join(
            [f"`{name}` (required)" for name in kind.required]
            + [f"`{name}={value!r}`" for name, value in kind.defaults.items()]
        )
        lines.append(f"| `{kind.value}` | {params or '-'} | {kind.description} |")
    return "\n".join(lines) + "\n"


def hostile_table() -> str:
    """The ``hostile`` fault's modes as a Markdown table."""
    lines = ["| hostile mode | answers |", "|---|---|"]
    lines += [f"| `{mode}` | {text} |" for mode, text in HOSTILE_MODES.items()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "faults":
        sys.stdout.write(fault_table() + "\n" + hostile_table())
        return 0
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    double = FeishuDouble(
        host=args.host,
        port=args.port,
        rate_limit_per_second=None if args.no_rate_limit else args.rate_limit,
        blocks_per_day=args.blocks_per_day,
        custom_workplaces=args.custom_workplaces,
        max_recorded_requests=args.max_requests,
    )
    with double:
        # The control API steers the double: it listens on loopback even when the Feishu port does not.
        control_host = args.host if args.host in ("127.0.0.1", "::1", "localhost") else "127.0.0.1"
        control_api = None if args.no_control else Control(double)
        control = None if control_api is None else DoubleServer((control_host, args.control_port), control_api)
        if control is not None:
            threading.Thread(target=control.serve, name="feishu-double-control", daemon=True).start()
        info = {
            "url": double.url,
            "control_url": _url(control) if control is not None else None,
            "app_id": double.app_id,
            "app_secret": double.app_secret,
            "store_app_id": double.store_app_id,
            "store_app_secret": double.store_app_secret,
            "app_ticket": double.app_ticket,
            "tenant_key": double.tenant_key,
            "control_token": control_api.token if control_api is not None else None,
        }
        print(json.dumps(info), flush=True)
        try:
            stop.wait()
        finally:
            if control is not None:
                control.stop_serving()
                control.server_close()
                control.close_connections()
    return 0


def _url(server: DoubleServer) -> str:
    host, port = server.server_address[:2]
    host = host if isinstance(host, str) else host.decode()  # bytes for AF_UNIX only
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


if __name__ == "__main__":
    sys.exit(main())
