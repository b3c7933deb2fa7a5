"""One person, one subject, whichever lender's file names them and by what: accounts sharing any identifier (resident
ID, phone, email) share the daily caps and the person-wide holds; a later file that joins two people known apart
merges their counts; no tenant ever sees a subject key."""
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, text

from tenants.conduct import ledger, subjects
from tenants.conduct.service import ConductBlocked
from tenants.context import lock_key, platform_scope, tenant_scope
from tenants.db import db
from tenants.placements import services as placements
from tenants.portfolios.models import Account

from .test_conduct_service import call
from .test_imports import resident_id, upload

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
HEADER = "external_ref,debtor_name,id_number,phone,phone_2,email,principal,days_past_due\n"


def lender_with_file(factory, *, id_number="", phones=("", ""), email=""):
    """A new lender whose file has one debtor with these identifiers, placed with a new agency and accepted."""
    lender, agency = factory.tenant("lender"), factory.tenant("agency")
    factory.panel(lender, agency, channels=["call", "sms", "letter"])
    job = upload(lender, (HEADER + f"L1,张三,{id_number},{phones[0]},{phones[1]},{email},1000,95\n").encode())
    assert job.rows_created == 1, job.rows_failed
    with tenant_scope(lender.id):
        account = db.session.scalar(select(Account).where(Account.external_ref == "L1"))
        batch = placements.place(lender=lender, selection=placements.Selection(external_refs=("L1",)),
                                 weights={agency.id: 1}, terms={}, created_by=None, seed=1, debtors_notified=True)
    with tenant_scope(agency.id):
        placements.respond(batch.id, accept=True)
    return agency, account


def subject_of(account) -> str:
    db.session.expire_all()  # a merge rewrites other tenants' accounts behind this session's back
    with tenant_scope(account.tenant_id):
        return db.session.scalar(select(Account.subject_key).where(Account.id == account.id))


def refused_code(agency, account) -> str:
    with pytest.raises(ConductBlocked) as refused:
        call(agency, account, outcome=None)
    return refused.value.code


