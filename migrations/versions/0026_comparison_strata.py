"""comparison strata: each placement keeps the stratum its allocation put it in, and counts of its debtor
conversations and uncancelled promises kept by triggers, read by the champion/challenger comparison

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-20 10:00:00

The comparison (tenants/analytics/comparison.py) ranked an allocation's ~83,000 accounts by balance within their DPD
bucket on every view and probed `contact_attempts` and `promises` once per account: 1.5 s at a million placements.
Now it reads one covering index.

- `stratum_bucket`, `stratum_band`: the DPD bucket and balance band (both from 0) the allocation put the account in
  (tenants.placements.allocation), written by `place`. Existing placements are filled here by the window computation
  the comparison used to run (rank by balance, then account id, within the bucket of the allocation's own DPD
  bounds, per allocation and currency), which is the allocation's own cut.
- `debtor_conversations`, `uncancelled_promises`: how many of the placement's contact attempts are conversations
  with the debtor (target 'debtor', conversation true, same account), and how many of its promises are not
  cancelled. PostgreSQL triggers on `contact_attempts` and `promises` add and take away one as rows come, change and
  go, in the transaction that changed them. Each trigger has a WHEN clause, so an attempt that is not a conversation
  (the contact-decision path's usual row) and a promise changing between open, kept and broken call nothing.
  Counts rather than flags: two transactions recording conversations on one placement each add their own one, with
  no read of the other's.

SQLite (the demo) has no such triggers: the counts stay 0 there and the comparison probes the base tables, as before.
"""

import sqlalchemy as sa
from alembic import op

from tenants import database_lock

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

DEFAULT_BOUNDS = (30, 60, 90, 180, 360)
BANDS = 4

CONVERSATION = "{row}.target = 'debtor' AND {row}.conversation IS TRUE"
UNCANCELLED = "{row}.status <> 'cancelled'"

TRIGGERS = f"""
CREATE FUNCTION placements_count_conversations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND {CONVERSATION.format(row="OLD")} THEN
        UPDATE placements SET debtor_conversations = debtor_conversations - 1
        WHERE id = OLD.placement_id AND account_id = OLD.account_id;
    END IF;
    IF TG_OP <> 'DELETE' AND {CONVERSATION.format(row="NEW")} THEN
        UPDATE placements SET debtor_conversations = debtor_conversations + 1
        WHERE id = NEW.placement_id AND account_id = NEW.account_id;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION placements_count_promises() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND {UNCANCELLED.format(row="OLD")} THEN
        UPDATE placements SET uncancelled_promises = uncancelled_promises - 1 WHERE id = OLD.placement_id;
    END IF;
    IF TG_OP <> 'DELETE' AND {UNCANCELLED.format(row="NEW")} THEN
        UPDATE placements SET uncancelled_promises = uncancelled_promises + 1 WHERE id = NEW.placement_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER placements_conversation_added AFTER INSERT ON contact_attempts FOR EACH ROW
    WHEN ({CONVERSATION.format(row="NEW")}) EXECUTE FUNCTION placements_count_conversations();
CREATE TRIGGER placements_conversation_changed
    AFTER UPDATE OF target, conversation, placement_id, account_id ON contact_attempts FOR EACH ROW
    WHEN ((({CONVERSATION.format(row="OLD")}) OR ({CONVERSATION.format(row="NEW")}))
          AND (OLD.target = 'debtor' AND OLD.conversation IS TRUE, OLD.placement_id, OLD.account_id)
              IS DISTINCT FROM (NEW.target = 'debtor' AND NEW.conversation IS TRUE, NEW.placement_id, NEW.account_id))
    EXECUTE FUNCTION placements_count_conversations();
CREATE TRIGGER placements_conversation_removed AFTER DELETE ON contact_attempts FOR EACH ROW
    WHEN ({CONVERSATION.format(row="OLD")}) EXECUTE FUNCTION placements_count_conversations();

CREATE TRIGGER placements_promise_added AFTER INSERT ON promises FOR EACH ROW
    WHEN ({UNCANCELLED.format(row="NEW")}) EXECUTE FUNCTION placements_count_promises();
CREATE TRIGGER placements_promise_changed AFTER UPDATE OF status, placement_id ON promises FOR EACH ROW
    WHEN ((({UNCANCELLED.format(row="OLD")}) OR ({UNCANCELLED.format(row="NEW")}))
          AND ({UNCANCELLED.format(row="OLD")}, OLD.placement_id)
              IS DISTINCT FROM ({UNCANCELLED.format(row="NEW")}, NEW.placement_id))
    EXECUTE FUNCTION placements_count_promises();
CREATE TRIGGER placements_promise_removed AFTER DELETE ON promises FOR EACH ROW
    WHEN ({UNCANCELLED.format(row="OLD")}) EXECUTE FUNCTION placements_count_promises();
"""

TRIGGER_TABLES = (
    ("placements_conversation_added", "contact_attempts"),
    ("placements_conversation_changed", "contact_attempts"),
    ("placements_conversation_removed", "contact_attempts"),
    ("placements_promise_added", "promises"),
    ("placements_promise_changed", "promises"),
    ("placements_promise_removed", "promises"),
)
FUNCTIONS = ("placements_count_conversations", "placements_count_promises")
FILLED_FROM = ("placement_batches", "placements", "contact_attempts", "promises")

