"""Who may do what: every capability a role can hold, in one table that pages, the API and services all read.

A capability is a verb on a kind of object ("payment.confirm"). Pages and API routes declare the capability they
need (`web.access.require_capability`); services that enforce a role themselves ask `can(role, capability)`.
Which rows a tenant sees at all is the tenant lock's business (tenants/context.py); this table only says what a
member may do with what their tenant sees. A capability holds roles of one or more kinds of tenant: a lender's
manager and an agency's collector both record payments, each on the accounts their tenant sees.

This lives beside, not inside, tenants/tenancy/roles.py: roles.py says which roles exist (per kind of tenant);
this module says what they may do, and is the one file to read for that.
"""
from enum import StrEnum

PLATFORM_ADMIN = "platform_admin"
LENDER_ADMIN, LENDER_MANAGER, LENDER_ANALYST = "lender_admin", "lender_manager", "lender_analyst"
AGENCY_ADMIN, AGENCY_SUPERVISOR, AGENCY_COLLECTOR = "agency_admin", "agency_supervisor", "agency_collector"


class Capability(StrEnum):
    # Running a tenant
    MEMBERS_MANAGE = "members.manage"
    TOKENS_MANAGE = "tokens.manage"
    AUDIT_READ = "audit.read"
    SETTINGS_MANAGE = "settings.manage"
    BILLING_READ = "billing.read"  # what the platform charges the tenant
    COMMISSION_READ = "commission.read"  # money owed between a lender and an agency
    ANALYTICS_READ = "analytics.read"  # recovery analytics: a lender's portfolios, an agency's own work
    EXCHANGE_FILES = "exchange.files"  # bulk exchange: ask for, schedule and download files of the tenant's data
    PLATFORM_CONSOLE = "platform.console"  # the operator's cross-tenant console and billing plans
    # A lender's portfolios, panel, placements and templates
    PORTFOLIO_IMPORT = "portfolio.import"  # uploads and the saved column mapping
    ACCOUNT_UPDATE = "account.update"  # direct payments, balance adjustments, closures
    PANEL_ADD = "panel.add"  # a contract with a new agency
    PANEL_REVIEW = "panel.review"
    PLACEMENT_MANAGE = "placement.manage"  # place and recall
    PLACEMENT_FORCE_RECALL = "placement.force_recall"  # recall despite open promises, plans or settlements
    TEMPLATE_WRITE = "template.write"
    TEMPLATE_APPROVE = "template.approve"
    APPROVAL_DECIDE = "approval.decide"  # a contact needing the lender's approval (the rule may name the role)
    PAYMENT_CONFIRM = "payment.confirm"  # confirm or reverse a payment an agency reported
    SETTLEMENT_DECIDE = "settlement.decide"  # a discount beyond the placement's limit
    LEGAL_DECIDE = "legal.decide"
    # An agency's offers and desk
    PLACEMENT_RESPOND = "placement.respond"  # accept or decline offered placements
    CASES_ASSIGN = "cases.assign"
    CASES_ANY = "cases.any"  # work any case of the agency and see the team's queue and figures, not only one's own
    CASES_HOLD = "cases.hold"  # may be assigned cases (and is counted in the team's performance)
    CASE_WORK = "case.work"  # promises, plans, settlements and their agreements
    PLAN_CANCEL_ACTIVE = "plan.cancel_active"  # cancel a plan the debtor has signed
    LEGAL_REQUEST = "legal.request"  # ask the lender for a lawyer's letter or a filing, and record the filing
    # Either side of a case
    CONTACT_ATTEMPT = "contact.attempt"  # ask the conduct engine, make the contact, record its outcome
    HOLD_MANAGE = "hold.manage"  # holds and the debtor's consent
    DISPUTE_MANAGE = "dispute.manage"
    MESSAGE_SEND = "message.send"
    PAYMENT_RECORD = "payment.record"
    EVIDENCE_WRITE = "evidence.write"  # upload evidence, record an agreement's signature
    EVIDENCE_READ = "evidence.read"  # files hold what masking cannot reach (ID scans, recordings)
    COMPLAINT_READ = "complaint.read"
    COMPLAINT_WRITE = "complaint.write"


