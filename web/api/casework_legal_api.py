"""Settlements, repayment agreements, the evidence store, disputes and legal escalation.

A settlement is the agency's offer to the debtor: within the placement's `max_discount_bps` it goes straight to the
debtor (`proposed`), beyond it it waits for the lender (`awaiting_lender`), who approves or declines. Its repayment
agreement is a printable page (Chinese and English) kept as evidence; its signature (an uploaded copy, or the
debtor's acknowledgement: verbal on a recorded call, e-signature) is evidence too and accepts the settlement.

Evidence files belong to the tenant that uploaded them and are read by the account's lender and the agency holding
it; each file's SHA-256 is in the audit chain and checked again at every download (`409 evidence.tampered`
otherwise); retention dates come from the rulebook. The bundle is a zip of every file with `manifest.json`.

A dispute holds collection (a `dispute` hold) and blocks recall until resolved. A legal escalation is decided by
the conduct rules first (a `legal` contact attempt: refused with `422 conduct.us.timebarred` /
`conduct.uk.statutebarred` on a time-barred debt), then by the lender's manager. Foreign ids are 404.
"""
import uuid

from flask import Response, current_app, g, send_file
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from tenants.capabilities import Capability
from tenants.casework import agreements, disputes, evidence, legal, plans, settlements
from tenants.casework.legal import LegalEscalation, LegalStatus
from tenants.casework.settlements import Settlement, SettlementStatus
from tenants.db import db
from tenants.pii import mask
from tenants.portal import requests as portal_requests
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import Account
from web.access import require_capability
from web.api.pagination import PageArgs, page_schema, paginate
from web.api.portfolio_schemas import Upload, agencies_only, lenders_and_agencies, lenders_only, loads
from web.api.portfolios_api import PortfolioBlueprint

blp = PortfolioBlueprint("api_casework_legal", __name__, url_prefix="/api/v1",
                         description="Settlements, repayment agreements, evidence, disputes and legal escalation")

DOWNLOAD_CSP = "default-src 'none'; sandbox"
DOCUMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


# ---- loaders ------------------------------------------------------------------------------------------------

def _account(account_id: uuid.UUID) -> Account:
    return get_account(account_id)


# ---- schemas ------------------------------------------------------------------------------------------------

class SettlementIn(Schema):
    amount = fields.String(required=True, validate=validate.Length(min=1, max=30),
                           metadata={"description": "What the debtor pays, a decimal in the account's currency."})
    deadline = fields.Date(required=True, metadata={"description": "Pay by (inclusive), at the latest the day the "
                                                                   "placement ends."})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class SettlementOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    placement_id = fields.UUID()
    agency_id = fields.UUID(attribute="tenant_id")
    lender_id = fields.UUID(attribute="lender_tenant_id")
    currency = fields.String()
    outstanding_minor = fields.Integer(metadata={"description": "The balance when the offer was made."})
    amount_minor = fields.Integer()
    discount_bps = fields.Integer(metadata={"description": "(outstanding − amount) ÷ outstanding, rounded up."})
    max_discount_bps = fields.Integer(metadata={"description": "The placement's limit when the offer was made."})
    within_limit = fields.Boolean()
    deadline = fields.Date()
    status = fields.String(metadata={"description": "proposed, awaiting_lender, approved, declined, accepted, paid "
                                                    "or lapsed"})
    note = fields.String(allow_none=True)
    proposed_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)
    accepted_at = fields.DateTime(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)


