"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, one Airflow UI server per session.

Nothing downloads a browser: Playwright launches the system Chromium (``make test`` installs Debian's
``chromium`` package with scripts/install-chromium.sh; ``FEISHU_TEST_CHROMIUM`` names another binary).
Where there is none, the tests fail in CI and are skipped elsewhere, saying why.
"""

from __future__ import annotations

import os
import shutil

import pytest

from airflow_provider_feishu_workplace.testing import FeishuDouble

VIEWPORT = {"width": 1280, "height": 1400}


def _unavailable(reason: str):
    if os.environ.get("CI") in ("true", "1"):
        pytest.fail(f"The browser tests must run in CI: {reason}")
    pytest.skip(f"The browser tests cannot run here: {reason}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("FEISHU_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        _unavailable("no Chromium (run scripts/install-chromium.sh as root, or set FEISHU_TEST_CHROMIUM)")
    return path


# Package scope, not session: while Playwright's sync API is started, the main thread counts as running an
# asyncio loop, and the rest of the suite's asyncio.run() (triggers) and fsspec calls (S3) would fail.
@pytest.fixture(scope="package")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def airflow_ui(browser, tmp_path_factory):
    """This Airflow's UI server on 127.0.0.1 with its own AIRFLOW_HOME (see tests/browser/airflow_ui.py)."""
    from tests.browser.airflow_ui import running_ui

    with running_ui(tmp_path_factory.mktemp("airflow-ui")) as ui:
        yield ui


@pytest.fixture(scope="package")
def ui_double():
    """A Feishu double the UI server's connection tests reach on loopback."""
    with FeishuDouble() as double:
        yield double


@pytest.fixture(scope="package")
def logged_in(browser, airflow_ui):
    """The browser state of a logged-in user, made once: Airflow 2.11's login allows 5 per 40 seconds."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    airflow_ui.login(context.new_page())
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def page(browser, logged_in):
    """A fresh browser tab of the logged-in user (no motion: screenshots are taken when still)."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US", reduced_motion="reduce", storage_state=logged_in)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()
