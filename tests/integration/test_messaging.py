"""Message templates and sending: a lender writes, versions and approves templates (never one that breaks the
content rules); an agency sees only the approved templates of the lenders it works for; a message goes out only
when the conduct engine allows it, is delivered exactly once through the outbox gateway, and by SMTP to a real
(local) mail server."""
import email
import re
import socket
import uuid
from datetime import datetime, timezone
from email import policy
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text

from tenants.audit import AuditEvent
from tenants.conduct import baseline
from tenants.context import tenant_scope
from tenants.messaging import gateways
from tenants.messaging.models import MessageStatus, OutboundMessage
from tenants.messaging.sending import deliver
from tenants.outbox import OutboxTask
from tests.conftest import act_as
from tests.factories import login
from workers import jobs

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
SHANGHAI_11PM = datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc)
CN_SMS = "{{ debtor_name }}您好，您在{{ lender_name }}的借款{{ reference }}待还{{ amount_due }}，请尽快处理。回复TD退订"


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def case(factory, db_session, frozen_clock):
    """A lender with an admin token, an agency holding one of its accounts (SMS, email and letters allowed), with
    a collector token, at 10:00 in Shanghai."""
    frozen_clock.set(SHANGHAI_10AM)
    lender, agency, account = factory.placed_account(channels=("call", "sms", "email", "letter"),
                                                     debtor_name="张三", email="zhang.san@example.test")
    # Read now: the services commit, and on PostgreSQL a reload outside the lender's context finds nothing.
    seen = SimpleNamespace(id=account.id, external_ref=account.external_ref, phone=account.phones[0].phone)
    return dict(lender=lender, agency=agency, account=seen,
                lender_headers=bearer(factory.token(lender, "lender_admin")[1]),
                agency_headers=bearer(factory.token(agency, "agency_collector")[1]))


def create(client, case, **body):
    values = {"name": "Reminder", "channel": "sms", "locale": "zh-CN", "body": CN_SMS, **body}
    return client.post("/api/v1/templates", json=values, headers=case["lender_headers"])


def approved(client, case, **body) -> dict:
    made = create(client, case, **body)
    assert made.status_code == 201, made.json
    return approve(client, case, made.json["id"])


def approve(client, case, template_id) -> dict:
    submitted = client.post(f"/api/v1/templates/{template_id}/submit", headers=case["lender_headers"])
    assert submitted.status_code == 200, submitted.json
    done = client.post(f"/api/v1/templates/{template_id}/approve", headers=case["lender_headers"])
    assert done.status_code == 200, done.json
    return done.json


def send(client, case, template_id, headers=None, key=None, **body):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(f"/api/v1/accounts/{case['account'].id}/messages", json={"template_id": template_id, **body},
                       headers={**(headers or case["agency_headers"]), **extra})


def run_job(case, message_id):
    with tenant_scope(case["agency"].id):
        return jobs.send_message(str(case["agency"].id), str(message_id))


# ---- templates: lifecycle, versions, findings ----------------------------------------------------------------

def test_a_template_is_drafted_submitted_approved_and_versioned_without_touching_the_approved_text(client, case):
    made = create(client, case)
    assert made.status_code == 201, made.json
    v1 = made.json
    assert (v1["version"], v1["status"], v1["findings"], v1["rulebook_version"]) == (1, "draft", [], "cn-2026.1")

    edited = client.put(f"/api/v1/templates/{v1['id']}", json={"name": "Reminder", "body": CN_SMS + " "},
                        headers=case["lender_headers"])
    assert edited.status_code == 200 and edited.json["version"] == 1, "a draft is edited in place"
    approve(client, case, v1["id"])

    changed = client.put(f"/api/v1/templates/{v1['id']}", json={"name": "Reminder", "body": "x 回复TD退订"},
                         headers=case["lender_headers"])
    assert changed.status_code == 409 and changed.json["error"]["code"] == "template.not_editable"
    v2 = client.post(f"/api/v1/templates/{v1['id']}/versions", json={"name": "Reminder (polite)",
                     "body": "{{ debtor_name }}您好，请联系{{ agency_name }}。回复TD退订"},
                     headers=case["lender_headers"])
    assert v2.status_code == 201, v2.json
    assert (v2.json["version"], v2.json["status"], v2.json["template_family_id"]) == (2, "draft", v1["id"])
    again = client.post(f"/api/v1/templates/{v1['id']}/versions", json={"name": "x", "body": "y 回复TD退订"},
                        headers=case["lender_headers"])
    assert again.status_code == 409 and again.json["error"]["details"]["template_id"] == v2.json["id"]

    listed = client.get(f"/api/v1/templates?template_family_id={v1['id']}", headers=case["lender_headers"]).json
    assert sorted((t["version"], t["status"]) for t in listed["items"]) == [(1, "approved"), (2, "draft")]
    approve(client, case, v2.json["id"])
    old = client.get(f"/api/v1/templates/{v1['id']}", headers=case["lender_headers"]).json
    assert (old["status"], old["body"]) == ("retired", CN_SMS + " "), "the old version stays readable as it was"
    assert client.get(f"/api/v1/templates/{v2.json['id']}", headers=case["lender_headers"]).json["status"] == "approved"


