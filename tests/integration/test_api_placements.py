"""The placement API: the panel, a weighted placement answered by each agency with its own token, what each side
then sees, recall, the league table, and the 404s that keep tenants apart."""
import uuid
from datetime import timedelta

import pytest

from tenants.context import tenant_scope
from tenants.db import db
from tenants.portfolios.models import Account


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def market(factory, frozen_clock):
    """A lender with 40 accounts and two agencies (not yet on its panel), with tokens for the roles used."""
    lender = factory.tenant("lender")
    agency_a, agency_b = factory.tenant("agency"), factory.tenant("agency")
    portfolio = factory.portfolio(lender)
    accounts = [factory.account(lender, portfolio, days_past_due=10 + 7 * i, principal_minor=100_000 + 997 * i)
                for i in range(40)]

    def token(tenant, role=None):
        return bearer(factory.token(tenant, role)[1])

    return {"lender": lender, "a": agency_a, "b": agency_b, "portfolio": portfolio, "accounts": accounts,
            "token": token}


def add_to_panel(client, market, agency, **overrides):
    body = {"agency_slug": agency.slug, "contract_start": "2026-01-01", "commission_bps": 1500, "period_days": 90,
            "channels": ["call", "sms"], **overrides}
    return client.post("/api/v1/agencies", json=body, headers=market["token"](market["lender"]))


@pytest.fixture
def paneled(client, market):
    assert add_to_panel(client, market, market["a"]).status_code == 201
    assert add_to_panel(client, market, market["b"], commission_bps=2000).status_code == 201
    return market


def place_70_30(client, market, **extra):
    body = {"selection": {"portfolio_id": str(market["portfolio"].id)},
            "agencies": [{"agency_slug": market["a"].slug, "weight": 70},
                         {"agency_slug": market["b"].slug, "weight": 30}], "seed": 7, **extra}
    return client.post("/api/v1/placements", json=body, headers=market["token"](market["lender"], "lender_manager"))


# ---- the panel ----------------------------------------------------------------------------------------------

def test_the_panel_is_built_read_from_both_sides_and_reviewed_yearly(client, factory, market, frozen_clock):
    lender, agency = market["lender"], market["a"]
    manager = market["token"](lender, "lender_manager")
    refused = client.post("/api/v1/agencies", json={"agency_slug": agency.slug}, headers=manager)
    assert refused.status_code == 403, "only a lender admin adds agencies"
    added = add_to_panel(client, market, agency, contract_end="2028-06-30")
    assert added.status_code == 201, added.json
    assert (added.json["next_review_on"], added.json["review_due"]) == ("2027-01-01", False)
    assert added.json["agency"]["slug"] == agency.slug and added.json["lender"]["slug"] == lender.slug
    assert add_to_panel(client, market, agency).json["error"]["code"] == "agency.already_on_panel"
    unknown = add_to_panel(client, market, factory.tenant("lender"))
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "agency.not_found"
    bad = add_to_panel(client, market, market["b"], commission_bps=20_000, channels=["fax"])
    assert bad.status_code == 422
    assert {"commission_bps", "channels"} <= set(bad.json["error"]["details"]["fields"])

    relationship_id = added.json["id"]
    assert [r["id"] for r in client.get("/api/v1/agencies", headers=manager).json["items"]] == [relationship_id]
    agency_token = market["token"](agency, "agency_collector")
    seen_by_agency = client.get("/api/v1/agencies", headers=agency_token).json["items"]
    assert [(r["id"], r["lender"]["slug"]) for r in seen_by_agency] == [(relationship_id, lender.slug)]
    assert client.get(f"/api/v1/agencies/{relationship_id}", headers=agency_token).status_code == 200
    other_agency = market["token"](market["b"])
    assert client.get(f"/api/v1/agencies/{relationship_id}", headers=other_agency).status_code == 404
    assert client.post(f"/api/v1/agencies/{relationship_id}/review", headers=market["token"](agency)).status_code \
        == 404, "the review is the lender's"

    frozen_clock.advance(timedelta(days=31))
    due = client.get(f"/api/v1/agencies/{relationship_id}", headers=manager).json
    assert due["review_due"] is True
    reviewed = client.post(f"/api/v1/agencies/{relationship_id}/review", headers=manager)
    assert reviewed.status_code == 200
    assert (reviewed.json["review_due"], reviewed.json["next_review_on"]) == (False, "2028-01-01")
    analyst = market["token"](lender, "lender_analyst")
    assert client.post(f"/api/v1/agencies/{relationship_id}/review", headers=analyst).status_code == 403