def test_a_phone_only_file_finds_the_person_another_lender_knows_by_id_and_phone(db_session, factory, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    a = lender_with_file(factory, id_number=resident_id(31), phones=("13800131000", ""))
    b = lender_with_file(factory, phones=("138 0013 1000", ""))
    assert subject_of(a[1]) == subject_of(b[1])
    call(*a)
    call(*b)
    call(*a)
    assert refused_code(*b) == "conduct.cn.calls.connected"


def test_an_email_alone_links_too(db_session, factory, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    a = lender_with_file(factory, id_number=resident_id(32), phones=("13800132000", ""), email="Zhang@Example.CN")
    b = lender_with_file(factory, phones=("13900132000", ""), email="zhang@example.cn")
    other = lender_with_file(factory, phones=("13700132000", ""), email="li@example.cn")
    assert subject_of(a[1]) == subject_of(b[1]) != subject_of(other[1])


def test_a_later_file_joining_two_people_known_apart_merges_their_counts(db_session, factory, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    by_id = lender_with_file(factory, id_number=resident_id(33), phones=("13800133000", ""))
    by_phone = lender_with_file(factory, phones=("13900133000", ""))
    assert subject_of(by_id[1]) != subject_of(by_phone[1])
    call(*by_id)
    call(*by_id)
    call(*by_phone)
    _, decision = call(*by_phone)
    assert decision.outcome == "allow", "two people as far as anyone knew: four calls between them"

    joining = lender_with_file(factory, id_number=resident_id(33), phones=("13800133000", "13900133000"))
    survivor = subject_of(by_id[1])
    assert subject_of(by_phone[1]) == subject_of(joining[1]) == survivor
    for side in (by_id, by_phone, joining):
        assert refused_code(*side) == "conduct.cn.calls.connected"
    with tenant_scope(by_phone[0].id):
        history, _ = ledger.person(survivor, SHANGHAI_10AM, hold_types=frozenset(), account_id=by_phone[1].id)
    assert len(history) == 4, "every call either side made (a refused one is not in the ledger)"


def test_after_a_merge_a_death_recorded_on_one_side_stops_the_other(db_session, factory, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    by_id = lender_with_file(factory, id_number=resident_id(34), phones=("13800134000", ""))
    by_phone = lender_with_file(factory, phones=("13900134000", ""))
    lender_with_file(factory, id_number=resident_id(34), phones=("13900134000", ""))
    with tenant_scope(by_phone[1].tenant_id):
        db_session.get(Account, by_phone[1].id).deceased = True
        db_session.flush()
    with pytest.raises(ConductBlocked) as refused:
        call(*by_id, outcome=None)
    assert any(hit["action"] == "PAUSE" and "another of their debts" in hit["message_en"]
               for hit in refused.value.details["hits"])


def test_the_accounts_already_stored_are_linked_and_their_ledgers_joined(db_session, factory, frozen_clock, app):
    """What migration 0018 runs on a live database: accounts filed under the ID or under the first phone, as
    imports did before links, become one subject with one history."""
    frozen_clock.set(SHANGHAI_10AM)
    _, agency_a, by_id = factory.placed_account()
    phone_index = by_id.phones[0].phone_index
    with tenant_scope(by_id.tenant_id):
        by_id.id_number_index = by_id.subject_key = f"id-{uuid.uuid4().hex}"
        db_session.flush()
    _, agency_b, by_phone = factory.placed_account()
    with tenant_scope(by_phone.tenant_id):
        by_phone.phones[0].phone_index = by_phone.subject_key = phone_index
        db_session.flush()
    call(agency_a, by_id)
    call(agency_b, by_phone)
    with platform_scope("test: the migration's platform work"):
        subjects.link_stored(db_session.connection(), lock_key())
    assert subject_of(by_id) == subject_of(by_phone)
    call(agency_a, by_id)
    assert refused_code(agency_b, by_phone) == "conduct.cn.calls.connected"


def test_no_tenant_sees_a_subject_key(db_session, factory, frozen_clock):
    """The key is shared with other lenders' debts of the person: what a tenant reads of a decision names only
    'person'. Nothing in the web layer names the column at all."""
    import pathlib

    from tenants.conduct.models import ContactAttempt
    from tenants.conduct.replay import redacted

    frozen_clock.set(SHANGHAI_10AM)
    a = lender_with_file(factory, id_number=resident_id(35), phones=("13800135000", ""))
    b = lender_with_file(factory, phones=("13800135000", ""))
    call(*a)
    record, _ = call(*b)
    with tenant_scope(b[0].id):
        seen = redacted(db_session.get(ContactAttempt, record.id).inputs)
    assert subject_of(a[1]) not in str(seen) and seen["request"]["subject_key"] == "person"
    web = pathlib.Path(__file__).parents[2] / "web"
    naming = [str(path) for path in web.rglob("*") if path.suffix in (".py", ".html")
              and "subject_key" in path.read_text(encoding="utf-8")]
    assert naming == []


@pytest.mark.postgres
def test_the_app_role_can_neither_read_the_links_nor_link_without_the_key(db_session):
    for table in ("subject_links", "subject_aliases"):
        with pytest.raises(Exception) as refused, db_session.begin_nested():
            db_session.execute(text(f"SELECT count(*) FROM {table}"))
        assert "permission denied" in str(refused.value)
    with pytest.raises(Exception) as refused, db_session.begin_nested():
        db_session.execute(text("SELECT * FROM subject_link(ARRAY[gen_random_uuid()], ARRAY['x'], 'guessed')"))
    assert "database lock key refused" in str(refused.value)


def test_accounts_of_one_file_chained_by_shared_identifiers_are_one_subject(db_session):
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    x, p, q, y = (f"{name}-{uuid.uuid4().hex}" for name in "xpqy")
    found = subjects.link({a: [x, p], b: [q, p], c: [q], d: [y]})
    assert found[a] == found[b] == found[c] == x, "named after the first account's first identifier"
    assert found[d] == y
    assert subjects.link({uuid.uuid4(): [p]}).popitem()[1] == x, "a later file finds them by any of them"


def test_merges_chain_and_the_survivor_counts_every_call(db_session, factory, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    people = [f"id-{uuid.uuid4().hex}" for _ in range(3)]
    cases = []
    for identifier in people:
        account_id = uuid.uuid4()
        subject = subjects.link({account_id: [identifier]})[account_id]
        _, agency, account = factory.placed_account(id=account_id, subject_key=subject)
        call(agency, account)
        cases.append((agency, account))
    subjects.link({uuid.uuid4(): people[:2]})
    survivor = subjects.link({uuid.uuid4(): people[1:]}).popitem()[1]
    assert {subject_of(account) for _, account in cases} == {survivor}
    assert len(ledger.history_many({survivor}, SHANGHAI_10AM)[survivor]) == 3
    assert refused_code(*cases[0]) == "conduct.cn.calls.connected"


@pytest.mark.postgres
def test_a_merged_away_key_still_reaches_the_survivors_history(db_session, factory, frozen_clock):
    """A reader holding a key from before a merge (a work queue's page, an attempt under way) is answered from
    the survivor, with the rows under the key it asked for."""
    frozen_clock.set(SHANGHAI_10AM)
    people = [f"id-{uuid.uuid4().hex}" for _ in range(3)]
    old_keys = []
    for identifier in people:
        account_id = uuid.uuid4()
        old_keys.append(subjects.link({account_id: [identifier]})[account_id])
        call(*factory.placed_account(id=account_id, subject_key=old_keys[-1])[1:])
    subjects.link({uuid.uuid4(): people[:2]})
    subjects.link({uuid.uuid4(): people[1:]})
    seen = ledger.history_many(set(old_keys), SHANGHAI_10AM)
    assert sorted(len(seen[key]) for key in old_keys) == [3, 3, 3]
    assert {key: {h.subject_key for h in history} for key, history in seen.items()} == {k: {k} for k in old_keys}
