"""The cross-tenant matrix: every route that takes an object id, walked from the URL map, by every kind of attacker.

A member or token of tenant A asking for tenant B's objects gets 404 and changes nothing — by A's own URL, by
B's URL, and through the API: lender against lender, agency against agency, lender against agency and back, an
agency on the same lender's panel that does not hold the placement, the agency after the lender recalled it, and a
collector on another collector's case when the agency keeps collectors to their own. Ids in the body are probed
too: each id-typed field of every write route's JSON schema gets B's id (or a random one) with A's own ids in the
path, and must be refused with a 4xx. A new route with an id argument joins automatically; one whose argument this
test cannot supply fails until it is added to OBJECT_ARGS. The snapshots cover every table the access policy
declares (tenants/access_policy.py).
"""
import uuid
from dataclasses import dataclass

from flask import url_for
from marshmallow import fields
from sqlalchemy import select

from tenants import access_policy
from tenants.audit import AuditEvent
from tenants.billing import commission
from tenants.capabilities import can
from tenants.casework import own_cases, payments
from tenants.casework.money_models import Payment
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.placements import services as placements
from tenants.placements.models import Placement
from tenants.tenancy.models import Tenant
from tenants.tenancy.settings import update_settings
from tests.factories import login

OBJECT_ARGS = {"membership_id", "token_id", "event_id", "tenant_id", "portfolio_id", "import_id", "account_id",
               "batch_id", "placement_id", "relationship_id", "attempt_id", "hold_id", "approval_id",
               "template_id", "message_id", "complaint_id", "promise_id", "payment_id", "plan_id",
               "settlement_id", "agreement_id", "evidence_id", "dispute_id", "escalation_id",
               "callback_id", "counterparty_id", "endpoint_id", "delivery_id", "export_id", "schedule_id"}
# Arguments that are not object ids: secrets in one-time links and static file names.
NOT_OBJECT_IDS = {"token", "filename"}
# Arguments that are not ids but say which part of an object to show (a commission statement's month): the route
# is still walked, with the victim's own value beside its ids.
PLAIN_ARGS = {"month"}
WRITE_BODY = {"status": "suspended", "active": "0", "reason": "probe", "name": "probe", "role": "lender_analyst",
              "email": "probe@example.test"}


# Ids of rows that hang on one case: what a collector kept to his own cases must not reach on another's.
CASE_ARGS = {"account_id", "attempt_id", "hold_id", "promise_id", "payment_id", "plan_id", "settlement_id",
             "agreement_id", "evidence_id", "dispute_id", "escalation_id", "callback_id", "message_id"}
# The lender's rows on an account, which the agency loses at a recall (its own attempts and payments it keeps).
LENDER_CASE_ARGS = {"account_id", "hold_id", "dispute_id", "evidence_id", "agreement_id"}
# Body fields named after an object: the victim's object of that name; other id fields get a random id.
BODY_OBJECTS = {"third_party_id": "third_party_id", "approval_id": "approval_id", "template_id": "template_id",
                "attempt_id": "attempt_id", "evidence_id": "evidence_id", "settlement_id": "settlement_id",
                "dispute_id": "dispute_id", "placement_id": "placement_id", "account_id": "account_id",
                "portfolio_id": "portfolio_id", "agency_id": "tenant_id", "agency_tenant_id": "tenant_id",
                "lender_id": "tenant_id"}


# Columns a request writes as bookkeeping, not as a change to the data: an attacker's own token's last use (the
# collector attacks his own agency).
BOOKKEEPING = {"last_used_at"}


@dataclass
class Attacker:
    label: str
    email: str
    token_secret: str
    slug: str
    role: str


def scoped_models() -> list[type]:
    """Every model whose table the access policy declares and whose rows a tenant owns (`tenant_id`)."""
    declared = set(access_policy.declared_tables())
    return [m.class_ for m in db.Model.registry.mappers
            if m.class_.__table__.name in declared and "tenant_id" in m.class_.__table__.c]


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
        for model in scoped_models():
            owned = model.tenant_id == tenant_id
            if hasattr(model, "agency_tenant_id"):
                owned = owned | (model.agency_tenant_id == tenant_id)
            for obj in db_session.scalars(select(model).where(owned)):
                rows.append({c.key: getattr(obj, c.key) for c in model.__table__.columns if c.key not in BOOKKEEPING})
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