# ---- placing and answering ----------------------------------------------------------------------------------

def test_a_70_30_placement_is_exact_and_each_agency_sees_exactly_its_accounts_once_it_accepts(client, paneled):
    market = paneled
    lender, a, b = market["lender"], market["a"], market["b"]
    created = place_70_30(client, market)
    assert created.status_code == 201, created.json
    batch = created.json
    assert (batch["seed"], batch["accounts"], batch["currency"]) == (7, 40, "CNY")
    assert "28/12" in batch["summary"] and batch["allocation"]["method"] == "stratified-weighted"
    per_agency = {row["agency"]["slug"]: row for row in batch["agencies"]}
    assert (per_agency[a.slug]["accounts"], per_agency[b.slug]["accounts"]) == (28, 12)
    assert per_agency[a.slug]["by_status"] == {"offered": 28}
    assert per_agency[a.slug]["balance_minor"] + per_agency[b.slug]["balance_minor"] == batch["balance_minor"]
    assert batch["criteria"] == {"portfolio_id": str(market["portfolio"].id)}

    lender_token = market["token"](lender)
    placed_with_a = client.get(f"/api/v1/placements?agency_slug={a.slug}&limit=200", headers=lender_token).json
    assert len(placed_with_a["items"]) == 28 and {p["commission_bps"] for p in placed_with_a["items"]} == {1500}
    b_terms = client.get(f"/api/v1/placements?agency_slug={b.slug}&limit=1", headers=lender_token).json["items"]
    assert b_terms[0]["commission_bps"] == 2000, "terms not given come from the panel"

    a_admin, a_collector = market["token"](a, "agency_admin"), market["token"](a, "agency_collector")
    offers = client.get("/api/v1/offers", headers=a_collector).json["items"]
    assert [(o["batch_id"], o["accounts"], o["status"], o["lender_name"]) for o in offers] == [
        (batch["id"], 28, "offered", lender.name)]
    assert client.get("/api/v1/accounts", headers=a_admin).json["items"] == [], "nothing visible before accepting"
    assert client.post(f"/api/v1/placement-batches/{batch['id']}/accept", headers=a_collector).status_code == 403

    accepted = client.post(f"/api/v1/placement-batches/{batch['id']}/accept", headers=a_admin)
    assert accepted.status_code == 200 and accepted.json == {"batch_id": batch["id"], "status": "active",
                                                             "placements": 28}
    again = client.post(f"/api/v1/placement-batches/{batch['id']}/accept", headers=a_admin)
    assert again.status_code == 409 and again.json["error"]["code"] == "placement.already_answered"
    declined = client.post(f"/api/v1/placement-batches/{batch['id']}/decline",
                           headers=market["token"](b, "agency_supervisor"))
    assert declined.json == {"batch_id": batch["id"], "status": "declined", "placements": 12}

    mine = {p["account_id"] for p in placed_with_a["items"]}
    seen = client.get("/api/v1/accounts?limit=200", headers=a_collector).json["items"]
    assert {acc["id"] for acc in seen} == mine and len(seen) == 28
    assert client.get("/api/v1/accounts", headers=market["token"](b)).json["items"] == []
    own_placements = client.get("/api/v1/placements?limit=200", headers=a_collector).json["items"]
    assert {p["account_id"] for p in own_placements} == mine and {p["status"] for p in own_placements} == {"active"}

    slice_a = client.get(f"/api/v1/placement-batches/{batch['id']}", headers=a_collector).json
    assert (slice_a["accounts"], slice_a["by_status"], slice_a["lender"]["slug"]) == (28, {"active": 28}, lender.slug)
    assert [row["agency"]["slug"] for row in slice_a["agencies"]] == [a.slug]
    assert not {"seed", "allocation", "criteria", "terms", "summary"} & set(slice_a), "lender-only fields"
    assert slice_a["balance_minor"] == per_agency[a.slug]["balance_minor"]
    full = client.get(f"/api/v1/placement-batches/{batch['id']}", headers=lender_token).json
    assert full["by_status"] == {"active": 28, "declined": 12} and full["seed"] == 7


