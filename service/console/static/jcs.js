// RFC 8785 (JSON Canonicalization Scheme) and the contract's sha256 digests, in the browser.
// JCS serialises numbers and strings exactly as ECMAScript's JSON.stringify does and sorts
// object members by their UTF-16 code units, which is what Array.prototype.sort does.

export function canonicalize(value) {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw new Error("JCS has no form for a non-finite number");
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return "[" + value.map(canonicalize).join(",") + "]";
  }
  const keys = Object.keys(value).sort();
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalize(value[k])).join(",") + "}";
}

export async function digest(value) {
  const bytes = new TextEncoder().encode(canonicalize(value));
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return "sha256:" + Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
}

// packet_hash: the packet-ready data without its packet_hash key; option_set_hash: the options.
export async function packetHashes(packet) {
  const rest = Object.fromEntries(Object.entries(packet).filter(([k]) => k !== "packet_hash"));
  return { packet_hash: await digest(rest), option_set_hash: await digest(packet.options) };
}
