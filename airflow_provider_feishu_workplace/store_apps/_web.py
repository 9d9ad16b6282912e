"""The receiver on each web framework Airflow serves: a FastAPI app (Airflow 3) and a Flask blueprint (2.11).

Both carry the raw body and headers to :func:`.receiver.handle` and send back its answer; neither parses
nor logs anything itself. :func:`event_receiver_attribute` picks the one this Airflow serves.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoint's annotations at runtime, and
# ``Request`` is imported inside the function that builds the app.
from collections.abc import Callable
from typing import Any

from airflow_provider_feishu_workplace._compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_feishu_workplace.store_apps.receiver import MAX_BODY_BYTES, REFUSED

__all__ = ["ROUTE_PREFIX", "event_receiver_attribute", "fastapi_app", "flask_blueprint"]

#: Where the receiver is mounted: ``POST {ROUTE_PREFIX}/{conn_id}``.
ROUTE_PREFIX = "/feishu/events"


def _too_large(content_length: str | None) -> bool:
    """Refuse on the declared length before reading a body that is bound to be refused."""
    try:
        return content_length is not None and int(content_length) > MAX_BODY_BYTES
    except ValueError:
        return True


def fastapi_app() -> Any:
    """The receiver as a FastAPI app, mounted at :data:`ROUTE_PREFIX` by the plugin's ``fastapi_apps``.

    Airflow's API server authenticates its own routes only; a plugin app has no auth of its own, as the
    platform (not a logged-in user) calls it and is checked by signature and token instead.
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from airflow_provider_feishu_workplace.store_apps import receiver

    app = FastAPI(title="Feishu store-app events", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/{conn_id}")
    async def receive(conn_id: str, request: Request) -> JSONResponse:
        if _too_large(request.headers.get("content-length")):
            return JSONResponse(REFUSED, status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return JSONResponse(REFUSED, status_code=413)
        # The checks and the DB writes block: a worker thread keeps the server's event loop free.
        status, answer = await run_in_threadpool(receiver.handle, conn_id, bytes(body), request.headers)
        return JSONResponse(answer, status_code=status)

    return app


def flask_blueprint() -> Any:
    """The receiver as a Flask blueprint at :data:`ROUTE_PREFIX`, exempt from the webserver's CSRF check.

    Airflow 2's webserver requires login only on the views that ask for it; CSRF, though, is checked on
    every POST of the app, and the platform has no CSRF token: its deliveries are checked by signature.
    """
    from flask import Blueprint, Response, jsonify, request

    from airflow_provider_feishu_workplace.store_apps import receiver

    blueprint = Blueprint("feishu_store_app_events", __name__, url_prefix=ROUTE_PREFIX)

    @blueprint.route("/<conn_id>", methods=["POST"])
    def receive(conn_id: str) -> tuple[Response, int]:
        if _too_large(request.headers.get("Content-Length")):
            return jsonify(REFUSED), 413
        body = request.stream.read(MAX_BODY_BYTES + 1)
        status, answer = receiver.handle(conn_id, body, dict(request.headers))
        return jsonify(answer), status

    # Flask-WTF's CSRFProtect registers itself as the app's "csrf" extension; exempting the blueprint when
    # it is registered keeps airflow.www (heavy) out of every process that merely loads the plugin. The app
    # some CLI commands build (``airflow users create``) has no CSRF protection, and nothing to exempt from.
    def exempt_from_csrf(state: Any) -> None:
        csrf = state.app.extensions.get("csrf")
        if csrf is not None:
            csrf.exempt(blueprint)

    blueprint.record_once(exempt_from_csrf)
    return blueprint


def event_receiver_attribute() -> tuple[str, Callable[[], list[Any]]]:
    """The plugin attribute that serves the store-app event receiver here, and what builds its value.

    Airflow 3's API server mounts the plugin's ``fastapi_apps``; Airflow 2's webserver registers its
    ``flask_blueprints``.
    """
    if AIRFLOW_V_3_0_PLUS:
        return "fastapi_apps", lambda: [
            {"app": fastapi_app(), "url_prefix": ROUTE_PREFIX, "name": "Feishu store-app events"}
        ]
    return "flask_blueprints", lambda: [flask_blueprint()]
