"""Checks of the arguments DAG authors pass, shared by every task type (operators, sensors, records).

Each check raises :class:`~airflow_provider_feishu_workplace.exceptions.FeishuConfigError` naming the
argument, the bad value and the fix. This module imports nothing heavy.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

_TENANT_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


def whole_number(name: str, value: Any, *, allow_none: bool = False) -> Any:
    """Return ``value`` if it is a whole number of at least 1 (or ``None``, with ``allow_none``).

    ``True`` and ``False`` are refused although Python counts them as ints.

    :param name: the argument's name, used in the message.
    :param value: the value to check.
    :param allow_none: whether ``None`` is accepted too.
    """
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        alternative = ", or None" if allow_none else ""
        raise FeishuConfigError(f"{name}={value!r} must be a whole number of at least 1{alternative}.")
    return value


def checked_hook_params(hook_params: Any, hook_class: type) -> dict[str, Any]:
    """Return ``hook_params`` if every key is a keyword argument of ``hook_class``, else raise naming the bad keys.

    :param hook_params: the task's ``hook_params``.
    :param hook_class: the hook the task builds (``FeishuWorkplaceHook``).
    """
    import inspect

    if not isinstance(hook_params, dict):
        raise FeishuConfigError(f"hook_params={hook_params!r} must be a dict of {hook_class.__name__} arguments.")
    signature = inspect.signature(hook_class)
    valid = sorted(
        name for name, parameter in signature.parameters.items() if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    )
    unknown = sorted(set(hook_params) - set(valid))
    if unknown:
        raise FeishuConfigError(
            f"hook_params has unknown keys {unknown}: {hook_class.__name__} takes {valid} "
            "(the connection id is the task's feishu_conn_id)."
        )
    return hook_params


def checked_tenant_key(tenant_key: Any) -> str:
    """Return ``tenant_key`` if it looks like a tenant key, else raise naming it.

    Tenant keys are short hex-like ids; they name lake folders and asset events, so nothing else (a ``/``,
    ``..``, a template left unrendered) is let through.
    """
    if not isinstance(tenant_key, str) or not _TENANT_KEY.fullmatch(tenant_key):
        raise FeishuConfigError(
            f"tenant_key={tenant_key!r} is not a tenant key: give the key from the tenant's app_open event "
            "(letters, digits, '_' and '-', at most 128)."
        )
    return tenant_key
