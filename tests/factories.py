"""Factories: tenants, users with a role, API tokens, and a complete tenant with one of each object."""
import itertools
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from tenants import audit, clock
from tenants.conduct.models import ApprovalRequest
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.pii import blind_index
from tenants.portfolios.models import Account, AccountPhone, Portfolio, ThirdPartyContact
from tenants.tenancy.models import ApiToken, Membership, Tenant, User
from tenants.tenancy.passwords import hash_password
from tenants.tenancy.roles import ADMIN_ROLE, TenantKind
from tenants.tenancy.services import email_index, invite_user
from tenants.tenancy.tokens import create_token

PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)


@dataclass
class World:
    """One tenant with an admin, a second member, a token, an invitation and audit events."""

    tenant: Tenant
    admin: User
    admin_email: str
    member: Membership
    admin_membership: Membership
    token: ApiToken
    token_secret: str
    objects: dict = field(default_factory=dict)


class Factory:
    def __init__(self, session):
        self.session = session

    def tenant(self, kind: str = TenantKind.LENDER, **overrides) -> Tenant:
        n = next(_counter)
        values = dict(kind=kind, slug=f"{kind}-{n}-{id(self) % 10000}", name=f"{kind.title()} {n}",
                      time_zone="Asia/Shanghai", locale="en", currency="CNY")
        values.update(overrides)
        with platform_scope("test factory: a new tenant"):
            tenant = Tenant(**values)
            db.session.add(tenant)
            db.session.flush()
        return tenant

    def user(self, tenant: Tenant, role: str | None = None, *, email: str | None = None,
             password: str = PASSWORD, locale: str = "en") -> tuple[User, Membership]:
        email = email or f"user{next(_counter)}-{id(self) % 10000}@example.test"
        with platform_scope("test factory: a person, before any membership"):
            user = db.session.query(User).filter_by(email_index=email_index(email)).one_or_none()
            if user is None:
                user = User(email_index=email_index(email), email=email, name=f"Person {email.split('@')[0]}",
                            password_hash=hash_password(password), locale=locale)
                db.session.add(user)
                db.session.flush()
        with tenant_scope(tenant.id):
            membership = Membership(tenant_id=tenant.id, user_id=user.id,
                                    role=role or ADMIN_ROLE[TenantKind(tenant.kind)])
            db.session.add(membership)
            db.session.flush()
        return user, membership

    def token(self, tenant: Tenant, role: str | None = None, *, creator: User | None = None
              ) -> tuple[ApiToken, str]:
        """A token as the platform makes it (no cap), or made by `creator` (it then works while they are a member)."""
        with tenant_scope(tenant.id):
            return create_token(tenant=tenant, name="test token", role=role or ADMIN_ROLE[TenantKind(tenant.kind)],
                                created_by=creator.id if creator else None, creator_role=None)

    def portfolio(self, lender: Tenant, name: str = "Test portfolio") -> Portfolio:
        with tenant_scope(lender.id):
            portfolio = Portfolio(tenant_id=lender.id, name=name)
            db.session.add(portfolio)
            db.session.flush()
        return portfolio

    def account(self, lender: Tenant, portfolio: Portfolio | None = None, **overrides) -> Account:
        portfolio = portfolio or self.portfolio(lender)
        n = next(_counter)
        values = dict(
            tenant_id=lender.id, portfolio_id=portfolio.id, external_ref=f"LOAN-{n:06d}",
            subject_key=blind_index("phone", f"+86138{n:08d}"), debtor_name=f"借款人{n}", id_type="cn_resident_id",
            email=None, address=None, region="上海", time_zones=["Asia/Shanghai"], time_zone_source="phone",
            product="cash loan", currency=lender.currency, original_minor=500_000, principal_minor=400_000,
            interest_minor=30_000, fees_minor=10_000, penalty_minor=5_000, days_past_due=45,
        )
        values.update(overrides)
        with tenant_scope(lender.id):
            account = Account(**values)
            account.recompute_outstanding()
            account.phones = [AccountPhone(tenant_id=lender.id, position=0, phone=f"+86138{n:08d}",
                                           phone_index=blind_index("phone", f"+86138{n:08d}"))]
            db.session.add(account)
            db.session.flush()
        return account

    def third_party(self, account_id, *, name: str = "Wang Fang", phone: str | None = None,
                    relationship: str = "sister") -> ThirdPartyContact:
        """A third-party contact on an account, added after its others, written in its lender's context."""
        with platform_scope("test factory: the account's lender"):
            lender_id = db.session.scalar(select(Account.tenant_id).where(Account.id == account_id))
        phone = phone or f"+86137{next(_counter):08d}"
        with tenant_scope(lender_id):
            position = len(db.session.scalars(select(ThirdPartyContact.id).where(
                ThirdPartyContact.account_id == account_id)).all())
            contact = ThirdPartyContact(tenant_id=lender_id, account_id=account_id, position=position, name=name,
                                        phone=phone, phone_index=blind_index("phone", phone),
                                        relationship_label=relationship)
            db.session.add(contact)
            db.session.flush()
        return contact

    def panel(self, lender: Tenant, agency: Tenant, **terms):
        from datetime import date

        from tenants.placements.panel import add_agency

        with tenant_scope(lender.id):
            return add_agency(agency_slug=agency.slug, contract_start=date(2026, 1, 1), contract_end=None,
                              commission_bps=terms.get("commission_bps", 1500),
                              period_days=terms.get("period_days", 90),
                              channels=terms.get("channels", ["call", "sms"]))

    def placed_account(self, *, channels=("call", "sms", "letter"), lender_values: dict | None = None,
                       debtors_notified: bool = True, **account_values) -> tuple[Tenant, Tenant, Account]:
        """A new lender and agency, and one account of the lender placed with the agency and accepted."""
        from tenants.placements import services as placements

        lender, agency = self.tenant(TenantKind.LENDER, **(lender_values or {})), self.tenant(TenantKind.AGENCY)
        self.panel(lender, agency, channels=list(channels))
        account = self.account(lender, **account_values)
        with tenant_scope(lender.id):
            batch = placements.place(lender=lender, selection=placements.Selection(
                external_refs=(account.external_ref,)), weights={agency.id: 1}, terms={}, created_by=None, seed=1,
                debtors_notified=debtors_notified)
        with tenant_scope(agency.id):
            placements.respond(batch.id, accept=True)
        return lender, agency, account

    def world(self, kind: str = TenantKind.LENDER) -> World:
        tenant = self.tenant(kind)
        email = f"admin{next(_counter)}-{id(self) % 10000}@example.test"
        admin, admin_membership = self.user(tenant, email=email)
        _, member = self.user(tenant, role=_non_admin_role(kind))
        token, secret = self.token(tenant)
        with tenant_scope(tenant.id):
            invite_user(tenant=tenant, email=f"invitee{next(_counter)}@example.test", role=_non_admin_role(kind))
            event = audit.record("test.event", object_type="tenant", object_id=tenant.id)
        db.session.flush()
        world = World(tenant, admin, email, member, admin_membership, token, secret)
        world.objects = {"membership_id": member.id, "token_id": token.id, "event_id": event.id,
                         "tenant_id": tenant.id, **self.placed_portfolio(tenant), **self.webhook_objects(tenant),
                         **self.exchange_objects(tenant)}
        return world

    def exchange_objects(self, tenant: Tenant) -> dict:
        """An export of the tenant's accounts (made, so its download link answers) and a daily schedule."""
        from tenants.exchange import files, service

        with tenant_scope(tenant.id):
            role = ADMIN_ROLE[tenant.kind]
            export = service.request_export(kind="accounts", file_format="csv", role=role, user_id=None)
            export_id = export.id
            files.generate(export_id)
            schedule = service.create_schedule(kind="payments", file_format="csv", frequency="daily", local_hour=6,
                                               weekday=None, role=role, user_id=None)
        return {"export_id": export_id, "schedule_id": schedule.id}

    def webhook_objects(self, tenant: Tenant) -> dict:
        """A webhook endpoint of the tenant and one delivery to it (never sent: the URL is a loopback stand-in)."""
        from tenants import webhooks
        from tenants.webhooks import endpoints
        from tenants.webhooks.models import WebhookDelivery, WebhookEvent

        with tenant_scope(tenant.id):
            endpoint, _ = endpoints.create(url="http://127.0.0.1:9/hooks", event_types=["*"], description="world",
                                           created_by=None, allow_private=True)
            webhooks.emit("import.completed", refs={"import_id": uuid.uuid4()})
            event = db.session.scalar(select(WebhookEvent).where(WebhookEvent.tenant_id == tenant.id)
                                      .order_by(WebhookEvent.seq.desc()).limit(1))
            delivery = WebhookDelivery(tenant_id=tenant.id, endpoint_id=endpoint.id, event_id=event.id,
                                       event_seq=event.seq, status="pending", attempts=0,
                                       next_attempt_at=clock.now(), created_at=clock.now(), redelivery=False)
            db.session.add(delivery)
            db.session.flush()
        return {"endpoint_id": endpoint.id, "delivery_id": delivery.id}

    def placed_portfolio(self, tenant: Tenant) -> dict:
        """A lender, an agency on its panel, an imported portfolio and an active placement, seen from `tenant`
        (the lender or the agency): the ids of every portfolio and placement object."""
        import io

        from tenants.conduct import service as conduct
        from tenants.placements import services as placements
        from tenants.portfolios import imports

        lender = tenant if tenant.kind == TenantKind.LENDER else self.tenant(TenantKind.LENDER)
        agency = tenant if tenant.kind == TenantKind.AGENCY else self.tenant(TenantKind.AGENCY)
        relationship = self.panel(lender, agency)
        with tenant_scope(lender.id):
            portfolio = imports.get_or_create_portfolio("World portfolio")
            n = next(_counter)  # a person of its own: ledgers of different worlds must not meet
            csv = ("external_ref,debtor_name,principal,days_past_due,phone\n"
                   f"W{n},Ann Lee,100,40,1390013{n % 10000:04d}\n")
            job = imports.create_import(portfolio=portfolio, filename="w.csv", stream=io.BytesIO(csv.encode()),
                                        mapping=None, uploaded_by=None)
            imports.run_import(job.id)
            account = db.session.scalar(select(Account).where(Account.last_import_id == job.id))
            batch = placements.place(lender=lender, selection=placements.Selection(
                external_refs=(account.external_ref,)), weights={agency.id: 1}, terms={}, created_by=None, seed=1,
                debtors_notified=True)
            placement = placements.batch_placements(batch)[0]
            # Read the ids now: the conduct service commits, expiring these objects, and on PostgreSQL row-level
            # security hides the lender's rows from the agency's context that would reload them.
            ids = {"portfolio_id": portfolio.id, "import_id": job.id, "account_id": account.id, "batch_id": batch.id,
                   "placement_id": placement.id, "relationship_id": relationship.id}
        with tenant_scope(agency.id):
            placements.respond(batch.id, accept=True)
            try:  # allowed at the frozen time; at night refused but recorded all the same
                attempt_id = conduct.attempt(ids["account_id"], conduct.AttemptRequest(channel="sms"),
                                             collector_user_id=None)[0].id
            except conduct.ConductBlocked as refused:
                attempt_id = uuid.UUID(refused.details["attempt_id"])  # details are JSON: the id as text
            hold_id = conduct.open_hold(ids["account_id"], "hardship", reason="world", source="api").id
            approval = ApprovalRequest(tenant_id=lender.id, account_id=ids["account_id"], attempt_id=attempt_id,
                                       requested_by_tenant_id=agency.id, channel="visit", target="debtor",
                                       rule_ids=["CN.VISIT"], approver_role="lender_manager", status="pending",
                                       requested_at=clock.now())
            db.session.add(approval)
            db.session.flush()
            money_ids = self.money_objects(ids["account_id"])
            legal_ids = self.casework_legal_objects(lender, agency, ids, attempt_id)
            desk_ids = self.desk_objects(agency, ids)
        complaint_id = self.complaint(lender, ids["account_id"], attempt_id=attempt_id).id
        return {**ids, "attempt_id": attempt_id, "hold_id": hold_id, "approval_id": approval.id,
                "complaint_id": complaint_id, **money_ids, **legal_ids, **desk_ids,
                **self.sent_message(tenant, lender, ids["account_id"], attempt_id)}

    def money_objects(self, account_id) -> dict:
        """In the holding agency's context: a promise, a payment awaiting confirmation and a proposed plan."""
        from datetime import timedelta

        from tenants.casework import payments, plans, promises
        from tenants.casework.debtor_dates import debtor_zone, today_in
        from tenants.portfolios.accounts import get_account

        today = today_in(debtor_zone(get_account(account_id)))
        promise = promises.take(account_id, amount="10", due_on=today, user_id=None)
        payment = payments.record(account_id, amount="5", received_on=clock.now().date() - timedelta(days=1),
                                  method="bank_transfer", user_id=None)
        plan = plans.propose(account_id, user_id=None, total="20", count=2, frequency="monthly",
                             first_due_on=today + timedelta(days=7))
        return {"promise_id": promise.id, "payment_id": payment.id, "plan_id": plan.id}

    def casework_legal_objects(self, lender: Tenant, agency: Tenant, ids: dict, attempt_id) -> dict:
        """In the holding agency's context: a settlement with its agreement, a file of evidence, a dispute and a
        legal escalation (written straight to the table: the world's placement does not allow legal steps)."""
        import io
        from datetime import timedelta

        from tenants.casework import agreements, disputes, evidence, settlements
        from tenants.casework.legal import LegalEscalation, LegalStatus

        settlement = settlements.propose(ids["account_id"], amount="100", deadline=clock.now().date()
                                         + timedelta(days=7), note=None, user_id=None)
        agreement = agreements.for_settlement(settlement.id, user_id=None)
        stored = evidence.store(ids["account_id"], kind="letter", filename="w.txt", content_type="text/plain",
                                stream=io.BytesIO(b"world"))
        dispute = disputes.open_dispute(ids["account_id"], category="wrong_amount", reason="world", source="api")
        escalation = LegalEscalation(tenant_id=agency.id, lender_tenant_id=lender.id, account_id=ids["account_id"],
                                     placement_id=ids["placement_id"], kind="lawyer_letter", reason="world",
                                     status=LegalStatus.REQUESTED, attempt_id=attempt_id,
                                     rulebook_version="factory", requested_at=clock.now())
        db.session.add(escalation)
        db.session.flush()
        return {"settlement_id": settlement.id, "agreement_id": agreement.id, "evidence_id": stored.id,
                "dispute_id": dispute.id, "escalation_id": escalation.id}

    def desk_objects(self, agency: Tenant, ids: dict) -> dict:
        """In the holding agency's context: the case assigned to a collector, a note and a callback."""
        from datetime import timedelta

        from tenants.casework.desk_models import Callback, CaseAssignment, CaseNote

        collector, _ = self.user(agency, "agency_collector")
        db.session.add(CaseAssignment(tenant_id=agency.id, placement_id=ids["placement_id"],
                                      account_id=ids["account_id"], collector_user_id=collector.id, method="hand"))
        db.session.add(CaseNote(tenant_id=agency.id, account_id=ids["account_id"], placement_id=ids["placement_id"],
                                author_user_id=collector.id, body="world"))
        callback = Callback(tenant_id=agency.id, account_id=ids["account_id"], placement_id=ids["placement_id"],
                            collector_user_id=collector.id, due_at=clock.now() + timedelta(days=1),
                            local_zone="Asia/Shanghai", status="scheduled")
        db.session.add(callback)
        db.session.flush()
        return {"callback_id": callback.id}

    def message_template(self, lender: Tenant, *, channel: str = "sms", locale: str = "zh-CN",
                         target: str = "debtor",
                         body: str = "{{ debtor_name }}您好，请联系{{ lender_name }}。回复TD退订",
                         subject: str | None = None, name: str = "Reminder", status: str = "approved"):
        """A template version written straight to the table (the content rules are not run)."""
        import uuid

        from tenants.messaging.models import MessageTemplate

        with tenant_scope(lender.id):
            template_id = uuid.uuid4()
            template = MessageTemplate(id=template_id, family_id=template_id, version=1, tenant_id=lender.id,
                                       name=name, channel=channel, locale=locale, target=target, subject=subject,
                                       body=body, status=status, findings=[], rulebook_version="factory")
            db.session.add(template)
            db.session.flush()
        return template

    def sent_message(self, tenant: Tenant, lender: Tenant, account_id, attempt_id) -> dict:
        """A message of `tenant` from an approved template of `lender`: the ids of both."""
        from tenants.messaging.models import MessageStatus, OutboundMessage

        template_id = self.message_template(lender).id
        with tenant_scope(tenant.id):
            message = OutboundMessage(tenant_id=tenant.id, account_id=account_id, attempt_id=attempt_id,
                                      template_id=template_id, template_version=1, channel="sms", target="debtor",
                                      recipient="+8613900000000", body="world", status=MessageStatus.SENT)
            db.session.add(message)
            db.session.flush()
            return {"template_id": template_id, "message_id": message.id}

    def complaint(self, lender: Tenant, account_id, **values):
        """A complaint the lender took in on its account (about the agency that made `attempt_id`, if given)."""
        import uuid

        from tenants.compliance import complaints

        data = {"account_id": account_id, "received_via": "phone", "category": "harassment",
                "description": "They called me at night.", **values}
        if data.get("attempt_id") is not None:  # a refusal reports its attempt's id as text
            data["attempt_id"] = uuid.UUID(str(data["attempt_id"]))
        with tenant_scope(lender.id):
            return complaints.intake(complaints.Actor(lender), data)


def _non_admin_role(kind: str) -> str:
    return {"lender": "lender_analyst", "agency": "agency_collector", "platform": "platform_admin"}[kind]


def login(client, email: str, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password})
