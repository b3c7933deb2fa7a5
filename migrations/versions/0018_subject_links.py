"""one subject per person across files and lenders: identifiers linked by their blind indexes

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 10:00:00

`subject_links` maps every identifier a file gave for a person (the resident ID's, each phone's and the email's
blind index) to the person's subject key; `subject_aliases` maps a subject merged into another to the one it joined.
Both are sealed like the ledger (row-level security on, no policy, no grant): only the SECURITY DEFINER functions
below read or write them.

`subject_link` gives a batch of accounts their subjects in one call: accounts sharing any identifier (in the batch
or with anything linked before, whichever lender's) get one subject; when a batch joins subjects that were apart,
it merges them under the persons' locks (the ledger's), in one transaction: their ledger entries, every tenant's
accounts and the links move to the surviving subject, and the others become its aliases.

The ledger functions resolve an alias after taking the person's lock: a caller that read an account's subject key
before a merge committed waits for the merge, then locks and reads the surviving subject, never the emptied one.
Their signatures and result columns are unchanged.

Accounts already stored are linked here, in batches, from the blind indexes they carry (resident ID and phones;
emails have no index to read, they are linked from the next import of their file).
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

SEARCH_PATH = "SET search_path = pg_catalog, public, pg_temp"
PLATFORM_TOKEN = ("encode(sha256(convert_to(k.token_salt || ':' || 'platform' || ':' || pg_backend_pid()::text "
                  "|| ':' || now()::text, 'UTF8')), 'hex')")
CHECK_KEY = """
    IF NOT EXISTS (SELECT 1 FROM public.platform_keys k
                   WHERE k.id = 1 AND k.key_hash = sha256(convert_to(key, 'UTF8'))) THEN
        RAISE EXCEPTION 'database lock key refused' USING ERRCODE = 'insufficient_privilege';
    END IF;"""


def _resolved(subject: str) -> str:
    """The subject a key stands for now: an alias's survivor, else the key itself (aliases are kept one hop)."""
    return (f"coalesce((SELECT sa.subject_key FROM public.subject_aliases sa WHERE sa.alias = {subject}), "
            f"{subject})")


LOCK = "PERFORM pg_advisory_xact_lock(hashtextextended('conduct:' || {subject}, 0));"

LEDGER_COLUMNS = ("id uuid, debt_key text, number_key text, third_party_key text, channel text, target text, "
                  "at timestamptz, connected boolean, conversation boolean, pending boolean")
LEDGER_SELECT = ("l.id, l.debt_key::text, l.number_key::text, l.third_party_key::text, l.channel::text, "
                 "l.target::text, l.at, l.connected, l.conversation, l.pending")

# A merge that committed while this call waited for the lock moved the person: lock the survivor too and read
# that. The keys only ever move forward (an alias never becomes a subject again), so this ends.
HISTORY = f"""
CREATE OR REPLACE FUNCTION conduct_ledger_history(p_subject text, p_since timestamptz)
RETURNS TABLE ({LEDGER_COLUMNS})
LANGUAGE plpgsql SECURITY DEFINER {SEARCH_PATH} AS $$
DECLARE
    v_locked text;
    v_subject text := {_resolved('p_subject')};
BEGIN
    LOOP
        {LOCK.format(subject='v_subject')}
        v_locked := v_subject;
        v_subject := {_resolved('p_subject')};
        EXIT WHEN v_subject = v_locked;
    END LOOP;
    RETURN QUERY SELECT {LEDGER_SELECT}
                 FROM public.conduct_ledger l WHERE l.subject_key = v_subject AND l.at >= p_since ORDER BY l.at;
END $$;
"""

PEEK = f"""
CREATE OR REPLACE FUNCTION conduct_ledger_peek(p_subject text, p_since timestamptz)
RETURNS TABLE ({LEDGER_COLUMNS})
LANGUAGE sql STABLE SECURITY DEFINER {SEARCH_PATH} AS $$
    SELECT {LEDGER_SELECT}
    FROM public.conduct_ledger l WHERE l.subject_key = {_resolved('p_subject')} AND l.at >= p_since ORDER BY l.at;
$$;
"""

# Rows come back under the key the caller asked for (it groups by it), read from the subject it stands for now.
PEEK_MANY = f"""
CREATE OR REPLACE FUNCTION conduct_ledger_peek_many(p_subjects text[], p_since timestamptz)
RETURNS TABLE (subject_key text, {LEDGER_COLUMNS})
LANGUAGE sql STABLE SECURITY DEFINER {SEARCH_PATH} AS $$
    SELECT s.asked, {LEDGER_SELECT}
    FROM unnest(p_subjects) AS s(asked)
    JOIN public.conduct_ledger l ON l.subject_key = {_resolved('s.asked')}
    WHERE l.at >= p_since ORDER BY s.asked, l.at;
$$;
"""