def test_a_template_breaking_the_content_rules_cannot_be_submitted_or_approved(client, case):
    made = create(client, case, body="{{ debtor_name }}，再不还款将上报征信黑名单并通知法院。回复TD退订")
    assert made.status_code == 201
    findings = made.json["findings"]
    assert [(f["rule_id"], f["severity"], f["phrase"]) for f in findings] == [
        ("CN.PROHIBITED", "block", "法院"), ("CN.PROHIBITED", "block", "征信黑名单")]
    assert all(f["message_en"] and f["message_zh"] for f in findings)
    refused = client.post(f"/api/v1/templates/{made.json['id']}/submit", headers=case["lender_headers"])
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "template.blocking_findings"
    assert {f["phrase"] for f in refused.json["error"]["details"]["findings"]} == {"法院", "征信黑名单"}


def test_approval_rechecks_against_the_rulebook_in_force(client, case, factory):
    """Submitted under the Chinese rulebook, then the platform assigns the lender the US baseline: the missing
    debt-collector disclosure blocks the approval."""
    made = create(client, case, locale="en", body="Hi {{ debtor_name }}, please call us. Reply STOP to opt out.")
    assert client.post(f"/api/v1/templates/{made.json['id']}/submit",
                       headers=case["lender_headers"]).status_code == 200
    platform = factory.tenant("platform", slug=f"platform-{uuid.uuid4().hex[:8]}")
    baseline.assign(case["lender"], "us", platform_tenant_id=platform.id)
    refused = client.post(f"/api/v1/templates/{made.json['id']}/approve", headers=case["lender_headers"])
    assert refused.status_code == 422 and refused.json["error"]["code"] == "template.blocking_findings"
    assert [f["rule_id"] for f in refused.json["error"]["details"]["findings"]] == ["US.DISCLOSURE"]
    still = client.get(f"/api/v1/templates/{made.json['id']}", headers=case["lender_headers"]).json
    assert still["status"] == "pending_approval"


def test_unknown_placeholders_and_roles_that_may_not_approve_are_refused(client, case, factory):
    bad = create(client, case, body="{{ debtor_name }} {{ id_number }} 回复TD退订")
    assert bad.status_code == 422 and "Unknown placeholder {{ id_number }}" in bad.json["error"]["details"]["fields"][
        "body"][0]
    made = create(client, case)
    client.post(f"/api/v1/templates/{made.json['id']}/submit", headers=case["lender_headers"])
    analyst = bearer(factory.token(case["lender"], "lender_analyst")[1])
    assert client.post(f"/api/v1/templates/{made.json['id']}/approve", headers=analyst).status_code == 403
    assert client.post("/api/v1/templates", json={"name": "x", "channel": "sms", "locale": "en", "body": "x"},
                       headers=case["agency_headers"]).status_code == 404


def test_an_agency_sees_only_the_approved_templates_of_the_lenders_whose_accounts_it_holds(client, case, factory):
    live = approved(client, case, name="Live")
    draft = create(client, case, name="Draft").json
    _, _, _ = factory.placed_account()  # another lender, with another agency
    other_lender = factory.tenant("lender")
    foreign = factory.message_template(other_lender, name="Foreign")

    seen = client.get("/api/v1/templates", headers=case["agency_headers"]).json["items"]
    assert [t["id"] for t in seen] == [live["id"]]
    assert client.get(f"/api/v1/templates/{live['id']}", headers=case["agency_headers"]).status_code == 200
    for hidden in (draft["id"], foreign.id):
        assert client.get(f"/api/v1/templates/{hidden}", headers=case["agency_headers"]).status_code == 404
    assert client.post(f"/api/v1/templates/{live['id']}/retire", headers=case["agency_headers"]).status_code == 404

    refused = send(client, case, foreign.id)
    assert refused.status_code == 404, "a template the agency cannot see does not exist for it"
    unapproved = send(client, case, draft["id"], headers=case["lender_headers"])
    assert unapproved.status_code == 422 and unapproved.json["error"]["code"] == "template.not_approved"