class LenderDecisionIn(Schema):
    approve = fields.Boolean(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class AgreementOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    settlement_id = fields.UUID(allow_none=True)
    plan_id = fields.UUID(allow_none=True)
    language = fields.String(metadata={"description": "The governing text (the lender's language): zh or en."})
    status = fields.String(metadata={"description": "generated or signed"})
    document_evidence_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()
    signed_evidence_id = fields.UUID(allow_none=True)
    signatory = fields.Function(lambda a: mask("name", a.signatory, g.role), allow_none=True)
    signature_method = fields.String(allow_none=True, metadata={"description": "upload, verbal or e_signature"})
    signature_detail = fields.String(allow_none=True, metadata={"description": "e.g. verbal on recorded call <id>"})
    signed_attempt_id = fields.UUID(allow_none=True)
    signed_at = fields.DateTime(allow_none=True)


class SignatureIn(Schema):
    method = fields.String(required=True, validate=validate.OneOf(agreements.METHODS))
    signatory = fields.String(required=True, validate=validate.Length(min=1, max=200),
                              metadata={"description": "Who signed or acknowledged (usually the debtor)."})
    signed_at = fields.AwareDateTime(load_default=None, allow_none=True, metadata={"description": "Default: now."})
    attempt_id = fields.UUID(load_default=None, allow_none=True,
                             metadata={"description": "verbal: the recorded call in which the debtor agreed."})
    file = Upload(load_default=None, metadata={"description": "upload: the signed copy."})


class EvidenceIn(Schema):
    file = Upload(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(evidence.UPLOADABLE))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    attempt_id = fields.UUID(load_default=None, allow_none=True)
    settlement_id = fields.UUID(load_default=None, allow_none=True)
    dispute_id = fields.UUID(load_default=None, allow_none=True)


class EvidenceOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    kind = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String()
    retention_until = fields.Date()
    retention_rule = fields.String(metadata={"description": "The rulebook timer that set it (CN.RECORDING, "
                                                            "US.RETENTION) or PLATFORM.RETENTION."})
    description = fields.String(allow_none=True)
    attempt_id = fields.UUID(allow_none=True)
    settlement_id = fields.UUID(allow_none=True)
    plan_id = fields.UUID(allow_none=True)
    dispute_id = fields.UUID(allow_none=True)
    uploaded_by_tenant_id = fields.UUID(attribute="tenant_id")
    uploaded_by_user_id = fields.UUID(allow_none=True)
    uploaded_at = fields.DateTime()


class DisputeIn(Schema):
    category = fields.String(required=True, validate=validate.OneOf(disputes.CATEGORIES))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class DisputeOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    lender_id = fields.UUID(attribute="tenant_id")
    category = fields.String()
    reason = fields.String()
    status = fields.String(metadata={"description": "open or resolved"})
    outcome = fields.String(allow_none=True, metadata={"description": "upheld, rejected or withdrawn"})
    resolution = fields.String(allow_none=True)
    hold_id = fields.UUID()
    source = fields.String()
    opened_by_tenant_id = fields.UUID()
    opened_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    documents = fields.Function(lambda d: [str(e.id) for e in evidence.for_account(d.account_id)
                                           if e.dispute_id == d.id],
                                metadata={"description": "Evidence ids linked to the dispute (upload evidence with "
                                                         "dispute_id)."})


class DisputeResolveIn(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(disputes.OUTCOMES))
    resolution = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class LegalIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(legal.KINDS))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class LegalOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    placement_id = fields.UUID()
    agency_id = fields.UUID(attribute="tenant_id")
    lender_id = fields.UUID(attribute="lender_tenant_id")
    kind = fields.String()
    reason = fields.String()
    status = fields.String(metadata={"description": "requested, approved, declined or filed"})
    attempt_id = fields.UUID(metadata={"description": "The legal contact attempt the conduct engine decided."})
    rulebook_version = fields.String()
    requested_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)
    filed_reference = fields.String(allow_none=True)
    filed_at = fields.DateTime(allow_none=True)


class FiledIn(Schema):
    reference = fields.String(required=True, validate=validate.Length(min=1, max=200))


class SettlementArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(
        (SettlementStatus.PROPOSED, SettlementStatus.AWAITING_LENDER, SettlementStatus.APPROVED,
         SettlementStatus.DECLINED, SettlementStatus.ACCEPTED, SettlementStatus.PAID, SettlementStatus.LAPSED)))


class LegalArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(
        (LegalStatus.REQUESTED, LegalStatus.APPROVED, LegalStatus.DECLINED, LegalStatus.FILED)))


def _items(schema, name: str):
    return Schema.from_dict({"items": fields.List(fields.Nested(schema))}, name=name)


# ---- settlements ------------------------------------------------------------------------------------------------

@blp.route("/settlements")
@lenders_and_agencies
@blp.arguments(SettlementArgs, location="query")
@blp.response(200, page_schema(SettlementOut, "SettlementPage"))
def list_settlements(args):
    """An agency's offers, or the offers on a lender's accounts; `status=awaiting_lender` is a lender's to-do."""
    query, status = select(Settlement), args.pop("status")
    if status:
        query = query.where(Settlement.status == status)
    return paginate(query, Settlement.proposed_at, Settlement.id, newest_first=True, **args)