# Called by conduct_record_attempt under the lock conduct_ledger_history took on the survivor.
APPEND = f"""
CREATE OR REPLACE FUNCTION conduct_ledger_append(p_id uuid, p_subject text, p_debt text, p_number text, p_third text,
                                                 p_channel text, p_target text, p_at timestamptz)
RETURNS void LANGUAGE sql SECURITY DEFINER {SEARCH_PATH} AS $$
    INSERT INTO public.conduct_ledger (id, subject_key, debt_key, number_key, third_party_key, channel, target, at,
                                       connected, conversation, pending)
    VALUES (p_id, {_resolved('p_subject')}, p_debt, p_number, p_third, p_channel, p_target, p_at, false, false, true);
$$;
"""

# An account stored with a key merged away meanwhile (its batch was still open when the merge ran) is found
# through the alias: the accounts of a person are those under the survivor or under any of its aliases.
PERSON_HOLDS = f"""
CREATE OR REPLACE FUNCTION conduct_person_holds(p_subjects text[], p_types text[], p_except_account uuid, key text)
RETURNS TABLE (subject_key text, type text, starts_at timestamptz, ends_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {SEARCH_PATH} AS $$
DECLARE
    was_platform text := coalesce(current_setting('app.platform', true), '');
BEGIN{CHECK_KEY}
    PERFORM set_config('app.platform', (SELECT {PLATFORM_TOKEN} FROM public.platform_keys k WHERE k.id = 1), true);
    RETURN QUERY
        WITH person AS (
            SELECT s.asked, {_resolved('s.asked')} AS survivor FROM unnest(p_subjects) AS s(asked)),
        under AS (
            SELECT p.asked, p.survivor AS matched FROM person p
            UNION SELECT p.asked, sa.alias FROM person p JOIN public.subject_aliases sa ON sa.subject_key = p.survivor)
        SELECT u.asked::text, h.type::text, h.starts_at, h.ends_at
        FROM under u JOIN public.accounts a ON a.subject_key = u.matched JOIN public.holds h ON h.account_id = a.id
        WHERE h.type = ANY(p_types) AND h.resolved_at IS NULL AND a.id IS DISTINCT FROM p_except_account
        UNION ALL
        SELECT u.asked::text, flag.type, a.created_at, NULL::timestamptz
        FROM under u JOIN public.accounts a ON a.subject_key = u.matched
        CROSS JOIN LATERAL (VALUES ('deceased', a.deceased), ('bankruptcy', a.bankrupt)) AS flag(type, raised)
        WHERE flag.raised AND flag.type = ANY(p_types) AND a.id IS DISTINCT FROM p_except_account;
    PERFORM set_config('app.platform', was_platform, true);
END $$;
"""

