"""Planner settings the hot database functions carry (migration 0028). `CREATE OR REPLACE FUNCTION` without its SET
clauses drops them silently; these tests say what each one is for."""
import pytest
from sqlalchemy import text

pytestmark = pytest.mark.postgres


def _settings(owner_engine, name: str) -> set[str]:
    with owner_engine.connect() as connection:
        found = connection.execute(text("SELECT coalesce(proconfig, '{}') FROM pg_proc WHERE proname = :name"),
                                   {"name": name}).scalars().all()
    assert len(found) == 1, f"{name}: {len(found)} functions"
    return set(found[0])


@pytest.mark.parametrize("name", ["conduct_ledger_history", "conduct_person_holds", "conduct_account_phones_holds"])
def test_the_person_reads_keep_one_plan_per_session(app, owner_engine, name):
    # Key lookups the plan cache otherwise planned afresh at every call of the contact decision.
    assert "plan_cache_mode=force_generic_plan" in _settings(owner_engine, name)


def test_the_audit_chain_head_is_read_by_walking_its_index(app, owner_engine):
    # With stale statistics the planner read and sorted every event of the tenant at each append.
    assert {"enable_bitmapscan=off", "enable_seqscan=off"} <= _settings(owner_engine, "audit_append")
