"""The message API as the double plays it: ``POST /open-apis/im/v1/messages`` (send a message as the bot).

From the platform's documentation of im/v1 message create: ``receive_id_type`` in the query string;
``receive_id``, ``msg_type`` and ``content`` (the message as a JSON *string*) in the body; scope
``im:message:send_as_bot`` (or ``im:message``); errors with HTTP 400: 230001 an invalid parameter (the msg
says which, after ``ext=``), 230002 the bot is not in the chat; a missing field is the gateway's field
validation error (99992402). An optional ``uuid`` in the body deduplicates: a request that repeats the uuid
of a message already sent (within an hour, on the platform; for the double's lifetime here) sends nothing
and answers that message again.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_provider_feishu_workplace.testing import _replies
from airflow_provider_feishu_workplace.testing._replies import Reply

MESSAGES_PATH = "/open-apis/im/v1/messages"
RECEIVE_ID_TYPES = ("open_id", "union_id", "user_id", "email", "chat_id")
MSG_TYPES = ("text", "post", "image", "file", "audio", "media", "sticker", "interactive", "share_chat", "share_user")
INVALID_PARAMETER = 230001
BOT_NOT_IN_CHAT = 230002
_INVALID = "Your request contains an invalid request parameter, ext={}."
_NOT_IN_CHAT = "Bot/User can NOT be out of the chat."


@dataclass(frozen=True)
class SentMessage:
    """A message the double accepted.

    :param message_id: the id it answered (``om_...``).
    :param receive_id_type: as sent in the query string (``chat_id``, ``open_id``, ...).
    :param receive_id: as sent in the body.
    :param msg_type: as sent (``text``, ``interactive``, ...).
    :param content: the body's ``content`` string, parsed (``{"text": "..."}`` for a text message).
    :param app_id: the app whose tenant token sent it.
    """

    message_id: str
    receive_id_type: str
    receive_id: str
    msg_type: str
    content: dict[str, Any]
    app_id: str | None


class Messenger:
    """The chats the bot is in, and every message sent to them."""

    def __init__(self, chat_ids: Iterable[str]) -> None:
        self._initial_chats = frozenset(chat_ids)
        self.chat_ids: set[str] = set(self._initial_chats)
        self._sent: list[SentMessage] = []
        self._answers_by_uuid: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    @property
    def sent(self) -> list[SentMessage]:
        """The messages accepted so far, oldest first (a copy)."""
        with self._lock:
            return self._sent.copy()

    def reset(self) -> None:
        """Forget the messages sent, and put the chats back as they were at the start."""
        with self._lock:
            self._sent, self._answers_by_uuid, self.chat_ids = [], {}, set(self._initial_chats)

    def send(self, query: dict[str, str], body: dict[str, Any] | None, app_id: str | None) -> Reply:
        """Answer one ``POST /open-apis/im/v1/messages``."""
        receive_id_type = query.get("receive_id_type")
        if not receive_id_type:
            return _replies.field_violation("receive_id_type", receive_id_type, "receive_id_type is required")
        if receive_id_type not in RECEIVE_ID_TYPES:
            return _replies.field_violation(
                "receive_id_type", receive_id_type, f"receive_id_type must be one of {list(RECEIVE_ID_TYPES)}"
            )
        body = body or {}
        for name in ("receive_id", "msg_type", "content"):
            if not isinstance(body.get(name), str) or not body[name]:
                return _replies.field_violation(name, _shown(body.get(name)), f"{name} is required, a string")
        receive_id, msg_type = body["receive_id"], body["msg_type"]
        if msg_type not in MSG_TYPES:
            return _replies.error(INVALID_PARAMETER, _INVALID.format("invalid msg_type"))
        try:
            content = json.loads(body["content"])
        except ValueError:
            content = None
        if not isinstance(content, dict) or (msg_type == "text" and not isinstance(content.get("text"), str)):
            return _replies.error(INVALID_PARAMETER, _INVALID.format("invalid content"))
        if receive_id_type == "chat_id":
            if not receive_id.startswith("oc_"):
                return _replies.error(INVALID_PARAMETER, _INVALID.format("invalid receive_id"))
            if receive_id not in self.chat_ids:
                return _replies.error(BOT_NOT_IN_CHAT, _NOT_IN_CHAT)
        dedupe_key = body.get("uuid") if isinstance(body.get("uuid"), str) and body["uuid"] else None
        with self._lock:
            if dedupe_key in self._answers_by_uuid:
                return _replies.success(self._answers_by_uuid[dedupe_key])
        message_id = f"om_double_{next(self._ids):08d}"
        message = SentMessage(message_id, receive_id_type, receive_id, msg_type, content, app_id)
        now = str(int(time.time() * 1000))
        data = {
            "message_id": message_id,
            "msg_type": msg_type,
            "create_time": now,
            "update_time": now,
            "deleted": False,
            "updated": False,
            "chat_id": receive_id if receive_id_type == "chat_id" else "",
            "sender": {"id": app_id or "", "id_type": "app_id", "sender_type": "app"},
            "body": {"content": body["content"]},
        }
        with self._lock:
            self._sent.append(message)
            if dedupe_key is not None:
                self._answers_by_uuid[dedupe_key] = data
        return _replies.success(data)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)[:100]
