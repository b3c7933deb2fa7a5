"""analytics totals: running sums of placements and payments kept by triggers, read by the recovery analytics pages

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-18 10:00:00

At a million placements a lender's analytics pages read every placement of the lender (a quarter of a gigabyte) on
every view. These three tables (tenants/analytics/models.py) hold the same figures summed per allocation, start date,
month and the few flags the pages filter on; triggers on `placements` and `payments` keep them in the same
transaction as every change (a row's old contribution out, its new one in), so a page reads a few hundred rows and
gets exactly the numbers the base tables give.

Inserts and deletes are handled once per statement from the transition tables (a bulk load adds its sums in one
statement); updates once per row, and only when a column the figures depend on changed (a payment moving
`placements.recovered_minor` touches nothing here). The existing rows are summed in by the same statements.

PostgreSQL only: on SQLite (the demo) the tables stay empty and the pages compute from the base tables.
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

NEVER = 2_147_483_647


def _month(timestamp: str) -> str:
    return (f"(extract(year FROM {timestamp} AT TIME ZONE 'UTC') * 12 "
            f"+ extract(month FROM {timestamp} AT TIME ZONE 'UTC') - 1)::int")


def _date_month(day: str) -> str:
    return f"(extract(year FROM {day}) * 12 + extract(month FROM {day}) - 1)::int"


ACCEPTED = "p.status NOT IN ('offered', 'declined')"
# As tenants.analytics.cost._bps and Placement.commission_bps_for: the first tier for the DPD at placement, else flat.
BPS = ("COALESCE((SELECT (t.value ->> 'bps')::int FROM json_array_elements(p.commission_tiers) WITH ORDINALITY "
       "AS t(value, ord) WHERE (t.value ->> 'min_dpd')::int <= p.dpd_at_placement "
       "AND p.dpd_at_placement <= COALESCE((t.value ->> 'max_dpd')::int, 1000000) ORDER BY t.ord LIMIT 1), "
       "p.commission_bps)")


def placed(placements: str, sign: str) -> str:
    return f"""
    INSERT INTO analytics_placed AS a (tenant_id, agency_tenant_id, batch_id, currency, starts_on, placements,
                                       balance_minor)
    SELECT p.tenant_id, p.agency_tenant_id, p.batch_id, p.currency, p.starts_on, {sign} * count(*),
           {sign} * sum(p.balance_at_placement_minor)
    FROM {placements} p WHERE {ACCEPTED}
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (tenant_id, agency_tenant_id, batch_id, currency, starts_on) DO UPDATE
    SET placements = a.placements + excluded.placements, balance_minor = a.balance_minor + excluded.balance_minor;"""


def on_book(placements: str, sign: str) -> str:
    return f"""
    INSERT INTO analytics_on_book AS a (tenant_id, agency_tenant_id, dpd_origin, first_month, end_month, closed,
                                        placements)
    SELECT p.tenant_id, p.agency_tenant_id, p.starts_on - p.dpd_at_placement,
           greatest({_month('p.responded_at')}, {_date_month('p.starts_on')}) + 1,
           coalesce({_month('p.ended_at')}, {NEVER}), p.status = 'closed', {sign} * count(*)
    FROM {placements} p WHERE p.status <> 'declined' AND p.responded_at IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (tenant_id, agency_tenant_id, dpd_origin, first_month, end_month, closed) DO UPDATE
    SET placements = a.placements + excluded.placements;"""


def recovered(payments: str, placements: str, sign: str) -> str:
    return f"""
    INSERT INTO analytics_recovered AS a (tenant_id, agency_tenant_id, batch_id, currency, starts_on, accepted,
                                          same_lender, same_agency, payment_currency, month, kind, payments,
                                          amount_minor, commission_minor)
    SELECT p.tenant_id, p.agency_tenant_id, p.batch_id, p.currency, p.starts_on, {ACCEPTED},
           y.tenant_id = p.tenant_id, coalesce(y.agency_tenant_id = p.agency_tenant_id, false), y.currency,
           e.month, e.kind, {sign} * count(*), {sign} * sum(y.amount_minor),
           {sign} * sum((y.amount_minor * {BPS} + 5000) / 10000)
    FROM {payments} y JOIN {placements} p ON p.id = y.placement_id
    CROSS JOIN LATERAL (VALUES ({_month('y.confirmed_at')}, 1::smallint),
                               ({_month('y.reversed_at')}, -1::smallint)) AS e(month, kind)
    WHERE y.confirmed_at IS NOT NULL AND e.month IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    ON CONFLICT (tenant_id, agency_tenant_id, batch_id, currency, starts_on, accepted, same_lender, same_agency,
                 payment_currency, month, kind) DO UPDATE
    SET payments = a.payments + excluded.payments, amount_minor = a.amount_minor + excluded.amount_minor,
        commission_minor = a.commission_minor + excluded.commission_minor;"""


# What the figures of a placement depend on; the rest (recovered_minor above all) changes nothing here.
PLACEMENT_COLUMNS = ("tenant_id", "agency_tenant_id", "batch_id", "currency", "starts_on", "status",
                     "balance_at_placement_minor", "dpd_at_placement", "responded_at", "ended_at", "commission_bps",
                     "commission_tiers::text")
# …and what its payments' figures depend on.
PLACEMENT_PAYMENT_COLUMNS = ("tenant_id", "agency_tenant_id", "batch_id", "currency", "starts_on",
                             "status IN ('offered', 'declined')", "dpd_at_placement", "commission_bps",
                             "commission_tiers::text")
PAYMENT_COLUMNS = ("tenant_id", "agency_tenant_id", "placement_id", "currency", "amount_minor", "confirmed_at",
                   "reversed_at")


def _changed(columns, old="OLD", new="NEW") -> str:
    return (f"({', '.join(f'{old}.{c}' for c in columns)}) IS DISTINCT FROM "
            f"({', '.join(f'{new}.{c}' for c in columns)})")


TRIGGERS = f"""
CREATE FUNCTION analytics_placements_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{placed('added', '1')}{on_book('added', '1')}
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_placements_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{placed('removed', '-1')}{on_book('removed', '-1')}
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_placement_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{placed('(SELECT OLD.*)', '-1')}{placed('(SELECT NEW.*)', '1')}{on_book('(SELECT OLD.*)', '-1')}{on_book('(SELECT NEW.*)', '1')}
    IF {_changed(PLACEMENT_PAYMENT_COLUMNS)} THEN{recovered('(SELECT * FROM payments WHERE placement_id = OLD.id)', '(SELECT OLD.*)', '-1')}{recovered('(SELECT * FROM payments WHERE placement_id = NEW.id)', '(SELECT NEW.*)', '1')}
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_payments_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{recovered('added', 'placements', '1')}
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_payments_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{recovered('removed', 'placements', '-1')}
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_payment_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{recovered('(SELECT OLD.*)', 'placements', '-1')}{recovered('(SELECT NEW.*)', 'placements', '1')}
    RETURN NULL;
