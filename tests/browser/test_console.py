"""The release owner's console in Chromium, against the real stack and service.

The seed scenario end to end through the pages, and what the console must refuse: a key
the governance file does not list, the preparer deciding their own packet, terms outside
the lane, a page left open on a superseded revision, and a packet that does not hash to
its revision's hashes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from pymongo import AsyncMongoClient

from service.domain.signing import sign
from service.domain.times import format_time
from tests.browser.conftest import csrf_of, keep_screenshot, open_console, sign_in, signed_in
from tests.e2e.steps import ready
from tests.support.builders import (
    OWNER,
    OWNER_SEED,
    RECIPIENTS,
    SECOND_OWNER,
    evidence_changed,
    new_id,
    now,
    packet,
)
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

WHEN = "%Y-%m-%dT%H:%M:%S"


def revision_path(pid: str, revision: int) -> str:
    return f"/console/packets/{pid}/r/{revision}"


async def choose_terms(page: Page, audience: list[str], days: float) -> tuple[str, str]:
    """Tick the audience, type a window starting a little in the past; the window as sent."""
    for recipient in audience:
        await page.get_by_label(recipient, exact=True).check()
    start = now().replace(microsecond=0) - timedelta(seconds=5)
    end = start + timedelta(days=days)
    await page.get_by_label("Valid from (UTC)").fill(start.strftime(WHEN))
    await page.get_by_label("Valid until (UTC", exact=False).fill(end.strftime(WHEN))
    return format_time(start), format_time(end)


async def test_the_owner_releases_the_seed_scenario_through_the_console(
    browser: Browser, bus: Bus, service: ServiceProcess, key_files: dict[str, Path], tmp_path: Path
) -> None:
    pid, impact = new_id("RP"), new_id("INC")
    await ready(bus, packet(pid, 1, impact=(impact, "7")))
    await ready(bus, packet(pid, 2, impact=(impact, "7")))
    page = await signed_in(browser, service, OWNER, key_files[OWNER])
    await expect(page.get_by_role("link", name=f"{pid} r2")).to_be_visible()
    await page.goto(revision_path(pid, 2))
    await expect(page.locator("#state")).to_have_text("pending")
    await bus.send("evidence-changed", evidence_changed("incident-impact", impact, "8"))
    await expect(page.locator("#state")).to_have_text("superseded")

    r3 = packet(pid, 3, impact=(impact, "8"))
    await ready(bus, r3)
    await page.goto("/console")
    await page.screenshot(path=tmp_path / "console-queue.png", full_page=True)
    keep_screenshot(tmp_path / "console-queue.png")
    await page.get_by_role("link", name=f"{pid} r3").click()
    await expect(page.locator("body")).to_have_attribute("data-integrity", "ok")
    shown = page.locator(".blocked-request")
    await expect(shown).to_have_count(3)
    for i, blocked in enumerate(r3["blocked_requests"]):
        await expect(shown.nth(i).locator(".term")).to_have_text(blocked["term_id"])
        await expect(shown.nth(i).locator(".description")).to_have_text(blocked["description"])
        reason = shown.nth(i).locator(".reason")
        await expect(reason).to_have_text(f"Refused because: {blocked['reason']}")

    window = await choose_terms(page, ["exec:cro", "exec:general-counsel"], days=2)
    await page.screenshot(path=tmp_path / "console-revision.png", full_page=True)
    keep_screenshot(tmp_path / "console-revision.png")
    await page.get_by_role("button", name="Approve and sign").click()
    await expect(page.locator("#decision-status")).to_contain_text("released", timeout=30_000)
    [manifest] = await bus.wait_for("release-manifest", f"{pid}@r3:released")
    data = manifest["data"]
    assert data["audience"] == ["exec:cro", "exec:general-counsel"]
    assert (data["valid_from"], data["valid_until"]) == window
    assert data["approver"] == OWNER


async def test_a_key_the_governance_file_does_not_list_cannot_sign_in(
    browser: Browser, service: ServiceProcess, key_files: dict[str, Path]
) -> None:
    page = await open_console(browser, service)
    await sign_in(page, OWNER, key_files["stranger"])
    await expect(page.locator("#sign-in-status")).to_contain_text("Sign-in refused")
    assert (await page.context.cookies()) == []
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


async def test_the_preparer_signed_in_as_an_owner_is_shown_why_they_cannot_decide(
    browser: Browser, bus: Bus, service: ServiceProcess, key_files: dict[str, Path]
) -> None:
    pid = new_id("RP")
    await ready(bus, packet(pid, 1, prepared_by=SECOND_OWNER))
    page = await signed_in(browser, service, SECOND_OWNER, key_files[SECOND_OWNER])
    await page.goto(revision_path(pid, 1))
    await expect(page.locator("#cannot-decide")).to_contain_text("self-approval")
    await expect(page.locator("#decision-form")).to_have_count(0)


@pytest.fixture
async def owner_page(
    browser: Browser, bus: Bus, service: ServiceProcess, key_files: dict[str, Path]
) -> AsyncIterator[tuple[Page, dict[str, Any]]]:
    pkt = packet(new_id("RP"), 1, impact=(new_id("INC"), "1"))
    await ready(bus, pkt)
    page = await signed_in(browser, service, OWNER, key_files[OWNER])
    await page.goto(revision_path(pkt["packet_id"], 1))
    await expect(page.locator("body")).to_have_attribute("data-integrity", "ok")
    yield page, pkt
    await page.context.close()


async def test_only_the_lanes_recipients_are_offered_and_a_too_long_window_is_not_sent(
    owner_page: tuple[Page, dict[str, Any]], bus: Bus
) -> None:
    page, pkt = owner_page
    offered = page.locator("input[name=audience]")
    assert [
        await offered.nth(i).get_attribute("value") for i in range(await offered.count())
    ] == list(RECIPIENTS)
    await choose_terms(page, ["exec:cro"], days=8)  # the lane allows P7D
    await page.get_by_role("button", name="Approve and sign").click()
    await expect(page.locator("#decision-status")).to_contain_text("longer than the lane allows")
    assert (
        bus.matching(
            "packet-lifecycle",
            lambda e: (
                e["data"]["packet_id"] == pkt["packet_id"] and e["data"]["to_state"] == "approved"
            ),
        )
        == []
    )


def forced(pkt: dict[str, Any], **terms: Any) -> dict[str, Any]:
    start = now().replace(microsecond=0)
    data: dict[str, Any] = {
        "decision_id": new_id("AD"),
        "packet_id": pkt["packet_id"],
        "revision": pkt["revision"],
        "decision": "approve",
        "approver": OWNER,
        "lane_id": pkt["lane_id"],
        "packet_hash": pkt["packet_hash"],
        "option_set_hash": pkt["option_set_hash"],
        "audience": ["exec:cro"],
        "valid_from": format_time(start),
        "valid_until": format_time(start + timedelta(days=1)),
        **terms,
    }
    data["signature"] = sign(data, OWNER_SEED)
    return data


async def test_terms_outside_the_lane_forced_past_the_page_are_refused_by_the_server(
    owner_page: tuple[Page, dict[str, Any]],
) -> None:
    page, pkt = owner_page
    headers = {"x-csrf-token": await csrf_of(page), "content-type": "application/json"}
    start = now().replace(microsecond=0)
    for terms, said in (
        ({"audience": ["exec:cro", "user:outsider@partner"]}, "lane's recipients"),
        ({"valid_until": format_time(start + timedelta(days=8))}, "at most"),
    ):
        answer = await page.request.post(
            "/console/decisions", data=json.dumps(forced(pkt, **terms)), headers=headers
        )
        assert answer.status == 400
        assert said in (await answer.json())["error"]
    no_csrf = await page.request.post("/console/decisions", data=json.dumps(forced(pkt)))
    assert no_csrf.status == 403


async def test_a_page_left_open_on_a_superseded_revision_shows_it_and_the_gate_refuses(
    browser: Browser, bus: Bus, service: ServiceProcess, key_files: dict[str, Path]
) -> None:
    impact = new_id("INC")
    pkt = packet(new_id("RP"), 1, impact=(impact, "1"))
    await ready(bus, pkt)
    page = await signed_in(browser, service, OWNER, key_files[OWNER])
    await page.goto(revision_path(pkt["packet_id"], 1))
    await expect(page.locator("#state")).to_have_text("pending")
    await bus.send("evidence-changed", evidence_changed("incident-impact", impact, "2"))
    await expect(page.locator("#state")).to_have_text("superseded")
    await choose_terms(page, ["exec:cro"], days=1)
    await page.get_by_role("button", name="Approve and sign").click()
    await expect(page.locator("#decision-status")).to_contain_text("not-pending", timeout=30_000)


@pytest.fixture
async def facts(service: ServiceProcess, prefix: str) -> AsyncIterator[Any]:
    url = service.env.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    yield client[prefix.strip("-").replace("-", "_")]["facts"]
    await client.close()


async def test_the_page_refuses_to_sign_a_packet_that_does_not_hash_to_its_revision(
    browser: Browser, bus: Bus, service: ServiceProcess, key_files: dict[str, Path], facts: Any
) -> None:
    pkt = packet(new_id("RP"), 1)
    await ready(bus, pkt)
    created = f"{pkt['packet_id']}@r1/1"
    stored = await facts.find_one({"_id": created})
    summary = pkt["options"][0]["summary"]
    doctored = stored["data"].replace(summary, summary + " (and more)")
    assert doctored != stored["data"]
    await facts.update_one({"_id": created}, {"$set": {"data": doctored}})
    page = await signed_in(browser, service, OWNER, key_files[OWNER])
    await page.goto(revision_path(pkt["packet_id"], 1))
    await expect(page.locator("body")).to_have_attribute("data-integrity", "mismatch")
    await expect(page.locator("#integrity")).to_contain_text("refuses to sign")
    await expect(page.get_by_role("button", name="Approve and sign")).to_be_disabled()
