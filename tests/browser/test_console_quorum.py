"""A two-of-three lane and a revocation in Chromium: the console shows the quorum's progress
and every signed decision (who, meaning, when), and offers revoke on a release."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import keep_screenshot, signed_in
from tests.e2e.steps import ready
from tests.support.builders import (
    OWNER,
    QUORUM_LANE,
    SECOND_OWNER,
    new_id,
    now,
    packet,
    quorum_governance_yaml,
)
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

WHEN = "%Y-%m-%dT%H:%M:%S"


@pytest.fixture(scope="module")
def governance_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gov") / "lanes.yaml"
    path.write_text(quorum_governance_yaml())
    return path


async def approve_on(page: Page, start: datetime, end: datetime) -> None:
    """Tick the same audience and type the same window every owner of the quorum agrees on."""
    for recipient in ("exec:cro", "exec:general-counsel"):
        await page.get_by_label(recipient, exact=True).check()
    await page.get_by_label("Valid from (UTC)").fill(start.strftime(WHEN))
    await page.get_by_label("Valid until (UTC", exact=False).fill(end.strftime(WHEN))
    await page.get_by_role("button", name="Approve and sign").click()


async def test_two_owners_release_a_quorum_revision_and_one_revokes_it_through_the_console(
    browser: Browser, bus: Bus, service: ServiceProcess, key_files: dict[str, Path], tmp_path: Path
) -> None:
    pkt = packet(new_id("RP"), 1, QUORUM_LANE)
    pid = pkt["packet_id"]
    await ready(bus, pkt)
    start = now().replace(microsecond=0) - timedelta(seconds=5)
    end = start + timedelta(days=2)
    path = f"/console/packets/{pid}/r/1"

    first = await signed_in(browser, service, OWNER, key_files[OWNER])
    await first.goto(path)
    await expect(first.locator("#quorum")).to_have_text("0 of 2 required approvals counted.")
    await approve_on(first, start, end)
    await expect(first.locator("#decision-status")).to_contain_text("approvals: 1 of 2")
    await first.reload()
    await expect(first.locator("#cannot-decide")).to_contain_text("you have approved it")
    row = first.locator("#signed-decisions tr.signed")
    await expect(row).to_have_count(1)
    await expect(row.first).to_contain_text(OWNER)
    await expect(row.first).to_contain_text("approve")
    await expect(row.first).not_to_contain_text("not given")
    await first.screenshot(path=tmp_path / "console-quorum.png", full_page=True)
    keep_screenshot(tmp_path / "console-quorum.png")

    second = await signed_in(browser, service, SECOND_OWNER, key_files[SECOND_OWNER])
    await second.goto(path)
    await expect(second.locator("#quorum")).to_have_text("1 of 2 required approvals counted.")
    await approve_on(second, start, end)
    await expect(second.locator("#decision-status")).to_contain_text("released", timeout=30_000)
    [manifest] = await bus.wait_for("release-manifest", f"{pid}@r1:released")
    assert [a["approver"] for a in manifest["data"]["approvals"]] == [OWNER, SECOND_OWNER]

    await first.reload()
    await first.get_by_label("Reason for the revocation (required)").fill("credit cap is wrong")
    await first.get_by_role("button", name="Revoke and sign").click()
    await expect(first.locator("#decision-status")).to_contain_text("rejected", timeout=30_000)
    [ended] = await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:rejected")
    assert (ended["data"]["reason"], ended["schemaversion"]) == ("revoked-by-owner", 2)
    await first.reload()
    await expect(first.locator("#revoke-form")).to_have_count(0)
    await expect(first.locator("#signed-decisions tr.signed")).to_have_count(3)
