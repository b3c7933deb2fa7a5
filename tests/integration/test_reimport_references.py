"""A re-import never fails because attempts name the account's third parties: a contact still in the file keeps its
row (attempt history stays meaningful), one dropped from the file is retired (kept for the attempts that name it,
no longer listed or contactable), and one that comes back takes up its old row again."""
import io
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tenants.conduct import service as conduct
from tenants.conduct.models import ContactAttempt
from tenants.context import tenant_scope
from tenants.db import db
from tenants.errors import ValidationFailed
from tenants.placements import services as placements
from tenants.portfolios import imports
from tenants.portfolios.models import Account, ImportStatus, ThirdPartyContact
from tenants.tenancy.roles import TenantKind

HEADER = "external_ref,debtor_name,principal,days_past_due,phone,third_party_name,third_party_phone," \
         "third_party_relationship,third_party_name_2,third_party_phone_2,third_party_relationship_2\n"
MOTHER = ("Li Mei", "13900001111", "mother")
COLLEAGUE = ("Zhao Gang", "13900002222", "colleague")
SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
SHANGHAI_11PM = datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc)


def _file(*contacts) -> bytes:
    cells = [c for contact in contacts for c in contact] + [""] * 3 * (2 - len(contacts))
    return (HEADER + ",".join(["R-1", "Ann Lee", "100", "40", "13800001234", *cells]) + "\n").encode()


@pytest.fixture
def case(factory, frozen_clock):
    """An account imported with its debtor's mother as a contact, placed with an agency that accepted it, whose
    debtor three calls failed to reach yesterday (so the mother may be asked where to find them today)."""
    frozen_clock.set(SHANGHAI_10AM)
    lender, agency = factory.tenant(TenantKind.LENDER), factory.tenant(TenantKind.AGENCY)
    factory.panel(lender, agency)
    with tenant_scope(lender.id):
        portfolio = imports.get_or_create_portfolio("Re-imported")
    case = {"lender": lender, "agency": agency, "portfolio": portfolio}
    assert upload(case, _file(MOTHER)) == ImportStatus.COMPLETED
    with tenant_scope(lender.id):
        account_id = db.session.scalar(select(Account.id).where(Account.external_ref == "R-1"))
        batch = placements.place(lender=lender, selection=placements.Selection(external_refs=("R-1",)),
                                 weights={agency.id: 1}, terms={}, created_by=None, seed=1, debtors_notified=True)
    with tenant_scope(agency.id):
        placements.respond(batch.id, accept=True)
        frozen_clock.set(SHANGHAI_10AM - timedelta(days=1))
        for _ in range(3):
            unanswered, _ = conduct.attempt(account_id, conduct.AttemptRequest(channel="call"), collector_user_id=None)
            conduct.record_outcome(unanswered.id, "no_answer")
    frozen_clock.set(SHANGHAI_10AM)
    return {**case, "account_id": account_id}


def upload(case, data: bytes) -> str:
    with tenant_scope(case["lender"].id):
        job = imports.create_import(portfolio=case["portfolio"], filename="r.csv", stream=io.BytesIO(data),
                                    mapping=None, uploaded_by=None)
        return imports.run_import(job.id).status


def contacts(case) -> list[tuple[uuid.UUID, str]]:
    with tenant_scope(case["lender"].id):
        account = db.session.get(Account, case["account_id"], populate_existing=True)
        return [(c.id, c.name) for c in account.third_parties]


def call_third_party(case, third_party_id) -> ContactAttempt:
    """The agency calls the contact; a refusal is recorded all the same."""
    ask = conduct.AttemptRequest(channel="call", target="third_party", third_party_id=third_party_id,
                                 purpose="locate")
    with tenant_scope(case["agency"].id):
        try:
            return conduct.attempt(case["account_id"], ask, collector_user_id=None)[0]
        except conduct.ConductBlocked as refused:
            return db.session.get(ContactAttempt, uuid.UUID(refused.details["attempt_id"]))


def test_reimporting_an_account_whose_third_parties_were_called_completes_and_keeps_their_history(case,
                                                                                                  frozen_clock):
    [(mother_id, _)] = contacts(case)
    allowed = call_third_party(case, mother_id)
    frozen_clock.set(SHANGHAI_11PM)
    blocked = call_third_party(case, mother_id)
    assert (allowed.status, blocked.status) == ("pending", "blocked")

    assert upload(case, _file(MOTHER)) == ImportStatus.COMPLETED
    assert contacts(case) == [(mother_id, "Li Mei")], "the same file keeps the same row"

    assert upload(case, _file(COLLEAGUE, MOTHER)) == ImportStatus.COMPLETED
    listed = contacts(case)
    assert [name for _, name in listed] == ["Zhao Gang", "Li Mei"] and listed[1][0] == mother_id

    assert upload(case, _file(COLLEAGUE)) == ImportStatus.COMPLETED
    assert [name for _, name in contacts(case)] == ["Zhao Gang"], "the mother is no longer a contact"
    with tenant_scope(case["agency"].id):
        assert {a.third_party_id for a in db.session.scalars(select(ContactAttempt).where(
            ContactAttempt.id.in_([allowed.id, blocked.id])))} == {mother_id}, "the attempts still say whom"
    frozen_clock.set(SHANGHAI_10AM)
    with pytest.raises(ValidationFailed) as refused:
        call_third_party(case, mother_id)
    assert refused.value.details["fields"]["third_party_id"] == ["No longer a contact of this account."]

    assert upload(case, _file(MOTHER, COLLEAGUE)) == ImportStatus.COMPLETED
    assert contacts(case)[0] == (mother_id, "Li Mei"), "back in the file, back on her old row"


def test_a_dropped_contact_nobody_called_is_deleted(case):
    assert upload(case, _file(COLLEAGUE)) == ImportStatus.COMPLETED
    with tenant_scope(case["lender"].id):
        kept = db.session.scalars(select(ThirdPartyContact.name).where(
            ThirdPartyContact.account_id == case["account_id"])).all()
    assert kept == ["Zhao Gang"]
