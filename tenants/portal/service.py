"""What the debtor sees and does in the portal, always for the session's account only.

Every function takes the session's `Visit` (tenants/portal/access.py) and runs in the tenant context the web layer
entered for it (the agency holding the account, else the lender) with the account fence on (tenants/portal/scope.py).
None takes an id from the request: the plan, the settlement and the agreement acted on are the account's current
ones. Each action goes through the same casework service a collector would use, and leaves a `PortalRequest`
(`source="portal"`) that the case timeline, the work queue, the compliance console and reports read.

Limits (a lender's `tenants.settings`, with defaults): `portal_max_instalments` (12) and the rulebook's maximum plan
length bound a plan; the first instalment within `portal_first_due_days` (30); `portal_max_extension_days` (14) for
more time. Within the agency's own rules — `portal_auto_accept_instalments` (6) instalments, an extension within
the lender's limit, a settlement discount within the placement's `max_discount_bps` — the answer is given at once;
otherwise the request waits for a collector (a plan, more time) or the lender (a larger discount).
"""
import io
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select

from tenants import audit, clock
from tenants.casework import agreements, disputes, plans, promises, settlements
from tenants.casework import evidence as evidence_store
from tenants.casework import payments as casework_payments
from tenants.casework.agreements import Agreement, AgreementStatus
from tenants.casework.debtor_dates import debtor_zone, today_in
from tenants.casework.money_models import PaymentPlan, PlanStatus
from tenants.casework.schedule import FREQUENCIES
from tenants.casework.settlements import Settlement, SettlementStatus
from tenants.conduct import consent
from tenants.conduct import service as conduct
from tenants.conduct.models import AccountConsent
from tenants.context import current_tenant_id
from tenants.db import db
from tenants.errors import Conflict, NotFound, ValidationFailed
from tenants.money import Money
from tenants.placements.models import Placement, PlacementStatus
from tenants.portal.access import Visit
from tenants.portal.models import PortalPayment, PortalRequest, RequestKind, RequestStatus
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import Account, AccountStatus, AccountUpdate
from tenants.tenancy.models import Tenant

DEFAULTS = {"portal_max_instalments": 12, "portal_first_due_days": 30, "portal_max_extension_days": 14,
            "portal_auto_accept_instalments": 6}
PROOF_MAX_BYTES = 10 * 1024 * 1024


def setting(tenant: Tenant | None, key: str) -> int:
    value = ((tenant.settings if tenant else None) or {}).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else DEFAULTS[key]


@dataclass
class Case:
    account: Account
    lender: Tenant
    placement: Placement | None
    agency: Tenant | None

    @property
    def acting_as_agency(self) -> bool:
        return self.agency is not None and self.agency.id == current_tenant_id()


def case(visit: Visit) -> Case:
    account = get_account(visit.account_id)
    placement = db.session.scalar(select(Placement).where(Placement.account_id == account.id,
                                                          Placement.status == PlacementStatus.ACTIVE))
    agency = db.session.get(Tenant, placement.agency_tenant_id) if placement else None
    return Case(account=account, lender=db.session.get(Tenant, account.tenant_id), placement=placement,
                agency=agency)


def _require_agency(c: Case) -> Placement:
    """Plans, settlements and more time are agreed with the agency holding the account."""
    if not c.acting_as_agency or c.placement is None:
        raise Conflict("This is not available for this account online; contact your creditor.",
                       code="portal.not_available")
    if c.account.status != AccountStatus.OPEN:
        raise Conflict("This account is closed.", code="account.closed")
    return c.placement


def _request(visit: Visit, c: Case, kind: str, status: str, details: dict, *, object_type: str | None = None,
             object_id: uuid.UUID | None = None) -> PortalRequest:
    row = PortalRequest(tenant_id=current_tenant_id(), lender_tenant_id=c.account.tenant_id, account_id=c.account.id,
                        session_id=visit.session_id, link_id=visit.link_id, template_id=visit.template_id,
                        kind=kind, status=status, details=details, object_type=object_type, object_id=object_id,
                        created_at=clock.now())
    db.session.add(row)
    db.session.flush()
    audit.record(f"portal.{kind}", object_type="portal_request", object_id=row.id,
                 after={"account_id": str(c.account.id), "status": status, "source": "portal", **details})
    return row


# ---- what the debtor sees -----------------------------------------------------------------------------------------

@dataclass
class View:
    case: Case
    today: date
    history: list = field(default_factory=list)  # (date, kind, amount_minor, status)
    plan: PaymentPlan | None = None
    settlement: Settlement | None = None
    agreement: Agreement | None = None
    disputes: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    payments: list = field(default_factory=list)
    consent: AccountConsent | None = None
    limits: dict = field(default_factory=dict)
    rights: list = field(default_factory=list)  # (rule id, params) of the rulebook, explained by the page
    next_due_minor: int | None = None


