"""Browser tests: Debian's chromium, driven by Playwright, against pytest-django's live server.

Playwright's own browser download is never used: `browser` launches /usr/bin/chromium
through `playwright.sync_api` directly. These fixtures replace pytest-playwright's
`browser` and `page` for the tests in this directory.

The live server makes every test transactional: the database is flushed after each
test, so `audit_genesis` puts back the audit chain's genesis row that a migration
created.
"""

import pytest
from playwright.sync_api import sync_playwright

from northstar.audit.models import AuditHead
from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A laptop screen.
VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def audit_genesis(transactional_db):
    AuditHead.objects.get_or_create(pk=1)


@pytest.fixture
def console_problems():
    """Console errors (CSP violations among them) and uncaught exceptions seen by `page`."""
    return []


@pytest.fixture
def page(browser, live_server, console_problems):
    """A new browser context per test, with relative URLs resolved against the live server."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    new_page = context.new_page()
    new_page.on("console", lambda message: message.type == "error" and console_problems.append(
        f"console error on {new_page.url}: {message.text}"))
    new_page.on("pageerror", lambda error: console_problems.append(f"uncaught error on {new_page.url}: {error}"))
    yield new_page
    context.close()


@pytest.fixture
def logged_in_page(page):
    """`logged_in_page(username)`: `page`, logged in through the real login form."""
    def login(username: str):
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login/" not in url)
        return page
    return login