# ---- sending ---------------------------------------------------------------------------------------------------

def test_a_message_is_queued_then_delivered_to_the_outbox_exactly_once(client, case, db_session):
    template = approved(client, case)
    sent = send(client, case, template["id"], key="send-1")
    assert sent.status_code == 202, sent.json
    message = sent.json
    assert (message["status"], message["channel"], message["template_version"]) == ("queued", "sms", 1)
    assert message["recipient"].startswith("+86138") and "****" in message["recipient"], "masked for a collector"
    assert send(client, case, template["id"], key="send-1").json["id"] == message["id"], "a retry is not a resend"

    with tenant_scope(case["agency"].id):
        tasks = db_session.scalars(select(OutboxTask).where(OutboxTask.job == "workers.jobs.send_message")).all()
        assert [t.arguments for t in tasks] == [{"message_id": message["id"]}], "the outbox row remembers the work"

    assert run_job(case, message["id"]) == {"status": "sent", "attempts": 1}
    assert run_job(case, message["id"]) == {"status": "sent", "attempts": 1}, "the second run sends nothing"

    detail = client.get(f"/api/v1/messages/{message['id']}", headers=case["agency_headers"]).json
    assert (detail["status"], detail["gateway"], detail["attempts"]) == ("sent", "outbox", 1)
    assert detail["gateway_message_id"] == f"outbox:{message['id']}"
    assert detail["body"] == "张三您好，您在" + case["lender"].name + "的借款" + case["account"].external_ref \
        + "待还¥4,450.00，请尽快处理。回复TD退订"
    attempt = client.get(f"/api/v1/contact-attempts/{message['attempt_id']}", headers=case["agency_headers"]).json
    assert (attempt["channel"], attempt["status"], attempt["outcome_code"]) == ("sms", "completed", "delivered")
    with tenant_scope(case["agency"].id):
        actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == message["id"])).all()
    assert actions == ["message.queued", "message.sent"]
    listed = client.get("/api/v1/messages", headers=case["agency_headers"]).json["items"]
    assert [m["id"] for m in listed] == [message["id"]] and "body" not in listed[0]
    assert client.get("/api/v1/messages", headers=case["lender_headers"]).json["items"] == [], \
        "the agency's messages are its own"
    assert client.get(f"/api/v1/messages/{message['id']}", headers=case["lender_headers"]).status_code == 404


def test_a_message_the_conduct_rules_refuse_is_not_queued(client, case, db_session, frozen_clock):
    template = approved(client, case)
    frozen_clock.set(SHANGHAI_11PM)
    refused = send(client, case, template["id"])
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["code"] == "conduct.cn.hours"
    assert error["details"]["earliest_allowed_at"].startswith("2026-12-02T00:00"), "08:00 tomorrow in Shanghai"
    with tenant_scope(case["agency"].id):
        assert db_session.scalar(select(func.count()).select_from(OutboundMessage)) == 0
        assert db_session.scalar(select(func.count()).select_from(OutboxTask)
                                 .where(OutboxTask.job == "workers.jobs.send_message")) == 0
    attempt = client.get(f"/api/v1/contact-attempts/{error['details']['attempt_id']}",
                         headers=case["agency_headers"]).json
    assert attempt["status"] == "blocked", "the refusal is recorded for compliance"

    frozen_clock.set(SHANGHAI_10AM)
    hold = client.post(f"/api/v1/accounts/{case['account'].id}/holds", json={"type": "cease", "reason": "asked"},
                       headers=case["agency_headers"])
    assert hold.status_code == 201
    held = send(client, case, template["id"])
    assert held.status_code == 422 and held.json["error"]["details"]["earliest_allowed_at"] is None


def test_a_message_kind_the_hold_allows_still_goes_out(client, case):
    notice = approved(client, case, name="Collection stops", message_kind="notice_collection_stops",
                      body="{{ debtor_name }}您好，我司已停止对您的催收。回复TD退订")
    client.post(f"/api/v1/accounts/{case['account'].id}/holds",
                json={"type": "cease", "reason": "asked", "allow": ["notice_collection_stops"]},
                headers=case["agency_headers"])
    assert send(client, case, notice["id"]).status_code == 202


