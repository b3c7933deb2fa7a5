"""Who sees and who writes every table: the one declaration the isolation locks are derived from.

Read this file to know who sees what. Each table names, as rules on one row for the tenant `t` of the current
context:

- `read`   — who sees a row (an agency sees an account while it holds the account's active placement);
- `write`  — who may update or delete a row, checked on the row as it is and as it would become, so a rule that
  names a status also fences status transitions; `update_from`, where given, is the rule on the row as it is
  (an agency may mark an approved request used, but never approve one);
- `insert` — who may create a row (the write rule unless said otherwise).

Platform work (cross-tenant reports, billing for a payer, webhooks, sweeps) sees and writes everything, but only
through its own lock (tenants.context.platform_scope), which the application's database role cannot take by itself.

From this one declaration come:
- the ORM lock: `read` becomes the loader criteria of every query, `insert`/`write` the flush guard
  (tenants.context);
- PostgreSQL row-level security: `policy_statements()` renders one policy per command, applied after every
  migration (migrations/rls.py); tests/integration/test_access_policy.py holds the live `pg_policies` against it;
- the cross-tenant matrix's list of tables to snapshot (`declared_tables()`).

Sealed tables have row-level security on and no policy: only SECURITY DEFINER functions with narrow signatures
reach them (the per-person conduct ledger, the links of a person's identifiers to their subject; the platform
lock's key).
"""
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import Uuid, and_, exists, literal, literal_column, or_, select
from sqlalchemy.dialects import postgresql

from tenants.db import db

# Evaluated once per statement (an init plan), not per row: the function checks the transaction's token.
APP_TENANT = literal_column("(SELECT app_tenant())")
PLATFORM = "(SELECT app_platform())"


class Rule:
    """A condition on one row for tenant `t`. `build(row, t)` gives SQL (row: a mapped class, a table's columns or
    a row's values); `decide(obj, t)` answers in Python where it can, None where only the database can tell."""

    def __init__(self, build, decide):
        self._build = build
        self._decide = decide

    def sql(self, row, t):
        return self._build(row, t)

    def decide(self, obj, t) -> bool | None:
        return self._decide(obj, t)

    def __or__(self, other: "Rule") -> "Rule":
        def decide(obj, t):
            answers = (self.decide(obj, t), other.decide(obj, t))
            return True if True in answers else (None if None in answers else False)

        return Rule(lambda row, t: or_(self.sql(row, t), other.sql(row, t)), decide)

    def __and__(self, other: "Rule") -> "Rule":
        def decide(obj, t):
            answers = (self.decide(obj, t), other.decide(obj, t))
            return False if False in answers else (None if None in answers else True)

        return Rule(lambda row, t: and_(self.sql(row, t), other.sql(row, t)), decide)


def tenant_column(name: str) -> Rule:
    """The row names the tenant in this column."""
    return Rule(lambda row, t: getattr(row, name) == t, lambda obj, t: getattr(obj, name) == t)


def status_in(*statuses: str) -> Rule:
    return Rule(lambda row, t: row.status.in_(statuses), lambda obj, t: obj.status in statuses)


def _placements():
    return db.metadata.tables["placements"]


def holds_account(column: str = "account_id") -> Rule:
    """The tenant is the agency holding the active placement of the row's account."""

    def build(row, t):
        # Aliased so that it never auto-correlates to an outer `placements`; a correlated EXISTS reads one
        # placement through its index, where `IN (SELECT …)` listed every case the agency holds.
        held = _placements().alias("held_placement")
        return exists().where(held.c.account_id == getattr(row, column), held.c.agency_tenant_id == t,
                              held.c.status == "active")

    return Rule(build, lambda obj, t: None)


def placed_in_batch() -> Rule:
    """The tenant was offered a case of this placement batch (any status: it keeps its own history)."""

    def build(row, t):
        placed = _placements().alias("batch_placement")
        return exists().where(placed.c.batch_id == row.id, placed.c.agency_tenant_id == t)

    return Rule(build, lambda obj, t: None)


