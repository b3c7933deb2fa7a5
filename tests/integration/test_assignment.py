"""Supervisors hand out an agency's cases: by hand, round-robin over chosen collectors, or by region; they reassign
and release; every change is in the audit trail; collectors cannot assign, and another agency's cases are 404."""
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from tenants.audit import AuditEvent
from tenants.casework import assignment
from tenants.casework.desk_models import CaseAssignment
from tenants.context import tenant_scope
from tenants.db import db
from tenants.placements import services as placements
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant, User
from tests.factories import login

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


@dataclass
class Desk:
    """A lender, an agency holding its placed accounts, a supervisor and collectors (emails log in)."""

    lender: Tenant
    agency: Tenant
    accounts: list[Account]
    supervisor: User
    supervisor_email: str
    collectors: list[User]
    collector_emails: list[str]
    ids: list = field(default_factory=list)

    def bearer(self, factory, role="agency_supervisor", user: User | None = None) -> dict:
        token, secret = factory.token(self.agency, role)
        with tenant_scope(self.agency.id):  # a token acts for the member who made it
            token.created_by_user_id = (user or self.supervisor).id
            db.session.flush()
        return {"Authorization": f"Bearer {secret}"}


_desks = iter(range(10**6))


def make_desk(factory, accounts=(), *, collectors=2, channels=("call", "sms", "letter"), lender_values=None,
              notified=True) -> Desk:
    """`accounts`: one dict of account values per account (at least one account)."""
    n = next(_desks)
    lender = factory.tenant("lender", **(lender_values or {}))
    agency = factory.tenant("agency")
    factory.panel(lender, agency, channels=list(channels))
    portfolio = factory.portfolio(lender)
    made = [factory.account(lender, portfolio, **values) for values in (list(accounts) or [{}])]
    with tenant_scope(lender.id):
        batch = placements.place(lender=lender, selection=placements.Selection(
            external_refs=tuple(a.external_ref for a in made)), weights={agency.id: 1}, terms={}, created_by=None,
            seed=1, debtors_notified=notified)
    with tenant_scope(agency.id):
        placements.respond(batch.id, accept=True)
    supervisor_email = f"supervisor{n}@desk.test"
    supervisor, _ = factory.user(agency, "agency_supervisor", email=supervisor_email)
    emails = [f"collector{n}-{i}@desk.test" for i in range(collectors)]
    users = [factory.user(agency, "agency_collector", email=email)[0] for email in emails]
    return Desk(lender, agency, made, supervisor, supervisor_email, users, emails, [a.id for a in made])


def current_collectors(desk: Desk) -> dict:
    with tenant_scope(desk.agency.id):
        return {k: v.collector_user_id for k, v in assignment.current(desk.ids).items()}


def audit_actions(desk: Desk, account_id) -> list[tuple]:
    with tenant_scope(desk.agency.id):
        events = select(AuditEvent).where(AuditEvent.object_type == "account",
                                          AuditEvent.object_id == str(account_id)).order_by(AuditEvent.seq)
        return [(e.action, e.before, e.after) for e in db.session.scalars(events)]