def test_a_third_party_gets_only_a_third_party_template(client, case):
    template = approved(client, case)
    wrong = send(client, case, template["id"], target="third_party", third_party_id=str(uuid.uuid4()))
    assert wrong.status_code == 422 and wrong.json["error"]["code"] == "template.wrong_target"


# ---- SMTP ------------------------------------------------------------------------------------------------------

class Inbox:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def smtp_config(port):
    return {"MESSAGE_GATEWAY": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_USERNAME": None,
            "SMTP_PASSWORD": None, "SMTP_STARTTLS": False, "MAIL_FROM": "Recoverly <no-reply@recoverly.test>"}


def test_email_goes_through_a_real_smtp_server_with_the_rendered_text(client, case, smtp_server):
    inbox, port = smtp_server
    template = approved(client, case, channel="email", subject="关于{{ reference }}的提醒",
                        body="{{ debtor_name }}您好：\n您在{{ lender_name }}的借款待还{{ amount_due }}。\n"
                             "{{ agency_name }}")
    message = send(client, case, template["id"]).json
    with tenant_scope(case["agency"].id):
        sent = deliver(uuid.UUID(message["id"]), smtp_config(port))
        assert (sent.status, sent.gateway, sent.attempts) == (MessageStatus.SENT, "smtp", 1)
        deliver(uuid.UUID(message["id"]), smtp_config(port))

    assert len(inbox.received) == 1, "delivered once, however often the job runs"
    envelope = inbox.received[0]
    assert envelope.rcpt_tos == ["zhang.san@example.test"]
    received = email.message_from_bytes(envelope.content, policy=policy.default)
    assert received["Subject"] == f"关于{case['account'].external_ref}的提醒"
    assert received["Message-ID"] == f"<{message['id']}@recoverly.test>", "the same id on any resend"
    assert case["agency"].name in received["From"]
    assert received.get_content().replace("\r\n", "\n").strip() == (
        f"张三您好：\n您在{case['lender'].name}的借款待还¥4,450.00。\n{case['agency'].name}")


def test_an_unreachable_mail_server_fails_the_try_and_a_retry_delivers(client, case, smtp_server, db_session):
    inbox, port = smtp_server
    template = approved(client, case, channel="email", subject="提醒", body="{{ debtor_name }}您好。")
    message_id = uuid.UUID(send(client, case, template["id"]).json["id"])
    with tenant_scope(case["agency"].id):
        with pytest.raises(gateways.GatewayError):
            deliver(message_id, smtp_config(free_port()))
        failed = db_session.get(OutboundMessage, message_id)
        assert (failed.status, failed.attempts) == (MessageStatus.FAILED, 1)
        assert failed.error.startswith("mail server unavailable: ConnectionRefusedError")
        retried = deliver(message_id, smtp_config(port))
        assert (retried.status, retried.attempts, retried.error) == (MessageStatus.SENT, 2, None)
    assert len(inbox.received) == 1