# p_accounts[i] has identifier p_identifiers[i]; an account's identifiers come in the order of preference (resident
# ID, phones, email): a new person's subject is named after the first, as before links existed.
#
# The plan: accounts that lead to a common subject are one person (a component; found by walking only between
# accounts that share one, so a file of distinct people costs no walk at all); an identifier not linked yet is a
# fresh subject named after itself. In each component the survivor is the smallest subject that existed before,
# else the first account's first identifier. Subjects that existed before and are joined now are locked, in key
# order, and the plan made again (a merge may have committed while waiting) until every such subject is locked.
# Then the new identifiers are linked straight to their survivors, in key order so two batches sharing one wait
# for each other instead of deadlocking; one that another batch linked meanwhile makes the plan again. Last the
# joined subjects merge. A component that only gains new identifiers takes no lock: an attempt meanwhile decides
# on the same history either way. JIT is off: the walk's estimates are huge and compiling it cost more than the
# whole call.
LINK = f"""
CREATE FUNCTION subject_link(p_accounts uuid[], p_identifiers text[], key text)
RETURNS TABLE (account_id uuid, subject_key text, merged_from text[])
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {SEARCH_PATH} SET jit = off AS $$
DECLARE
    was_platform text := coalesce(current_setting('app.platform', true), '');
    v_new text[];
    v_new_into text[];
    v_merged text[];
    v_into text[];
    v_accounts uuid[];
    v_subjects text[];
    v_joined text[];
    v_locked text[] := '{{}}';
    v_inserted integer;
BEGIN{CHECK_KEY}
    IF coalesce(array_length(p_accounts, 1), 0) <> coalesce(array_length(p_identifiers, 1), 0) THEN
        RAISE EXCEPTION 'one identifier per account entry' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The common case, a file of people new to the platform: no identifier linked yet and none shared inside the
    -- batch. Each account's subject is its first identifier, with nothing to lock or merge: two indexed reads and
    -- one insert. A link another batch inserted meanwhile (the insert finds it) sends the batch the long way.
    IF NOT EXISTS (SELECT 1 FROM public.subject_links sl WHERE sl.identifier_key = ANY(p_identifiers))
       AND NOT EXISTS (SELECT 1 FROM unnest(p_accounts, p_identifiers) AS x(account, identifier)
                       WHERE x.identifier IS NOT NULL GROUP BY x.identifier HAVING count(DISTINCT x.account) > 1)
    THEN
        WITH firsts AS (
            SELECT DISTINCT ON (x.account) x.account, x.identifier AS subject
            FROM unnest(p_accounts, p_identifiers) WITH ORDINALITY AS x(account, identifier, pos)
            WHERE x.identifier IS NOT NULL ORDER BY x.account, x.pos),
        inserted AS (
            INSERT INTO public.subject_links AS sl (identifier_key, subject_key)
            SELECT DISTINCT ON (x.identifier) x.identifier, f.subject
            FROM unnest(p_accounts, p_identifiers) AS x(account, identifier) JOIN firsts f ON f.account = x.account
            WHERE x.identifier IS NOT NULL ORDER BY x.identifier
            ON CONFLICT (identifier_key) DO NOTHING RETURNING 1)
        SELECT count(*) INTO v_inserted FROM inserted;
        IF v_inserted = (SELECT count(DISTINCT i.identifier) FROM unnest(p_identifiers) AS i(identifier)
                         WHERE i.identifier IS NOT NULL) THEN
            RETURN QUERY
                SELECT DISTINCT ON (x.account) x.account, x.identifier, '{{}}'::text[]
                FROM unnest(p_accounts, p_identifiers) WITH ORDINALITY AS x(account, identifier, pos)
                WHERE x.identifier IS NOT NULL ORDER BY x.account, x.pos;
            RETURN;
        END IF;
    END IF;
    LOOP
        WITH RECURSIVE pairs AS (
            SELECT DISTINCT x.account::text AS account, x.identifier, sl.identifier_key IS NULL AS fresh,
                   coalesce({_resolved('sl.subject_key')}, x.identifier) AS subject, x.pos
            FROM unnest(p_accounts, p_identifiers) WITH ORDINALITY AS x(account, identifier, pos)
            LEFT JOIN public.subject_links sl ON sl.identifier_key = x.identifier
            WHERE x.identifier IS NOT NULL),
        sharing AS (
            SELECT DISTINCT a.account AS one, b.account AS other
            FROM pairs a JOIN pairs b ON b.subject = a.subject AND b.account <> a.account),
        reach (account, other) AS (
            SELECT s.one, s.other FROM sharing s
            UNION SELECT r.account, s.other FROM reach r JOIN sharing s ON s.one = r.other),
        joined AS (SELECT r.account, min(r.other) AS id FROM reach r GROUP BY r.account),
        component AS (
            SELECT p.*, least(p.account, j.id) AS id FROM pairs p LEFT JOIN joined j ON j.account = p.account),
        survivor AS (
            SELECT c.id, coalesce(min(c.subject) FILTER (WHERE NOT c.fresh),
                                  (array_agg(c.subject ORDER BY c.pos))[1]) AS subject
            FROM component c GROUP BY c.id),
        planned AS MATERIALIZED (
            SELECT c.account, c.identifier, c.fresh, c.subject, s.subject AS survivor
            FROM component c JOIN survivor s ON s.id = c.id)
        SELECT n.identifiers, n.survivors, m.subjects, m.survivors, a.accounts, a.survivors
        INTO v_new, v_new_into, v_merged, v_into, v_accounts, v_subjects
        FROM (SELECT coalesce(array_agg(d.identifier ORDER BY d.identifier), '{{}}') AS identifiers,
                     coalesce(array_agg(d.survivor ORDER BY d.identifier), '{{}}') AS survivors
              FROM (SELECT DISTINCT p.identifier, p.survivor FROM planned p WHERE p.fresh) AS d) AS n,
             (SELECT coalesce(array_agg(d.subject ORDER BY d.subject), '{{}}') AS subjects,
                     coalesce(array_agg(d.survivor ORDER BY d.subject), '{{}}') AS survivors
              FROM (SELECT DISTINCT p.subject, p.survivor FROM planned p
                    WHERE NOT p.fresh AND p.subject <> p.survivor) AS d) AS m,
             (SELECT array_agg(d.account::uuid) AS accounts, array_agg(d.survivor) AS survivors
              FROM (SELECT DISTINCT p.account, p.survivor FROM planned p) AS d) AS a;
        v_joined := ARRAY(SELECT DISTINCT j.subject FROM unnest(v_merged || v_into) AS j(subject)
                          WHERE NOT j.subject = ANY(v_locked) ORDER BY 1);
        IF cardinality(v_joined) > 0 THEN
            -- In the array's (key) order: unnest yields it so, and locks are taken as rows are produced.
            PERFORM pg_advisory_xact_lock(hashtextextended('conduct:' || j.subject, 0))
            FROM unnest(v_joined) AS j(subject);
            v_locked := v_locked || v_joined;
            CONTINUE;
        END IF;
        WITH inserted AS (
            INSERT INTO public.subject_links AS sl (identifier_key, subject_key)
            SELECT n.identifier, n.survivor FROM unnest(v_new, v_new_into) AS n(identifier, survivor) ORDER BY 1
            ON CONFLICT (identifier_key) DO NOTHING RETURNING 1)
        SELECT count(*) INTO v_inserted FROM inserted;
        EXIT WHEN v_inserted = cardinality(v_new);
    END LOOP;

    IF cardinality(v_merged) > 0 THEN
        UPDATE public.subject_links sl SET subject_key = m.survivor
        FROM unnest(v_merged, v_into) AS m(moved, survivor) WHERE sl.subject_key = m.moved;
        UPDATE public.subject_aliases sa SET subject_key = m.survivor
        FROM unnest(v_merged, v_into) AS m(moved, survivor) WHERE sa.subject_key = m.moved;
        INSERT INTO public.subject_aliases (alias, subject_key)
        SELECT m.moved, m.survivor FROM unnest(v_merged, v_into) AS m(moved, survivor);
        UPDATE public.conduct_ledger l SET subject_key = m.survivor
        FROM unnest(v_merged, v_into) AS m(moved, survivor) WHERE l.subject_key = m.moved;
        -- Every tenant's accounts of the merged subjects (or of their older aliases): platform work, left at once.
        PERFORM set_config('app.platform', (SELECT {PLATFORM_TOKEN} FROM public.platform_keys k WHERE k.id = 1),
                           true);
        UPDATE public.accounts a SET subject_key = sa.subject_key
        FROM public.subject_aliases sa
        WHERE a.subject_key = sa.alias AND sa.subject_key = ANY(v_into);
        PERFORM set_config('app.platform', was_platform, true);
    END IF;

    RETURN QUERY
        SELECT a.account, a.subject,
               ARRAY(SELECT m.moved FROM unnest(v_merged, v_into) AS m(moved, survivor)
                     WHERE m.survivor = a.subject ORDER BY 1)
        FROM unnest(v_accounts, v_subjects) AS a(account, subject);
END $$;
"""

