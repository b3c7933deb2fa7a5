"""One decision taken apart: what the engine decided and saw when the attempt was made, and the same inputs
decided again now, so a compliance officer sees whether the recorded decision still follows from them."""
import uuid
from dataclasses import dataclass

from tenants.conduct import engine, replay
from tenants.conduct.models import ContactAttempt
from tenants.db import db, get_visible
from tenants.errors import NotFound
from tenants.tenancy.models import Tenant


@dataclass(frozen=True)
class DecisionReview:
    attempt: ContactAttempt
    made_by: Tenant
    lender: Tenant
    inputs: dict
    stored: dict
    replayed: dict | None
    matches: bool | None  # None: nothing to replay (an inbound contact, or inputs not kept in replayable form)
    rulebook_changed: bool


def review(attempt_id: uuid.UUID, *, lender_id: uuid.UUID | None = None) -> DecisionReview:
    """In a platform context any attempt; in a lender's context (`lender_id`) the attempts on its accounts, with
    the person's contacts about other debts stripped of their keys (`replay.redacted`)."""
    record = get_visible(ContactAttempt, attempt_id, "contact_attempt.not_found")
    if lender_id is not None and record.lender_tenant_id != lender_id:
        raise NotFound(code="contact_attempt.not_found")
    stored = {"outcome": record.decision, "rulebook_version": record.rulebook_version,
              "earliest_allowed_at": record.earliest_allowed_at.isoformat() if record.earliest_allowed_at else None,
              "hits": list(record.hits or [])}
    replayed, matches = None, None
    if record.direction == "outbound" and replay.replayable(record):
        decision = replay.replay(record)
        replayed = _view(decision)
        matches = replay.matches(record, decision)
    inputs = replay.redacted(record.inputs) if lender_id is not None else record.inputs
    return DecisionReview(
        attempt=record, made_by=db.session.get(Tenant, record.tenant_id),
        lender=db.session.get(Tenant, record.lender_tenant_id), inputs=inputs or {}, stored=stored,
        replayed=replayed, matches=matches,
        rulebook_changed=replayed is not None and replayed["rulebook_version"] != record.rulebook_version)


def _view(decision: engine.Decision) -> dict:
    return {"outcome": decision.outcome, "rulebook_version": decision.rulebook_version,
            "earliest_allowed_at": decision.earliest_allowed_at.isoformat() if decision.earliest_allowed_at else None,
            "hits": [{"rule_id": h.rule_id, "action": h.action, "message_en": h.message_en,
                      "message_zh": h.message_zh, "citation": h.citation,
                      "earliest_allowed_at": h.earliest_allowed_at.isoformat() if h.earliest_allowed_at else None}
                     for h in decision.hits]}