class RefusingInbox(Inbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 No such user here"


def test_a_refused_address_fails_for_good_and_the_contact_bounces(client, case, db_session):
    port = free_port()
    controller = Controller(RefusingInbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        template = approved(client, case, channel="email", subject="提醒", body="{{ debtor_name }}您好。")
        message = send(client, case, template["id"]).json
        with tenant_scope(case["agency"].id):
            failed = deliver(uuid.UUID(message["id"]), smtp_config(port))
            assert (failed.status, failed.attempts) == (MessageStatus.FAILED, 1), "not retried: it cannot help"
            assert failed.error == "recipient refused by the mail server (550)", "no address in the error"
    finally:
        controller.stop()
    attempt = client.get(f"/api/v1/contact-attempts/{message['attempt_id']}", headers=case["agency_headers"]).json
    assert attempt["outcome_code"] == "bounced"


# ---- pages -----------------------------------------------------------------------------------------------------

def test_a_lender_writes_and_approves_a_template_in_the_browser(client, case, factory):
    factory.user(case["lender"], "lender_manager", email="manager@lender.test")
    login(client, "manager@lender.test")
    slug = case["lender"].slug
    page = client.post(f"/t/{slug}/templates/new", data={
        "name": "催收提醒", "channel": "sms", "locale": "zh-CN", "target": "debtor",
        "body": "{{ debtor_name }}您好，逾期将通知您的单位。", "subject": "", "message_kind": ""})
    assert page.status_code == 302
    detail = client.get(page.headers["Location"]).get_data(as_text=True)
    assert "CN.PROHIBITED" in detail and "PLATFORM.OPTOUT" in detail and "blocks approval" in detail
    template_id = re.search(r"/templates/([0-9a-f-]{36})/submit", detail).group(1)
    refused = client.post(f"/t/{slug}/templates/{template_id}/submit", follow_redirects=True)
    assert "cannot be submitted" in refused.get_data(as_text=True)

    edited = client.post(f"/t/{slug}/templates/{template_id}/edit", data={
        "name": "催收提醒", "body": "{{ debtor_name }}您好，请尽快还款。回复TD退订", "subject": "", "message_kind": ""})
    assert edited.status_code == 302
    client.post(f"/t/{slug}/templates/{template_id}/submit")
    approved_page = client.post(f"/t/{slug}/templates/{template_id}/approve", follow_redirects=True)
    text = approved_page.get_data(as_text=True)
    assert 'id="template-status">approved' in text.replace("\n", "")
    assert "No findings" in text

    new_version = client.post(f"/t/{slug}/templates/{template_id}/edit", data={
        "name": "催收提醒", "body": "{{ debtor_name }}您好，请联系我们。回复TD退订", "subject": "", "message_kind": ""})
    assert new_version.status_code == 302 and template_id not in new_version.headers["Location"]
    listing = client.get(f"/t/{slug}/templates").get_data(as_text=True)
    assert "催收提醒" in listing and ">2</td>" in listing


def test_an_agency_sends_from_its_case_and_sees_the_message_in_its_outbox(client, case, factory, frozen_clock):
    template = approved(client, case)
    draft = client.post(f"/api/v1/templates/{template['id']}/versions", json={"name": "Next", "body": "x 回复TD退订"},
                        headers=case["lender_headers"]).json
    factory.user(case["agency"], "agency_collector", email="collector@agency.test")
    login(client, "collector@agency.test")
    slug, account = case["agency"].slug, case["account"]
    listing = client.get(f"/t/{slug}/templates").get_data(as_text=True)
    assert template["id"] in listing and case["lender"].name in listing, "the approved version, not the draft"
    assert draft["id"] not in listing

    sent = client.post(f"/t/{slug}/cases/{account.id}/messages",
                       data={"template_id": template["id"], "idempotency_key": "page-1"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/cases/{account.id}#send-message")
    client.post(f"/t/{slug}/cases/{account.id}/messages", data={"template_id": template["id"],
                                                                 "idempotency_key": "page-1"})
    outbox = client.get(f"/t/{slug}/outbox").get_data(as_text=True)
    assert outbox.count('id="message-') == 1, "a double click sends once"
    assert account.external_ref in outbox and "****" in outbox and account.phone not in outbox

    frozen_clock.set(SHANGHAI_11PM)
    refused = client.post(f"/t/{slug}/cases/{account.id}/messages", data={"template_id": template["id"]})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert 'id="conduct-refusal"' in page and "CN.HOURS" in page and "Next permitted:" in page


# ---- the database lock -------------------------------------------------------------------------------------------

@pytest.mark.postgres
def test_raw_sql_shows_an_agency_its_lenders_approved_templates_and_nobody_elses_messages(app_engine,
                                                                                          placed_committed):
    lender_id, agency_id, other_agency_id, objects = placed_committed

    def visible(tenant_id, table):
        with app_engine.begin() as connection:
            act_as(connection, tenant_id)
            return {row[0] for row in connection.execute(text(f"SELECT id FROM {table}"))}

    assert objects["template_id"] in visible(agency_id, "message_templates")
    assert visible(other_agency_id, "message_templates") == set()
    assert objects["message_id"] in visible(lender_id, "outbound_messages")
    assert visible(agency_id, "outbound_messages") == set(), "a message is its sender's alone"
    with app_engine.begin() as connection:
        act_as(connection, agency_id)
        changed = connection.execute(text("UPDATE message_templates SET body = 'x' WHERE id = :id"),
                                     {"id": objects["template_id"]})
        assert changed.rowcount == 0, "an agency reads the lender's template, never writes it"