def test_placement_input_is_checked(client, factory, paneled):
    market = paneled
    stranger = factory.tenant("agency")
    manager = market["token"](market["lender"], "lender_manager")
    not_on_panel = client.post("/api/v1/placements", json={"agencies": [{"agency_slug": stranger.slug, "weight": 1}]},
                               headers=manager)
    assert not_on_panel.status_code == 422
    assert not_on_panel.json["error"]["code"] == "placement.agency_not_approved"
    assert not_on_panel.json["error"]["details"]["fields"]["agencies"]
    for body, field in [({"agencies": []}, "agencies"),
                        ({"agencies": [{"agency_slug": market["a"].slug, "weight": 0}]}, "agencies"),
                        ({"agencies": [{"agency_slug": market["a"].slug, "weight": 1}] * 2}, "agencies"),
                        ({"agencies": [{"agency_slug": market["a"].slug, "weight": 1}],
                          "terms": {"channels": ["fax"]}}, "terms"),
                        ({"agencies": [{"agency_slug": market["a"].slug, "weight": 1}],
                          "selection": {"dpd_min": -1}}, "selection"),
                        ({"agencies": [{"agency_slug": market["a"].slug, "weight": 1}],
                          "selection": {"balance_min": "lots"}}, "selection")]:
        response = client.post("/api/v1/placements", json=body, headers=manager)
        assert response.status_code == 422 and field in response.json["error"]["details"]["fields"], body
    nothing = client.post("/api/v1/placements", json={"selection": {"dpd_min": 5000},
                                                      "agencies": [{"agency_slug": market["a"].slug, "weight": 1}]},
                          headers=manager)
    assert nothing.status_code == 422 and nothing.json["error"]["code"] == "placement.nothing_selected"
    analyst = market["token"](market["lender"], "lender_analyst")
    assert client.post("/api/v1/placements", json={"agencies": [{"agency_slug": market["a"].slug, "weight": 1}]},
                       headers=analyst).status_code == 403


def test_terms_and_a_selection_by_reference_are_applied(client, paneled):
    market = paneled
    refs = [acc.external_ref for acc in market["accounts"][:3]]
    created = client.post("/api/v1/placements", headers=market["token"](market["lender"]), json={
        "selection": {"external_refs": refs, "balance_min": "1,000"},
        "agencies": [{"agency_slug": market["a"].slug, "weight": 1}],
        "terms": {"commission_bps": 1200, "period_days": 30, "channels": ["sms"],
                  "commission_tiers": [{"min_dpd": 0, "max_dpd": 20, "bps": 900}]}})
    assert created.status_code == 201, created.json
    assert created.json["accounts"] == 3 and created.json["terms"]["commission_bps"] == 1200
    placed = client.get(f"/api/v1/placements?batch_id={created.json['id']}",
                        headers=market["token"](market["lender"])).json["items"]
    assert {(p["commission_bps"], p["ends_on"], tuple(p["allowed_channels"])) for p in placed} == {
        (1200, "2026-12-31", ("sms",))}
    assert placed[0]["commission_tiers"] == [{"min_dpd": 0, "max_dpd": 20, "bps": 900}]


# ---- recall -------------------------------------------------------------------------------------------------

