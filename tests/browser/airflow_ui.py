"""The Airflow UI under test, on each supported Airflow: its server on loopback and how a user works its form.

Airflow 3 serves a React UI from ``airflow api-server`` (SimpleAuthManager, every user an admin); Airflow
2.11 a Flask app from ``airflow webserver`` (FAB auth: an admin user made for the session logs in). Both
run with an AIRFLOW_HOME of their own. The tests speak to :class:`ReactUI` and :class:`FlaskUI` through
the same methods, so what differs between the versions stays here.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from airflow_provider_feishu_workplace._connection_fields import CONN_FIELDS
from tests.airflow_versions import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_3_PLUS, API_SERVER_ENV
from tests.loopback import free_port

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
START_TIMEOUT = 180

# Airflow 3.3's Test icon sends ``port: 0`` for a connection without a port (the React UI's
# ``Number(null)``), and 3.3's API refuses it as "The host or port to test differs from the stored
# connection" unless the request carries the password, which the UI masks. Fixed upstream by
# apache/airflow#73298 (the API treats port 0 as no port), in no 3.3 release yet.
TEST_PORT_BUG = "apache/airflow#73298: Airflow 3.3's Test icon sends port 0 and its API refuses it ('Bad Request')"
HAS_TEST_PORT_BUG = AIRFLOW_V_3_3_PLUS
# Airflow 3.0's React UI has no Test button for connections (3.1 added the list's Test icon); Airflow 2's
# Flask form has a Test button that tests what the form holds.
HAS_TEST_ICON = AIRFLOW_V_3_1_PLUS
EXTRA_LABELS = tuple(field["label"] for field in CONN_FIELDS.values())


def server_env(home: Path) -> dict[str, str]:
    """The environment of the UI server and of the CLI commands that prepare its home."""
    from cryptography.fernet import Fernet

    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__WEBSERVER__WORKERS": "1",
            # gunicorn's sync worker serves one socket at a time and blocks on Chromium's idle preconnects;
            # gthread waits for a request on every open socket at once.
            "AIRFLOW__WEBSERVER__WORKER_CLASS": "gthread",
            "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session",
            **API_SERVER_ENV,
        }
    )
    return env


def _run(args: list[str], env: dict[str, str], log: Path) -> None:
    with open(log, "ab") as output:
        done = subprocess.run([AIRFLOW, *args], stdout=output, stderr=subprocess.STDOUT, env=env, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"airflow {args[0]} {args[1]} failed ({done.returncode}):\n{log.read_text()[-3000:]}")


@contextmanager
def running_ui(home: Path) -> Iterator[AirflowUI]:
    """Prepare ``home``, start this Airflow's UI server on 127.0.0.1, yield its driver, stop the server."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dags").mkdir(exist_ok=True)
    env = server_env(home)
    log = home / "server.log"
    _run(["db", "migrate"], env, log)
    ui_class = ReactUI if AIRFLOW_V_3_0_PLUS else FlaskUI
    ui = ui_class(f"http://127.0.0.1:{free_port()}")
    if not AIRFLOW_V_3_0_PLUS:
        ui.password = secrets.token_urlsafe(16)
        _run(
            ["users", "create", "-u", ui.user, "-p", ui.password, "-r", "Admin", "-f", "Admin", "-l", "User",
             "-e", "admin@example.com"],
            env,
            log,
        )  # fmt: skip
    port = ui.url.rsplit(":", 1)[1]
    command = (
        ["api-server", "-H", "127.0.0.1", "-p", port, "--workers", "1"]
        if AIRFLOW_V_3_0_PLUS
        else ["webserver", "-H", "127.0.0.1", "-p", port, "--workers", "1"]
    )
    with airflow_service(command, env, log, ready=ui.ready):
        yield ui