OLD_INCLUDE = [
    "agency_tenant_id",
    "tenant_id",
    "balance_at_placement_minor",
    "dpd_at_placement",
    "recovered_minor",
    "account_id",
    "id",
]
NEW_INCLUDE = [
    "agency_tenant_id",
    "tenant_id",
    "stratum_bucket",
    "stratum_band",
    "balance_at_placement_minor",
    "recovered_minor",
    "debtor_conversations",
    "uncancelled_promises",
]


def bounds_of(labels) -> tuple[int, ...]:
    """The upper bounds behind an allocation's DPD bucket labels ("0-30", …, "361+"), else the default ones: what
    the comparison read them as (tenants.analytics.common.bounds_of, as of this revision)."""
    try:
        return tuple(int(label.split("-")[1]) for label in labels[:-1]) or DEFAULT_BOUNDS
    except (AttributeError, IndexError, TypeError, ValueError):
        return DEFAULT_BOUNDS


def fill(bind, *, counts: bool) -> None:
    """Per allocation, in one pass over its placements: each one's bucket by its DPD at placement, its band by its
    rank by balance, then account id, within the bucket (per currency), cut as the allocation cuts — band q holds
    ranks [⌊q·n/B⌋, ⌊(q+1)·n/B⌋) with B = min(4, n), so rank r (from 1) is in band ⌊(B·r − 1) / n⌋ — and, with
    `counts`, its debtor conversations and uncancelled promises."""
    least = "least" if bind.dialect.name == "postgresql" else "min"
    counted = (
        f"""(SELECT count(*) FROM contact_attempts c WHERE c.placement_id = p.id
                       AND c.account_id = p.account_id AND {CONVERSATION.format(row="c")}) AS conversations,
                   (SELECT count(*) FROM promises r WHERE r.placement_id = p.id
                       AND {UNCANCELLED.format(row="r")}) AS promises"""
        if counts
        else "0 AS conversations, 0 AS promises"
    )
    batches = sa.table("placement_batches", sa.column("id", sa.Uuid()), sa.column("allocation", sa.JSON()))
    for batch_id, record in bind.execute(sa.select(batches.c.id, batches.c.allocation)).all():
        bounds = bounds_of((record or {}).get("dpd_buckets") or ())
        bucket = " ".join(f"WHEN p.dpd_at_placement <= {bound} THEN {index}" for index, bound in enumerate(bounds))
        bind.execute(
            sa.text(f"""
            UPDATE placements SET stratum_bucket = r.bucket, stratum_band = ({least}({BANDS}, r.nb) * r.rn - 1) / r.nb,
                                  debtor_conversations = r.conversations, uncancelled_promises = r.promises
            FROM (SELECT id, bucket, conversations, promises,
                         row_number() OVER (PARTITION BY currency, bucket
                                            ORDER BY balance_at_placement_minor, account_id) AS rn,
                         count(*) OVER (PARTITION BY currency, bucket) AS nb
                  FROM (SELECT p.id, p.currency, p.balance_at_placement_minor, p.account_id,
                               CASE {bucket} ELSE {len(bounds)} END AS bucket, {counted}
                        FROM placements p WHERE p.batch_id = :batch) s) r
            WHERE placements.id = r.id""").bindparams(sa.bindparam("batch", batch_id, type_=sa.Uuid()))
        )


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column("placements", sa.Column("stratum_bucket", sa.SmallInteger(), nullable=True))
    op.add_column("placements", sa.Column("stratum_band", sa.SmallInteger(), nullable=True))
    op.add_column("placements", sa.Column("debtor_conversations", sa.Integer(), server_default="0", nullable=False))
    op.add_column("placements", sa.Column("uncancelled_promises", sa.Integer(), server_default="0", nullable=False))
    op.drop_index("ix_placements_batch_strata", table_name="placements")
    bind = op.get_bind()
    if postgres:
        # No conversation or promise comes in between the counting below and the triggers taking over.
        op.execute("LOCK TABLE contact_attempts, promises IN SHARE ROW EXCLUSIVE MODE")
        op.execute(TRIGGERS)
        # Row-level security binds the owner too (FORCE), and the policies may be gone (a downgrade drops them; they
        # are made again at the head): the rows already there are filled with it lifted for the owner, until this
        # transaction ends.
        forced = [
            table
            for table in FILLED_FROM
            if bind.execute(
                sa.text("SELECT relforcerowsecurity FROM pg_class WHERE oid = CAST(:table AS regclass)"),
                {"table": table},
            ).scalar()
        ]
        for table in forced:
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        fill(bind, counts=True)
        for table in forced:
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    else:
        fill(bind, counts=False)
    op.create_index(
        "ix_placements_batch_strata", "placements", ["batch_id", "currency"], postgresql_include=NEW_INCLUDE
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for trigger, table in TRIGGER_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        for function in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
        # Policies that look placements up name every column of it; they are made again when the schema next
        # reaches the head (migrations/env.py), and until then row-level security lets the application see nothing.
        database_lock.drop_all_policies(op.get_bind())
    op.drop_index("ix_placements_batch_strata", table_name="placements")
    # Not a batch: the columns are in no index any more, and SQLite drops them in place.
    for column in ("uncancelled_promises", "debtor_conversations", "stratum_band", "stratum_bucket"):
        op.drop_column("placements", column)
    op.create_index(
        "ix_placements_batch_strata", "placements", ["batch_id", "currency"], postgresql_include=OLD_INCLUDE
    )