def view(visit: Visit) -> View:
    c = case(visit)
    account = c.account
    v = View(case=c, today=today_in(debtor_zone(account)))
    updates = db.session.scalars(select(AccountUpdate).where(AccountUpdate.account_id == account.id)
                                 .order_by(AccountUpdate.occurred_on.desc()))
    v.history = [(u.occurred_on, u.kind, u.amount_minor, None) for u in updates]
    v.history += [(p.received_on, "payment", p.amount_minor, p.status)
                  for p in casework_payments.of_account(account.id)]
    v.history.sort(key=lambda row: row[0], reverse=True)
    v.plan = db.session.scalar(select(PaymentPlan).where(PaymentPlan.account_id == account.id,
                                                         PaymentPlan.status.in_(PlanStatus.OPEN))
                               .order_by(PaymentPlan.created_at.desc()).limit(1))
    v.settlement = db.session.scalar(select(Settlement).where(Settlement.account_id == account.id,
                                                              Settlement.status.in_(SettlementStatus.LIVE))
                                     .order_by(Settlement.proposed_at.desc()).limit(1))
    v.agreement = _current_agreement(v.plan, v.settlement)
    v.disputes = disputes.for_account(account.id)
    v.requests = list(db.session.scalars(select(PortalRequest).where(PortalRequest.account_id == account.id)
                                         .order_by(PortalRequest.created_at.desc()).limit(20)))
    v.payments = list(db.session.scalars(select(PortalPayment).where(PortalPayment.account_id == account.id)
                                         .order_by(PortalPayment.created_at.desc()).limit(10)))
    v.consent = db.session.scalar(select(AccountConsent).where(AccountConsent.account_id == account.id))
    v.limits = {key: setting(c.lender, key) for key in ("portal_max_instalments", "portal_first_due_days",
                                                        "portal_max_extension_days")}
    v.limits["max_discount_bps"] = (c.placement.max_discount_bps or 0) if c.placement else 0
    v.rights = rights(c)
    if v.plan is not None and v.plan.status == PlanStatus.ACTIVE:
        due = next((i for i in v.plan.instalments if i.status == "due"), None)
        v.next_due_minor = (due.amount_minor - due.paid_minor) if due else None
    elif v.plan is not None:
        v.next_due_minor = v.plan.instalments[0].amount_minor
    return v


def _current_agreement(plan, settlement) -> Agreement | None:
    condition = None
    if plan is not None:
        condition = Agreement.plan_id == plan.id
    elif settlement is not None:
        condition = Agreement.settlement_id == settlement.id
    if condition is None:
        return None
    return db.session.scalar(select(Agreement).where(condition).order_by(Agreement.created_at.desc()).limit(1))


def rights(c: Case) -> list[tuple[str, dict]]:
    """The rules of the account's rulebook a debtor should know of, with the parameters the page explains."""
    book = conduct.rulebook_for(c.lender, c.placement)
    found = []
    for rule in book.rules:
        params = {name: p.value for name, p in rule.params.items()}
        if rule.id.endswith(".HOURS"):
            found.append(("hours", {"start": params["start"].strftime("%H:%M"),
                                    "end": params["end"].strftime("%H:%M")}))
        elif rule.id in ("UK.DISPUTE", "US.VALIDATION", "HOLD.DISPUTE"):
            found.append(("dispute", {}))
        elif rule.id in ("PLATFORM.OPTOUT", "US.EOPTOUT", "US.INCONVENIENT"):
            found.append(("stop_channel", {}))
        elif rule.id in ("CN.3P.TARGET", "CN.3P.CONTENT", "US.3P", "IN.3P"):
            found.append(("third_parties", {}))
        elif rule.id in ("CN.PLAN.PAUSE", "HOLD.PLAN"):
            found.append(("plan_pauses", {}))
        elif rule.id in ("CN.PROHIBITED", "US.MISREP", "UK.PRESSURE"):
            found.append(("no_threats", {}))
        elif rule.id == "UK.BREATHING":
            found.append(("breathing_space", {}))
        elif rule.id == "CN.CALLS.CONNECTED":
            found.append(("call_cap", {"calls": params.get("max", 3)}))
    seen, unique = set(), []
    for key, params in found:
        if key not in seen:
            seen.add(key)
            unique.append((key, params))
    return unique


# ---- a plan -------------------------------------------------------------------------------------------------------

