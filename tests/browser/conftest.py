"""The browser tier: Debian's Chromium driven by Playwright against the real service.

The stack, the service and the bus are the e2e tier's (tests/e2e/conftest.py); this adds a
headless Chromium (by path: Playwright downloads nothing) and the owners' key files.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from service.cli.keys import pkcs8_pem
from tests.e2e.conftest import bus, governance_file, prefix, service, service_env, warm_up
from tests.support.builders import OWNER, OWNER_SEED, SECOND_OWNER, SECOND_SEED, STRANGER_SEED
from tests.support.service import ServiceProcess

__all__ = ["bus", "governance_file", "prefix", "service", "service_env", "warm_up"]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: ops/stack/browser.sh installs it"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PKCS#8 PEM key files as `keygen` writes them: the two owners', and a stranger's."""
    folder = tmp_path_factory.mktemp("keys")
    files = {}
    for name, seed in (
        (OWNER, OWNER_SEED),
        (SECOND_OWNER, SECOND_SEED),
        ("stranger", STRANGER_SEED),
    ):
        path = folder / f"{name.replace(':', '_').replace('@', '_')}.pem"
        path.write_bytes(pkcs8_pem(seed))
        files[name] = path
    return files


async def open_console(browser: Browser, service: ServiceProcess) -> Page:
    context = await browser.new_context(base_url=service.url)
    page = await context.new_page()
    await page.goto("/console")
    await expect(page.locator("body")).to_have_attribute("data-ready", "yes")
    return page


async def sign_in(page: Page, identity: str, key_file: Path) -> None:
    await page.get_by_label("Your identity").fill(identity)
    await page.get_by_label("Your key file").set_input_files(str(key_file))
    await page.get_by_role("button", name="Sign in").click()


async def signed_in(browser: Browser, service: ServiceProcess, identity: str, key: Path) -> Page:
    page = await open_console(browser, service)
    await sign_in(page, identity, key)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your queue")
    return page


async def csrf_of(page: Page) -> str:
    text = await page.locator("#session-data").text_content()
    assert text
    return str(json.loads(text)["csrf"])


def keep_screenshot(path: Path) -> None:
    """Screenshots stay in the test's folder; CONSOLE_SCREENSHOTS copies them out as well."""
    wanted = os.environ.get("CONSOLE_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(wanted) / path.name)
