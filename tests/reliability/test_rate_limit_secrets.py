"""The shared rate limit's Redis password stays secret, and a backend URL that cannot work fails early.

The URL is shown in clear wherever it is kept (the connection's extra ``shared_rate_limit`` in the UI and
the REST API, a hook argument in DAG code, a trigger's kwargs), so a URL that carries a secret in any
form redis-py reads (``user:pw@``, ``:pw@``, ``?password=``, ``?ssl_password=``, on ``redis://``,
``rediss://`` and ``unix://``) is refused, and the password lives in the extra
``shared_rate_limit_password``, which Airflow hides. Real redis-servers on 127.0.0.1 that require it (on a
port and on a unix socket, with and without an ACL user) show it is used; no message, log line, trigger
kwargs or API answer holds it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError
from airflow_provider_feishu_workplace.hooks._shared_limit import shown_url
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from tests.loopback import free_port
from tests.redis_server import running_redis
from tests.reliability.test_ticket_redaction import api_server, create  # noqa: F401 - the api-server fixture

PASSWORD = "pw-canary-4e9b1d"
# What a URL holds when the password has characters a URL must escape: both forms must stay hidden.
ODD_PASSWORD = "p@ss/w:rd-canary"
ODD_ESCAPED = "p%40ss%2Fw%3Ard-canary"
PASSWORD_KEY = "shared_rate_limit_password"

URLS_WITH_A_PASSWORD = {
    "redis-colon-password": f"redis://:{PASSWORD}@127.0.0.1:6379/0",
    "redis-user-password": f"redis://pacer:{PASSWORD}@127.0.0.1:6379/0",
    "redis-query-password": f"redis://127.0.0.1:6379/0?password={PASSWORD}",
    "rediss-colon-password": f"rediss://:{PASSWORD}@127.0.0.1:6380/1",
    "rediss-ssl-password": f"rediss://127.0.0.1:6380/0?ssl_password={PASSWORD}",
    "unix-query-password": f"unix:///run/redis/redis.sock?db=0&password={PASSWORD}",
    "unix-user-password": f"unix://pacer:{PASSWORD}@/run/redis/redis.sock",
    "escaped-password": f"redis://:{ODD_ESCAPED}@127.0.0.1:6379/0",
    "unescaped-at-in-password": f"redis://:{ODD_PASSWORD}@127.0.0.1:6379/0",
}
MALFORMED = {
    "port-not-a-number": ("redis://127.0.0.1:six/0", "port"),
    "port-too-large": ("redis://127.0.0.1:70000/0", "port"),
    "unknown-scheme": ("memcached://127.0.0.1:11211", "scheme 'memcached'"),
    "upper-case-scheme": ("REDIS://127.0.0.1:6379/0", "lower case"),
    "file-with-two-slashes": ("file://tmp/pace", "three slashes"),
    "file-relative": ("file:relative/pace", "scheme"),
    "no-host": ("redis:///0", "no host"),
    "database-not-a-number": ("redis://127.0.0.1:6379/zero", "database"),
    "unknown-query-argument": ("redis://127.0.0.1:6379/0?colour=blue", "'colour'"),
    "bad-query-value": ("redis://127.0.0.1:6379/0?socket_timeout=soon", "socket_timeout"),
    "unix-with-a-host": ("unix://localhost/run/redis.sock", "three slashes"),
}


def hidden(text: str) -> bool:
    return all(secret not in text for secret in (PASSWORD, ODD_PASSWORD, ODD_ESCAPED, "ss/w:rd"))


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A redis-server on 127.0.0.1 and on a unix socket, requiring PASSWORD; yields (port, socket path)."""
    folder = tmp_path_factory.mktemp("redis-pw")
    unix_socket = folder / "redis.sock"
    with running_redis(
        folder, "--unixsocket", str(unix_socket), "--unixsocketperm", "700", "--requirepass", PASSWORD
    ) as port:
        yield port, unix_socket


def pace_keys(port: int) -> list[bytes]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, password=PASSWORD)
    try:
        return client.keys("feishu:pace:*")
    finally:
        client.close()


def flush(port: int) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, password=PASSWORD)
    try:
        client.flushall()
    finally:
        client.close()