def propose_plan(visit: Visit, *, count: int, frequency: str, first_due_on: date) -> PortalRequest:
    c = case(visit)
    placement = _require_agency(c)
    account = c.account
    today = today_in(debtor_zone(account))
    most = setting(c.lender, "portal_max_instalments")
    problems = {}
    if frequency not in FREQUENCIES:
        problems["frequency"] = ["One of weekly, fortnightly, monthly."]
    if not 1 <= count <= most:
        problems["instalment_count"] = [f"From 1 to {most} instalments."]
    latest_first = today + timedelta(days=setting(c.lender, "portal_first_due_days"))
    if not today <= first_due_on <= latest_first:
        problems["first_due_on"] = [f"Between {today.isoformat()} and {latest_first.isoformat()}."]
    if problems:
        raise ValidationFailed("This plan is outside what can be agreed online.", code="portal.plan_outside_limits",
                               details={"fields": problems, "max_instalments": most})
    if db.session.scalar(select(PaymentPlan.id).where(PaymentPlan.account_id == account.id,
                                                      PaymentPlan.status.in_(PlanStatus.OPEN)).limit(1)):
        raise Conflict("This account already has a plan.", code="plan.already_open")
    total = str(Money(account.outstanding_minor, account.currency).decimal())
    details = {"instalment_count": count, "frequency": frequency, "first_due_on": first_due_on.isoformat(),
               "total_minor": account.outstanding_minor, "currency": account.currency}
    if count > setting(c.agency, "portal_auto_accept_instalments"):
        return _request(visit, c, RequestKind.PLAN, RequestStatus.AWAITING_COLLECTOR, details)
    plan = plans.propose(account.id, user_id=None, total=total, count=count, frequency=frequency,
                         first_due_on=first_due_on, note="Proposed by the debtor in the self-service portal")
    agreements.agreement_for_plan(plan)
    del placement
    return _request(visit, c, RequestKind.PLAN, RequestStatus.DONE, details, object_type="payment_plan",
                    object_id=plan.id)


# ---- a settlement ---------------------------------------------------------------------------------------------------

def propose_settlement(visit: Visit, *, amount: str) -> PortalRequest:
    c = case(visit)
    placement = _require_agency(c)
    today = today_in(debtor_zone(c.account))
    deadline = min(today + timedelta(days=14), placement.ends_on)
    offer = settlements.propose(c.account.id, amount=amount, deadline=deadline,
                                note="Offered by the debtor in the self-service portal", user_id=None)
    details = {"amount_minor": offer.amount_minor, "currency": offer.currency, "discount_bps": offer.discount_bps,
               "deadline": deadline.isoformat()}
    if offer.status == SettlementStatus.PROPOSED:
        agreements.for_settlement(offer.id, user_id=None)
        return _request(visit, c, RequestKind.SETTLEMENT, RequestStatus.DONE, details, object_type="settlement",
                        object_id=offer.id)
    return _request(visit, c, RequestKind.SETTLEMENT, RequestStatus.AWAITING_LENDER, details,
                    object_type="settlement", object_id=offer.id)


# ---- more time ------------------------------------------------------------------------------------------------------

def ask_for_time(visit: Visit, *, pay_by: date, amount: str | None = None) -> PortalRequest:
    c = case(visit)
    _require_agency(c)
    today = today_in(debtor_zone(c.account))
    amount = amount or str(Money(c.account.outstanding_minor, c.account.currency).decimal())
    money = promises.positive_amount(amount, c.account)
    if pay_by < today:
        raise ValidationFailed(details={"fields": {"pay_by": [f"On or after {today.isoformat()}."]}})
    details = {"pay_by": pay_by.isoformat(), "amount_minor": money.minor, "currency": money.currency,
               "days": (pay_by - today).days}
    if (pay_by - today).days > setting(c.lender, "portal_max_extension_days"):
        return _request(visit, c, RequestKind.EXTENSION, RequestStatus.AWAITING_COLLECTOR, details)
    promise = promises.take(c.account.id, amount=str(money.decimal()), due_on=pay_by, user_id=None,
                            note="More time asked in the self-service portal")
    return _request(visit, c, RequestKind.EXTENSION, RequestStatus.DONE, details, object_type="promise",
                    object_id=promise.id)


# ---- a dispute ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str | None
    data: bytes


def dispute(visit: Visit, *, category: str, reason: str, documents: list[Upload] = ()) -> PortalRequest:
    c = case(visit)
    if any(len(d.data) > PROOF_MAX_BYTES for d in documents):
        raise ValidationFailed(details={"fields": {"documents": ["At most 10 MB each."]}})
    opened = disputes.open_dispute(c.account.id, category=category, reason=reason, source="portal")
    stored = [evidence_store.store(c.account.id, kind="other", filename=d.filename, content_type=d.content_type,
                                   stream=io.BytesIO(d.data), links=evidence_store.Links(dispute_id=opened.id),
                                   description="Sent by the debtor with a dispute (self-service portal)").id
              for d in documents if d.data]
    return _request(visit, c, RequestKind.DISPUTE, RequestStatus.DONE,
                    {"category": category, "documents": [str(i) for i in stored]}, object_type="dispute",
                    object_id=opened.id)