@contextmanager
def airflow_service(
    command: list[str], env: dict[str, str], log: Path, *, ready: Callable[[], bool]
) -> Iterator[subprocess.Popen]:
    """Run ``airflow <command>`` in a session of its own (output appended to ``log``) for the ``with`` block.

    Waits until ``ready()``; raises with the log's tail if the service exits first or is not ready within
    ``START_TIMEOUT`` seconds. At the end its session gets SIGTERM, and SIGKILL if it is still there 30 s later.
    """
    with open(log, "ab") as output:
        server = subprocess.Popen(
            [AIRFLOW, *command], stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if server.poll() is not None:
                raise RuntimeError(f"airflow {command[0]} exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"airflow {command[0]} did not answer in {START_TIMEOUT} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


def answers_health(url: str) -> bool:
    """Whether an Airflow server's health endpoint at ``url`` answers 200 (it is up)."""
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


class AirflowUI:
    """How a user drives the connection pages of one Airflow UI (a Playwright page in, plain data out)."""

    url: str

    def __init__(self, url: str) -> None:
        self.url = url

    #: Where the server answers 200 once it serves.
    health_path: str

    def ready(self) -> bool:
        return answers_health(f"{self.url}{self.health_path}")

    # Implemented per UI

    def login(self, page) -> None:
        raise NotImplementedError

    def open_new_form(self, page) -> None:
        raise NotImplementedError

    def search_types(self, page, text: str) -> list[str]:
        raise NotImplementedError

    def choose_type(self, page, hook_name: str) -> None:
        raise NotImplementedError

    def fields(self, page) -> dict[str, dict[str, str | None]]:
        """The form's visible fields: ``{label: {"placeholder": ..., "help": ..., "placeholder_fits": ...}}``.

        ``placeholder_fits``: whether the placeholder shows whole in its input (None without one).
        """
        raise NotImplementedError

    def fill(self, page, values: dict[str, str]) -> None:
        """Type ``{label: value}`` into the form (select fields get the option of that name)."""
        raise NotImplementedError

    def save(self, page) -> None:
        raise NotImplementedError

    def open_edit_form(self, page, conn_id: str) -> None:
        raise NotImplementedError

    def revealed_values(self, page) -> list[str]:
        """Click every eye icon of the edit form; return the values of all its inputs."""
        raise NotImplementedError

    def form_screenshot(self, page, target: Path) -> None:
        """Save a PNG of the open form, every section of it unfolded."""
        raise NotImplementedError

    def test_connection(self, page, conn_id: str | None = None, *, apply_port_fix: bool = False) -> str:
        """Press Test as a user does (React: the list's icon for ``conn_id``; Flask: the open form's
        button); return the message shown."""
        raise NotImplementedError

    def _rest_auth(self) -> dict[str, Any]:
        """The keyword arguments of ``requests`` that sign a REST call in as the UI's admin."""
        raise NotImplementedError

    # The REST API, the same on every UI but for its prefix and sign-in
    api_prefix: str

    def _rest(self, method: str, path: str) -> requests.Response:
        return requests.request(method, f"{self.url}{self.api_prefix}{path}", timeout=30, **self._rest_auth())

    def rest_connection(self, conn_id: str) -> dict[str, Any]:
        answer = self._rest("GET", f"/connections/{conn_id}")
        answer.raise_for_status()
        return answer.json()

    def rest_connections(self) -> str:
        answer = self._rest("GET", "/connections")
        answer.raise_for_status()
        return answer.text

    def delete(self, conn_id: str) -> None:
        self._rest("DELETE", f"/connections/{conn_id}")


def _field_rows_script(root_selector: str, row_selector: str, help_selector: str) -> str:
    return f"""() => {{
        {_FITS_WHOLE}
        const root = document.querySelector({json.dumps(root_selector)});
        return [...root.querySelectorAll({json.dumps(row_selector)})]
            .filter(row => row.offsetParent !== null && row.querySelector('label'))
            .map(row => {{
                const input = row.querySelector('input:not([type=hidden]), textarea, select');
                const help = row.querySelector({json.dumps(help_selector)});
                const placeholder = input ? input.getAttribute('placeholder') : null;
                return [row.querySelector('label').innerText.replace('*', '').trim(), placeholder,
                        help ? help.innerText.trim() : null, placeholder ? fitsWhole(input, placeholder) : null];
            }});
    }}"""


# Whether a placeholder shows whole: its width in the input's font against the input's inner width.
_FITS_WHOLE = """
    const fitsWhole = (input, text) => {
        const style = getComputedStyle(input);
        const context = document.createElement('canvas').getContext('2d');
        // Not style.font: the shorthand reads empty where a font-variant longhand is set (Chakra's inputs).
        context.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        return context.measureText(text).width <= room;
    };
"""


class ReactUI(AirflowUI):
    """Airflow 3's React UI: the Add Connection dialog, the list's Test / Edit icons, toasts."""

    _token: str | None = None
    api_prefix = "/api/v2"
    health_path = "/api/v2/monitor/health"

    def login(self, page) -> None:
        # Every user is an admin; the first visit still passes through the login redirect, which lands on
        # the home page on Airflow 3.1 whatever page was asked for.
        page.goto(self.url)
        page.get_by_role("button", name="Admin").wait_for()
        page.goto(f"{self.url}/connections")
        page.get_by_role("button", name="Add Connection").wait_for()

    def open_new_form(self, page) -> None:
        page.goto(f"{self.url}/connections")
        page.get_by_role("button", name="Add Connection").click()
        page.get_by_role("dialog").get_by_role("combobox").wait_for()

    def search_types(self, page, text: str) -> list[str]:
        page.get_by_role("dialog").get_by_role("combobox").first.fill(text)
        page.wait_for_timeout(300)
        return page.get_by_role("option").all_inner_texts()

    def choose_type(self, page, hook_name: str) -> None:
        self.search_types(page, hook_name)
        page.get_by_role("option", name=hook_name, exact=True).click()
        page.get_by_role("dialog").get_by_role("button", name="Standard Fields", exact=True).wait_for()

    def _open_section(self, page, name: str) -> None:
        """Open one of the form's folding sections ("Standard Fields", "Extra Fields"), if it is there."""
        trigger = page.get_by_role("dialog").get_by_role("button", name=name, exact=True)
        if trigger.count() and trigger.get_attribute("aria-expanded") != "true":
            trigger.click()
            page.wait_for_timeout(300)

    def _section_of(self, label: str) -> str | None:
        if label in EXTRA_LABELS:
            return "Extra Fields"
        if label in ("Connection ID", "Connection Type"):
            return None
        return "Standard Fields"

    def fields(self, page) -> dict[str, dict[str, str | None]]:
        script = _field_rows_script("[role=dialog]", "[data-scope=field][data-part=root]", "[data-part=helper-text]")
        found = {}
        for section in ("Standard Fields", "Extra Fields"):
            self._open_section(page, section)
            for label, placeholder, help_, fits in page.evaluate(script):
                found[label] = {"placeholder": placeholder, "help": help_, "placeholder_fits": fits}
        return found

    def fill(self, page, values: dict[str, str]) -> None:
        dialog = page.get_by_role("dialog")
        for label, value in values.items():
            section = self._section_of(label)
            if section:
                self._open_section(page, section)
            # By the field's box, not get_by_label: the extras' labels point at no input's id in Airflow 3.3.
            name = page.locator("label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))
            box = dialog.locator("[data-scope=field][data-part=root]").filter(has=name)
            field = box.locator("input:not([type=hidden]), textarea").first
            if field.get_attribute("role") == "combobox":
                field.fill(value)
                page.get_by_role("option", name=value, exact=True).click()
            else:
                field.fill(value)

    def save(self, page) -> None:
        with page.expect_response(lambda r: "/api/v2/connections" in r.url and r.request.method in ("POST", "PATCH")):
            page.get_by_role("dialog").get_by_role("button", name="Save").click()
        page.get_by_role("dialog").wait_for(state="detached")

    def _row(self, page, conn_id: str):
        page.goto(f"{self.url}/connections")
        row = page.get_by_role("row").filter(has=page.get_by_text(conn_id, exact=True))
        row.wait_for()
        return row

    def open_edit_form(self, page, conn_id: str) -> None:
        self._row(page, conn_id).get_by_role("button", name="Edit Connection").click()
        page.get_by_role("dialog").get_by_role("combobox").first.wait_for()
        page.wait_for_timeout(300)

    def revealed_values(self, page) -> list[str]:
        dialog = page.get_by_role("dialog")
        values = []
        for section in ("Standard Fields", "Extra Fields", "Extra Fields JSON"):
            self._open_section(page, section)
            # A clicked eye becomes "Hide value": always click the first one left (a section may hold several).
            eyes = dialog.get_by_role("button", name="Show value")
            for _ in range(eyes.count()):
                eyes.first.click()
            page.wait_for_timeout(200)
            values += dialog.locator("input, textarea").evaluate_all("elements => elements.map(e => e.value)")
            values.append(dialog.inner_text())  # the extras' JSON editor shows its text in elements, not inputs
        return values

    def form_screenshot(self, page, target: Path) -> None:
        # The dialog unfolds one section at a time: shoot each, and lay the shots side by side.
        dialog = page.get_by_role("dialog")
        page.wait_for_timeout(1000)  # the dialog's opening zoom has ended
        shots = []
        for section in ("Standard Fields", "Extra Fields"):
            self._open_section(page, section)
            dialog.get_by_role("heading").first.click()  # no field focused
            page.wait_for_timeout(400)
            shots.append(base64.b64encode(dialog.screenshot(animations="disabled", caret="hide")).decode())
        sheet = page.context.new_page()
        images = "".join(f'<img src="data:image/png;base64,{shot}">' for shot in shots)
        layout = "display:inline-flex;align-items:flex-start;gap:16px;padding:16px;background:#888"
        sheet.set_content(f'<div id="sheet" style="{layout}">{images}</div>')
        sheet.locator("#sheet").screenshot(path=str(target))
        sheet.close()

    def test_connection(self, page, conn_id: str, *, apply_port_fix: bool = False) -> str:
        """Click the list's Test icon for ``conn_id``; return the toast's text.

        ``apply_port_fix``: send the request as Airflow 3.3 will accept it once apache/airflow#73298
        is released (port 0, which names no port, left out), to see the message the user then gets.
        """
        row = self._row(page, conn_id)
        if apply_port_fix:

            def without_port_zero(route):
                body = json.loads(route.request.post_data or "{}")
                if body.get("port") == 0:
                    del body["port"]
                route.continue_(post_data=json.dumps(body))

            page.route("**/api/v2/connections/test", without_port_zero)
        page.locator("[data-scope=toast][data-part=root]").evaluate_all("toasts => toasts.forEach(t => t.remove())")
        row.get_by_role("button", name="Test Connection").click()
        toast = page.locator("[data-scope=toast][data-part=root]").first
        toast.wait_for()
        page.wait_for_timeout(300)
        if apply_port_fix:
            page.unroute("**/api/v2/connections/test")
        return toast.inner_text()

    def _rest_auth(self) -> dict[str, Any]:
        if self._token is None:
            self._token = requests.get(f"{self.url}/auth/token", timeout=30).json()["access_token"]
        return {"headers": {"Authorization": f"Bearer {self._token}"}}


class FlaskUI(AirflowUI):
    """Airflow 2.11's Flask UI: /connection/add and /connection/edit, a select2 type list, alerts."""

    user = "admin"
    password = ""
    api_prefix = "/api/v1"
    health_path = "/health"

    def login(self, page) -> None:
        page.goto(f"{self.url}/login/")
        page.fill("#username", self.user)
        page.fill("#password", self.password)
        page.click("input[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url, wait_until="commit")

    def open_new_form(self, page) -> None:
        page.goto(f"{self.url}/connection/add")
        page.locator("#conn_type + .select2").wait_for()

    def search_types(self, page, text: str) -> list[str]:
        search = page.locator(".select2-search__field")
        if not search.is_visible():
            page.locator("#conn_type + .select2").click()
        search.fill(text)
        page.wait_for_timeout(300)
        return page.locator(".select2-results__option").all_inner_texts()

    def choose_type(self, page, hook_name: str) -> None:
        self.search_types(page, hook_name)
        page.locator(".select2-results__option", has_text=hook_name).first.click()
        page.locator("label", has_text="App ID").wait_for()

    def fields(self, page) -> dict[str, dict[str, str | None]]:
        rows = page.evaluate(_field_rows_script("#model_form", "tr", ".help-block"))
        return {
            label: {"placeholder": placeholder or None, "help": help_ or None, "placeholder_fits": fits}
            for label, placeholder, help_, fits in rows
        }

    def _input(self, page, label: str):
        field_id = page.locator("#model_form label", has_text=label).first.get_attribute("for")
        return page.locator(f"#{field_id}")

    def fill(self, page, values: dict[str, str]) -> None:
        for label, value in values.items():
            if label == "Connection Id":
                page.fill("#conn_id", value)
            else:
                self._input(page, label).fill(value)

    def save(self, page) -> None:
        with page.expect_navigation():
            page.locator("#model_form button[type=submit], #model_form input[type=submit]").first.click()

    def open_edit_form(self, page, conn_id: str) -> None:
        page.goto(f"{self.url}/connection/list/?_flt_0_conn_id={conn_id}")
        page.locator("a[href*='/connection/edit/']").first.click()
        page.locator("#test-connection").wait_for()

    def form_screenshot(self, page, target: Path) -> None:
        page.locator("#model_form").screenshot(path=str(target), animations="disabled", caret="hide")

    def revealed_values(self, page) -> list[str]:
        # The Flask form has no eye icon: what a user can read is each input's value.
        return page.locator("#model_form input, #model_form textarea").evaluate_all(
            "elements => elements.map(e => e.value)"
        )

    def test_connection(self, page, conn_id: str | None = None, *, apply_port_fix: bool = False) -> str:
        """Click the open form's Test button; return the alert's text."""
        page.locator("#test-connection").click()
        alert = page.locator(".alert-success, .alert-error, .alert-danger").first
        alert.wait_for()
        return alert.inner_text()

    def _rest_auth(self) -> dict[str, Any]:
        return {"auth": (self.user, self.password)}
