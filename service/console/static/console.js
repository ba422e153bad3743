// The release owner's console: sign-in by key possession, and what you see is what you sign.
// The private key is imported from the owner's key file into a non-extractable WebCrypto
// key, kept in this browser's IndexedDB, and never sent anywhere.
import { canonicalize, packetHashes } from "./jcs.js";

const DB_NAME = "release-gate-console";
const STORE = "keys";
// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): this prefix, then the 32 seed bytes.
const PKCS8_ED25519_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65,
  0x70, 0x04, 0x22, 0x04, 0x20];

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function keep(identity, key) {
  const db = await openDb();
  await new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).put(key, identity);
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
}

async function keyOf(identity) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const request = db.transaction(STORE).objectStore(STORE).get(identity);
    request.onsuccess = () => resolve(request.result || null);
    request.onerror = () => reject(request.error);
  });
}

function fromBase64(text) {
  return Uint8Array.from(atob(text.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
}

function toBase64(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

export function pkcs8Of(text) {
  const pem = text.match(/-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/);
  if (pem) {
    return fromBase64(pem[1]);
  }
  const seed = fromBase64(text.trim());
  if (seed.length !== 32) {
    throw new Error("the key file holds neither a PKCS#8 PEM key nor a 32-byte base64 seed");
  }
  return Uint8Array.from([...PKCS8_ED25519_PREFIX, ...seed]);
}

async function importKeyFile(file) {
  const der = pkcs8Of(await file.text());
  return crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
}

async function sign(key, text) {
  const signature = await crypto.subtle.sign("Ed25519", key, new TextEncoder().encode(text));
  return toBase64(signature);
}

function say(id, text, refused = false) {
  const node = document.getElementById(id);
  node.textContent = text;
  node.classList.toggle("refused", refused);
}

function sessionData() {
  const node = document.getElementById("session-data");
  return node ? JSON.parse(node.textContent) : null;
}

async function send(method, path, body, csrf) {
  const headers = { "content-type": "application/json" };
  if (csrf) {
    headers["x-csrf-token"] = csrf;
  }
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  let answer = {};
  try { answer = await response.json(); } catch { answer = {}; }
  return { status: response.status, answer };
}

async function signIn(event) {
  event.preventDefault();
  const identity = document.getElementById("identity").value.trim();
  const file = document.getElementById("key-file").files[0];
  try {
    const key = await importKeyFile(file);
    const asked = await send("POST", "/session/challenge", { identity });
    if (asked.status !== 200) {
      return say("sign-in-status", `Sign-in refused: ${asked.answer.error}`, true);
    }
    const signature = await sign(key, asked.answer.message);
    const proof = { identity, challenge: asked.answer.challenge, signature };
    const opened = await send("POST", "/session", proof);
    if (opened.status !== 200) {
      return say("sign-in-status", `Sign-in refused: ${opened.answer.error}`, true);
    }
    await keep(identity, key);
    say("sign-in-status", "Signed in.");
    window.location.assign("/console");
  } catch (error) {
    say("sign-in-status", `Sign-in failed: ${error.message}`, true);
  }
}

function isoOf(localValue) {
  // datetime-local values are read as UTC; the contract's form has whole seconds and a Z.
  const withSeconds = localValue.length === 16 ? localValue + ":00" : localValue;
  return new Date(withSeconds + "Z").toISOString().replace(/\.\d{3}Z$/, "Z");
}

function decisionData(data, kind, form) {
  const decision = {
    decision_id: `AD-${data.packet_id}-r${data.revision}-${crypto.randomUUID().slice(0, 8)}`,
    packet_id: data.packet_id,
    revision: data.revision,
    decision: kind,
    approver: data.identity,
    lane_id: data.lane_id,
    packet_hash: data.packet.packet_hash,
    option_set_hash: data.packet.option_set_hash,
    // Schema version 2: the signing time is inside the signed bytes (its meaning is `decision`).
    signed_at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
  const comment = form.comment.value.trim();
  if (kind === "approve") {
    decision.audience = [...form.querySelectorAll("input[name=audience]:checked")].map((i) => i.value);
    decision.valid_from = isoOf(form["valid-from"].value);
    decision.valid_until = isoOf(form["valid-until"].value);
    if (comment) {
      decision.reason = comment;
    }
  } else {
    decision.reason = comment || `${kind === "revoke" ? "revoked" : "rejected"} by the release owner`;
  }
  return decision;
}

function problemsOf(data, decision) {
  if (decision.decision !== "approve") {
    return "";
  }
  if (decision.audience.length === 0) {
    return "choose at least one recipient";
  }
  if (decision.audience.some((a) => !data.authorized_recipients.includes(a))) {
    return "every recipient must be one of the lane's authorized recipients";
  }
  const span = (Date.parse(decision.valid_until) - Date.parse(decision.valid_from)) / 1000;
  if (!(span > 0)) {
    return "the window must end after it starts";
  }
  if (span > data.max_validity_seconds) {
    return `the window is longer than the lane allows (${data.max_validity_seconds} s)`;
  }
  return "";
}

async function follow(data, eventId) {
  const path = `/console/packets/${encodeURIComponent(data.packet_id)}/r/${data.revision}/status`;
  for (let i = 0; i < 240; i += 1) {
    const { status, answer } = await send("GET", `${path}?event=${encodeURIComponent(eventId)}`);
    if (status === 200) {
      document.getElementById("state").textContent = answer.state;
      const outcome = answer.outcome;
      // Only what the gate did with *this* decision answers: the state alone may be the one
      // before it (a revocation of a released revision is sent while it is still released).
      if (outcome && outcome.kind === "approval-counted") {
        return say("decision-status", `Counted: ${outcome.detail}. Other owners must approve on the same terms.`);
      }
      if (outcome && outcome.kind === "refused") {
        return say("decision-status", `Refused by the gate: ${outcome.reason} — ${outcome.detail}`, true);
      }
      if (outcome && outcome.kind !== "parked") {
        return say("decision-status", `Done: the revision is ${answer.state}.`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return say("decision-status", "No answer from the gate yet; reload the page later.", true);
}

async function decide(event, data) {
  event.preventDefault();
  const kind = event.submitter ? event.submitter.value : "approve";
  const decision = decisionData(data, kind, event.target);
  const problem = problemsOf(data, decision);
  if (problem) {
    return say("decision-status", `Not sent: ${problem}.`, true);
  }
  const key = await keyOf(data.identity);
  if (!key) {
    return say("decision-status", "Your key is not in this browser: sign in again.", true);
  }
  decision.signature = await sign(key, canonicalize(decision));
  say("decision-status", "Signed; sending…");
  const sent = await send("POST", "/console/decisions", decision, data.csrf);
  if (sent.status !== 202) {
    return say("decision-status", `Refused by the server: ${sent.answer.error}`, true);
  }
  say("decision-status", "Sent; waiting for the gate…");
  return follow(data, sent.answer.event_id);
}

async function watchState(data) {
  const path = `/console/packets/${encodeURIComponent(data.packet_id)}/r/${data.revision}/status`;
  const { status, answer } = await send("GET", path);
  if (status === 200 && answer.state !== document.getElementById("state").textContent) {
    document.getElementById("state").textContent = answer.state;
    const banner = document.getElementById("state-banner");
    banner.className = `state state-${answer.state}`;
  }
  setTimeout(() => watchState(data), 2000);
}

async function revisionPage() {
  const data = { ...JSON.parse(document.getElementById("revision-data").textContent), ...sessionData() };
  const form = document.getElementById("decision-form");
  const computed = await packetHashes(data.packet);
  const same = computed.packet_hash === data.packet_hash
    && computed.option_set_hash === data.option_set_hash;
  document.body.dataset.integrity = same ? "ok" : "mismatch";
  if (!same) {
    say("integrity", "The packet shown does not hash to this revision's hashes: this page refuses to sign it.", true);
    document.querySelectorAll("#decision-form button, #revoke-form button")
      .forEach((b) => { b.disabled = true; });
    return;
  }
  if (form) {
    form.addEventListener("submit", (event) => decide(event, data));
  }
  const revoking = document.getElementById("revoke-form");
  if (revoking) {
    revoking.addEventListener("submit", (event) => decide(event, data));
  }
  watchState(data);
}

async function forget(identity) {
  const db = await openDb();
  await new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).delete(identity);
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
}

async function signOut() {
  const session = sessionData();
  await send("DELETE", "/session", undefined, session && session.csrf);
  if (session) {
    await forget(session.identity);  // the key leaves this browser with the session
  }
  window.location.assign("/console");
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  const out = document.getElementById("sign-out");
  if (out) {
    out.addEventListener("click", signOut);
  }
  if (page === "sign-in") {
    document.getElementById("sign-in-form").addEventListener("submit", signIn);
  } else if (page === "revision") {
    revisionPage();
  }
  document.body.dataset.ready = "yes";
});
