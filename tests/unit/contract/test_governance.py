"""The governance file: parsed strictly, errors name lane and field, fingerprint is stable."""

from datetime import timedelta

import pytest

from service.adapters.governance_file import load_governance
from service.domain.governance import GovernanceError, parse_governance
from tests.support.builders import OWNER_PUBLIC_KEY, ROOT, text

EXAMPLE = text("lanes.yaml")
LANE = "exec-customer-review"


def test_the_example_governance_file_parses() -> None:
    lane = parse_governance(EXAMPLE).lane(LANE)
    assert lane is not None
    assert lane.authorized_recipients == (
        "exec:cro",
        "exec:general-counsel",
        "exec:vp-support",
        "exec:strategic-account-exec",
    )
    assert lane.max_validity == timedelta(days=7)
    assert lane.max_pending == timedelta(days=14)
    assert lane.required_evidence == ("incident-impact", "contract")
    owner = lane.owner("user:dana.ortiz@support")
    assert owner is not None and owner.public_key == OWNER_PUBLIC_KEY
    assert lane.owner("user:Dana.Ortiz@support") is None
    assert parse_governance(EXAMPLE).lane("nope") is None


def test_the_demo_governance_file_uses_the_test_vector_key_for_the_demo_lane() -> None:
    governance = load_governance(ROOT / "ops" / "governance" / "lanes.yaml")
    assert set(governance.lanes) == {LANE, "exec-renewal-review"}
    owner = governance.lanes[LANE].owner("user:dana.ortiz@support")
    assert owner is not None and owner.public_key == OWNER_PUBLIC_KEY
    renewal = governance.lanes["exec-renewal-review"]
    assert renewal.authorized_recipients != governance.lanes[LANE].authorized_recipients


def test_the_fingerprint_follows_content_not_layout_or_lane_order() -> None:
    base = parse_governance(EXAMPLE).fingerprint
    assert base.startswith("sha256:")
    assert parse_governance("# a comment\n" + EXAMPLE).fingerprint == base
    second = EXAMPLE + (
        "  - lane_id: b\n    name: B\n    authorized_recipients: [exec:cro]\n"
        "    max_validity: P1D\n    max_pending: P1D\n"
    )
    assert parse_governance(second).fingerprint != base
    assert parse_governance(EXAMPLE.replace("P7D", "P6D")).fingerprint != base


def test_optional_lists_may_be_absent_or_null_and_a_lane_may_have_no_owners() -> None:
    doc = (
        "lanes:\n  - lane_id: frozen\n    name: Frozen lane\n"
        "    authorized_recipients: [exec:cro]\n"
        "    max_validity: PT12H\n    max_pending: P1W\n    release_owners:\n"
    )
    lane = parse_governance(doc).lanes["frozen"]
    assert lane.release_owners == () and lane.required_evidence == ()
    assert lane.max_validity == timedelta(hours=12) and lane.max_pending == timedelta(days=7)


BAD_KEY = "AAAA"
KEY = "SudZ+tTRPkQ10i4BSFHni88rjFn1vD/0TOG8+5+7TqA="
CASES = [
    ("P7D", "P7X", "lane exec-customer-review: max_validity: 'P7X' is not an ISO 8601 duration"),
    ("P14D", "P1M", "lane exec-customer-review: max_pending: 'P1M': years and months"),
    ("P7D", "PT0S", "lane exec-customer-review: max_validity: 'PT0S' must be longer than zero"),
    ("P7D", "-P7D", "max_validity: '-P7D' must be longer than zero"),
    ("max_validity: P7D", "max_validity: 7", "max_validity: 7 is not an ISO 8601 duration string"),
    ("exec:cro,", "exec cro,", "lane exec-customer-review: authorized_recipients: 'exec cro'"),
    ("exec:cro,", "exec:cro, exec:cro,", "authorized_recipients: duplicate entries ['exec:cro']"),
    (
        "incident-impact, contract",
        "incident-impact, gossip",
        "lane exec-customer-review: required_evidence: 'gossip' is not an evidence kind",
    ),
    (
        "SudZ+tTRPkQ10i4BSFHni88rjFn1vD/0TOG8+5+7TqA=",
        BAD_KEY,
        "lane exec-customer-review: release_owners[0].public_key: expected base64 of a raw 32-byte",
    ),
    (
        "SudZ+tTRPkQ10i4BSFHni88rjFn1vD/0TOG8+5+7TqA=",
        "not base64!!",
        "release_owners[0].public_key",
    ),
    (
        "id: user:dana.ortiz@support",
        "id: dana",
        "lane exec-customer-review: release_owners[0].id: 'dana' is not an identity",
    ),
    (
        "max_pending: P14D",
        "max_pending: P14D\n    max_valditiy: P7D",
        "lane exec-customer-review: unknown fields ['max_valditiy']",
    ),
    (
        "    max_pending: P14D\n",
        "",
        "lane exec-customer-review: max_pending: required field missing",
    ),
    (
        "lane_id: exec-customer-review",
        "lane_id: exec customer review",
        "lane exec customer review: lane_id: 'exec customer review' is not a valid id",
    ),
    (
        "name: Executive customer-review decision lane",
        'name: "  "',
        "lane exec-customer-review: name: expected a non-empty string",
    ),
    (
        "[exec:cro, exec:general-counsel, exec:vp-support, exec:strategic-account-exec]",
        "[]",
        "lane exec-customer-review: authorized_recipients: expected at least one recipient",
    ),
    (
        "[incident-impact, contract]",
        "[contract, contract]",
        "lane exec-customer-review: required_evidence: duplicate entries ['contract']",
    ),
    (
        "[incident-impact, contract]",
        "contract",
        "lane exec-customer-review: required_evidence: expected a list of strings",
    ),
    (
        "id: user:dana.ortiz@support",
        "id: user:dana.ortiz@support\n        role: owner",
        "lane exec-customer-review: release_owners[0]: expected exactly the keys id and public_key",
    ),
    (
        f'        public_key: "{KEY}"',
        f'        public_key: "{KEY}"\n    auditors:\n      - id: dana\n'
        f'        public_key: "{KEY}"',
        "lane exec-customer-review: auditors[0].id: 'dana' is not an identity",
    ),
    (
        f'      - id: user:dana.ortiz@support\n        public_key: "{KEY}"',
        "      dana",
        "lane exec-customer-review: release_owners: expected a list of {id, public_key}",
    ),
    ("lanes:", "lanes: []\nother:", "governance: unknown keys ['other']"),
    ("lanes:\n", "lanes: [\n", "governance: not valid YAML"),
]