OLD_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION conduct_ledger_history(p_subject text, p_since timestamptz)
RETURNS TABLE ({LEDGER_COLUMNS})
LANGUAGE plpgsql SECURITY DEFINER {SEARCH_PATH} AS $$
BEGIN
    {LOCK.format(subject='p_subject')}
    RETURN QUERY SELECT {LEDGER_SELECT}
                 FROM conduct_ledger l WHERE l.subject_key = p_subject AND l.at >= p_since ORDER BY l.at;
END $$;

CREATE OR REPLACE FUNCTION conduct_ledger_peek(p_subject text, p_since timestamptz)
RETURNS TABLE ({LEDGER_COLUMNS})
LANGUAGE sql STABLE SECURITY DEFINER {SEARCH_PATH} AS $$
    SELECT {LEDGER_SELECT}
    FROM conduct_ledger l WHERE l.subject_key = p_subject AND l.at >= p_since ORDER BY l.at;
$$;

CREATE OR REPLACE FUNCTION conduct_ledger_peek_many(p_subjects text[], p_since timestamptz)
RETURNS TABLE (subject_key text, {LEDGER_COLUMNS})
LANGUAGE sql STABLE SECURITY DEFINER {SEARCH_PATH} AS $$
    SELECT l.subject_key::text, {LEDGER_SELECT}
    FROM conduct_ledger l WHERE l.subject_key = ANY(p_subjects) AND l.at >= p_since ORDER BY l.subject_key, l.at;
$$;

