"""The governance model (lanes, recipients, release owners' keys) and its strict parser (pure)."""

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from types import MappingProxyType
from typing import Any

import isodate  # type: ignore[import-untyped]
import yaml

from service.domain import vocab
from service.domain.canonical import digest

_REQUIRED = ("lane_id", "name", "authorized_recipients", "max_validity", "max_pending")
_OPTIONAL = ("required_evidence", "release_owners", "auditors", "approvals_required")


class GovernanceError(ValueError):
    """Invalid governance; the message names the lane and the field."""


@dataclass(frozen=True)
class ReleaseOwner:
    id: str
    public_key: bytes  # raw 32-byte Ed25519 public key


@dataclass(frozen=True)
class Lane:
    lane_id: str
    name: str
    authorized_recipients: tuple[str, ...]
    max_validity: timedelta
    max_pending: timedelta
    required_evidence: tuple[str, ...] = ()
    release_owners: tuple[ReleaseOwner, ...] = ()
    # Read-only: may see the lane's packets and audit trails, never decide.
    auditors: tuple[ReleaseOwner, ...] = ()
    # A quorum: this many distinct release owners approve on identical terms (k of n).
    approvals_required: int = 1

    def owner(self, id_: str) -> ReleaseOwner | None:
        return next((o for o in self.release_owners if o.id == id_), None)

    def role_of(self, id_: str, public_key: bytes) -> str | None:
        """ "owner" or "auditor" when this identity is listed here with this very key."""
        if any(o.id == id_ and o.public_key == public_key for o in self.release_owners):
            return "owner"
        if any(a.id == id_ and a.public_key == public_key for a in self.auditors):
            return "auditor"
        return None


GATE_WIDE = "*"  # the role key of a gate-wide auditor: every packet, in a lane or not


@dataclass(frozen=True)
class Governance:
    lanes: Mapping[str, Lane]
    # Read-only across the whole gate: also sees what names no known lane (a packet of an
    # unknown lane, a forward for a packet never stored), which no lane's people can.
    auditors: tuple[ReleaseOwner, ...] = ()

    def lane(self, lane_id: str) -> Lane | None:
        return self.lanes.get(lane_id)

    def keys_of(self, id_: str) -> tuple[bytes, ...]:
        """Every public key listed for this identity, as owner or auditor, in any lane."""
        listed = [
            k.public_key
            for lane in self.lanes.values()
            for k in (*lane.release_owners, *lane.auditors)
            if k.id == id_
        ]
        listed += [a.public_key for a in self.auditors if a.id == id_]
        return tuple(dict.fromkeys(listed))

    def roles_of(self, id_: str, public_key: bytes) -> dict[str, str]:
        """lane_id -> role for the lanes that list this identity with this key."""
        roles = {lane_id: lane.role_of(id_, public_key) for lane_id, lane in self.lanes.items()}
        found = {lane_id: role for lane_id, role in roles.items() if role is not None}
        if any(a.id == id_ and a.public_key == public_key for a in self.auditors):
            found[GATE_WIDE] = "auditor"
        return found

    @cached_property
    def fingerprint(self) -> str:
        """Digest of the content (not the file's text), so logs show which rules were in force."""
        lanes = {lane_id: _content(lane) for lane_id, lane in self.lanes.items()}
        auditors = [
            {"id": a.id, "public_key": base64.b64encode(a.public_key).decode()}
            for a in self.auditors
        ]
        return digest({"lanes": lanes, "auditors": auditors})


