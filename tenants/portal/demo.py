"""The demo's portal: 金信 takes payments online (its Stripe connected account, card, Alipay and WeChat Pay), has an
approved SMS template carrying `{{ portal_link }}`, and 华夏 has sent it to one of its debtors — so the Outbox of
华夏 holds a message with a portal link; asking for a code puts the code in the Outbox's portal list. Idempotent."""
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tenants import clock
from tenants.casework.money_models import PaymentPlan
from tenants.conduct.service import ConductBlocked
from tenants.context import tenant_scope
from tenants.db import db
from tenants.errors import DomainError
from tenants.messaging import sending, templates
from tenants.messaging.models import MessageTemplate
from tenants.placements.models import Placement, PlacementStatus
from tenants.portal.models import PortalLink
from tenants.tenancy.models import Tenant

TEMPLATE = dict(name="在线自助处理", channel="sms", locale="zh-CN",
                body="【金信网贷】{{ debtor_name }}您好，您的借款{{ reference }}尚有{{ amount_due }}元待还。"
                     "您可在线查看、分期或还款：{{ portal_link }} 回复TD退订")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def seed(lender: Tenant, agency: Tenant, *, lender_admin_id, collector_id) -> str | None:
    """Returns the portal link's message id (None when it was there already or nothing could be sent)."""
    with tenant_scope(lender.id):
        row = db.session.get(Tenant, lender.id)
        row.settings = {**(row.settings or {}), "stripe_connected_account": "acct_demo_jinxin",
                        "portal_payment_methods": ["card", "alipay", "wechat_pay"]}
        template = db.session.scalar(select(MessageTemplate).where(MessageTemplate.name == TEMPLATE["name"],
                                                                   MessageTemplate.status == "approved"))
        if template is None:
            template = templates.create_template(dict(TEMPLATE), created_by=lender_admin_id)
            templates.submit(template.id)
            templates.approve(template.id, approved_by=lender_admin_id)
        template_id = template.id
        db.session.commit()
    with tenant_scope(agency.id):
        if db.session.scalar(select(PortalLink.id).where(PortalLink.tenant_id == agency.id).limit(1)):
            return None
        planned = select(PaymentPlan.account_id)
        account_id = db.session.scalar(select(Placement.account_id).where(
            Placement.agency_tenant_id == agency.id, Placement.status == PlacementStatus.ACTIVE,
            Placement.tenant_id == lender.id, Placement.account_id.not_in(planned))
            .order_by(Placement.account_id).limit(1))
        if account_id is None:
            return None
        # Sent at ten in the morning, Shanghai time, of the latest day that is past: the hours rule allows it.
        now = clock.now()
        at = datetime.combine(now.astimezone(SHANGHAI).date(), time(10), tzinfo=SHANGHAI)
        if at > now:
            at -= timedelta(days=1)
        previous = clock.use(clock.FrozenClock(at))
        try:
            message = sending.send_template(account_id, template_id, collector_user_id=collector_id,
                                            idempotency_key="demo-portal-link")
            db.session.commit()
        except (ConductBlocked, DomainError):
            db.session.rollback()
            return None
        finally:
            clock.use(previous)
        return str(message.id)
