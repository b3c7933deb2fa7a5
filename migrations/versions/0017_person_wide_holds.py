"""person-wide holds and calendar-day Reg F windows

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 13:00:00

A person who died or went bankrupt is so for every lender: `conduct_person_holds` answers, for some people (their
subject keys), which person-wide holds are open on any of their debts — anyone's — giving the hold's type and
dates only, never the account, the tenant or the reason. Like the ledger functions it runs as the owner (SECURITY
DEFINER) and reveals nothing a tenant could use to tell whose debt it was. It is VOLATILE so that, called after
the person's lock in the same statement as the history (tenants.conduct.ledger), it sees a hold committed by
whoever held that lock.

US.7IN7 now counts calendar days: placement terms written as hours (window_hours / quiet_hours) become days,
rounded up so a tightened term stays at least as strict.
"""
import json
import math

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The holds and accounts tables are bound by their forced policies even for the owner: the function enters the
# platform for its one read (as app_enter_bearer does for a token lookup) and leaves it again. It takes the database
# lock key like app_enter_* do, so that SQL injected into the app cannot use it as an oracle on who is deceased.
PLATFORM_TOKEN = ("encode(sha256(convert_to(k.token_salt || ':' || 'platform' || ':' || pg_backend_pid()::text "
                  "|| ':' || now()::text, 'UTF8')), 'hex')")
PERSON_HOLDS = f"""
CREATE FUNCTION conduct_person_holds(p_subjects text[], p_types text[], p_except_account uuid, key text)
RETURNS TABLE (subject_key text, type text, starts_at timestamptz, ends_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    was_platform text := coalesce(current_setting('app.platform', true), '');
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.platform_keys k
                   WHERE k.id = 1 AND k.key_hash = sha256(convert_to(key, 'UTF8'))) THEN
        RAISE EXCEPTION 'database lock key refused' USING ERRCODE = 'insufficient_privilege';
    END IF;
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

HOURS_TO_DAYS = {"window_hours": "window_days", "quiet_hours": "quiet_days"}


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PERSON_HOLDS)
    _rewrite_7in7_terms(lambda name, value: (HOURS_TO_DAYS[name], math.ceil(value / 24))
                        if name in HOURS_TO_DAYS else (name, value))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS conduct_person_holds(text[], text[], uuid, text)")
    days_to_hours = {days: hours for hours, days in HOURS_TO_DAYS.items()}
    _rewrite_7in7_terms(lambda name, value: (days_to_hours[name], value * 24)
                        if name in days_to_hours else (name, value))


def _rewrite_7in7_terms(rename) -> None:
    placements = sa.table("placements", sa.column("id", sa.Uuid()), sa.column("conduct_overrides", sa.JSON()))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        if not bind.execute(sa.text("SELECT EXISTS (SELECT 1 FROM platform_keys)")).scalar():
            return  # a database being created: the lock's key comes after the head, and no placement yet
        # The owner is bound by the forced policies too: every tenant's placements, as platform work.
        from flask import current_app
        bind.execute(sa.text("SELECT app_enter_platform(:key)"), {"key": current_app.config["DB_LOCK_KEY"]})
    for placement_id, overrides in bind.execute(sa.select(placements.c.id, placements.c.conduct_overrides)).all():
        if isinstance(overrides, str):
            overrides = json.loads(overrides)
        if not overrides or "US.7IN7" not in overrides:
            continue
        rewritten = {**overrides, "US.7IN7": dict(rename(k, v) for k, v in overrides["US.7IN7"].items())}
        bind.execute(placements.update().where(placements.c.id == placement_id)
                     .values(conduct_overrides=rewritten))