@pytest.mark.parametrize(("old", "new", "message"), CASES, ids=[c[2][:50] for c in CASES])
def test_governance_errors_name_the_lane_and_the_field(old: str, new: str, message: str) -> None:
    assert old in EXAMPLE
    with pytest.raises(GovernanceError) as caught:
        parse_governance(EXAMPLE.replace(old, new, 1))
    assert message in str(caught.value)


def test_duplicate_lanes_and_owners_are_refused() -> None:
    lane = EXAMPLE[EXAMPLE.index("  - lane_id") :]
    with pytest.raises(GovernanceError, match="lane exec-customer-review: lane_id: duplicate"):
        parse_governance(EXAMPLE + lane)
    owner = lane[lane.index("      - id") :]
    with pytest.raises(GovernanceError, match=r"release_owners\[1\].id: duplicate owner"):
        parse_governance(EXAMPLE + owner)


@pytest.mark.parametrize("doc", ["", "lanes:", "lanes: []", "- a\n- b", "lanes: {a: 1}"])
def test_empty_or_shapeless_governance_is_refused(doc: str) -> None:
    with pytest.raises(GovernanceError, match="governance"):
        parse_governance(doc)


def test_a_lane_that_is_not_a_mapping_is_named_by_position() -> None:
    with pytest.raises(GovernanceError, match=r"lanes\[0\]: expected a mapping"):
        parse_governance("lanes: [just-a-string]")


def test_a_lanes_auditors_read_it_and_its_owners_decide_with_their_own_key_only() -> None:
    doc = (
        EXAMPLE
        + f'    auditors:\n      - id: user:audit.lane@support\n        public_key: "{KEY}"\n'
    )
    governance = parse_governance(doc)
    lane = governance.lanes[LANE]
    assert [(a.id, a.public_key) for a in lane.auditors] == [
        ("user:audit.lane@support", OWNER_PUBLIC_KEY)
    ]
    assert lane.role_of("user:audit.lane@support", OWNER_PUBLIC_KEY) == "auditor"
    assert lane.role_of("user:dana.ortiz@support", OWNER_PUBLIC_KEY) == "owner"
    assert lane.role_of("user:dana.ortiz@support", bytes(32)) is None
    assert lane.role_of("user:audit.lane@support", bytes(32)) is None
    assert governance.roles_of("user:audit.lane@support", OWNER_PUBLIC_KEY) == {LANE: "auditor"}
    assert governance.roles_of("user:nobody@support", OWNER_PUBLIC_KEY) == {}
    assert governance.fingerprint != parse_governance(EXAMPLE).fingerprint


def test_a_key_given_twice_in_a_lane_is_an_error_naming_the_key_and_line() -> None:
    marker = "    authorized_recipients:"
    assert marker in EXAMPLE
    doubled = EXAMPLE.replace(marker, "    authorized_recipients: [exec:cro]\n" + marker, 1)
    with pytest.raises(GovernanceError, match="'authorized_recipients' appears twice"):
        parse_governance(doubled)
