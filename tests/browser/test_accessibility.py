"""axe-core (bundled by axe-playwright-python) finds no serious or critical violation on the
console's sign-in, queue, revision and history pages."""

from __future__ import annotations

from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page

from tests.browser.conftest import open_console, signed_in
from tests.e2e.steps import ready
from tests.support.builders import OWNER, new_id, packet
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

SERIOUS = {"serious", "critical"}


async def serious_violations(page: Page) -> list[str]:
    results = await Axe().run(page)
    violations = results.response["violations"]
    assert isinstance(violations, list)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v.get("impact") in SERIOUS
    ]


async def test_the_console_pages_have_no_serious_or_critical_accessibility_violation(
    browser: Browser, bus: Bus, service: ServiceProcess, key_files: dict[str, Path]
) -> None:
    page = await open_console(browser, service)
    checked = {"sign-in": await serious_violations(page)}
    pid = new_id("RP")
    await ready(bus, packet(pid, 1))
    await ready(bus, packet(pid, 2))
    page = await signed_in(browser, service, OWNER, key_files[OWNER])
    checked["queue"] = await serious_violations(page)
    await page.goto(f"/console/packets/{pid}/r/2")
    await page.wait_for_selector("body[data-integrity=ok]")
    checked["revision"] = await serious_violations(page)
    await page.goto(f"/console/packets/{pid}")
    checked["history"] = await serious_violations(page)
    assert checked == {"sign-in": [], "queue": [], "revision": [], "history": []}