CREATE OR REPLACE FUNCTION conduct_ledger_append(p_id uuid, p_subject text, p_debt text, p_number text, p_third text,
                                                 p_channel text, p_target text, p_at timestamptz)
RETURNS void LANGUAGE sql SECURITY DEFINER {SEARCH_PATH} AS $$
    INSERT INTO conduct_ledger (id, subject_key, debt_key, number_key, third_party_key, channel, target, at,
                                connected, conversation, pending)
    VALUES (p_id, p_subject, p_debt, p_number, p_third, p_channel, p_target, p_at, false, false, true);
$$;

CREATE OR REPLACE FUNCTION conduct_person_holds(p_subjects text[], p_types text[], p_except_account uuid, key text)
RETURNS TABLE (subject_key text, type text, starts_at timestamptz, ends_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {SEARCH_PATH} AS $$
DECLARE
    was_platform text := coalesce(current_setting('app.platform', true), '');
BEGIN{CHECK_KEY}
    PERFORM set_config('app.platform', (SELECT {PLATFORM_TOKEN} FROM public.platform_keys k WHERE k.id = 1), true);
    RETURN QUERY
        SELECT a.subject_key::text, h.type::text, h.starts_at, h.ends_at
        FROM public.holds h JOIN public.accounts a ON a.id = h.account_id
        WHERE a.subject_key = ANY(p_subjects) AND h.type = ANY(p_types) AND h.resolved_at IS NULL
          AND a.id IS DISTINCT FROM p_except_account
        UNION ALL
        SELECT a.subject_key::text, flag.type, a.created_at, NULL::timestamptz
        FROM public.accounts a
        CROSS JOIN LATERAL (VALUES ('deceased', a.deceased), ('bankruptcy', a.bankrupt)) AS flag(type, raised)
        WHERE a.subject_key = ANY(p_subjects) AND flag.raised AND flag.type = ANY(p_types)
          AND a.id IS DISTINCT FROM p_except_account;
    PERFORM set_config('app.platform', was_platform, true);
END $$;
"""

TABLES = ("subject_links", "subject_aliases")


def upgrade():
    op.create_table("subject_links",
                    sa.Column("identifier_key", sa.String(length=64), nullable=False),
                    sa.Column("subject_key", sa.String(length=64), nullable=False),
                    sa.PrimaryKeyConstraint("identifier_key", name=op.f("pk_subject_links")))
    op.create_index(op.f("ix_subject_links_subject_key"), "subject_links", ["subject_key"], unique=False)
    op.create_table("subject_aliases",
                    sa.Column("alias", sa.String(length=64), nullable=False),
                    sa.Column("subject_key", sa.String(length=64), nullable=False),
                    sa.PrimaryKeyConstraint("alias", name=op.f("pk_subject_aliases")))
    op.create_index(op.f("ix_subject_aliases_subject_key"), "subject_aliases", ["subject_key"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            _revoke_from_everyone_but_owner(bind, table)
        for function in (HISTORY, PEEK, PEEK_MANY, APPEND, PERSON_HOLDS, LINK):
            op.execute(function)
    _link_stored_accounts(bind)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS subject_link(uuid[], text[], text)")
        op.execute(OLD_FUNCTIONS)
    op.drop_index(op.f("ix_subject_aliases_subject_key"), table_name="subject_aliases")
    op.drop_table("subject_aliases")
    op.drop_index(op.f("ix_subject_links_subject_key"), table_name="subject_links")
    op.drop_table("subject_links")


def _revoke_from_everyone_but_owner(bind, table: str) -> None:
    """Default privileges hand every new table to the app role; the links are for the functions alone."""
    grantees = bind.execute(sa.text(
        "SELECT DISTINCT grantee FROM information_schema.role_table_grants "
        "WHERE table_name = :table AND grantee <> current_user"), {"table": table}).scalars().all()
    for grantee in grantees:
        op.execute(f'REVOKE ALL ON {table} FROM "{grantee}"')


def _link_stored_accounts(bind) -> None:
    """Link the accounts already stored, oldest first, through the same code as an import; then the ledger entries
    filed under a key that is now one identifier of a subject move to that subject."""
    from tenants.conduct import subjects

    if bind.dialect.name == "postgresql":
        if not bind.execute(sa.text("SELECT EXISTS (SELECT 1 FROM platform_keys)")).scalar():
            return  # a database being created: no account yet, and the lock's key comes after the head
        from flask import current_app
        key = current_app.config["DB_LOCK_KEY"]
        bind.execute(sa.text("SELECT app_enter_platform(:key)"), {"key": key})
    else:
        key = None
    subjects.link_stored(bind, key)