def test_recall_through_the_api(client, db_session, paneled):
    market = paneled
    lender, a = market["lender"], market["a"]
    batch = place_70_30(client, market).json
    client.post(f"/api/v1/placement-batches/{batch['id']}/accept", headers=market["token"](a))
    lender_admin, manager = market["token"](lender), market["token"](lender, "lender_manager")
    with_a = client.get(f"/api/v1/placements?agency_slug={a.slug}&limit=200", headers=manager).json["items"]
    ids = [p["id"] for p in with_a]

    blank = client.post("/api/v1/placements/recall", json={"placement_ids": ids[:2], "reason": " "}, headers=manager)
    assert blank.status_code == 422 and blank.json["error"]["code"] == "recall.reason_required"
    missing = client.post("/api/v1/placements/recall", json={"placement_ids": []}, headers=manager)
    assert missing.status_code == 422 and {"placement_ids", "reason"} <= set(
        missing.json["error"]["details"]["fields"])
    foreign = client.post("/api/v1/placements/recall", json={"placement_ids": [ids[0], str(uuid.uuid4())],
                                                             "reason": "x"}, headers=manager)
    assert foreign.status_code == 404
    assert client.post("/api/v1/placements/recall", json={"placement_ids": ids[:2], "reason": "x"},
                       headers=market["token"](a)).status_code == 404, "agencies cannot recall"
    assert client.post("/api/v1/placements/recall", json={"placement_ids": ids[:2], "reason": "x"},
                       headers=market["token"](lender, "lender_analyst")).status_code == 403

    recalled = client.post("/api/v1/placements/recall", json={"placement_ids": ids[:2], "reason": "quarterly review"},
                           headers=manager)
    assert recalled.status_code == 200 and recalled.json["recalled"] == 2
    assert {(p["status"], p["end_reason"]) for p in recalled.json["items"]} == {("recalled", "quarterly review")}
    assert len(client.get("/api/v1/accounts?limit=200", headers=market["token"](a)).json["items"]) == 26
    history = client.get(f"/api/v1/placements/{ids[0]}", headers=market["token"](a, "agency_collector"))
    assert history.status_code == 200 and history.json["status"] == "recalled", "the agency keeps its history"

    disputed = ids[2]
    with tenant_scope(lender.id):
        db.session.get(Account, uuid.UUID(with_a[2]["account_id"])).disputed = True
        db.session.commit()
    blocked = client.post("/api/v1/placements/recall", json={"placement_ids": [disputed], "reason": "switch"},
                          headers=manager)
    assert blocked.status_code == 409 and blocked.json["error"]["code"] == "recall.blocked"
    assert with_a[2]["account_id"] in blocked.json["error"]["details"]["blocked"]
    not_admin = client.post("/api/v1/placements/recall", json={"placement_ids": [disputed], "reason": "switch",
                                                               "force": True}, headers=manager)
    assert not_admin.status_code == 403 and not_admin.json["error"]["code"] == "recall.force_not_allowed"
    forced = client.post("/api/v1/placements/recall", json={"placement_ids": [disputed], "reason": "switch",
                                                            "force": True}, headers=lender_admin)
    assert forced.status_code == 200 and forced.json["items"][0]["recall_forced"] is True


# ---- the league table and the walls between tenants ---------------------------------------------------------

def test_the_league_table_shows_accepted_placements_with_its_formula(client, paneled):
    market = paneled
    batch = place_70_30(client, market).json
    client.post(f"/api/v1/placement-batches/{batch['id']}/accept", headers=market["token"](market["a"]))
    table = client.get("/api/v1/league-table", headers=market["token"](market["lender"], "lender_analyst"))
    assert table.status_code == 200
    assert table.json["currency"] == "CNY" and "recovered_minor / balance_placed_minor" in table.json["formula"]
    rows = table.json["rows"]
    assert [r["agency_slug"] for r in rows] == [market["a"].slug], "offers not yet answered are left out"
    assert set(rows[0]) == {"agency_slug", "agency_name", "currency", "accounts_active", "accounts_placed",
                            "balance_placed_minor", "recovered_minor", "liquidation_rate"}
    a_balance = next(r for r in batch["agencies"] if r["agency"]["slug"] == market["a"].slug)["balance_minor"]
    assert (rows[0]["accounts_active"], rows[0]["accounts_placed"], rows[0]["balance_placed_minor"],
            rows[0]["liquidation_rate"]) == (28, 28, a_balance, 0.0)
    assert client.get("/api/v1/league-table", headers=market["token"](market["a"])).status_code == 404


