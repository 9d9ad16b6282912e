"""The Airflow plugin that serves the store-app event receiver at ``/feishu/events/{conn_id}``.

Registered through the provider's metadata (``get_provider_info()["plugins"]``), so installing the
provider is enough. Airflow loads plugins in every process, tasks included; the web app is built only
when the API server (or Airflow 2's webserver) first reads the attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.providers.common.compat.sdk import AirflowPlugin

from airflow_provider_feishu_workplace.store_apps._web import event_receiver_attribute

__all__ = ["FeishuStoreAppsPlugin"]


class _BuiltOnFirstRead:
    """A class attribute whose value is built the first time it is read, then kept."""

    def __init__(self, build: Callable[[], list[Any]]) -> None:
        self._build = build
        self._value: list[Any] | None = None

    def __get__(self, instance: object, owner: type) -> list[Any]:
        if self._value is None:
            self._value = self._build()
        return self._value


class FeishuStoreAppsPlugin(AirflowPlugin):
    """Receives the Feishu Open Platform's events for store apps (ticket pushes, tenants' installs)."""

    name = "feishu_store_apps"


_attribute, _build = event_receiver_attribute()
setattr(FeishuStoreAppsPlugin, _attribute, _BuiltOnFirstRead(_build))