END $$;

CREATE TRIGGER analytics_placements_added AFTER INSERT ON placements
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION analytics_placements_added();
CREATE TRIGGER analytics_placements_removed AFTER DELETE ON placements
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION analytics_placements_removed();
CREATE TRIGGER analytics_placement_changed AFTER UPDATE ON placements FOR EACH ROW
    WHEN ({_changed(PLACEMENT_COLUMNS)}) EXECUTE FUNCTION analytics_placement_changed();
CREATE TRIGGER analytics_payments_added AFTER INSERT ON payments
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION analytics_payments_added();
CREATE TRIGGER analytics_payments_removed AFTER DELETE ON payments
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION analytics_payments_removed();
CREATE TRIGGER analytics_payment_changed AFTER UPDATE ON payments FOR EACH ROW
    WHEN ({_changed(PAYMENT_COLUMNS)}) EXECUTE FUNCTION analytics_payment_changed();
"""

FUNCTIONS = ("analytics_placements_added", "analytics_placements_removed", "analytics_placement_changed",
             "analytics_payments_added", "analytics_payments_removed", "analytics_payment_changed")
TRIGGER_TABLES = (("analytics_placements_added", "placements"), ("analytics_placements_removed", "placements"),
                  ("analytics_placement_changed", "placements"), ("analytics_payments_added", "payments"),
                  ("analytics_payments_removed", "payments"), ("analytics_payment_changed", "payments"))


def upgrade():
    op.create_table(
        "analytics_placed",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agency_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("placements", sa.BigInteger(), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "agency_tenant_id", "batch_id", "currency", "starts_on"),
    )
    op.create_index("ix_analytics_placed_agency", "analytics_placed", ["agency_tenant_id", "starts_on"])
    op.create_table(
        "analytics_recovered",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agency_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("same_lender", sa.Boolean(), nullable=False),
        sa.Column("same_agency", sa.Boolean(), nullable=False),
        sa.Column("payment_currency", sa.String(length=3), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("commission_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "agency_tenant_id", "batch_id", "currency", "starts_on", "accepted",
                                "same_lender", "same_agency", "payment_currency", "month", "kind"),
    )
    op.create_index("ix_analytics_recovered_agency", "analytics_recovered", ["agency_tenant_id", "month"])
    op.create_table(
        "analytics_on_book",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agency_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("dpd_origin", sa.Date(), nullable=False),
        sa.Column("first_month", sa.Integer(), nullable=False),
        sa.Column("end_month", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("placements", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "agency_tenant_id", "dpd_origin", "first_month", "end_month", "closed"),
    )
    op.create_index("ix_analytics_on_book_agency", "analytics_on_book", ["agency_tenant_id", "first_month"])
    # The champion/challenger comparison ranks an allocation's accounts one by one: it reads them from indexes.
    op.create_index("ix_placements_batch_strata", "placements", ["batch_id", "currency"],
                    postgresql_include=["agency_tenant_id", "tenant_id", "balance_at_placement_minor",
                                        "dpd_at_placement", "recovered_minor", "account_id", "id"])
    op.create_index("ix_contact_attempts_conversations", "contact_attempts", ["placement_id"],
                    postgresql_include=["account_id", "tenant_id", "lender_tenant_id"],
                    postgresql_where=sa.text("target = 'debtor' AND conversation IS TRUE"),
                    sqlite_where=sa.text("target = 'debtor' AND conversation IS 1"))
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TRIGGERS)
    # What is already there, summed by the same statements, as platform work: row-level security binds the owner
    # too (FORCE). A database being created has no row yet, and the lock's key comes after the head.
    bind = op.get_bind()
    if not bind.execute(sa.text("SELECT EXISTS (SELECT 1 FROM platform_keys)")).scalar():
        return
    from flask import current_app
    bind.execute(sa.text("SELECT app_enter_platform(:key)"), {"key": current_app.config["DB_LOCK_KEY"]})
    op.execute(placed("placements", "1"))
    op.execute(on_book("placements", "1"))
    op.execute(recovered("payments", "placements", "1"))

def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for trigger, table in TRIGGER_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        for function in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_index("ix_contact_attempts_conversations", table_name="contact_attempts")
    op.drop_index("ix_placements_batch_strata", table_name="placements")
    op.drop_table("analytics_on_book")
    op.drop_table("analytics_recovered")
    op.drop_table("analytics_placed")