@blp.route("/accounts/<uuid:account_id>/settlements")
@lenders_and_agencies
@loads(_account, "account_id", "found")
@blp.response(200, _items(SettlementOut, "SettlementList"))
def account_settlements(found: Account):
    return {"items": settlements.for_account(found.id)}


@blp.route("/accounts/<uuid:account_id>/settlements", methods=["POST"])
@agencies_only
@require_capability(Capability.CASE_WORK)
@loads(_account, "account_id", "found")
@blp.arguments(SettlementIn)
@blp.response(201, SettlementOut)
def propose_settlement(data, found: Account):
    """Offer a settlement. Within the placement's discount limit it is `proposed` (offered to the debtor); beyond
    it `awaiting_lender`. One open offer per account at a time (409 `settlement.already_open`)."""
    settlement = settlements.propose(found.id, amount=data["amount"], deadline=data["deadline"], note=data["note"],
                                     user_id=None)
    db.session.commit()
    return settlement


@blp.route("/settlements/<uuid:settlement_id>")
@lenders_and_agencies
@loads(settlements.get_settlement, "settlement_id", "found")
@blp.response(200, SettlementOut)
def settlement(found: Settlement):
    return found


@blp.route("/settlements/<uuid:settlement_id>/decision", methods=["POST"])
@lenders_only
@require_capability(Capability.SETTLEMENT_DECIDE)
@loads(settlements.get_settlement, "settlement_id", "found")
@blp.arguments(LenderDecisionIn)
@blp.response(200, SettlementOut)
def decide_settlement(data, found: Settlement):
    """The lender approves or declines an offer beyond the agency's limit (409 if it is not waiting)."""
    result = settlements.decide(found.id, approve=data["approve"], role=g.role, user_id=None, note=data["note"])
    portal_requests.settlement_decided(found.id, user_id=None, config=current_app.config)  # the debtor's offer
    db.session.commit()
    return result


@blp.route("/settlements/<uuid:settlement_id>/accept", methods=["POST"])
@agencies_only
@require_capability(Capability.CASE_WORK)
@loads(settlements.get_settlement, "settlement_id", "found")
@blp.response(200, SettlementOut)
def accept_settlement(found: Settlement):
    """The debtor took the offer (only `proposed` or `approved` ones, before the deadline)."""
    result = settlements.accept(found.id)
    db.session.commit()
    return result


@blp.route("/settlements/<uuid:settlement_id>/paid", methods=["POST"])
@agencies_only
@require_capability(Capability.CASE_WORK)
@loads(settlements.get_settlement, "settlement_id", "found")
@blp.response(200, SettlementOut)
def settlement_paid(found: Settlement):
    result = settlements.mark_paid(found.id)
    db.session.commit()
    return result


@blp.route("/settlements/<uuid:settlement_id>/agreement", methods=["POST"])
@agencies_only
@require_capability(Capability.CASE_WORK)
@loads(settlements.get_settlement, "settlement_id", "found")
@blp.response(201, AgreementOut)
def settlement_agreement(found: Settlement):
    """Prepare the repayment agreement of an offer the debtor may take (the unsigned one again if it exists)."""
    agreement = agreements.for_settlement(found.id, user_id=None)
    db.session.commit()
    return agreement


@blp.route("/plans/<uuid:plan_id>/agreement", methods=["POST"])
@agencies_only
@require_capability(Capability.CASE_WORK)
@loads(plans.get_plan, "plan_id", "found")
@blp.response(201, AgreementOut)
def plan_agreement(found):
    """Prepare the repayment agreement of a payment plan, its schedule of instalments in both languages."""
    agreement = agreements.agreement_for_plan(found, user_id=None)
    db.session.commit()
    return agreement


# ---- agreements ---------------------------------------------------------------------------------------------------

@blp.route("/agreements/<uuid:agreement_id>")
@lenders_and_agencies
@loads(agreements.get_agreement, "agreement_id", "found")
@blp.response(200, AgreementOut)
def agreement(found):
    return found


@blp.route("/agreements/<uuid:agreement_id>/document")
@lenders_and_agencies
@require_capability(Capability.EVIDENCE_READ)
@loads(agreements.get_agreement, "agreement_id", "found")
@blp.doc(responses={"200": {"description": "The printable agreement (self-contained HTML).",
                            "content": {"text/html": {"schema": {"type": "string"}}}}})