def approved_by_placing_lender() -> Rule:
    """An approved message template of a lender that has placed an active case with the tenant."""

    def build(row, t):
        placed = _placements().alias("placing_lender")
        return and_(row.status == "approved",
                    exists().where(placed.c.tenant_id == row.tenant_id, placed.c.agency_tenant_id == t,
                                   placed.c.status == "active"))

    return Rule(build, lambda obj, t: None)


def member() -> Rule:
    """A user who is a member of the tenant."""

    def build(row, t):
        memberships = db.metadata.tables["memberships"].alias("tenant_member")
        return exists().where(memberships.c.user_id == row.id, memberships.c.tenant_id == t)

    return Rule(build, lambda obj, t: None)


def counterparty() -> Rule:
    """The tenant itself, or a lender and an agency on one panel or with a placement between them."""

    def build(row, t):
        panel = db.metadata.tables["agency_relationships"].alias("panel_link")
        placed = _placements().alias("placement_link")
        return or_(row.id == t,
                   exists().where(or_(and_(panel.c.tenant_id == t, panel.c.agency_tenant_id == row.id),
                                      and_(panel.c.agency_tenant_id == t, panel.c.tenant_id == row.id))),
                   exists().where(or_(and_(placed.c.tenant_id == t, placed.c.agency_tenant_id == row.id),
                                      and_(placed.c.agency_tenant_id == t, placed.c.tenant_id == row.id))))

    return Rule(build, lambda obj, t: True if obj.id == t else None)


def placement_between(column: str = "tenant_id") -> Rule:
    """The row's tenant and the current tenant are a lender and an agency with a placement between them (any
    status): who may tell the other of a change on a shared account (a webhook event written for the other)."""

    def build(row, t):
        placed = _placements().alias("placement_between")
        other = getattr(row, column)
        return exists().where(or_(and_(placed.c.tenant_id == other, placed.c.agency_tenant_id == t),
                                  and_(placed.c.agency_tenant_id == other, placed.c.tenant_id == t)))

    return Rule(build, lambda obj, t: None)


OWNER = tenant_column("tenant_id")
LENDER = tenant_column("lender_tenant_id")
AGENCY = tenant_column("agency_tenant_id")
HOLDER = holds_account()


@dataclass(frozen=True)
class Access:
    read: Rule | None
    write: Rule | None
    insert: Rule | None = None
    update_from: Rule | None = None

    @property
    def insert_rule(self) -> Rule | None:
        return self.insert or self.write

    @property
    def update_from_rule(self) -> Rule | None:
        return self.update_from or self.write


OWNED = Access(read=OWNER, write=OWNER)
PLATFORM_ONLY = Access(read=None, write=None)