def _call(client, method, url, headers=None, body=None):
    if method == "GET":
        return client.get(url, headers=headers)
    if method == "DELETE":
        return client.delete(url, headers=headers)
    if url.startswith("/api/"):  # POST, PUT or PATCH
        return client.open(url, method=method, json=body or {"reason": "probe"}, headers=headers)
    return client.open(url, method=method, data=WRITE_BODY)


def _as(factory, tenant, role: str, label: str) -> Attacker:
    email = f"{role}-{uuid.uuid4().hex[:8]}@matrix.test"
    user, _ = factory.user(tenant, role, email=email)
    token, secret = factory.token(tenant, role)
    with tenant_scope(tenant.id):  # a token acts for the member who made it
        token.created_by_user_id = user.id
        db.session.flush()
    return Attacker(label, email, secret, tenant.slug, role)


def _world_attacker(world, label: str) -> Attacker:
    return Attacker(label, world.admin_email, world.token_secret, world.tenant.slug, "admin")


class Walk:
    """Requests by one attacker for the victim's objects, and what answered other than 404."""

    def __init__(self, app, client, rules):
        self.app, self.client, self.rules = app, client, rules
        self.failures, self.checked = [], 0

    def url(self, rule, values, slug):
        with self.app.test_request_context():
            return url_for(rule.endpoint, **values, **({"tenant_slug": slug} if slug else {}))

    def paths(self, attacker: Attacker, victim_objects: dict, victim_slug: str, only: set | None = None,
              refused_by_role_ok: bool = False):
        """Every route whose ids are the victim's (only those in `only`, if given): 404 by A's URL, B's URL, API."""
        logged_in = False
        for rule, args in self.rules:
            if only is not None and not args <= only:
                continue
            values = {arg: victim_objects[arg] for arg in args}
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if rule.rule.startswith("/api/"):
                    tries = [("token", {"Authorization": f"Bearer {attacker.token_secret}"}, None)]
                elif rule.rule.startswith("/t/"):
                    tries = [("member via own URL", None, attacker.slug), ("member via B's URL", None, victim_slug)]
                else:
                    tries = [("member", None, None)]
                for how, headers, slug in tries:
                    if headers is None and not logged_in:
                        login(self.client, attacker.email)
                        logged_in = True
                    url = self.url(rule, values, slug)
                    status = _call(self.client, method, url, headers).status_code
                    self.checked += 1
                    if status == 404 or (refused_by_role_ok and status == 403 and not self._may(rule, attacker)):
                        continue
                    self.failures.append(f"{method} {url} as {attacker.label} ({how}): {status}")

    def _may(self, rule, attacker: Attacker) -> bool:
        capability = getattr(self.app.view_functions[rule.endpoint], "required_capability", None)
        return capability is None or can(attacker.role, capability)

    def bodies(self, attacker: Attacker, own_objects: dict, victim_objects: dict):
        """Each id-typed field of each write route's JSON body set to the victim's id: never a 2xx, never a 500."""
        for rule in self.app.url_map.iter_rules():
            methods = rule.methods & {"POST", "PUT", "PATCH"}
            if not rule.rule.startswith("/api/") or not methods or not set(rule.arguments) <= set(own_objects):
                continue
            for field, many in _id_fields(self.app.view_functions[rule.endpoint]):
                foreign = str(victim_objects.get(BODY_OBJECTS.get(field.removesuffix("s")), uuid.uuid4()))
                url = self.url(rule, {a: own_objects[a] for a in rule.arguments}, None)
                for method in sorted(methods):
                    response = _call(self.client, method, url, {"Authorization": f"Bearer {attacker.token_secret}"},
                                     {field: [foreign] if many else foreign})
                    self.checked += 1
                    if not 400 <= response.status_code < 500:
                        self.failures.append(f"{method} {url} with {field}=B's id as {attacker.label}: "
                                             f"{response.status_code}")


def _id_fields(view) -> list[tuple[str, bool]]:
    """The JSON body's id fields: (name, whether it takes a list of ids)."""
    parameters = (getattr(view, "_apidoc", {}).get("arguments") or {}).get("parameters", [])
    names = []
    for parameter in parameters:
        if parameter.get("in") != "json":
            continue
        schema = parameter["schema"]
        schema = schema() if isinstance(schema, type) else schema
        for name, field in schema.fields.items():
            many = isinstance(field, fields.List)
            if isinstance(field.inner if many else field, fields.UUID):
                names.append((field.data_key or name, many))
    return names