# ---- contact preferences --------------------------------------------------------------------------------------------

def set_preferences(visit: Visit, *, opted_out_channels: list[str], inconvenient_windows: list[tuple[str, str]],
                    agreed_hours: tuple[str, str] | None) -> PortalRequest:
    """Recorded through tenants.conduct.consent like a collector's capture: every decision reads it."""
    c = case(visit)
    existing = db.session.scalar(select(AccountConsent).where(AccountConsent.account_id == c.account.id))
    consent.record(c.account.id, opted_out_channels=opted_out_channels, inconvenient_windows=inconvenient_windows,
                   agreed_hours=agreed_hours, consent_until=existing.consent_until if existing else None,
                   user_id=None)
    return _request(visit, c, RequestKind.PREFERENCES, RequestStatus.DONE,
                    {"opted_out_channels": sorted(set(opted_out_channels)),
                     "inconvenient_windows": [list(w) for w in inconvenient_windows],
                     "agreed_hours": list(agreed_hours) if agreed_hours else None})


# ---- the agreement --------------------------------------------------------------------------------------------------

def agreement_document(visit: Visit) -> tuple[Agreement, bytes]:
    """The current agreement (prepared now for an approved settlement that has none yet) and its verified text."""
    v = view(visit)
    agreement = v.agreement
    if agreement is None and v.settlement is not None and v.settlement.status == SettlementStatus.APPROVED \
            and v.case.acting_as_agency:
        agreement = agreements.for_settlement(v.settlement.id, user_id=None)
    if agreement is None:
        raise NotFound(code="agreement.not_found")
    signed = agreement.signed_evidence_id if agreement.status == AgreementStatus.SIGNED else None
    document = evidence_store.get_evidence(signed or agreement.document_evidence_id)
    return agreement, evidence_store.verified_copy(document).read()


def sign(visit: Visit, *, typed_name: str, acknowledged: bool) -> PortalRequest:
    """The debtor signs: typed name + acknowledgement; the signed copy (with its SHA-256 in the audit chain) is
    evidence, and a plan's signature makes it active (its hold pauses collection)."""
    agreement, _ = agreement_document(visit)
    problems = {}
    if not acknowledged:
        problems["acknowledged"] = ["Tick the box to confirm you read and agree to the agreement."]
    if not 0 < len((typed_name or "").strip()) <= 200:
        problems["typed_name"] = ["Type your full name."]
    if problems:
        raise ValidationFailed(code="portal.signature_incomplete", details={"fields": problems})
    if agreement.status == AgreementStatus.SIGNED:
        raise Conflict("The agreement is already signed.", code="agreement.already_signed")
    c = case(visit)
    signed = agreements.sign(agreement.id, method="e_signature", signatory=typed_name.strip(), user_id=None)
    if agreement.plan_id is not None:
        plan = plans.get_plan(agreement.plan_id)
        if plan.status == PlanStatus.PROPOSED:
            plans.sign(plan.id, user_id=None, evidence_id=signed.signed_evidence_id,
                       acknowledgement=f"e-signature in the self-service portal by {typed_name.strip()}")
    evidence = evidence_store.get_evidence(signed.signed_evidence_id)
    return _request(visit, c, RequestKind.AGREEMENT_SIGNED, RequestStatus.DONE,
                    {"agreement_id": str(agreement.id), "sha256": evidence.sha256,
                     "plan_id": str(agreement.plan_id) if agreement.plan_id else None,
                     "settlement_id": str(agreement.settlement_id) if agreement.settlement_id else None},
                    object_type="agreement", object_id=agreement.id)


# ---- proof of a payment made elsewhere ----------------------------------------------------------------------------

def upload_proof(visit: Visit, *, document: Upload, amount: str, paid_on: date,
                 reference: str | None) -> PortalRequest:
    c = case(visit)
    money = promises.positive_amount(amount, c.account)
    problems = {}
    if not document.data:
        problems["document"] = ["Attach a photo or file of the receipt."]
    elif len(document.data) > PROOF_MAX_BYTES:
        problems["document"] = ["At most 10 MB."]
    if paid_on > today_in(debtor_zone(c.account)):
        problems["paid_on"] = ["Cannot be in the future."]
    if problems:
        raise ValidationFailed(details={"fields": problems})
    stored = evidence_store.store(c.account.id, kind="other", filename=document.filename,
                                  content_type=document.content_type, stream=io.BytesIO(document.data),
                                  description="Proof of a payment made elsewhere (self-service portal)")
    return _request(visit, c, RequestKind.PROOF, RequestStatus.AWAITING_COLLECTOR,
                    {"amount_minor": money.minor, "currency": money.currency, "paid_on": paid_on.isoformat(),
                     "reference": (reference or "").strip()[:100] or None, "evidence_id": str(stored.id)},
                    object_type="evidence", object_id=stored.id)
