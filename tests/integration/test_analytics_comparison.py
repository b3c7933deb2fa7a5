"""The champion/challenger comparison reads each placement's stored stratum and, on PostgreSQL, the counts of its
debtor conversations and uncancelled promises that triggers keep (migration 0026). On an allocation of three arms
over several strata — one arm declined, placements recalled, a payment reversed, conversations recorded, corrected
and deleted, promises cancelled, moved and deleted — it gives exactly what the computation it replaced gave:
the strata ranked again by window functions, contacts and promises probed account by account."""

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import Float, Integer, cast, exists, func, select

from tenants.analytics import comparison
from tenants.analytics.common import Viewer, bounds_of, bucket_labels, sql_bucket
from tenants.casework import payments
from tenants.casework.money_models import Promise, PromiseStatus
from tenants.conduct.models import ContactAttempt
from tenants.context import tenant_scope
from tenants.db import db
from tenants.placements import services as placements
from tenants.placements.models import Placement
from tests.integration.test_analytics import at, pay

pytestmark = pytest.mark.postgres

TODAY = date(2026, 12, 7)


def rebuilt_rows(batch, currency: str):
    """The comparison's statement before migration 0026, kept here as the reference: each stratum rebuilt from the
    placements' DPD and balance at placement, contacted and promised probed per account."""
    bounds = bounds_of((batch.allocation or {}).get("dpd_buckets") or bucket_labels())
    base = (
        select(
            Placement.id,
            Placement.agency_tenant_id.label("arm"),
            Placement.balance_at_placement_minor.label("x"),
            Placement.recovered_minor.label("y"),
            sql_bucket(Placement.dpd_at_placement, bounds).label("bucket"),
            exists()
            .where(
                ContactAttempt.account_id == Placement.account_id,
                ContactAttempt.placement_id == Placement.id,
                ContactAttempt.target == "debtor",
                ContactAttempt.conversation.is_(True),
            )
            .label("contacted"),
            exists()
            .where(Promise.placement_id == Placement.id, Promise.status != PromiseStatus.CANCELLED)
            .label("promised"),
            Placement.account_id,
        )
        .where(Placement.batch_id == batch.id, Placement.currency == currency)
        .subquery()
    )
    ranked = select(
        base,
        (func.row_number().over(partition_by=base.c.bucket, order_by=(base.c.x, base.c.account_id)) - 1).label("rn"),
        func.count().over(partition_by=base.c.bucket).label("nb"),
    ).subquery()
    band = ((func.least(comparison.BANDS, ranked.c.nb) * (ranked.c.rn + 1) - 1) // ranked.c.nb).label("band")
    x, y = cast(ranked.c.x, Float), cast(ranked.c.y, Float)
    one = lambda flag: func.sum(cast(flag, Integer))  # noqa: E731
    return db.session.execute(
        select(
            ranked.c.bucket,
            band,
            ranked.c.arm,
            func.count(),
            func.sum(x),
            func.sum(y),
            func.sum(x * x),
            func.sum(y * y),
            func.sum(x * y),
            one(ranked.c.contacted),
            one(ranked.c.promised),
            one(ranked.c.y > 0),
        )
        .group_by(ranked.c.bucket, band, ranked.c.arm)
        .order_by(ranked.c.bucket, band, ranked.c.arm)
    ).all()


def attempt(agency, lender, account_id, placement_id, *, target="debtor", conversation=True):
    row = ContactAttempt(
        tenant_id=agency.id,
        lender_tenant_id=lender.id,
        account_id=account_id,
        placement_id=placement_id,
        channel="call",
        target=target,
        status="completed",
        decision="allow",
        rulebook_version="test",
        hits=[],
        inputs={},
        decided_at=datetime(2026, 10, 2, 3, tzinfo=timezone.utc),
        outcome_code="right_party_contact",
        connected=conversation,
        conversation=conversation,
    )
    db.session.add(row)
    db.session.flush()
    return row


def promise(agency, lender, account_id, placement_id, status=PromiseStatus.OPEN):
    row = Promise(
        tenant_id=agency.id,
        lender_tenant_id=lender.id,
        account_id=account_id,
        placement_id=placement_id,
        amount_minor=10_000,
        currency="CNY",
        taken_on=date(2026, 10, 3),
        due_on=date(2026, 10, 10),
        grace_days=2,
        zone="Asia/Shanghai",
        status=status,
        paid_minor=0,
    )
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def three_arms(factory, db_session, frozen_clock):
    """Jade splits 90 accounts of four DPD buckets 3:2:1 between Alpha, Beta and Gamma on 1 September (balances
    repeat, so ties are broken by account id); Gamma declines its share. Through October and November, money,
    conversations and promises come and some go again."""
    jade = factory.tenant("lender", name="Jade Lending")
    alpha = factory.tenant("agency", name="Alpha Collect")
    beta = factory.tenant("agency", name="Beta Recovery")
    gamma = factory.tenant("agency", name="Gamma Partners")
    for agency in (alpha, beta, gamma):
        factory.panel(jade, agency)
    factory.user(jade, "lender_analyst", email="analyst@jade.test")
    accounts = [
        factory.account(jade, days_past_due=(12, 47, 150, 420)[i % 4], principal_minor=100_000 + 25_000 * (i % 7))
        for i in range(90)
    ]
    at(frozen_clock, 2026, 9, 1)
    with tenant_scope(jade.id):
        batch = placements.place(
            lender=jade,
            selection=placements.Selection(external_refs=tuple(a.external_ref for a in accounts)),
            weights={alpha.id: 3, beta.id: 2, gamma.id: 1},
            terms={},
            created_by=None,
            seed=11,
            debtors_notified=True,
        )
        placed = {p.account_id: (p.id, p.agency_tenant_id) for p in placements.batch_placements(batch)}
    for agency, accept in ((alpha, True), (beta, True), (gamma, False)):
        with tenant_scope(agency.id):
            placements.respond(batch.id, accept=accept)
    held = {
        agency.id: [(a, *placed[a.id]) for a in accounts if placed[a.id][1] == agency.id]
        for agency in (alpha, beta, gamma)
    }

    at(frozen_clock, 2026, 10, 1)
    paid = []
    for account, _placement, _agency in held[alpha.id][::4] + held[beta.id][::3]:
        paid.append(pay(jade, account, "300.00", date(2026, 10, 1)))
    for agency in (alpha, beta):
        with tenant_scope(agency.id):
            rows = held[agency.id]
            talks = [attempt(agency, jade, a.id, p) for a, p, _ in rows[::2]]
            attempt(agency, jade, rows[0][0].id, rows[0][1])  # a second conversation on the same placement
            attempt(agency, jade, rows[1][0].id, rows[1][1], conversation=False)
            attempt(agency, jade, rows[3][0].id, rows[3][1], target="third_party")
            attempt(agency, jade, rows[5][0].id, rows[7][1])  # names another account's placement: not a contact
            later = attempt(agency, jade, rows[9][0].id, rows[9][1], conversation=False)
            later.conversation = True  # the outcome recorded afterwards
            talks[1].conversation = False  # corrected: no conversation after all
            db.session.delete(talks[2])
            promises = [promise(agency, jade, a.id, p) for a, p, _ in rows[1::3]]
            promise(agency, jade, rows[4][0].id, rows[4][1], status=PromiseStatus.KEPT)
            promises[0].status = PromiseStatus.CANCELLED
            promises[1].status = PromiseStatus.KEPT
            promises[2].placement_id = rows[6][1]
            db.session.delete(promises[3])
            promise(agency, jade, rows[8][0].id, rows[8][1], status=PromiseStatus.CANCELLED)
            db.session.flush()
    at(frozen_clock, 2026, 11, 2)
    with tenant_scope(jade.id):
        placements.recall([p for _a, p, _ in held[alpha.id][1:6]], reason="returned", force=False, role="lender_admin")
        payments.reverse(paid[0], "bounced", None)
    at(frozen_clock, 2026, 12, 7)
    return dict(jade=jade, alpha=alpha, beta=beta, gamma=gamma, batch=batch)


def test_the_stored_strata_and_counts_give_exactly_the_comparison_they_replaced(three_arms, monkeypatch):
    jade = three_arms["jade"]
    with tenant_scope(jade.id):
        batch = placements.get_batch(three_arms["batch"].id)
        fast = [tuple(row) for row in comparison._strata_rows(batch, "CNY")]
        reference = [tuple(row) for row in rebuilt_rows(batch, "CNY")]
        found = comparison.compare(Viewer.of(jade), batch.id, today=TODAY)
        monkeypatch.setattr(comparison, "_strata_rows", rebuilt_rows)
        expected = comparison.compare(Viewer.of(jade), batch.id, today=TODAY)
    assert fast == reference
    assert found == expected
    # Not vacuous: several strata, three arms, every kind of count present, the declined arm still counted.
    assert len({(bucket, band) for bucket, band, *_ in fast}) >= 12
    assert {arm for _b, _q, arm, *_ in fast} == {three_arms[k].id for k in ("alpha", "beta", "gamma")}
    contacted, promised, paying = (sum(row[i] for row in fast) for i in (9, 10, 11))
    assert contacted > 5 and promised > 3 and paying > 5
    assert found.left_out + sum(a.accounts for a in found.arms) == 90


def test_the_counts_follow_each_conversation_and_promise(three_arms):
    """The triggers' counts equal a count of the rows themselves, placement by placement."""
    jade = three_arms["jade"]
    with tenant_scope(jade.id):
        rows = db.session.execute(
            select(
                Placement.debtor_conversations,
                Placement.uncancelled_promises,
                select(func.count())
                .where(
                    ContactAttempt.placement_id == Placement.id,
                    ContactAttempt.account_id == Placement.account_id,
                    ContactAttempt.target == "debtor",
                    ContactAttempt.conversation.is_(True),
                )
                .scalar_subquery(),
                select(func.count())
                .where(Promise.placement_id == Placement.id, Promise.status != PromiseStatus.CANCELLED)
                .scalar_subquery(),
            ).where(Placement.batch_id == three_arms["batch"].id)
        ).all()
    assert [(conversations, promises) for conversations, promises, _c, _p in rows] == [
        (c, p) for _conversations, _promises, c, p in rows
    ]
    assert max(conversations for conversations, *_ in rows) == 2
