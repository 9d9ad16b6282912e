"""``[core] hostname_callable`` for the local stack: each Celery worker reports a name of its own.

Both workers of ``make stack`` run on one machine, where ``socket.getfqdn()`` would give every task
instance the same host name. The stack sets ``FEISHU_STACK_HOSTNAME`` per worker (``worker-1``,
``worker-2``), so the task instances record which worker ran them; elsewhere this is ``getfqdn()``.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """The worker's name from ``FEISHU_STACK_HOSTNAME``, or the machine's FQDN."""
    return os.environ.get("FEISHU_STACK_HOSTNAME") or socket.getfqdn()