def _content(lane: Lane) -> dict[str, Any]:
    return {
        "name": lane.name,
        "authorized_recipients": list(lane.authorized_recipients),
        "max_validity_us": lane.max_validity // timedelta(microseconds=1),
        "max_pending_us": lane.max_pending // timedelta(microseconds=1),
        "required_evidence": list(lane.required_evidence),
        "approvals_required": lane.approvals_required,
        "release_owners": [
            {"id": o.id, "public_key": base64.b64encode(o.public_key).decode()}
            for o in lane.release_owners
        ],
        "auditors": [
            {"id": a.id, "public_key": base64.b64encode(a.public_key).decode()}
            for a in lane.auditors
        ],
    }


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (yaml keeps the last one
    silently, so a duplicated line would widen or narrow a lane without a word)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} appears twice (line {line})", key_node.start_mark
            )
        seen.add(key)
    return dict(loader.construct_mapping(node))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def parse_governance(text: str) -> Governance:
    """YAML text to validated Governance; raises GovernanceError naming lane and field."""
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise GovernanceError(f"governance: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or "lanes" not in doc:
        raise GovernanceError("governance: expected a mapping with the key 'lanes'")
    if not set(doc) <= {"lanes", "auditors"}:
        unknown = sorted(set(doc) - {"lanes", "auditors"})
        raise GovernanceError(f"governance: unknown keys {unknown}")
    items = doc["lanes"]
    if not isinstance(items, list) or not items:
        raise GovernanceError("governance: lanes: expected a non-empty list of lanes")
    lanes: dict[str, Lane] = {}
    for index, item in enumerate(items):
        lane = _lane(item, index)
        if lane.lane_id in lanes:
            raise GovernanceError(f"lane {lane.lane_id}: lane_id: duplicate lane id")
        lanes[lane.lane_id] = lane
    auditors = _owners(doc.get("auditors"), "governance", "auditors")
    return Governance(lanes=MappingProxyType(lanes), auditors=auditors)


def _lane(item: object, index: int) -> Lane:
    where = f"lanes[{index}]"
    if not isinstance(item, dict):
        raise GovernanceError(f"{where}: expected a mapping")
    lane_id = item.get("lane_id")
    if isinstance(lane_id, str) and lane_id:
        where = f"lane {lane_id}"
    # Unknown keys are refused: a misspelt `required_evidence` must not silently mean "none".
    unknown = sorted(str(k) for k in item if k not in _REQUIRED + _OPTIONAL)
    if unknown:
        raise GovernanceError(f"{where}: unknown fields {unknown}")
    for field in _REQUIRED:
        if field not in item:
            raise _fail(where, field, "required field missing")
    if not _matches(lane_id, vocab.ID_PATTERN, vocab.ID_MAX):
        raise _fail(where, "lane_id", f"{lane_id!r} is not a valid id")
    name = item["name"]
    if not isinstance(name, str) or not name.strip():
        raise _fail(where, "name", "expected a non-empty string")
    recipients = _identities(item["authorized_recipients"], where, "authorized_recipients")
    if not recipients:
        raise _fail(where, "authorized_recipients", "expected at least one recipient")
    evidence = _strings(item.get("required_evidence"), where, "required_evidence")
    for kind in evidence:
        if kind not in vocab.EVIDENCE_KINDS:
            raise _fail(where, "required_evidence", f"{kind!r} is not an evidence kind")
    owners = _owners(item.get("release_owners"), where)
    return Lane(
        lane_id=str(lane_id),
        name=name,
        authorized_recipients=recipients,
        max_validity=_duration(item["max_validity"], where, "max_validity"),
        max_pending=_duration(item["max_pending"], where, "max_pending"),
        required_evidence=evidence,
        release_owners=owners,
        auditors=_owners(item.get("auditors"), where, "auditors"),
        approvals_required=_quorum(item.get("approvals_required", 1), where, len(owners)),
    )


def _quorum(value: object, where: str, owners: int) -> int:
    """k of n: at least 1, and no more than the lane has owners (a lane with none is frozen)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(where, "approvals_required", f"{value!r} is not a whole number >= 1")
    if owners and value > owners:
        problem = f"{value} approvals required but the lane has {owners} release owners"
        raise _fail(where, "approvals_required", problem)
    return value


def _fail(where: str, field: str, problem: str) -> GovernanceError:
    return GovernanceError(f"{where}: {field}: {problem}")


def _matches(value: object, pattern: str, max_len: int) -> bool:
    return isinstance(value, str) and len(value) <= max_len and bool(re.fullmatch(pattern, value))


def _strings(value: object, where: str, field: str) -> tuple[str, ...]:
    """A list of unique strings; a missing or null optional list is empty."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _fail(where, field, "expected a list of strings")
    dupes = sorted({s for s in value if value.count(s) > 1})
    if dupes:
        raise _fail(where, field, f"duplicate entries {dupes}")
    return tuple(value)


def _identities(value: object, where: str, field: str) -> tuple[str, ...]:
    items = _strings(value, where, field)
    for identity in items:
        if not _matches(identity, vocab.IDENTITY_PATTERN, vocab.IDENTITY_MAX):
            raise _fail(where, field, f"{identity!r} is not an identity such as exec:cro")
    return items


def _duration(value: object, where: str, field: str) -> timedelta:
    if not isinstance(value, str):
        raise _fail(where, field, f"{value!r} is not an ISO 8601 duration string such as P7D")
    try:
        parsed = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise _fail(where, field, f"{value!r} is not an ISO 8601 duration") from exc
    if not isinstance(parsed, timedelta):
        raise _fail(where, field, f"{value!r}: years and months have no fixed length; use days")
    if parsed <= timedelta(0):
        raise _fail(where, field, f"{value!r} must be longer than zero")
    return parsed


def _owners(value: object, where: str, name: str = "release_owners") -> tuple[ReleaseOwner, ...]:
    # No owners is allowed: it freezes a lane (nothing in it can be approved or released).
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(where, name, "expected a list of {id, public_key}")
    owners: list[ReleaseOwner] = []
    for i, entry in enumerate(value):
        field = f"{name}[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"id", "public_key"}:
            raise _fail(where, field, "expected exactly the keys id and public_key")
        owner_id = _identities([entry["id"]], where, f"{field}.id")[0]
        if any(o.id == owner_id for o in owners):
            raise _fail(where, f"{field}.id", f"duplicate owner {owner_id!r}")
        key = entry["public_key"]
        try:
            raw = base64.b64decode(key, validate=True) if isinstance(key, str) else b""
        except binascii.Error:
            raw = b""
        if len(raw) != 32:
            problem = "expected base64 of a raw 32-byte Ed25519 public key"
            raise _fail(where, f"{field}.public_key", problem)
        owners.append(ReleaseOwner(owner_id, raw))
    return tuple(owners)