@pytest.mark.parametrize("url", URLS_WITH_A_PASSWORD.values(), ids=URLS_WITH_A_PASSWORD.keys())
def test_a_hook_argument_holding_a_password_is_refused_without_showing_it(url):
    with pytest.raises(FeishuConfigError, match=PASSWORD_KEY) as raised:
        FeishuWorkplaceHook(shared_rate_limit=url)

    assert hidden(str(raised.value)) and hidden(repr(raised.value))
    assert hidden(shown_url(url)) and "***" in shown_url(url)


@pytest.mark.parametrize("url", URLS_WITH_A_PASSWORD.values(), ids=URLS_WITH_A_PASSWORD.keys())
def test_a_connection_extra_holding_a_password_fails_before_the_first_request(url, feishu_double):
    with feishu_double.connection_env("feishu_pw", extra={"shared_rate_limit": url}):
        hook = FeishuWorkplaceHook("feishu_pw")
        with pytest.raises(FeishuConfigError, match=f"'shared_rate_limit'.*{PASSWORD_KEY}") as raised:
            list(hook.iter_access_data("block", "2026-10-01", "2026-10-01"))

    assert hidden(str(raised.value))
    assert feishu_double.requests == []  # not even the token was asked for


@pytest.mark.parametrize(("url", "names"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_backend_url_is_a_config_error_when_the_hook_is_built(url, names):
    with pytest.raises(FeishuConfigError, match="is not usable") as raised:
        FeishuWorkplaceHook(shared_rate_limit=url)

    assert names in str(raised.value)


@pytest.mark.parametrize(("url", "names"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_backend_url_in_the_connection_fails_before_the_first_request(url, names, feishu_double):
    with feishu_double.connection_env("feishu_bad", extra={"shared_rate_limit": url}):
        hook = FeishuWorkplaceHook("feishu_bad")
        with pytest.raises(FeishuConfigError, match=names.replace("(", r"\(")):
            hook.call("GET", "/open-apis/contact/v3/users/ou_1")

    assert feishu_double.requests == []


def test_a_file_url_with_two_slashes_makes_no_folder_at_the_root(feishu_double):
    folder = Path("/feishu-pace-canary")
    extra = {"shared_rate_limit": f"file:/{folder}"}
    with feishu_double.connection_env("feishu_bad", extra=extra), pytest.raises(FeishuConfigError, match="slashes"):
        list(FeishuWorkplaceHook("feishu_bad").iter_access_data("block", "2026-10-01", "2026-10-01"))

    assert not folder.exists()


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:{port}/0", "redis://127.0.0.1:{port}/0?socket_timeout=3", "unix://{socket}?db=0"],
    ids=["redis", "redis-with-options", "unix-socket"],
)
def test_the_password_extra_lets_pulls_share_a_redis_that_requires_it(url, redis_server, feishu_double, capfd):
    port, unix_socket = redis_server
    flush(port)
    url = url.format(port=port, socket=unix_socket)
    extra = {"shared_rate_limit": url, PASSWORD_KEY: PASSWORD}
    with feishu_double.connection_env("feishu_pw", extra=extra):
        hook = FeishuWorkplaceHook("feishu_pw")
        items = list(hook.iter_access_data("block", "2026-10-01", "2026-10-01"))
        hook.close()

    assert len(items) == 5
    assert len(pace_keys(port)) == 2  # the token path and the block path were paced in Redis
    assert "***" not in repr(hook.settings) and hidden(repr(hook.settings))
    assert hidden(capfd.readouterr().err)


def test_an_acl_user_in_the_url_and_its_password_in_the_extra_work_together(redis_server, feishu_double):
    import redis

    port, _ = redis_server
    flush(port)
    admin = redis.Redis(host="127.0.0.1", port=port, password=PASSWORD)
    other = f"{PASSWORD}-acl"
    admin.acl_setuser("pacer", enabled=True, passwords=[f"+{other}"], commands=["+@all"], keys=["feishu:*"])
    admin.close()
    extra = {"shared_rate_limit": f"redis://pacer@127.0.0.1:{port}/0", PASSWORD_KEY: other}
    with feishu_double.connection_env("feishu_acl", extra=extra):
        hook = FeishuWorkplaceHook("feishu_acl")
        items = list(hook.iter_access_data("block", "2026-10-02", "2026-10-02"))
        hook.close()

    assert len(items) == 5 and len(pace_keys(port)) == 2


@pytest.mark.parametrize("down", ["closed-port", "wrong-password"])
def test_with_redis_down_or_refusing_the_warning_and_the_logs_hold_no_password(
    down, redis_server, feishu_double, caplog, capfd
):
    port, _ = redis_server
    url = f"redis://127.0.0.1:{free_port() if down == 'closed-port' else port}/0?socket_timeout=2"
    password = PASSWORD if down == "closed-port" else f"{PASSWORD}-wrong"
    with feishu_double.connection_env("feishu_down", extra={"shared_rate_limit": url, PASSWORD_KEY: password}):
        hook = FeishuWorkplaceHook("feishu_down")
        items = list(hook.iter_access_data("block", "2026-10-03", "2026-10-03"))
        hook.close()

    assert len(items) == 5  # paced locally instead
    warnings = [r.getMessage() for r in caplog.records if "shared rate limit" in r.getMessage()]
    assert warnings and "pacing this process alone" in warnings[0] and "127.0.0.1:" in warnings[0]
    captured = capfd.readouterr()
    assert hidden(caplog.text) and hidden(captured.out) and hidden(captured.err)


def test_the_trigger_keeps_no_password_and_still_paces_through_redis(redis_server, feishu_double):
    from airflow_provider_feishu_workplace.triggers.feishu_workplace import FeishuWorkplaceDataTrigger

    port, _ = redis_server
    flush(port)
    extra = {PASSWORD_KEY: PASSWORD}
    with feishu_double.connection_env("feishu_trig", extra=extra):
        trigger = FeishuWorkplaceDataTrigger(
            feishu_conn_id="feishu_trig",
            date="2026-10-01",
            poke_interval=0.1,
            hook_params={"shared_rate_limit": f"redis://127.0.0.1:{port}/0", "backoff_base": 0.01},
        )
        classpath, kwargs = trigger.serialize()
        rebuilt = type(trigger)(**kwargs)  # as the triggerer does
        events = asyncio.run(_first_event(rebuilt))

    assert events["status"] == "published"
    assert hidden(json.dumps(kwargs)) and hidden(repr(trigger)) and hidden(repr(rebuilt))
    assert len(pace_keys(port)) == 2


def test_a_sensor_given_a_password_in_hook_params_fails_before_it_defers(feishu_connection):
    from airflow.providers.common.compat.sdk import AirflowFailException

    from airflow_provider_feishu_workplace.sensors.feishu_workplace import FeishuWorkplaceDataSensor

    sensor = FeishuWorkplaceDataSensor(
        task_id="wait",
        date="2026-10-01",
        deferrable=True,
        hook_params={"shared_rate_limit": f"redis://:{PASSWORD}@127.0.0.1:6379/0"},
    )

    with pytest.raises(AirflowFailException) as raised:  # a config error: no retry either
        sensor.execute({})  # the first check builds the hook: no trigger is made

    assert isinstance(raised.value.__cause__, FeishuConfigError)
    assert PASSWORD_KEY in str(raised.value) and hidden(str(raised.value))


def test_an_operator_given_a_password_in_hook_params_fails_in_a_real_run_without_logging_it(run_dag):
    hook_params = json.dumps({"shared_rate_limit": f"redis://127.0.0.1:6379/0?password={PASSWORD}"})

    import pendulum

    run = run_dag("pw_in_hook_params", pendulum.datetime(2026, 10, 2, tz="UTC"), hook_params=hook_params)

    assert run.states["pull"] == "failed"
    assert PASSWORD_KEY in run.log and hidden(run.log)


def test_airflow_hides_the_password_extra_but_not_the_url():
    from airflow.providers.common.compat.sdk import redact

    url = "redis://127.0.0.1:6379/0"
    assert redact({"shared_rate_limit": url, PASSWORD_KEY: PASSWORD}) == {"shared_rate_limit": url, PASSWORD_KEY: "***"}


async def _first_event(trigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def test_the_rest_api_shows_the_url_and_hides_its_password(api_server):
    import requests

    url, token = api_server
    backend = "redis://127.0.0.1:6379/0"
    extra = {"shared_rate_limit": backend, PASSWORD_KEY: PASSWORD}

    shown = create(api_server, "feishu_pw_api", extra, password="app-secret-canary")
    listed = requests.get(f"{url}/api/v2/connections", headers={"Authorization": f"Bearer {token}"}, timeout=30)

    assert json.loads(shown["extra"]) == {"shared_rate_limit": backend, PASSWORD_KEY: "***"}
    assert listed.status_code == 200 and "feishu_pw_api" in listed.text
    assert hidden(json.dumps(shown)) and hidden(listed.text)