_ADMINS = frozenset({PLATFORM_ADMIN, LENDER_ADMIN, AGENCY_ADMIN})
_LENDER_WRITERS = frozenset({LENDER_ADMIN, LENDER_MANAGER})
_AGENCY_STAFF = frozenset({AGENCY_ADMIN, AGENCY_SUPERVISOR, AGENCY_COLLECTOR})
_AGENCY_SUPERVISORS = frozenset({AGENCY_ADMIN, AGENCY_SUPERVISOR})
_CASE_HANDLERS = _AGENCY_STAFF | _LENDER_WRITERS

ROLES_FOR: dict[Capability, frozenset[str]] = {
    Capability.MEMBERS_MANAGE: _ADMINS,
    Capability.TOKENS_MANAGE: _ADMINS,
    Capability.AUDIT_READ: _ADMINS,
    Capability.SETTINGS_MANAGE: _ADMINS,
    Capability.BILLING_READ: frozenset({LENDER_ADMIN, AGENCY_ADMIN}),
    Capability.COMMISSION_READ: frozenset({LENDER_ADMIN, LENDER_MANAGER, AGENCY_ADMIN}),
    Capability.ANALYTICS_READ: frozenset({LENDER_ADMIN, LENDER_MANAGER, LENDER_ANALYST, *_AGENCY_SUPERVISORS}),
    Capability.EXCHANGE_FILES: frozenset({LENDER_ADMIN, LENDER_MANAGER, LENDER_ANALYST, *_AGENCY_SUPERVISORS}),
    Capability.PLATFORM_CONSOLE: frozenset({PLATFORM_ADMIN}),

    Capability.PORTFOLIO_IMPORT: _LENDER_WRITERS,
    Capability.ACCOUNT_UPDATE: _LENDER_WRITERS,
    Capability.PANEL_ADD: frozenset({LENDER_ADMIN}),
    Capability.PANEL_REVIEW: _LENDER_WRITERS,
    Capability.PLACEMENT_MANAGE: _LENDER_WRITERS,
    Capability.PLACEMENT_FORCE_RECALL: frozenset({LENDER_ADMIN}),
    Capability.TEMPLATE_WRITE: _LENDER_WRITERS,
    Capability.TEMPLATE_APPROVE: _LENDER_WRITERS,
    Capability.APPROVAL_DECIDE: _LENDER_WRITERS,
    Capability.PAYMENT_CONFIRM: _LENDER_WRITERS,
    Capability.SETTLEMENT_DECIDE: _LENDER_WRITERS,
    Capability.LEGAL_DECIDE: _LENDER_WRITERS,

    Capability.PLACEMENT_RESPOND: _AGENCY_SUPERVISORS,
    Capability.CASES_ASSIGN: _AGENCY_SUPERVISORS,
    Capability.CASES_ANY: _AGENCY_SUPERVISORS,
    Capability.CASES_HOLD: frozenset({AGENCY_SUPERVISOR, AGENCY_COLLECTOR}),
    Capability.CASE_WORK: _AGENCY_STAFF,
    Capability.PLAN_CANCEL_ACTIVE: _AGENCY_SUPERVISORS,
    Capability.LEGAL_REQUEST: _AGENCY_SUPERVISORS,

    Capability.CONTACT_ATTEMPT: _CASE_HANDLERS,
    Capability.HOLD_MANAGE: _CASE_HANDLERS,
    Capability.DISPUTE_MANAGE: _CASE_HANDLERS,
    Capability.MESSAGE_SEND: _CASE_HANDLERS,
    Capability.PAYMENT_RECORD: _CASE_HANDLERS,
    Capability.EVIDENCE_WRITE: _CASE_HANDLERS,
    Capability.EVIDENCE_READ: _CASE_HANDLERS,
    Capability.COMPLAINT_READ: frozenset({PLATFORM_ADMIN, *_LENDER_WRITERS, LENDER_ANALYST, *_AGENCY_SUPERVISORS}),
    Capability.COMPLAINT_WRITE: frozenset({PLATFORM_ADMIN, *_LENDER_WRITERS}),
}


def can(role: str | None, capability: Capability) -> bool:
    return role in ROLES_FOR[capability]


def roles_with(capability: Capability) -> frozenset[str]:
    return ROLES_FOR[capability]