POLICY: dict[str, Access] = {
    # Who belongs where. A user is seen by the tenants it is a member of; a tenant by itself and its counterparties.
    "tenants": Access(read=counterparty(), write=tenant_column("id")),
    "users": Access(read=member(), write=member()),
    "memberships": OWNED,
    "invitations": OWNED,
    "api_tokens": OWNED,
    "audit_events": OWNED,
    "outbox_tasks": OWNED,

    # The lender's portfolios and accounts: the agency holding an account's active placement sees it and what
    # hangs on it, and loses it all at a recall.
    "portfolios": OWNED,
    "column_mappings": OWNED,
    "import_jobs": OWNED,
    "import_file_chunks": OWNED,
    "import_row_errors": OWNED,
    "import_ranges": OWNED,
    "accounts": Access(read=OWNER | holds_account("id"), write=OWNER),
    "account_phones": Access(read=OWNER | HOLDER, write=OWNER),
    "third_party_contacts": Access(read=OWNER | HOLDER, write=OWNER),
    "account_updates": Access(read=OWNER | HOLDER, write=OWNER),

    # Placements: the lender's, seen by the agency; the agency answers the offer (accept, decline) itself.
    "agency_relationships": Access(read=OWNER | AGENCY, write=OWNER),
    "placement_batches": Access(read=OWNER | placed_in_batch(), write=OWNER),
    "placements": Access(read=OWNER | AGENCY, write=OWNER | AGENCY),

    # Conduct. Attempts are the agency's, read by the lender. Holds and consent are the lender's; the agency
    # holding the account records them and may end its own holds. An approval request is the lender's to decide:
    # the asking agency opens it and marks it used, never approves it.
    "contact_attempts": Access(read=OWNER | LENDER, write=OWNER),
    "holds": Access(read=OWNER | HOLDER, write=OWNER | (tenant_column("created_by_tenant_id") & HOLDER)),
    "account_consents": Access(read=OWNER | HOLDER, write=OWNER | (tenant_column("updated_by_tenant_id") & HOLDER)),
    "approval_requests": Access(
        read=OWNER | tenant_column("requested_by_tenant_id"),
        write=OWNER | (tenant_column("requested_by_tenant_id") & HOLDER & status_in("pending", "used")),
        update_from=OWNER | (tenant_column("requested_by_tenant_id") & HOLDER & status_in("pending", "approved"))),
    "complaints": Access(read=OWNER | AGENCY, write=OWNER),

    # Messaging: a lender's templates, used by the agencies it placed cases with once approved.
    "message_templates": Access(read=OWNER | approved_by_placing_lender(), write=OWNER),
    "outbound_messages": OWNED,

    # The agency's desk.
    "case_assignments": OWNED,
    "case_notes": OWNED,
    "callbacks": OWNED,
    "calls": OWNED,  # click-to-call: the gateway's id and report of each call the agency placed

    # Money: the agency's promises and plans, read by the lender. A payment is the lender's; the agency holding
    # the account reports one (pending the lender's confirmation) and reads those of its placements.
    "promises": Access(read=OWNER | LENDER, write=OWNER),
    "payment_plans": Access(read=OWNER | LENDER, write=OWNER),
    "plan_instalments": Access(read=OWNER | LENDER, write=OWNER),
    "payments": Access(read=OWNER | AGENCY, write=OWNER,
                       insert=OWNER | (tenant_column("recorded_by_tenant_id") & AGENCY & status_in("pending")
                                       & HOLDER)),
    # The agency's settlement offers and legal requests, written while it holds the account; the lender decides
    # what goes beyond the agency's limit (and every legal step), and nothing else.
    "settlements": Access(
        read=OWNER | LENDER,
        insert=OWNER & HOLDER & status_in("proposed", "awaiting_lender"),
        update_from=(OWNER & HOLDER & status_in("proposed", "approved", "accepted"))
        | (LENDER & status_in("awaiting_lender")),
        write=(OWNER & HOLDER & status_in("accepted", "paid")) | (LENDER & status_in("approved", "declined"))),
    "legal_escalations": Access(
        read=OWNER | LENDER,
        insert=OWNER & HOLDER & status_in("requested"),
        update_from=(OWNER & HOLDER & status_in("approved")) | (LENDER & status_in("requested")),
        write=(OWNER & HOLDER & status_in("filed")) | (LENDER & status_in("approved", "declined"))),
    # The lender's, seen by the agency holding the account, which may open one and resolve its own.
    "disputes": Access(read=OWNER | HOLDER, write=OWNER | (tenant_column("opened_by_tenant_id") & HOLDER)),
    # Files carry what masking cannot reach (ID scans, recordings): read by the lender and by the agency while it
    # holds the account (its own uploads included: it loses the debtor's PII at a recall); written by the
    # uploader while it is the lender or holds the account.
    "evidence": Access(read=LENDER | HOLDER, write=OWNER & (LENDER | HOLDER)),
    "evidence_chunks": Access(read=LENDER | HOLDER, write=OWNER & (LENDER | HOLDER)),
    "agreements": Access(read=LENDER | HOLDER, write=OWNER & (LENDER | HOLDER)),

    # Billing: each payer's own; processed Stripe events are the platform's.
    "billing_plans": OWNED,
    "usage_records": OWNED,
    "billing_invoices": OWNED,
    "stripe_events": PLATFORM_ONLY,

    # Outbound webhooks: each tenant's endpoints and deliveries. An event is the receiving tenant's row; the
    # tenant that acted writes it for a counterparty through a placement (a lender told of an agency's contact,
    # an agency of an offer), and never reads it.
    "webhook_endpoints": OWNED,
    "webhook_events": Access(read=OWNER, write=OWNER,
                             insert=OWNER | (tenant_column("source_tenant_id") & placement_between())),
    "webhook_deliveries": OWNED,

    # Bulk exchange: a tenant's own files (made under its own lock), their encrypted chunks and its schedules.
    "exchange_exports": OWNED,
    "exchange_export_chunks": OWNED,
    "exchange_schedules": OWNED,

    # The debtor's portal: rows of one account, written while the writer is the account's lender or the agency
    # holding it (the debtor's session acts as one of them, fenced to the account: tenants/portal/scope.py). The
    # lender reads and may revoke what an agency's message opened; a Stripe payment is the lender's (the creditor
    # is paid), started by the agency holding the account for its debtor. Rate-limit counters are the platform's.
    "portal_links": Access(read=OWNER | LENDER, write=OWNER | LENDER, insert=OWNER & (LENDER | HOLDER)),
    "portal_codes": OWNED,
    "portal_sessions": Access(read=OWNER | LENDER, write=OWNER | LENDER, insert=OWNER & (LENDER | HOLDER)),
    "portal_requests": Access(read=OWNER | LENDER, write=OWNER | LENDER, insert=OWNER & (LENDER | HOLDER)),
    "portal_payments": Access(read=OWNER | AGENCY, write=OWNER, insert=OWNER | (AGENCY & HOLDER)),
    "portal_attempts": PLATFORM_ONLY,

    # Recovery analytics' running totals, kept by triggers on placements and payments in the transaction of whoever
    # changed them (the placement's lender or agency): the lender's rows, the agency reading and keeping its own.
    "analytics_placed": Access(read=OWNER | AGENCY, write=OWNER | AGENCY),
    "analytics_recovered": Access(read=OWNER | AGENCY, write=OWNER | AGENCY),
    "analytics_on_book": Access(read=OWNER | AGENCY, write=OWNER | AGENCY),
}

