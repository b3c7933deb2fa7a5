"""subject_link: accounts alone in a batch are linked the short way even when others in it are known; every
identifier is looked up by a probe of its own, whatever the planner thinks of subject_links' size

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-20 10:00:00

Migration 0018's subject_link took its short way (each account's subject its first identifier, no lock, no walk)
only when no identifier of the whole batch was linked before nor shared inside it; one known person in a batch of
500 sent all 500 the long way (the walk between accounts, its sorts, the plan made again). A person met again is
common — that is what subjects are for — so now only the accounts that share an identifier with another account
of the batch or with a linked one go the long way, and every other account is linked at once. The answers are the
same: such an account can meet no one (a subject's key is always one of its linked identifiers, and none of this
account's is), so the long way would have given it its first identifier too, without a lock.

Both ways asked subject_links by `identifier_key = ANY(…)` or a join, planned when a session first calls the
function and kept for the session: planned while the table was small or its statistics stale (a fresh platform,
autovacuum not yet round) they read the whole table for every batch — ~70 ms a call at 100,000 links, and growing.
Each identifier is now looked up by a scalar subquery, which only the primary key can answer.
"""
import importlib.util
from pathlib import Path

from alembic import op

revision = "0027"
down_revision = "0026"
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


# The long way (from `LOOP`) is 0018's, on the accounts that need it; its comments there say how it works.
LINK = f"""
CREATE OR REPLACE FUNCTION subject_link(p_accounts uuid[], p_identifiers text[], key text)
RETURNS TABLE (account_id uuid, subject_key text, merged_from text[])
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {SEARCH_PATH} SET jit = off AS $$
DECLARE
    was_platform text := coalesce(current_setting('app.platform', true), '');
    v_accounts_in uuid[];
    v_identifiers_in text[];
    v_alone uuid[];
    v_alone_subjects text[];
    v_expected integer;
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
    -- An account alone: none of its identifiers linked yet, none named by another account of the batch. Its
    -- subject is its first identifier, linked at once with nothing to lock or merge (it cannot meet anyone: a
    -- subject's key is always one of its linked identifiers). The others take the long way below. Each
    -- identifier is looked up by a subquery of its own, which only the primary key can answer.
    WITH x AS MATERIALIZED (
        SELECT u.account, u.identifier, u.pos,
               (SELECT true FROM public.subject_links sl WHERE sl.identifier_key = u.identifier) AS linked
        FROM unnest(p_accounts, p_identifiers) WITH ORDINALITY AS u(account, identifier, pos)
        WHERE u.identifier IS NOT NULL),
    together AS (
        SELECT x.account FROM x WHERE x.linked
        UNION SELECT x.account FROM x JOIN (SELECT d.identifier FROM (SELECT DISTINCT y.identifier, y.account FROM x y) d
                                             GROUP BY d.identifier HAVING count(*) > 1) shared
                                      ON shared.identifier = x.identifier),
    alone AS (SELECT x.account, x.identifier, x.pos FROM x WHERE x.account NOT IN (SELECT t.account FROM together t)),
    firsts AS (SELECT DISTINCT ON (a.account) a.account, a.identifier AS subject FROM alone a
               ORDER BY a.account, a.pos),
    -- In key order, so two batches sharing an identifier wait for each other instead of deadlocking.
    inserted AS (
        INSERT INTO public.subject_links AS sl (identifier_key, subject_key)
        SELECT DISTINCT ON (a.identifier) a.identifier, f.subject FROM alone a JOIN firsts f ON f.account = a.account
        ORDER BY a.identifier
        ON CONFLICT (identifier_key) DO NOTHING RETURNING 1)
    SELECT (SELECT count(*) FROM inserted), (SELECT count(DISTINCT a.identifier) FROM alone a),
           f.accounts, f.subjects, r.accounts, r.identifiers
    INTO v_inserted, v_expected, v_alone, v_alone_subjects, v_accounts_in, v_identifiers_in
    FROM (SELECT coalesce(array_agg(f.account ORDER BY f.account), '{{}}') AS accounts,
                 coalesce(array_agg(f.subject ORDER BY f.account), '{{}}') AS subjects FROM firsts f) AS f,
         (SELECT coalesce(array_agg(x.account ORDER BY x.pos), '{{}}') AS accounts,
                 coalesce(array_agg(x.identifier ORDER BY x.pos), '{{}}') AS identifiers
          FROM x WHERE x.account IN (SELECT t.account FROM together t)) AS r;
    IF v_inserted <> v_expected THEN
        -- Another batch linked one of them meanwhile (the insert found it): the whole batch the long way.
        v_accounts_in := ARRAY(SELECT u.account FROM unnest(p_accounts, p_identifiers) AS u(account, identifier)
                               WHERE u.identifier IS NOT NULL);
        v_identifiers_in := ARRAY(SELECT u.identifier FROM unnest(p_identifiers) AS u(identifier)
                                  WHERE u.identifier IS NOT NULL);
    ELSE
        RETURN QUERY SELECT a.account, a.subject, '{{}}'::text[] FROM unnest(v_alone, v_alone_subjects) AS a(account, subject);
    END IF;
    IF cardinality(v_accounts_in) = 0 THEN
        RETURN;
    END IF;
    LOOP
        WITH RECURSIVE pairs AS (
            SELECT DISTINCT x.account::text AS account, x.identifier, x.linked IS NULL AS fresh,
                   coalesce({_resolved('x.linked')}, x.identifier) AS subject, x.pos
            FROM (SELECT u.account, u.identifier, u.pos,
                         (SELECT sl.subject_key FROM public.subject_links sl
                          WHERE sl.identifier_key = u.identifier) AS linked
                  FROM unnest(v_accounts_in, v_identifiers_in) WITH ORDINALITY AS u(account, identifier, pos)
                  OFFSET 0) AS x),
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


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LINK)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        path = Path(__file__).with_name("0018_subject_links.py")
        spec = importlib.util.spec_from_file_location("migration_0018", path)
        previous = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(previous)
        op.execute(previous.LINK.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
