"""Pages and the API read one table of capabilities: for the same action, the page and the API route need the same
capability, and every role of the tenant is let through by both or refused (403) by both, as the table says."""
import pytest
from flask import url_for

from tenants.capabilities import ROLES_FOR, Capability, can
from tenants.tenancy.roles import roles_for
from tests.factories import login

# (the page's view, the API's view, the kind of tenant whose members do it): the same action on both sides.
SAME_ACTION = [
    ("account_update", "record_update", "lender"),
    ("tokens", "list_tokens", "lender"),
    ("invite", "invite", "agency"),
    ("audit_log", "list_events", "lender"),
    ("hold_open", "open_hold", "agency"),
    ("consent_record", "put_consent", "lender"),
    ("approval_decide", "decide", "lender"),
    ("template_new", "create_template", "lender"),
    ("template_approve", "approve_template", "lender"),
    ("billing", "billing", "agency"),
    ("import_upload", "upload", "lender"),
    ("column_mapping_save", "replace_column_mapping", "lender"),
    ("commission_list", "list_commission_statements", "lender"),
    ("offer_accept", "accept", "agency"),
    ("agency_add", "add_agency", "lender"),
    ("agency_review", "review", "lender"),
    ("placement_recall", "recall", "lender"),
    ("promise_take", "take_promise", "agency"),
    ("plan_cancel", "cancel_plan", "agency"),
    ("payment_record", "record_payment", "agency"),
    ("payment_record", "record_payment", "lender"),
    ("payment_confirm", "confirm_payment", "lender"),
    ("settlement_propose", "propose_settlement", "agency"),
    ("settlement_decide", "decide_settlement", "lender"),
    ("evidence_upload", "upload_evidence", "agency"),
    ("evidence_download", "evidence_content", "lender"),
    ("dispute_open", "open_dispute", "agency"),
    ("legal_request", "request_escalation", "agency"),
    ("legal_decide", "decide_escalation", "lender"),
    ("agency_complaints", "list_complaints", "agency"),
    ("offers_auto_accept", "change_settings", "agency"),
]


def _rule(app, view: str, prefix: str):
    found = [r for r in app.url_map.iter_rules()
             if r.endpoint.rsplit(".", 1)[-1] == view and r.rule.startswith(prefix)]
    assert found, f"no {prefix} route for {view}"
    return found[0]


def _capability(app, rule):
    return getattr(app.view_functions[rule.endpoint], "required_capability", None)


def test_every_capability_has_its_roles():
    assert set(ROLES_FOR) == set(Capability)


def test_the_page_and_the_api_need_the_same_capability_for_the_same_action(app):
    different = []
    for page_view, api_view, _kind in SAME_ACTION:
        page, api = _rule(app, page_view, "/t/"), _rule(app, api_view, "/api/")
        if _capability(app, page) is None or _capability(app, page) != _capability(app, api):
            different.append(f"{page.rule} needs {_capability(app, page)}, {api.rule} {_capability(app, api)}")
    assert not different, "\n".join(different)


@pytest.mark.parametrize("kind", ["lender", "agency"])
def test_every_role_is_let_through_or_refused_alike_by_page_and_api(app, client, factory, kind):
    world = factory.world(kind)
    ids = {**world.objects, "month": "2026-01"}
    members = {}
    for role in roles_for(kind):
        email = f"{role}-{world.tenant.slug}@capabilities.test"
        factory.user(world.tenant, role, email=email)
        members[role] = (email, {"Authorization": f"Bearer {factory.token(world.tenant, role)[1]}"})
    disagreements = []
    for page_view, api_view, action_kind in SAME_ACTION:
        if action_kind != kind:
            continue
        page, api = _rule(app, page_view, "/t/"), _rule(app, api_view, "/api/")
        capability = _capability(app, page)
        with app.test_request_context():
            page_url = url_for(page.endpoint, tenant_slug=world.tenant.slug,
                               **{a: ids[a] for a in page.arguments - {"tenant_slug"}})
            api_url = url_for(api.endpoint, **{a: ids[a] for a in api.arguments})
        page_method = "POST" if "POST" in page.methods else "GET"
        api_method = sorted(api.methods - {"HEAD", "OPTIONS"})[0]
        for role, (email, bearer) in members.items():
            login(client, email)
            through_page = client.open(page_url, method=page_method, data={}).status_code != 403
            through_api = client.open(api_url, method=api_method, json={}, headers=bearer).status_code != 403
            expected = can(role, capability)
            if (through_page, through_api) != (expected, expected):
                disagreements.append(f"{role} {page_method} {page_url} → {through_page}, {api_method} {api_url} → "
                                     f"{through_api}; {capability} says {expected}")
    assert not disagreements, "\n".join(disagreements)