# Row-level security on, no policy: reached only through SECURITY DEFINER functions.
SEALED = ("conduct_ledger", "subject_links", "subject_aliases", "platform_keys")
# Tables outside tenant data altogether.
UNSCOPED = ("alembic_version",)


def declared_tables() -> tuple[str, ...]:
    return tuple(POLICY)


def access_of(table: str) -> Access | None:
    return POLICY.get(table)


def _render(table_name: str, rule: Rule | None) -> str:
    """A rule as the text of a policy on its table: compiled inside `SELECT … FROM table WHERE`, so that subqueries
    correlate to the policy's row, then cut out of the statement."""
    if rule is None:
        return PLATFORM
    table = db.metadata.tables[table_name]
    statement = select(literal(1)).select_from(table).where(rule.sql(table.c, APP_TENANT))
    compiled = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    where = compiled.split("\nWHERE ", 1)[1]
    return f"{PLATFORM} OR ({where})"


def policy_statements(table_name: str) -> list[str]:
    """The CREATE POLICY statements of one table, one per command."""
    access = POLICY[table_name]
    read, write, insert, update_from = (_render(table_name, rule) for rule in (
        access.read, access.write, access.insert_rule, access.update_from_rule))
    return [
        f"CREATE POLICY read ON {table_name} FOR SELECT USING ({read})",
        f"CREATE POLICY insert ON {table_name} FOR INSERT WITH CHECK ({insert})",
        f"CREATE POLICY update ON {table_name} FOR UPDATE USING ({update_from}) WITH CHECK ({write})",
        f"CREATE POLICY delete ON {table_name} FOR DELETE USING ({write})",
    ]


def row_values(obj) -> SimpleNamespace:
    """A row's current values as SQL literals, for rules only the database can decide."""
    table = type(obj).__table__
    return SimpleNamespace(**{column.key: literal(getattr(obj, column.key, None), type_=column.type)
                              for column in table.columns})


def evaluate(rule: Rule | None, obj, tenant_id, connection) -> bool:
    """Whether the tenant may write this row: in Python where the rule allows, else one query."""
    if rule is None:
        return False
    answer = rule.decide(obj, tenant_id)
    if answer is not None:
        return answer
    return bool(connection.scalar(select(rule.sql(row_values(obj), literal(tenant_id, type_=Uuid)))))