def agreement_document(found):
    copy = evidence.verified_copy(evidence.get_evidence(found.document_evidence_id))
    response = Response(copy.read(), mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCUMENT_CSP
    return response


@blp.route("/agreements/<uuid:agreement_id>/signature", methods=["POST"])
@lenders_and_agencies
@require_capability(Capability.EVIDENCE_WRITE)
@loads(agreements.get_agreement, "agreement_id", "found")
@blp.arguments(SignatureIn, location="multipart")
@blp.response(200, AgreementOut)
def sign_agreement(data, found):
    """Record the signature (multipart): `upload` with `file`, `verbal` with `attempt_id` (a call on the account in
    which the debtor was spoken to), or `e_signature`. The signed copy is kept as evidence; a settlement's agreement
    signed is the settlement accepted."""
    upload = data["file"]
    result = agreements.sign(
        found.id, method=data["method"], signatory=data["signatory"], signed_at=data["signed_at"],
        attempt_id=data["attempt_id"], user_id=None,
        upload=agreements.Upload(upload.filename, upload.mimetype, upload.stream) if upload else None)
    db.session.commit()
    return result


# ---- evidence ------------------------------------------------------------------------------------------------------

@blp.route("/accounts/<uuid:account_id>/evidence")
@lenders_and_agencies
@loads(_account, "account_id", "found")
@blp.response(200, _items(EvidenceOut, "EvidenceList"))
def account_evidence(found: Account):
    return {"items": evidence.for_account(found.id)}


@blp.route("/accounts/<uuid:account_id>/evidence", methods=["POST"])
@lenders_and_agencies
@require_capability(Capability.EVIDENCE_WRITE)
@loads(_account, "account_id", "found")
@blp.arguments(EvidenceIn, location="multipart")
@blp.response(201, EvidenceOut)
def upload_evidence(data, found: Account):
    """Keep a file (multipart, at most 50 MB) as evidence on the account; optional links to a contact attempt, a
    settlement or a dispute of the same account. Its SHA-256 goes into the audit chain."""
    upload = data["file"]
    stored = evidence.store(found.id, kind=data["kind"], filename=upload.filename, content_type=upload.mimetype,
                            stream=upload.stream, description=data["description"],
                            links=evidence.Links(attempt_id=data["attempt_id"], settlement_id=data["settlement_id"],
                                                 dispute_id=data["dispute_id"]))
    db.session.commit()
    return stored


@blp.route("/evidence/<uuid:evidence_id>")
@lenders_and_agencies
@loads(evidence.get_evidence, "evidence_id", "found")
@blp.response(200, EvidenceOut)
def evidence_item(found):
    return found


@blp.route("/evidence/<uuid:evidence_id>/content")
@lenders_and_agencies
@require_capability(Capability.EVIDENCE_READ)
@loads(evidence.get_evidence, "evidence_id", "found")
@blp.doc(responses={"200": {"description": "The file as uploaded, once it matches its recorded digest.",
                            "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                "format": "binary"}}}},
                    "409": {"description": "evidence.tampered: the stored bytes no longer match the digest."}})
def evidence_content(found):
    response = send_file(evidence.verified_copy(found), mimetype=found.content_type, as_attachment=True,
                         download_name=found.filename)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-SHA256"] = found.sha256
    return response


@blp.route("/accounts/<uuid:account_id>/evidence-bundle")
@lenders_and_agencies
@require_capability(Capability.EVIDENCE_READ)
@loads(_account, "account_id", "found")
@blp.doc(responses={"200": {"description": "A zip: files/… and manifest.json (file, kind, sha256, size, "
                                           "uploaded_at, uploaded_by, retention_until, links); every digest is "
                                           "verified while the zip is written.",
                            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
                    "409": {"description": "evidence.tampered: a file no longer matches its digest."}})
def evidence_bundle(found: Account):
    external_ref = found.external_ref
    spool = evidence.bundle(found.id)
    db.session.commit()
    return send_file(spool, mimetype="application/zip", as_attachment=True,
                     download_name=f"evidence-{external_ref}.zip")


# ---- disputes ---------------------------------------------------------------------------------------------------

@blp.route("/accounts/<uuid:account_id>/disputes")
@lenders_and_agencies
@loads(_account, "account_id", "found")
@blp.response(200, _items(DisputeOut, "DisputeList"))
def account_disputes(found: Account):
    return {"items": disputes.for_account(found.id)}


@blp.route("/accounts/<uuid:account_id>/disputes", methods=["POST"])
@lenders_and_agencies
@require_capability(Capability.DISPUTE_MANAGE)
@loads(_account, "account_id", "found")
@blp.arguments(DisputeIn)
@blp.response(201, DisputeOut)
def open_dispute(data, found: Account):
    """Open a dispute: a `dispute` hold stops collection and recall until it is resolved."""
    dispute = disputes.open_dispute(found.id, category=data["category"], reason=data["reason"], source="api")
    db.session.commit()
    return dispute


@blp.route("/disputes/<uuid:dispute_id>")
@lenders_and_agencies
@loads(disputes.get_dispute, "dispute_id", "found")
@blp.response(200, DisputeOut)
def dispute(found):
    return found


@blp.route("/disputes/<uuid:dispute_id>/resolve", methods=["POST"])
@lenders_and_agencies
@require_capability(Capability.DISPUTE_MANAGE)
@loads(disputes.get_dispute, "dispute_id", "found")
@blp.arguments(DisputeResolveIn)
@blp.response(200, DisputeOut)
def resolve_dispute(data, found):
    """Upheld, rejected or withdrawn (the lender, or the agency that opened it); its hold is released."""
    result = disputes.resolve(found.id, outcome=data["outcome"], resolution=data["resolution"])
    db.session.commit()
    return result


# ---- legal escalation ------------------------------------------------------------------------------------------

@blp.route("/legal-escalations")
@lenders_and_agencies
@blp.arguments(LegalArgs, location="query")
@blp.response(200, page_schema(LegalOut, "LegalEscalationPage"))
def list_escalations(args):
    """An agency's requests, or the requests on a lender's accounts; `status=requested` is a lender's to-do."""
    query, status = select(LegalEscalation), args.pop("status")
    if status:
        query = query.where(LegalEscalation.status == status)
    return paginate(query, LegalEscalation.requested_at, LegalEscalation.id, newest_first=True, **args)


@blp.route("/accounts/<uuid:account_id>/legal-escalations")
@lenders_and_agencies
@loads(_account, "account_id", "found")
@blp.response(200, _items(LegalOut, "LegalEscalationList"))
def account_escalations(found: Account):
    return {"items": legal.for_account(found.id)}


@blp.route("/accounts/<uuid:account_id>/legal-escalations", methods=["POST"])
@agencies_only
@require_capability(Capability.LEGAL_REQUEST)
@loads(_account, "account_id", "found")
@blp.arguments(LegalIn)
@blp.response(201, LegalOut)
@blp.alt_response(422, description="Refused by the conduct rules (e.g. conduct.us.timebarred; details: attempt_id, "
                                   "hits), or the placement does not allow the legal channel")
def request_escalation(data, found: Account):
    """Ask for legal steps: the conduct engine decides (recorded as a `legal` contact attempt), then the lender."""
    escalation = legal.request(found.id, kind=data["kind"], reason=data["reason"], user_id=None)
    db.session.commit()
    return escalation


@blp.route("/legal-escalations/<uuid:escalation_id>")
@lenders_and_agencies
@loads(legal.get_escalation, "escalation_id", "found")
@blp.response(200, LegalOut)
def escalation(found):
    return found


@blp.route("/legal-escalations/<uuid:escalation_id>/decision", methods=["POST"])
@lenders_only
@require_capability(Capability.LEGAL_DECIDE)
@loads(legal.get_escalation, "escalation_id", "found")
@blp.arguments(LenderDecisionIn)
@blp.response(200, LegalOut)
def decide_escalation(data, found):
    result = legal.decide(found.id, approve=data["approve"], role=g.role, user_id=None, note=data["note"])
    db.session.commit()
    return result


@blp.route("/legal-escalations/<uuid:escalation_id>/filed", methods=["POST"])
@agencies_only
@require_capability(Capability.LEGAL_REQUEST)
@loads(legal.get_escalation, "escalation_id", "found")
@blp.arguments(FiledIn)
@blp.response(200, LegalOut)
def escalation_filed(data, found):
    """Record the approved step as taken; refused (409 `legal.not_permitted`) if the rules no longer allow it."""
    result = legal.mark_filed(found.id, reference=data["reference"], user_id=None)
    db.session.commit()
    return result
