"""The cross-tenant matrix: every route that takes an object id, walked from the URL map.

A member or token of tenant A asking for tenant B's objects gets 404 and changes nothing — by A's own URL, by
B's URL, and through the API. A new route with an id argument joins automatically; one whose argument this
test cannot supply fails until it is added to OBJECT_ARGS.
"""
from flask import url_for
from sqlalchemy import select

from tenants.audit import AuditEvent
from tenants.billing.models import BillingInvoice, BillingPlan, UsageRecord
from tenants.billing import commission
from tenants.casework import payments
from tenants.casework.agreements import Agreement
from tenants.casework.desk_models import Callback, CaseAssignment, CaseNote
from tenants.casework.disputes import Dispute
from tenants.casework.evidence import Evidence
from tenants.casework.legal import LegalEscalation
from tenants.casework.money_models import Payment, PaymentPlan, Promise
from tenants.casework.settlements import Settlement
from tenants.compliance.models import Complaint
from tenants.conduct.models import AccountConsent, ApprovalRequest, ConductHold, ContactAttempt
from tenants.context import platform_scope, tenant_scope
from tenants.messaging.models import MessageTemplate, OutboundMessage
from tenants.placements.models import AgencyRelationship, Placement, PlacementBatch
from tenants.portfolios.models import Account, AccountUpdate, ImportJob
from tenants.tenancy.models import ApiToken, Invitation, Membership, Tenant
from tests.factories import login

OBJECT_ARGS = {"membership_id", "token_id", "event_id", "tenant_id", "portfolio_id", "import_id", "account_id",
               "batch_id", "placement_id", "relationship_id", "attempt_id", "hold_id", "approval_id",
               "template_id", "message_id", "complaint_id", "promise_id", "payment_id", "plan_id",
               "settlement_id", "agreement_id", "evidence_id", "dispute_id", "escalation_id",
               "callback_id", "counterparty_id"}
# Arguments that are not object ids: secrets in one-time links and static file names.
NOT_OBJECT_IDS = {"token", "filename"}
# Arguments that are not ids but say which part of an object to show (a commission statement's month): the route
# is still walked, with the victim's own value beside its ids.
PLAIN_ARGS = {"month"}
WRITE_BODY = {"status": "suspended", "active": "0", "reason": "probe", "name": "probe", "role": "lender_analyst",
              "email": "probe@example.test"}


def _object_rules(app):
    for rule in app.url_map.iter_rules():
        args = set(rule.arguments) - {"tenant_slug"}
        if not args or args & NOT_OBJECT_IDS:
            continue
        yield rule, args


def _snapshot(db_session, tenant_id):
    db_session.expire_all()
    with platform_scope("test: cross-tenant matrix snapshot"):
        rows = []
        for model in (Membership, ApiToken, Invitation, Account, AccountUpdate, ImportJob, Placement,
                      PlacementBatch, AgencyRelationship, MessageTemplate, OutboundMessage, Complaint,
                      Promise, Payment, PaymentPlan, Settlement, Agreement, Evidence, Dispute, LegalEscalation,
                      CaseAssignment, CaseNote, Callback, ApprovalRequest, ConductHold, AccountConsent,
                      ContactAttempt, BillingPlan, UsageRecord, BillingInvoice):
            owned = model.tenant_id == tenant_id
            if hasattr(model, "agency_tenant_id"):
                owned = owned | (model.agency_tenant_id == tenant_id)
            for obj in db_session.scalars(select(model).where(owned)):
                rows.append({c.key: getattr(obj, c.key) for c in model.__table__.columns})
        events = db_session.scalar(select(AuditEvent.seq).where(AuditEvent.tenant_id == tenant_id)
                                   .order_by(AuditEvent.seq.desc()).limit(1))
        tenant = db_session.get(Tenant, tenant_id)
        return rows, events, tenant.status


def _commission_statement(db_session, world) -> dict:
    """The world's pending payment confirmed, so that its tenant has a commission statement to hide: the month and
    the counterpart (a tenant id: the agency of a lender, the lender of an agency)."""
    payment_id = world.objects["payment_id"]
    with platform_scope("test: cross-tenant matrix, the payment's lender"):
        lender_id = db_session.get(Payment, payment_id).tenant_id
    with tenant_scope(lender_id):
        payments.confirm(payment_id, None)
    with tenant_scope(world.tenant.id):
        [statement] = commission.statements()
    return {"counterparty_id": statement.counterparty_id, "month": str(statement.month)}


def _call(client, method, url, headers=None):
    if method == "GET":
        return client.get(url, headers=headers)
    if method == "DELETE":
        return client.delete(url, headers=headers)
    if url.startswith("/api/"):  # POST, PUT or PATCH
        return client.open(url, method=method, json={"reason": "probe"}, headers=headers)
    return client.open(url, method=method, data=WRITE_BODY)


def test_every_object_route_hides_other_tenants_objects(app, client, factory, db_session):
    rules = list(_object_rules(app))
    unknown = {arg for _, args in rules for arg in args - OBJECT_ARGS - PLAIN_ARGS}
    assert not unknown, f"routes take ids this matrix cannot supply yet: {unknown} (add them to OBJECT_ARGS)"

    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    factory.user(platform, "platform_admin", email="matrix-admin@example.test")
    failures, checked = [], 0
    for kind in ("lender", "agency"):
        attacker, victim = factory.world(kind), factory.world(kind)
        victim.objects.update(_commission_statement(db_session, victim))
        before = _snapshot(db_session, victim.tenant.id)
        for rule, args in rules:
            values = {arg: victim.objects[arg] for arg in args}
            methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
            for method in methods:
                attempts = []
                if rule.rule.startswith("/api/"):
                    attempts.append(("token of A", {"Authorization": f"Bearer {attacker.token_secret}"},
                                     rule.rule))
                elif rule.rule.startswith("/t/"):
                    attempts.append(("member of A via A's URL", None, "A"))
                    attempts.append(("member of A via B's URL", None, "B"))
                elif rule.rule.startswith("/admin/"):
                    attempts.append(("member of A", None, "admin"))
                for label, headers, where in attempts:
                    if headers is None:
                        login(client, attacker.admin_email)
                    slug = {"A": attacker.tenant.slug, "B": victim.tenant.slug}.get(where)
                    with app.test_request_context():
                        url = url_for(rule.endpoint, **values, **({"tenant_slug": slug} if slug else {}))
                    response = _call(client, method, url, headers)
                    checked += 1
                    if response.status_code != 404:
                        failures.append(f"{method} {url} as {label} ({kind}): {response.status_code}")
        if _snapshot(db_session, victim.tenant.id) != before:
            failures.append(f"{kind} victim's rows changed")

    # A platform admin's console only shows the platform's own audit chain.
    login(client, "matrix-admin@example.test")
    victim = factory.world("lender")
    for url in (f"/admin/audit/{victim.objects['event_id']}",):
        if client.get(url).status_code != 404:
            failures.append(f"platform admin saw another chain's event via {url}")
    assert checked > 20
    assert not failures, "\n".join(failures)
