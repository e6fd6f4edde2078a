"""Browser tests: a real headless Chromium drives the admin served by a live server.

Playwright for Python drives the system's Chromium (Debian's `chromium` package; the path
comes from `OMNICORE_CHROMIUM`, default `/usr/bin/chromium`) — no browser is downloaded.
Where no Chromium is installed the whole folder is skipped, saying so. Screenshots go to
`OMNICORE_SCREENSHOTS` (default `tests/browser/screenshots/`, ignored by git).
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("OMNICORE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get("OMNICORE_SCREENSHOTS", Path(__file__).resolve().parent / "screenshots")
)
PASSWORD = "Quiet-Harbour-4821"
# Chromium flags for a closed network and a root user: no background connections, no
# sandbox (the kernel's user namespaces are not available to root in CI containers).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium_missing() -> str:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (install Debian's chromium, or set OMNICORE_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:  # pragma: no cover - the dev extra installs it
        return "Playwright for Python is not installed (pip install -e .[dev])"
    return ""


def pytest_collection_modifyitems(config, items):
    reason = _chromium_missing()
    if not reason:
        return
    skip = pytest.mark.skip(reason=f"browser tests skipped: {reason}")
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API keeps an event loop in this thread; Django's ORM refuses to run
    # beside a running loop unless told this thread is only a test driver.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def roles(transactional_db):
    """Browser tests run in transactional tests, which empty the database around each test:
    the role groups the migrations installed are put back."""
    from django.apps import apps

    from staff.roles import roles_install

    roles_install(apps)


@pytest.fixture
def page(browser, live_server):
    """A tablet-sized page (768 × 1024) of a fresh browser context.

    The live server answers each request in a thread of its own; with persistent database
    connections those threads would keep their sessions open after the test (and other
    tests count the sessions on the database), so here every request closes its connection.
    """
    from django.db import connections

    settings_dict = connections["default"].settings_dict
    kept = settings_dict["CONN_MAX_AGE"]
    settings_dict["CONN_MAX_AGE"] = 0
    context = browser.new_context(viewport={"width": 768, "height": 1024}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
    settings_dict["CONN_MAX_AGE"] = kept


@pytest.fixture
def shot():
    """shot(page, name): save a full-page screenshot under the screenshots folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/admin/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
