"""Send a message to a Feishu (Lark) chat as the app's bot, from a DAG or task callback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.notifier import BaseNotifier

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_feishu_workplace.hooks.feishu import FeishuHook

MESSAGES_PATH = "/open-apis/im/v1/messages"


class FeishuNotifier(BaseNotifier):
    """Send a text message (or an interactive card) to a Feishu chat as the app's bot.

    Use it as a callback: ``on_failure_callback=FeishuNotifier(chat_id="oc_...", text="{{ ti.task_id }}
    failed")``. The app needs its bot ability enabled, the scope ``im:message:send_as_bot`` (or
    ``im:message``), and its bot added to the chat. Nothing is sent or read at DAG parse time; the
    connection is read when the notifier runs.

    :param chat_id: the chat's id (``oc_...``); templated.
    :param text: the message text; templated. Sent as a ``text`` message unless ``card`` is given.
    :param card: an interactive card (the card JSON as a dict): sent as an ``interactive`` message instead
        of ``text``; templated.
    :param feishu_conn_id: the Feishu connection (the same as the hooks').
    """

    template_fields: Sequence[str] = ("chat_id", "text", "card", "feishu_conn_id")

    def __init__(
        self,
        *,
        chat_id: str,
        text: str | None = None,
        card: dict[str, Any] | None = None,
        feishu_conn_id: str = "feishu_default",
    ) -> None:
        super().__init__()
        if text is None and card is None:
            raise FeishuConfigError("FeishuNotifier needs text= (a text message) or card= (an interactive card).")
        if card is not None and not isinstance(card, dict):
            raise FeishuConfigError(f"card must be a dict (the card's JSON), not {type(card).__name__}.")
        self.chat_id = chat_id
        self.text = text
        self.card = card
        self.feishu_conn_id = feishu_conn_id

    @cached_property
    def hook(self) -> FeishuHook:
        """The hook the message goes through (built on first use)."""
        from airflow_provider_feishu_workplace.hooks.feishu import FeishuHook

        return FeishuHook(feishu_conn_id=self.feishu_conn_id)

    def notify(self, context: Context) -> None:
        """Send the message; a refusal (the bot not in the chat, a missing scope) raises FeishuApiError."""
        if not isinstance(self.chat_id, str) or not self.chat_id.strip():
            raise FeishuConfigError(f"chat_id={self.chat_id!r} must be a chat id such as 'oc_...'.")
        if self.card is not None:
            msg_type, content = "interactive", self.card
        else:
            msg_type, content = "text", {"text": str(self.text)}
        body = {
            "receive_id": self.chat_id.strip(),
            "msg_type": msg_type,
            # The API takes the message itself as a JSON string inside the JSON body.
            "content": json.dumps(content, ensure_ascii=False),
            # The platform sends one message per uuid: a retry after a lost answer cannot send it twice.
            "uuid": uuid.uuid4().hex,
        }
        try:
            data = self.hook.call("POST", MESSAGES_PATH, params={"receive_id_type": "chat_id"}, json=body)
        finally:
            self.hook.close()
        message_id = (data or {}).get("message_id")
        self.log.info("Sent a Feishu %s message to chat %s (%s)", msg_type, body["receive_id"], message_id)


send_feishu_notification = FeishuNotifier
