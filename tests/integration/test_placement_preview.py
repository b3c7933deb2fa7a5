"""A lender previews a placement — count, balance, DPD and balance mix per agency — and confirming places exactly
what was previewed; the preview itself writes nothing, and a selection that changed since is previewed again."""
import re

import pytest
from sqlalchemy import func, select

from tenants.audit import AuditEvent
from tenants.context import tenant_scope
from tenants.db import db
from tenants.errors import Conflict
from tenants.placements import services as placements
from tenants.placements.models import Placement, PlacementBatch
from tests.factories import login


@pytest.fixture
def setup(factory, frozen_clock):
    lender = factory.tenant("lender", name="Eastern Lending")
    factory.user(lender, "lender_manager", email=f"manager-{lender.slug}@lender.test")
    champion = factory.tenant("agency", name="Champion Collect")
    challenger = factory.tenant("agency", name="Challenger Recovery")
    factory.panel(lender, champion)
    factory.panel(lender, challenger)
    portfolio = factory.portfolio(lender)
    accounts = [factory.account(lender, portfolio, days_past_due=10 + 7 * i, principal_minor=100_000 + 997 * i)
                for i in range(40)]
    db.session.commit()
    return lender, champion, challenger, accounts


def _form(champion, challenger, **extra) -> dict:
    return {"agency_1": str(champion.id), "weight_1": "70", "agency_2": str(challenger.id), "weight_2": "30",
            **extra}


def _counts(lender) -> tuple[int, int, int]:
    with tenant_scope(lender.id):
        return tuple(db.session.scalar(select(func.count()).select_from(model))
                     for model in (Placement, PlacementBatch, AuditEvent))


def test_the_preview_splits_like_placing_and_writes_nothing(db_session, setup):
    lender, champion, challenger, accounts = setup
    before = _counts(lender)
    with tenant_scope(lender.id):
        preview = placements.preview(lender=lender, selection=placements.Selection(),
                                     weights={champion.id: 70, challenger.id: 30}, terms={}, seed=7)
    assert _counts(lender) == before
    assert preview.accounts == 40 and preview.seed == 7
    assert preview.balance_minor == sum(a.outstanding_minor for a in accounts)
    by_name = {a.name: a for a in preview.agencies}
    assert (by_name["Champion Collect"].accounts, by_name["Challenger Recovery"].accounts) == (28, 12)
    assert sum(a.balance_minor for a in preview.agencies) == preview.balance_minor
    for agency in preview.agencies:
        assert sum(agency.by_dpd) == sum(agency.by_balance) == agency.accounts
    assert len(preview.balance_bands) == 4 and preview.balance_bands[0][0] == min(a.outstanding_minor
                                                                                  for a in accounts)

    with tenant_scope(lender.id):
        batch = placements.place(lender=lender, selection=placements.Selection(),
                                 weights={champion.id: 70, challenger.id: 30}, terms={}, created_by=None,
                                 seed=preview.seed, expected_accounts=preview.accounts)
        placed = {a.agency_tenant_id: 0 for a in placements.batch_placements(batch)}
        for placement in placements.batch_placements(batch):
            placed[placement.agency_tenant_id] += placement.balance_at_placement_minor
    assert placed == {a.agency_id: a.balance_minor for a in preview.agencies}


def test_a_selection_that_changed_since_the_preview_is_refused(db_session, factory, setup):
    lender, champion, challenger, accounts = setup
    factory.account(lender, days_past_due=30)
    with tenant_scope(lender.id), pytest.raises(Conflict) as refused:
        placements.place(lender=lender, selection=placements.Selection(), weights={champion.id: 1}, terms={},
                         created_by=None, seed=7, expected_accounts=40)
    assert refused.value.code == "placement.selection_changed"
    assert refused.value.details == {"previewed": 40, "now": 41}


def test_the_page_previews_then_confirms(client, db_session, setup):
    lender, champion, challenger, _accounts = setup
    login(client, f"manager-{lender.slug}@lender.test")
    previewed = client.post(f"/t/{lender.slug}/placements/preview", data=_form(champion, challenger))
    page = previewed.get_data(as_text=True)
    assert previewed.status_code == 200 and 'id="placement-preview"' in page
    assert "40 accounts with" in page and "Confirm: place 40 accounts" in page
    agencies = page.split('id="preview-agencies"')[1].split("</table>")[0]
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", agencies))
    assert "Champion Collect 70 28 (70.0%)" in cells and "Challenger Recovery 30 12 (30.0%)" in cells
    assert _counts(lender)[0] == 0

    confirm = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                              page.split('id="confirm-form"')[1].split("</form>")[0]))
    assert confirm["expected_accounts"] == "40" and confirm["seed"].isdigit()
    placed = client.post(f"/t/{lender.slug}/placements", data=confirm)
    assert placed.status_code == 302
    batch = client.get(placed.headers["Location"]).get_data(as_text=True)
    assert "40 accounts split 28/12" in batch and f"seed {confirm['seed']}" in batch


def test_the_preview_explains_what_is_wrong_like_the_form(client, db_session, setup):
    lender, champion, challenger, _accounts = setup
    login(client, f"manager-{lender.slug}@lender.test")
    nothing = client.post(f"/t/{lender.slug}/placements/preview", data=_form(champion, challenger, dpd_min="9999"))
    assert nothing.status_code == 422
    assert "No open, unplaced account matches this selection." in nothing.get_data(as_text=True)
    assert 'id="placement-preview"' not in nothing.get_data(as_text=True)


def test_the_api_previews_and_places_the_preview(client, db_session, factory, setup):
    lender, champion, challenger, _accounts = setup
    headers = {"Authorization": f"Bearer {factory.token(lender, 'lender_manager')[1]}"}
    body = {"agencies": [{"agency_slug": champion.slug, "weight": 70}, {"agency_slug": challenger.slug,
                                                                        "weight": 30}]}
    preview = client.post("/api/v1/placements/preview", json=body, headers=headers)
    assert preview.status_code == 200 and _counts(lender)[0] == 0
    found = preview.json
    assert found["accounts"] == 40 and len(found["balance_bands"]) == 4
    champion_row = next(a for a in found["agencies"] if a["agency"]["slug"] == champion.slug)
    assert champion_row["accounts"] == 28 and sum(champion_row["by_dpd_bucket"].values()) == 28
    placed = client.post("/api/v1/placements", headers=headers,
                         json={**body, "seed": found["seed"], "expected_accounts": found["accounts"]})
    assert placed.status_code == 201
    again = client.post("/api/v1/placements", headers=headers,
                        json={**body, "seed": found["seed"], "expected_accounts": 40})
    assert again.status_code == 422 and again.json["error"]["code"] == "placement.nothing_selected"
