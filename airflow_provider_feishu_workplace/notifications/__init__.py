"""Notifiers: send a Feishu message from a DAG or task callback."""

from airflow_provider_feishu_workplace.notifications.feishu import FeishuNotifier, send_feishu_notification

__all__ = ["FeishuNotifier", "send_feishu_notification"]
