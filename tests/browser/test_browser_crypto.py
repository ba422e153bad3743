"""The console's own cryptography in Chromium agrees with the contract's test vectors.

RFC 8785 and the two packet digests (static/jcs.js), and an Ed25519 signature made by a
WebCrypto key imported from the owner's PKCS#8 key file (static/console.js), over the same
canonical approval data the CLI and the gate use.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from playwright.async_api import Browser

from tests.browser.conftest import open_console
from tests.support.builders import OWNER, event, vectors
from tests.support.service import ServiceProcess

RUN_IN_PAGE = """async ([packet, approval, pem]) => {
  const jcs = await import("/console/static/jcs.js");
  const ui = await import("/console/static/console.js");
  const hashes = await jcs.packetHashes(packet);
  const { signature, ...unsigned } = approval;
  const key = await crypto.subtle.importKey(
    "pkcs8", ui.pkcs8Of(pem), { name: "Ed25519" }, false, ["sign"]);
  const signed = await crypto.subtle.sign(
    "Ed25519", key, new TextEncoder().encode(jcs.canonicalize(unsigned)));
  return {
    hashes,
    canonical_options: jcs.canonicalize(packet.options),
    signing_input: jcs.canonicalize(unsigned),
    signature: btoa(String.fromCharCode(...new Uint8Array(signed))),
    extractable: key.extractable,
  };
}"""


async def test_the_browser_hashes_canonicalises_and_signs_as_the_contract_vectors_say(
    browser: Browser, service: ServiceProcess, key_files: dict[str, Path]
) -> None:
    page = await open_console(browser, service)
    packet = event("packet-ready.json")["data"]
    approval = event("approval-decision.json")["data"]
    pem = key_files[OWNER].read_text()
    got = await page.evaluate(RUN_IN_PAGE, [packet, approval, pem])
    v = vectors()
    assert got["hashes"] == {
        "packet_hash": v["packet_hash"],
        "option_set_hash": v["option_set_hash"],
    }
    assert got["canonical_options"] == v["canonical_option_set"]
    assert got["signing_input"] == v["approval_signing_input"]
    # Ed25519 is deterministic: the same key over the same bytes gives the vector's signature.
    assert got["signature"] == v["approval_signature"] == approval["signature"]
    assert got["extractable"] is False
    assert base64.b64decode(got["signature"])  # standard base64, as the contract says
    assert json.loads(got["signing_input"])["approver"] == OWNER
