"""One thin handler per input topic. Most turn an event into a command for one packet
(batched by the gate); evidence-changed fans out to every packet citing the evidence."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from service.contract.decode import Inbound
from service.domain.commands import Command, EvidenceVersion, Origin
from service.domain.decide import Decision
from service.gate.context import GateContext
from service.handlers.approval_decision import approval_decision
from service.handlers.evidence_changed import on_evidence_changed
from service.handlers.forward_request import forward_request
from service.handlers.packet_ready import cited, packet_ready
from service.handlers.review_feedback import review_feedback

ToCommand = Callable[[Inbound[Any], Any, Origin], tuple[str, Command]]


@dataclass(frozen=True)
class TopicHandler:
    """How one input topic becomes work: a command per event, or a fan-out of its own."""

    to_command: ToCommand | None = None
    cites: Callable[[Inbound[Any]], list[tuple[str, str]]] | None = None  # evidence to prefetch
    fan_out: Callable[[Inbound[Any], GateContext], Awaitable[Decision]] | None = None


HANDLERS: Mapping[str, TopicHandler] = {
    "packet-ready": TopicHandler(to_command=packet_ready, cites=cited),
    "approval-decision": TopicHandler(to_command=approval_decision),
    "evidence-changed": TopicHandler(fan_out=on_evidence_changed),
    "forward-request": TopicHandler(to_command=forward_request),
    "review-feedback": TopicHandler(to_command=review_feedback),
}

Evidence = Mapping[tuple[str, str], EvidenceVersion]

__all__ = ["HANDLERS", "Evidence", "TopicHandler"]
