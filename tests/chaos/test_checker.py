"""The checker catches each kind of violation on synthetic runs (no stack needed), and fails a
run that did nothing, refused everything or expired early."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from service.contract.envelope import envelope_of
from service.domain import events
from service.domain.canonical import manifest_hash
from service.domain.times import format_time
from tests.chaos.checker import FINDINGS, Input, Output, Report, check, new_outputs
from tests.chaos.harness import OWNER_KEYS
from tests.chaos.model import LaneSpec
from tests.support.builders import (
    AUDIENCE,
    LANE,
    RECIPIENTS,
    REQUIRED_EVIDENCE,
    SECOND_OWNER,
    SECOND_SEED,
    approval,
    envelope,
    evidence_changed,
    forward,
    packet,
)

T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
RULES = LaneSpec(
    frozenset(RECIPIENTS),
    OWNER_KEYS,
    timedelta(days=7),
    timedelta(days=14),
    frozenset(REQUIRED_EVIDENCE),
)
GOVERNANCE = {LANE: RULES}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sent(type_: str, data: Mapping[str, Any], event_id: str, t: float = -60, **kw: Any) -> Input:
    """An input the harness built at `t` seconds (the envelope's time)."""
    subject = data.get("ref") if type_ == "evidence-changed" else data.get("packet_id")
    raw = json.dumps(envelope(type_, dict(data), event_id, str(subject), at(t))).encode()
    return Input(type_, raw, **kw)


def out(topic: str, event: Mapping[str, Any]) -> Output:
    return Output(topic, json.dumps(event).encode())


def lifecycle(
    pkt: Mapping[str, Any], frm: str | None, to: str | None, reason: str, cause: str, t: float
) -> Output:
    o = events.lifecycle(pkt["packet_id"], pkt["revision"], frm, to, reason, "", cause, at(t))
    return out(o.topic, envelope_of(o))


def manifest(pkt: Mapping[str, Any], appr: Mapping[str, Any], t: float, **over: Any) -> Output:
    data: dict[str, Any] = {
        "manifest_id": f"{pkt['packet_id']}@r{pkt['revision']}",
        "packet_id": pkt["packet_id"],
        "revision": pkt["revision"],
        "packet_hash": pkt["packet_hash"],
        "option_set_hash": pkt["option_set_hash"],
        "lane_id": pkt["lane_id"],
        "audience": appr["audience"],
        "approver": appr["approver"],
        "decision_id": appr["decision_id"],
        "approved_at": format_time(at(t)),
        "released_at": format_time(at(t)),
        "valid_from": appr["valid_from"],
        "valid_until": appr["valid_until"],
        "options": pkt["options"],
        "blocked_requests": pkt["blocked_requests"],
        "evidence_refs": pkt["evidence_refs"],
        "supersedes": [],
        **over,
    }
    data["manifest_hash"] = manifest_hash(data)
    o = events.manifest(data, at(t))
    return out(o.topic, envelope_of(o))


def outcome(req: Mapping[str, Any], allowed: bool, t: float, reason: str = "") -> Output:
    data = {
        **req,
        "blocked_recipients": [] if allowed else req["recipients"],
        "reason": reason or None,
        "detail": "",
    }
    data.pop("channel")
    o = events.forward_outcome(allowed, data, at(t))
    return out(o.topic, envelope_of(o))


def dead_letter(item: Input, kind: str, received: float = 0, offset: int = 7) -> Output:
    data = {
        "source_topic": item.topic,
        "partition": 0,
        "offset": offset,
        "key": None,
        "raw_value": base64.b64encode(item.raw).decode(),
        "error_kind": kind,
        "error_detail": "",
        "received_at": format_time(at(received)),
    }
    event = envelope("dead-letter", data, f"dead-letter:{item.topic}:0:{offset}", "x")
    return out("dead-letter", event)


class Story:
    """A clean run: r1 and r2, a genuine approval of r2, forwards in and out, a bad message."""

    def __init__(self, until: float = 3600) -> None:
        self.r1, self.r2 = packet("RP-1", 1), packet("RP-1", 2)
        self.appr = approval(self.r2, valid_from=at(0), valid_until=at(until))
        self.fin = forward(self.r2, ["exec:cro"], request_id="FR-in")
        self.fout = forward(self.r2, ["exec:cro", "user:x@partner"], request_id="FR-out")
        self.bad = Input("packet-ready", b"\xffnot json", dead=frozenset({"invalid-json"}))
        self.inputs = [
            sent("packet-ready", self.r1, "e1"),
            sent("packet-ready", self.r2, "e2"),
            sent("approval-decision", self.appr, "e3", genuine=True),
            sent("forward-request", self.fin, "e4"),
            sent("forward-request", self.fout, "e5"),
            self.bad,
        ]
        self.outputs = [
            lifecycle(self.r1, None, "pending", "packet-ready", "e1", 1),
            lifecycle(self.r2, None, "pending", "packet-ready", "e2", 2),
            lifecycle(self.r1, "pending", "superseded", "newer-revision", "e2", 2),
            lifecycle(self.r2, "pending", "approved", "approved", "e3", 3),
            lifecycle(self.r2, "approved", "released", "released", "e3", 3),
            manifest(self.r2, self.appr, 3),
            outcome(self.fin, True, 4),
            outcome(self.fout, False, 5, "outside-audience"),
            dead_letter(self.bad, "invalid-json"),
        ]

    def check(self, now: float = 60, **kw: Any) -> Report:
        return check(self.inputs, self.outputs, now=at(now), governance=GOVERNANCE, **kw)

    def without(self, event_id: str, topic: str | None = None) -> Story:
        self.outputs = [
            o
            for o in self.outputs
            if json.loads(o.raw)["id"] != event_id or topic not in (None, o.topic)
        ]
        return self


def only(report: Report, kind: str, text: str) -> None:
    found: list[str] = getattr(report, kind)
    assert any(text in item for item in found), report.details()
    others = {k: getattr(report, k) for k in FINDINGS if k != kind}
    assert others == {k: [] for k in others}, report.details()


def test_a_clean_run_has_no_findings_and_counts_what_it_saw() -> None:
    report = Story().check()
    assert report.ok, report.details()
    assert report.counts["manifests"] == 1
    assert report.counts["dead_letters"] == 1
    assert report.counts["distinct_inputs"] == 6
    assert report.line().startswith(
        "lost=0 conflicting=0 wrong=0 audit=0 missed=0 premature=0 inputs=6"
    )


def test_exact_duplicates_of_inputs_and_outputs_are_counted_not_flagged() -> None:
    story = Story()
    story.inputs.append(story.inputs[2])
    story.outputs += story.outputs[3:6]
    report = story.check()
    assert report.ok, report.details()
    assert report.counts["duplicates"] == 3
    assert report.counts["inputs"] == 7


def test_a_packet_ready_that_never_created_its_revision_is_lost() -> None:
    story = Story().without("RP-1@r1:lifecycle:pending").without("RP-1@r1:lifecycle:superseded")
    only(story.check(), "lost", "revision never created")


def test_a_second_packet_ready_with_the_same_hash_is_a_duplicate_not_lost() -> None:
    story = Story()
    story.inputs.append(sent("packet-ready", story.r1, "e1-again"))
    assert story.check().ok


def test_an_approval_with_no_lifecycle_event_is_lost() -> None:
    story = Story()
    other = approval(story.r1, valid_from=at(0), valid_until=at(3600))
    story.inputs.append(sent("approval-decision", other, "e9", genuine=True))
    only(story.check(), "lost", "no lifecycle event caused by this decision")


def test_a_refusal_the_rules_give_for_the_state_its_revision_was_in_is_accounted_for() -> None:
    story = Story()
    other = approval(story.r1, valid_from=at(0), valid_until=at(3600))
    story.inputs.append(sent("approval-decision", other, "e9"))
    story.outputs.append(lifecycle(story.r1, "superseded", "superseded", "not-pending", "e9", 9))
    report = story.check()
    assert report.ok, report.details()
    assert report.counts["refusals"] == 1


def test_a_forward_without_outcome_is_lost_and_one_with_both_conflicts() -> None:
    only(Story().without("FR-in:allowed").check(), "lost", "neither forward-allowed")
    story = Story()
    story.outputs.append(outcome(story.fin, False, 4, "not-released"))
    only(story.check(), "conflicting", "both allowed and blocked")


def test_a_bad_message_not_dead_lettered_is_lost_and_a_good_one_dead_lettered_too() -> None:
    only(Story().without("dead-letter:packet-ready:0:7").check(), "lost", "never dead-lettered")
    story = Story()
    story.outputs.append(dead_letter(story.inputs[3], "processing-error", offset=8))
    only(story.check(), "lost", "good input dead-lettered as ['processing-error']")


def test_a_dead_letter_of_the_wrong_kind_or_for_unknown_bytes_is_wrong() -> None:
    story = Story().without("dead-letter:packet-ready:0:7")
    story.outputs.append(dead_letter(story.bad, "too-large"))
    only(story.check(), "wrong", "dead-lettered as ['too-large']")
    story = Story()
    story.outputs.append(dead_letter(Input("packet-ready", b"odd"), "invalid-json", offset=9))
    only(story.check(), "wrong", "for bytes the harness never produced")


def test_one_id_with_other_data_conflicts_even_if_only_a_timestamp_differs() -> None:
    story = Story()
    story.outputs.append(dead_letter(story.bad, "invalid-json", received=30))
    only(story.check(), "conflicting", "2 versions under one id (differing in received_at)")


def test_two_different_manifests_for_one_revision_conflict() -> None:
    story = Story()
    story.outputs.append(manifest(story.r2, story.appr, 3, supersedes=[1]))
    only(story.check(), "conflicting", "2 distinct manifests")


def test_a_forked_lifecycle_conflicts() -> None:
    story = Story()
    story.outputs.append(lifecycle(story.r1, "pending", "approved", "approved", "x", 9))
    only(story.check(), "conflicting", "forked from pending")


def test_a_lifecycle_event_whose_entry_was_never_published_is_lost() -> None:
    story = Story().without("RP-1@r2:lifecycle:approved")
    only(story.check(), "lost", "never the move into approved")


def test_an_illegal_move_is_wrong() -> None:
    story = Story()
    story.outputs.append(lifecycle(story.r1, "superseded", "released", "released", "x", 9))
    report = story.check()
    assert any("illegal move superseded -> released" in w for w in report.wrong)


def test_a_manifest_without_a_genuine_approval_is_wrong() -> None:
    story = Story()
    story.inputs[2] = sent("approval-decision", story.appr, "e3", genuine=False)
    only(story.check(), "wrong", "is not a genuine owner approval")


def test_a_manifest_of_other_hashes_or_content_is_wrong() -> None:
    story = Story().without("RP-1@r2:released", "release-manifest")
    story.outputs.append(manifest(story.r2, story.appr, 3, blocked_requests=[]))
    only(story.check(), "wrong", "blocked_requests differs")


def test_a_release_after_the_revision_was_superseded_is_wrong() -> None:
    story = Story()
    appr1 = approval(story.r1, valid_from=at(0), valid_until=at(3600))
    story.inputs.append(sent("approval-decision", appr1, "e8", genuine=True))
    story.outputs.append(manifest(story.r1, appr1, 9))
    report = story.check()
    assert any("after it was superseded" in w for w in report.wrong), report.details()
    assert any("after r2 arrived" in w for w in report.wrong), report.details()


def test_a_release_outside_the_approved_window_is_wrong() -> None:
    story = Story().without("RP-1@r2:released", "release-manifest")
    story.outputs.append(manifest(story.r2, story.appr, 3, released_at="2026-11-28T18:00:00Z"))
    only(story.check(), "wrong", "outside its window")


def test_a_forward_allowed_outside_the_audience_or_after_expiry_is_wrong() -> None:
    story = Story().without("FR-out:blocked")
    story.outputs.append(outcome(story.fout, True, 5))
    only(story.check(), "wrong", "outside the audience")
    story = Story(until=3.5)
    story.outputs.append(lifecycle(story.r2, "released", "expired", "validity-ended", "s", 3.5))
    late = forward(story.r2, AUDIENCE[:1], request_id="FR-late")
    story.inputs.append(sent("forward-request", late, "e7"))
    story.outputs.append(outcome(late, True, 4))
    only(story.check(), "wrong", "after RP-1@r2 was expired")


def test_a_live_revision_citing_changed_evidence_is_lost_work() -> None:
    story = Story()
    change = evidence_changed("incident-impact", "INC-8812", "8")
    story.inputs.append(sent("evidence-changed", change, "e6"))
    only(story.check(), "lost", "changed to 8")
    story.outputs.append(lifecycle(story.r2, "released", "superseded", "evidence-changed", "e6", 6))
    assert story.check().ok


def test_a_release_after_the_service_acted_on_changed_evidence_is_wrong() -> None:
    story = Story()
    other = packet("RP-2", 1)
    change = evidence_changed("incident-impact", "INC-8812", "8")
    story.inputs += [sent("packet-ready", other, "e20"), sent("evidence-changed", change, "e21")]
    story.outputs += [
        lifecycle(other, None, "pending", "packet-ready", "e20", 0.5),
        lifecycle(other, "pending", "superseded", "evidence-changed", "e21", 2),  # before r2
        lifecycle(story.r2, "released", "superseded", "evidence-changed", "e21", 6),
    ]
    only(story.check(), "wrong", "known changed to 8")
    assert any(w.startswith("forward-allowed FR-in:allowed: at") for w in story.check().wrong)


def test_a_due_expiry_that_never_happened_is_lost_and_the_next_due_time_is_told() -> None:
    story = Story()
    assert story.check(now=60).next_due == at(3600)
    only(story.check(now=3700), "lost", "still released")
    story.outputs.append(lifecycle(story.r2, "released", "expired", "validity-ended", "s", 3600))
    assert story.check(now=3700).ok


def test_blocked_forwards_and_refusals_missing_from_the_audit_trail_are_flagged() -> None:
    story = Story()
    view: dict[str, Any] = {
        "packet_id": "RP-1",
        "revisions": [{"manifest_id": "RP-1@r2", "chain": "ok", "facts": []}],
    }
    only(story.check(views={"RP-1": view}), "audit", "FR-out:blocked has no fact")
    blocked = {"kind": "forward-blocked", "data": {"request_id": "FR-out"}, "revision": 2}
    view["revisions"][0]["facts"].append(blocked)
    assert story.check(views={"RP-1": view}).ok
    view["revisions"][0]["chain"] = "broken at RP-1@r2/3"
    only(story.check(views={"RP-1": view}), "audit", "chain broken")
    only(Story().check(audit_ok=False), "audit", "audit verify")


def test_new_outputs_are_those_whose_id_was_not_seen_before() -> None:
    story = Story()
    before = story.outputs[:4]
    assert new_outputs(before, story.outputs + before) == [
        ("packet-lifecycle", "RP-1@r2:lifecycle:released"),
        ("release-manifest", "RP-1@r2:released"),
        ("forward-allowed", "FR-in:allowed"),
        ("blocked-forward", "FR-out:blocked"),
        ("dead-letter", "dead-letter:packet-ready:0:7"),
    ]


def test_one_id_on_two_output_topics_is_conflicting() -> None:
    story = Story()
    note = next(json.loads(o.raw) for o in story.outputs if o.topic == "packet-lifecycle")
    story.outputs.append(out("dead-letter", note))
    report = story.check()
    assert f"{note['id']}: one id on dead-letter, packet-lifecycle" in report.conflicting


def test_the_lifecycle_of_a_release_and_its_manifest_have_different_ids() -> None:
    report = Story().check()
    assert not any("one id on" in c for c in report.conflicting), report.details()


# --- liveness: what had to happen, and nothing before its time ------------------------------


def refusing_gate(story: Story) -> list[Output]:
    """A gate that stores and supersedes revisions as it should, audits every input, and
    refuses every approval and blocks every forward."""
    return [
        *story.outputs[:3],
        lifecycle(story.r2, "pending", "pending", "not-pending", "e3", 3),
        outcome(story.fin, False, 4, "not-released"),
        outcome(story.fout, False, 5, "not-released"),
        story.outputs[-1],
    ]


def early_expiring_gate(story: Story) -> list[Output]:
    """A gate that times every pending revision out a moment after storing it."""
    return [
        *story.outputs[:3],
        lifecycle(story.r2, "pending", "expired", "approval-timeout", "scheduler", 2.5),
        lifecycle(story.r2, "expired", "expired", "not-pending", "e3", 3),
        outcome(story.fin, False, 4, "expired"),
        outcome(story.fout, False, 5, "expired"),
        story.outputs[-1],
    ]


def test_an_empty_recording_fails_the_report() -> None:
    report = check([], [], now=T0, governance=GOVERNANCE)
    assert not report.ok
    assert "ran: 0 inputs, 0 manifests" in report.details()


def test_a_gate_that_refuses_every_approval_fails_with_what_it_missed() -> None:
    story = Story()
    story.outputs = refusing_gate(story)
    report = story.check()
    assert not report.ok
    assert report.counts["manifests"] == 0
    # The blocked forwards are what the rules give for the pending revision the gate left.
    assert [m.split(":")[0] for m in report.missed] == ["approval e3 of RP-1@r2"]
    assert (report.lost, report.wrong, report.premature) == ([], [], [])


def test_a_gate_that_expires_early_fails_with_the_premature_timeout_and_the_missed_approval() -> (
    None
):
    story = Story()
    story.outputs = early_expiring_gate(story)
    report = story.check()
    assert not report.ok
    assert report.premature == [
        "RP-1@r2 pending -> expired: timed out at 2026-11-27T18:00:02.500000+00:00,"
        " due 2026-12-11T18:00:02+00:00"
    ]
    assert [m.split(":")[0] for m in report.missed] == ["approval e3 of RP-1@r2"]


def test_a_release_expired_before_its_window_ended_is_premature() -> None:
    story = Story()
    story.outputs.append(lifecycle(story.r2, "released", "expired", "validity-ended", "s", 60))
    only(story.check(now=120), "premature", "valid until 2026-11-27T19:00:00+00:00")


def test_a_supersession_with_no_newer_revision_or_evidence_change_sent_is_premature() -> None:
    story = Story()
    story.outputs.append(lifecycle(story.r2, "released", "superseded", "evidence-changed", "x", 9))
    only(story.check(), "premature", "with no change of its evidence")
    story = Story()
    story.outputs.append(lifecycle(story.r2, "released", "superseded", "newer-revision", "x", 9))
    only(story.check(), "premature", "with no newer revision sent")


def test_a_supersession_before_its_cause_was_sent_is_premature() -> None:
    story = Story()
    story.inputs[1] = sent("packet-ready", story.r2, "e2", t=10)  # r2 built after r1 went
    only(story.check(), "premature", "RP-1@r1 pending -> superseded")


def test_an_approval_refused_unknown_revision_after_its_revision_was_stored_is_missed() -> None:
    story = Story()
    story.outputs = [
        *story.outputs[:3],
        lifecycle(story.r2, None, None, "unknown-revision", "e3", 3),
        outcome(story.fin, False, 4, "not-released"),
        outcome(story.fout, False, 5, "not-released"),
    ]
    report = story.check()
    assert "approval e3 of RP-1@r2: refused:unknown-revision" in report.missed[0]


def test_an_early_approval_whose_grace_ran_out_as_its_revision_came_may_be_refused() -> None:
    story = Story()
    story.outputs = [
        *story.outputs[:2],
        lifecycle(story.r2, None, None, "unknown-revision", "e3", 2),  # the same decision
        story.outputs[2],
        outcome(story.fin, False, 4, "not-released"),
        outcome(story.fout, False, 5, "not-released"),
        story.outputs[-1],
    ]
    report = story.check()
    assert {k: getattr(report, k) for k in FINDINGS} == {k: [] for k in FINDINGS}


def test_an_approval_racing_a_change_of_its_evidence_may_be_refused_but_not_for_nothing() -> None:
    story = Story()
    change = evidence_changed("incident-impact", "INC-8812", "8")
    story.inputs.append(sent("evidence-changed", change, "e6"))
    story.outputs = [
        *story.outputs[:3],
        lifecycle(story.r2, "pending", "superseded", "evidence-changed", "e6", 2.9),
        lifecycle(story.r2, "superseded", "superseded", "not-pending", "e3", 3),
        outcome(story.fin, False, 4, "superseded"),
        outcome(story.fout, False, 5, "superseded"),
        story.outputs[-1],
    ]
    report = story.check()
    assert {k: getattr(report, k) for k in FINDINGS} == {k: [] for k in FINDINGS}
    assert not report.ok  # nothing was released
    story.outputs[4] = lifecycle(story.r2, "superseded", "superseded", "bad-window", "e3", 3)
    only(story.check(), "wrong", "approval e3 of RP-1@r2: refused:bad-window")


def test_a_refusal_for_another_reason_than_the_rules_give_is_wrong() -> None:
    story = Story()
    forged = {**approval(story.r2, valid_from=at(0), valid_until=at(60)), "audience": ["exec:cro"]}
    story.inputs.append(sent("approval-decision", forged, "e8"))
    story.outputs.append(lifecycle(story.r2, "released", "released", "not-pending", "e8", 8))
    only(story.check(), "wrong", "refused:not-pending, the rules give ['refused:bad-signature']")


def test_a_forward_blocked_while_its_release_was_open_is_missed() -> None:
    story = Story().without("FR-in:allowed")
    story.outputs.append(outcome(story.fin, False, 4, "not-released"))
    only(story.check(), "missed", "forward FR-in to RP-1@r2: blocked:not-released")


def test_a_revision_created_in_another_state_than_the_rules_give_is_wrong() -> None:
    story = Story()
    stray = packet("RP-9", 1, lane="no-such-lane")
    story.inputs.append(sent("packet-ready", stray, "e9"))
    story.outputs.append(lifecycle(stray, None, "pending", "packet-ready", "e9", 9))
    only(story.check(), "wrong", "RP-9@r1 created ('pending', 'packet-ready')")


def test_a_revision_left_live_under_a_newer_one_is_missed() -> None:
    story = Story().without("RP-1@r1:lifecycle:superseded")
    only(story.check(), "missed", "RP-1@r1 still pending under r2")


QUORUM = {LANE: replace(RULES, quorum=2)}


def test_a_manifest_with_fewer_distinct_approvers_than_the_lane_requires_is_wrong() -> None:
    story = Story()
    report = check(story.inputs, story.outputs, now=at(60), governance=QUORUM)
    assert any("1 distinct approvers; the lane requires 2" in w for w in report.wrong), (
        report.details()
    )
    assert story.check().ok, "the same run under a one-approval lane is clean"


def test_a_manifest_listing_one_owner_twice_or_an_approval_of_other_terms_is_wrong() -> None:
    story = Story().without("RP-1@r2:released", "release-manifest")
    twice = [{"decision_id": story.appr["decision_id"], "approver": story.appr["approver"]}] * 2
    story.outputs.append(manifest(story.r2, story.appr, 3, approvals=twice))
    report = check(story.inputs, story.outputs, now=at(60), governance=QUORUM)
    assert any("1 distinct approvers" in w for w in report.wrong), report.details()
    other = approval(story.r2, approver=SECOND_OWNER, seed=SECOND_SEED, audience=["exec:cro"])
    story.inputs.append(sent("approval-decision", other, "e9", genuine=True))
    listed = [*twice[:1], {"decision_id": other["decision_id"], "approver": SECOND_OWNER}]
    story = story.without("RP-1@r2:released", "release-manifest")
    story.outputs.append(manifest(story.r2, story.appr, 3, approvals=listed))
    report = check(story.inputs, story.outputs, now=at(60), governance=QUORUM)
    assert any("has other terms than the manifest" in w for w in report.wrong), report.details()


def test_a_release_or_a_forward_after_a_revocation_is_wrong() -> None:
    story = (
        Story()
        .without("RP-1@r2:lifecycle:released")
        .without("RP-1@r2:released", "release-manifest")
    )
    story.outputs.append(lifecycle(story.r2, "approved", "rejected", "revoked-by-owner", "e7", 3))
    story.outputs.append(manifest(story.r2, story.appr, 3.5))
    report = story.check()
    assert not any("illegal move" in w for w in report.wrong), "a revocation is a legal move"
    assert any("after it was rejected" in w for w in report.wrong), report.details()
    assert any("after RP-1@r2 was rejected" in w for w in report.wrong), report.details()