def _holding_agency(db_session, world) -> Tenant:
    with tenant_scope(world.tenant.id):
        agency_id = db_session.get(Placement, world.objects["placement_id"]).agency_tenant_id
    with platform_scope("test: the world's agency"):
        return db_session.get(Tenant, agency_id)


def test_every_object_route_hides_other_tenants_objects(app, client, factory, db_session):
    rules = list(_object_rules(app))
    unknown = {arg for _, args in rules for arg in args - OBJECT_ARGS - PLAIN_ARGS}
    assert not unknown, f"routes take ids this matrix cannot supply yet: {unknown} (add them to OBJECT_ARGS)"

    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    factory.user(platform, "platform_admin", email="matrix-admin@example.test")
    walk = Walk(app, client, rules)
    worlds = {kind: (factory.world(kind), factory.world(kind)) for kind in ("lender", "agency")}
    for attacker, victim in worlds.values():
        victim.objects.update(_commission_statement(db_session, victim))
        victim.objects["third_party_id"] = factory.third_party(victim.objects["account_id"]).id
        attacker.objects.update(_commission_statement(db_session, attacker))
    for kind, (attacker, victim) in worlds.items():
        before = _snapshot(db_session, victim.tenant.id)
        walk.paths(_world_attacker(attacker, f"{kind} vs {kind}"), victim.objects, victim.tenant.slug)
        other = worlds["agency" if kind == "lender" else "lender"][0]
        walk.paths(_world_attacker(other, f"{other.tenant.kind} vs {kind}"), victim.objects, victim.tenant.slug)
        walk.bodies(_world_attacker(attacker, f"{kind} vs {kind}"), attacker.objects, victim.objects)
        if _snapshot(db_session, victim.tenant.id) != before:
            walk.failures.append(f"{kind} victim's rows changed")

    lender = worlds["lender"][1]
    # An agency on the lender's panel that holds none of its placements.
    bystander = factory.tenant("agency")
    factory.panel(lender.tenant, bystander)
    bystander_admin = _as(factory, bystander, "agency_admin", "panel agency without the placement")
    before = _snapshot(db_session, lender.tenant.id)
    walk.paths(bystander_admin, lender.objects,
               lender.tenant.slug, only=CASE_ARGS | {"portfolio_id", "import_id", "batch_id", "placement_id"})
    if _snapshot(db_session, lender.tenant.id) != before:
        walk.failures.append("the lender's rows changed (panel agency)")
    # The holding agency once the lender has recalled the account.
    holder = _as(factory, _holding_agency(db_session, lender), "agency_admin", "agency after recall")
    with tenant_scope(lender.tenant.id):
        placements.recall([lender.objects["placement_id"]], reason="matrix", force=True, role="lender_admin")
    before = _snapshot(db_session, lender.tenant.id)
    walk.paths(holder, lender.objects, lender.tenant.slug, only=LENDER_CASE_ARGS)
    if _snapshot(db_session, lender.tenant.id) != before:
        walk.failures.append("the lender's rows changed (agency after recall)")

    # A collector on another collector's case, in an agency that keeps collectors to their own cases.
    agency = worlds["agency"][1]
    with tenant_scope(agency.tenant.id):
        update_settings(agency.tenant, {own_cases.SETTING: True})
    collector = _as(factory, agency.tenant, "agency_collector", "collector on another's case")
    before = _snapshot(db_session, agency.tenant.id)
    walk.paths(collector, agency.objects, agency.tenant.slug, only=CASE_ARGS, refused_by_role_ok=True)
    if _snapshot(db_session, agency.tenant.id) != before:
        walk.failures.append("the restricted agency's rows changed")

    # A platform admin's console only shows the platform's own audit chain.
    login(client, "matrix-admin@example.test")
    victim = factory.world("lender")
    for url in (f"/admin/audit/{victim.objects['event_id']}",):
        if client.get(url).status_code != 404:
            walk.failures.append(f"platform admin saw another chain's event via {url}")
    assert walk.checked > 20
    assert not walk.failures, "\n".join(walk.failures)
