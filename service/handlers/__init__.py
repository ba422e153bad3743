"""One thin handler per input topic: validate -> load -> decide -> save -> publish."""

from service.handlers.approval_decision import on_approval_decision
from service.handlers.evidence_changed import on_evidence_changed
from service.handlers.forward_request import on_forward_request
from service.handlers.packet_ready import on_packet_ready
from service.handlers.review_feedback import on_review_feedback

HANDLERS = {
    "packet-ready": on_packet_ready,
    "approval-decision": on_approval_decision,
    "evidence-changed": on_evidence_changed,
    "forward-request": on_forward_request,
    "review-feedback": on_review_feedback,
}

__all__ = ["HANDLERS"]