@pytest.fixture
def desk(factory, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    return make_desk(factory, [dict(region="上海", principal_minor=900_000),
                               dict(region="北京", principal_minor=50_000),
                               dict(region="北京", principal_minor=300_000), dict(region=None)])


def test_a_supervisor_assigns_by_hand_then_reassigns_and_both_are_audited(client, desk):
    first, second = desk.collectors
    login(client, desk.supervisor_email)
    response = client.post(f"/t/{desk.agency.slug}/team/assign",
                           data={"action": "hand", "target": "selected", "collector": str(first.id),
                                 "account_ids": [str(desk.ids[0]), str(desk.ids[1])]})
    assert response.status_code == 302
    assert "2 case(s) assigned" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert current_collectors(desk) == {desk.ids[0]: first.id, desk.ids[1]: first.id}

    client.post(f"/t/{desk.agency.slug}/team/assign", data={"action": "hand", "collector": str(second.id),
                                                            "account_ids": [str(desk.ids[1])]})
    assert current_collectors(desk) == {desk.ids[0]: first.id, desk.ids[1]: second.id}
    actions = audit_actions(desk, desk.ids[1])
    assert actions[0] == ("case.assigned", None, {"collector_user_id": str(first.id), "method": "hand"})
    assert actions[1] == ("case.reassigned", {"collector_user_id": str(first.id)},
                          {"collector_user_id": str(second.id), "method": "hand"})
    with tenant_scope(desk.agency.id):
        history = [(a.collector_user_id, a.ended_at is None) for a in
                   db.session.scalars(select(CaseAssignment).where(CaseAssignment.account_id == desk.ids[1])
                                                 .order_by(CaseAssignment.assigned_at, CaseAssignment.ended_at))]
    assert sorted(history, key=lambda h: h[1]) == [(first.id, False), (second.id, True)]


def test_round_robin_deals_the_cases_in_turn_largest_balance_to_the_least_loaded_collector(client, desk):
    first, second = desk.collectors
    with tenant_scope(desk.agency.id):
        assignment.assign([desk.ids[3]], second.id, by_user_id=desk.supervisor.id)  # second already holds one
    login(client, desk.supervisor_email)
    client.post(f"/t/{desk.agency.slug}/team/assign?held=unassigned",
                data={"action": "round_robin", "target": "matching", "collectors": [str(second.id), str(first.id)]})
    # by balance: ids[0] (9 000), ids[2] (3 000), ids[1] (500): dealt first, second, first
    assert current_collectors(desk) == {desk.ids[0]: first.id, desk.ids[2]: second.id, desk.ids[1]: first.id,
                                        desk.ids[3]: second.id}
    assert audit_actions(desk, desk.ids[2])[-1][2]["method"] == "round_robin"


def test_by_region_each_case_goes_to_its_regions_collector_and_unmapped_ones_stay_unassigned(client, desk):
    first, second = desk.collectors
    login(client, desk.supervisor_email)
    page = client.get(f"/t/{desk.agency.slug}/team/assign").get_data(as_text=True)
    assert "上海" in page and "北京" in page
    response = client.post(f"/t/{desk.agency.slug}/team/assign",
                           data={"action": "region", "target": "matching", "name-1": "上海", "region-1": str(first.id),
                                 "name-2": "北京", "region-2": str(second.id)})
    assert "3 case(s) assigned, 0 already with that collector, 1 left as they were" in \
        client.get(response.headers["Location"]).get_data(as_text=True)
    assert current_collectors(desk) == {desk.ids[0]: first.id, desk.ids[1]: second.id, desk.ids[2]: second.id}
    unassigned = client.get(f"/t/{desk.agency.slug}/team/assign?held=unassigned").get_data(as_text=True)
    assert desk.accounts[3].external_ref in unassigned and desk.accounts[0].external_ref not in unassigned


def test_release_returns_cases_to_the_unassigned_pile(client, desk):
    with tenant_scope(desk.agency.id):
        assignment.assign(desk.ids, desk.collectors[0].id, by_user_id=desk.supervisor.id)
    login(client, desk.supervisor_email)
    client.post(f"/t/{desk.agency.slug}/team/assign", data={"action": "release", "account_ids": [str(desk.ids[0])]})
    assert desk.ids[0] not in current_collectors(desk)
    assert audit_actions(desk, desk.ids[0])[-1][0] == "case.unassigned"


def test_a_collector_may_not_assign(client, desk, factory):
    login(client, desk.collector_emails[0])
    assert client.get(f"/t/{desk.agency.slug}/team/assign").status_code == 403
    response = client.post(f"/t/{desk.agency.slug}/team/assign",
                           data={"action": "hand", "collector": str(desk.collectors[0].id),
                                 "account_ids": [str(desk.ids[0])]})
    assert response.status_code == 403
    response = client.post("/api/v1/assignments", json={"method": "hand", "account_ids": [str(desk.ids[0])],
                                                        "collector_user_id": str(desk.collectors[0].id)},
                           headers=desk.bearer(factory, "agency_collector", desk.collectors[0]))
    assert response.status_code == 403 and response.json["error"]["code"] == "assignment.supervisors_only"
    assert current_collectors(desk) == {}


def test_cases_go_only_to_active_collectors_of_the_agency_and_only_its_own_cases(client, desk, factory):
    other = make_desk(factory)
    headers = desk.bearer(factory)
    foreign_collector = client.post("/api/v1/assignments", headers=headers, json={
        "method": "hand", "account_ids": [str(desk.ids[0])], "collector_user_id": str(other.collectors[0].id)})
    assert foreign_collector.status_code == 404
    assert foreign_collector.json["error"]["code"] == "member.not_found"
    foreign_case = client.post("/api/v1/assignments", headers=headers, json={
        "method": "hand", "account_ids": [str(other.ids[0])], "collector_user_id": str(desk.collectors[0].id)})
    assert foreign_case.status_code == 404
    assert current_collectors(desk) == {} and current_collectors(other) == {}


def test_the_api_assigns_round_robin_by_region_and_releases(client, desk, factory):
    first, second = desk.collectors
    headers = desk.bearer(factory)
    dealt = client.post("/api/v1/assignments", headers=headers, json={
        "method": "round_robin", "unassigned": True, "collector_user_ids": [str(first.id), str(second.id)]})
    assert dealt.status_code == 200, dealt.json
    assert sorted(dealt.json["assigned"].values()).count(str(first.id)) == 2
    regional = client.post("/api/v1/assignments", headers=headers, json={
        "method": "region", "account_ids": [str(i) for i in desk.ids], "regions": {"北京": str(first.id)}})
    assert regional.status_code == 200, regional.json
    assert set(regional.json["skipped"]) == {str(desk.ids[0]), str(desk.ids[3])}
    assert current_collectors(desk)[desk.ids[2]] == first.id
    released = client.post("/api/v1/assignments", headers=headers,
                           json={"method": "release", "account_ids": [str(desk.ids[2])]})
    assert released.json["released"] == [str(desk.ids[2])]
    assert desk.ids[2] not in current_collectors(desk)


def test_a_recalled_case_leaves_its_collector_and_a_new_placement_starts_unassigned(desk):
    collector = desk.collectors[0]
    with tenant_scope(desk.agency.id):
        assignment.assign(desk.ids, collector.id, by_user_id=desk.supervisor.id)
        placement_id = assignment.held_placement(desk.ids[0]).id
    with tenant_scope(desk.lender.id):
        placements.recall([placement_id], reason="back to us", force=False, role="lender_admin")
    assert desk.ids[0] not in current_collectors(desk)
    with tenant_scope(desk.agency.id):
        assert {a.user_id: a.cases for a in assignment.assignees()}[collector.id] == 3
    with tenant_scope(desk.lender.id):
        batch = placements.place(lender=desk.lender, selection=placements.Selection(
            external_refs=(desk.accounts[0].external_ref,)), weights={desk.agency.id: 1}, terms={}, created_by=None,
            seed=2, debtors_notified=True)
    with tenant_scope(desk.agency.id):
        placements.respond(batch.id, accept=True)
    assert desk.ids[0] not in current_collectors(desk)
    with tenant_scope(desk.agency.id):
        assignment.assign([desk.ids[0]], collector.id, by_user_id=desk.supervisor.id)
    assert current_collectors(desk)[desk.ids[0]] == collector.id