def test_agencies_and_other_lenders_get_404_for_what_is_not_theirs(client, factory, paneled):
    market = paneled
    batch = place_70_30(client, market).json
    placements = client.get("/api/v1/placements?limit=200", headers=market["token"](market["lender"])).json["items"]
    b_placement = next(p["id"] for p in placements if p["agency"]["slug"] == market["b"].slug)
    stranger_agency = market["token"](factory.tenant("agency"))
    other_lender = market["token"](factory.tenant("lender"))
    a_token = market["token"](market["a"])

    for headers in (stranger_agency, other_lender):
        assert client.get(f"/api/v1/placement-batches/{batch['id']}", headers=headers).status_code == 404
        assert client.get(f"/api/v1/placements/{b_placement}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/placements/{b_placement}", headers=a_token).status_code == 404, \
        "another agency's placement in the same batch"
    for action in ("accept", "decline"):
        assert client.post(f"/api/v1/placement-batches/{batch['id']}/{action}",
                           headers=stranger_agency).status_code == 404
        assert client.post(f"/api/v1/placement-batches/{batch['id']}/{action}",
                           headers=market["token"](market["lender"])).status_code == 404, "agencies answer"
    for method, url in [("POST", "/api/v1/placements"), ("POST", "/api/v1/placements/recall"),
                        ("GET", "/api/v1/league-table"), ("POST", "/api/v1/agencies")]:
        response = client.open(url, method=method, json={}, headers=a_token)
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found", url
    assert client.get("/api/v1/offers", headers=market["token"](market["lender"])).status_code == 404
    still_offered = client.get(f"/api/v1/placement-batches/{batch['id']}", headers=market["token"](market["lender"]))
    assert still_offered.json["by_status"] == {"offered": 40}, "nothing changed"


def test_placements_are_paginated_oldest_offer_first(client, paneled, frozen_clock):
    market = paneled
    refs = [acc.external_ref for acc in market["accounts"]]
    lender_token = market["token"](market["lender"])
    for chunk in (refs[:2], refs[2:4], refs[4:5]):
        client.post("/api/v1/placements", headers=lender_token, json={
            "selection": {"external_refs": chunk}, "agencies": [{"agency_slug": market["a"].slug, "weight": 1}]})
        frozen_clock.advance(timedelta(minutes=1))
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/placements?limit=2" + (f"&cursor={cursor}" if cursor else ""),
                          headers=lender_token).json
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len({p["id"] for p in seen}) == 5
    assert [p["offered_at"] for p in seen] == sorted(p["offered_at"] for p in seen)


def test_the_openapi_document_lists_the_placement_routes(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/agencies", "/api/v1/agencies/{relationship_id}", "/api/v1/agencies/{relationship_id}/review",
                 "/api/v1/placements", "/api/v1/placements/{placement_id}", "/api/v1/placements/recall",
                 "/api/v1/placement-batches/{batch_id}", "/api/v1/placement-batches/{batch_id}/accept",
                 "/api/v1/placement-batches/{batch_id}/decline", "/api/v1/offers", "/api/v1/league-table"):
        assert path in paths, path


def test_an_agency_admin_turns_on_auto_accept_through_the_api(client, factory):
    agency = factory.tenant("agency")
    _, admin = factory.token(agency, "agency_admin")
    _, collector = factory.token(agency, "agency_collector")
    assert client.put("/api/v1/settings", json={"auto_accept_placements": True},
                      headers={"Authorization": f"Bearer {collector}"}).status_code == 403
    response = client.put("/api/v1/settings", json={"auto_accept_placements": True},
                          headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200 and response.json == {"auto_accept_placements": True}
    wrong_kind = client.put("/api/v1/settings", json={"country": "CN"}, headers={"Authorization": f"Bearer {admin}"})
    assert wrong_kind.status_code == 422 and "country" in wrong_kind.json["error"]["details"]["fields"]
