"""Self-service through the debtor's portal (tenants.portal): per sender of the message (an agency, or the lender
itself) and per message template, how many accounts were sent a portal link, how many debtors opened the portal
(a right code), how many did something there, how many paid through it and how much, and the self-cure rate.

Everything is attributed to the link that brought the debtor: a session opens on one link, a request names its link
or its session, a portal payment its session. An account sent links by two templates counts under each, and what
the debtor did counts under the link he came by. Counted by SQL aggregates grouped by sender and template (a
correlated EXISTS per link, COUNT(DISTINCT account)); no loop over accounts. A lender reads the links sent on its
accounts by every agency (and by itself); an agency only the links it sent.
"""
import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, case, func, or_, select

from tenants.analytics.common import Viewer, check_months, month_index, month_instant, month_label, rate
from tenants.compliance.reports import names
from tenants.db import db
from tenants.errors import NotFound
from tenants.messaging.models import MessageTemplate
from tenants.placements.models import AgencyRelationship
from tenants.portal.links import PURPOSE
from tenants.portal.models import (
    PortalLink,
    PortalPayment,
    PortalPaymentStatus,
    PortalRequest,
    PortalSession,
    RequestKind,
    RequestStatus,
)

DEFAULT_MONTHS = 12
# What counts as agreed through the portal: a plan or a settlement in force at once or accepted afterwards.
AGREED_KINDS = (RequestKind.PLAN, RequestKind.SETTLEMENT)
AGREED_STATUSES = (RequestStatus.DONE, RequestStatus.ACCEPTED)

FORMULAS = {
    "sent": ("Links sent = accounts that received a portal link in a message sent in these months (per sender and "
             "template).",
             "已发送链接 = 在所选月份内通过消息收到自助服务链接的账户数（按发送方和模板分列）。"),
    "opened": ("Opened = of those accounts, the ones whose debtor opened the portal with the right code.",
               "已打开 = 上述账户中，债务人输入正确验证码打开自助服务门户的账户数。"),
    "acted": ("Self-service = accounts whose debtor, through that link, asked for or agreed a plan, a settlement or "
              "more time, raised a dispute, set preferences, signed, sent a proof of payment or paid.",
              "自助操作 = 债务人经该链接申请或达成还款计划、和解或延期，提出异议，设置联系偏好，签署协议，"
              "上传还款凭证或在线还款的账户数。"),
    "paid": ("Paid through the portal = accounts with a portal payment that succeeded (not fully refunded); the "
             "amount is what was paid less what was refunded, per currency.",
             "经门户还款 = 门户在线还款成功（未全额退款）的账户数；金额为实付金额减去退款，按币种分列。"),
    "self_cure": ("Self-cure rate = accounts that paid through the portal or agreed a plan or a settlement there "
                  "(in force at once or accepted) ÷ accounts sent a link.",
                  "自愈率 = 经门户还款或在门户达成还款计划或和解（即时生效或获批准）的账户数 ÷ 已发送链接的账户数。"),
}


@dataclass(frozen=True)
class Row:
    sender_id: uuid.UUID | None
    sender: str
    template_id: uuid.UUID | None  # None on a sender's total row and for links sent without a template
    template: str | None  # None on a sender's total row
    sent: int
    opened: int
    acted: int
    paid: int
    cured: int
    amounts: tuple = field(default_factory=tuple)  # ((currency, minor), …)

    @property
    def total(self) -> bool:
        return self.template is None

    @property
    def open_rate(self) -> float | None:
        return rate(self.opened, self.sent)

    @property
    def action_rate(self) -> float | None:
        return rate(self.acted, self.sent)

    @property
    def self_cure_rate(self) -> float | None:
        return rate(self.cured, self.sent)


@dataclass(frozen=True)
class SelfService:
    first_month: str
    last_month: str
    agency_id: uuid.UUID | None
    template_id: uuid.UUID | None
    rows: list[Row]  # per sender and template, by sender then template
    totals: list[Row]  # per sender, all its templates (distinct accounts)


def senders(viewer: Viewer) -> list:
    """Who may have sent links the reader sees: a lender and its panel's agencies; an agency itself."""
    if not viewer.is_lender:
        return list(names({viewer.tenant_id}).values())
    ids = set(db.session.scalars(select(AgencyRelationship.agency_tenant_id)
                                 .where(AgencyRelationship.tenant_id == viewer.tenant_id)))
    found = names(ids | {viewer.tenant_id})
    return sorted(found.values(), key=lambda t: (t.id != viewer.tenant_id, t.name))


def templates(viewer: Viewer) -> list[MessageTemplate]:
    """The templates of the links the reader sees, newest version first within a name."""
    ids = select(PortalLink.template_id).where(_mine(viewer), PortalLink.template_id.is_not(None)).distinct()
    return list(db.session.scalars(select(MessageTemplate).where(MessageTemplate.id.in_(ids))
                                   .order_by(MessageTemplate.name, MessageTemplate.version.desc())))


def _mine(viewer: Viewer):
    return PortalLink.lender_tenant_id == viewer.tenant_id if viewer.is_lender else \
        PortalLink.tenant_id == viewer.tenant_id


def _check(viewer: Viewer, agency_id: uuid.UUID | None, template_id: uuid.UUID | None) -> None:
    """An agency or a template the reader may not see: 404, as for any other tenant's id."""
    if agency_id is not None and agency_id not in {t.id for t in senders(viewer)}:
        raise NotFound()
    if template_id is not None and db.session.scalar(select(MessageTemplate.id)
                                                     .where(MessageTemplate.id == template_id)) is None:
        raise NotFound()


def self_service(viewer: Viewer, *, today: date, months: int = DEFAULT_MONTHS, agency_id: uuid.UUID | None = None,
                 template_id: uuid.UUID | None = None) -> SelfService:
    check_months(months)
    _check(viewer, agency_id, template_id)
    last = month_index(today)
    first = last - months + 1
    link = PortalLink
    where = [_mine(viewer), link.purpose == PURPOSE, link.created_at >= month_instant(first)]
    if agency_id is not None:
        where.append(link.tenant_id == agency_id)
    if template_id is not None:
        where.append(link.template_id == template_id)

    def by_link(*conditions):
        """Whether the link's account has a request coming by the link (naming it, or a session opened on it)."""
        return select(PortalRequest.id).outerjoin(PortalSession, PortalSession.id == PortalRequest.session_id) \
            .where(PortalRequest.account_id == link.account_id,
                   or_(PortalRequest.link_id == link.id, PortalSession.link_id == link.id), *conditions) \
            .correlate_except(PortalRequest, PortalSession).exists()

    acted = by_link()
    agreed = by_link(PortalRequest.kind.in_(AGREED_KINDS), PortalRequest.status.in_(AGREED_STATUSES))
    paid = select(PortalPayment.id).join(PortalSession, PortalSession.id == PortalPayment.session_id) \
        .where(PortalPayment.account_id == link.account_id, PortalSession.link_id == link.id,
               PortalPayment.status == PortalPaymentStatus.SUCCEEDED) \
        .correlate_except(PortalPayment, PortalSession).exists()

    def accounts(condition=None):
        return func.count(func.distinct(link.account_id if condition is None else
                                        case((condition, link.account_id))))

    measures = (accounts(), accounts(link.first_opened_at.is_not(None)), accounts(or_(acted, paid)),
                accounts(paid), accounts(or_(paid, agreed)))

    def counts(*keys) -> dict:
        rows = db.session.execute(select(*keys, *measures).where(*where).group_by(*keys))
        return {tuple(row[:len(keys)]): tuple(int(v) for v in row[len(keys):]) for row in rows}

    def amounts(*keys) -> dict:
        found: dict = {}
        rows = db.session.execute(
            select(*keys, PortalPayment.currency,
                   func.sum(PortalPayment.amount_minor - PortalPayment.refunded_minor))
            .select_from(PortalPayment)
            .join(PortalSession, PortalSession.id == PortalPayment.session_id)
            .join(link, and_(link.id == PortalSession.link_id, link.account_id == PortalPayment.account_id))
            .where(*where, PortalPayment.status == PortalPaymentStatus.SUCCEEDED)
            .group_by(*keys, PortalPayment.currency))
        for row in rows:
            found.setdefault(tuple(row[:len(keys)]), []).append((row[-2], int(row[-1])))
        return {key: tuple(sorted(values)) for key, values in found.items()}

    per_template, per_template_paid = counts(link.tenant_id, link.template_id), amounts(link.tenant_id,
                                                                                       link.template_id)
    per_sender, per_sender_paid = counts(link.tenant_id), amounts(link.tenant_id)
    sender_names = {k: t.name for k, t in names({key[0] for key in per_sender}).items()}
    template_ids = {key[1] for key in per_template if key[1] is not None}
    template_names = {t.id: f"{t.name} v{t.version} ({t.channel}, {t.locale})" for t in db.session.scalars(
        select(MessageTemplate).where(MessageTemplate.id.in_(template_ids)))} if template_ids else {}

    def label(template: uuid.UUID | None) -> str:
        if template is None:
            return ""
        return template_names.get(template, str(template)[:8])

    rows = [Row(sender, sender_names.get(sender, str(sender)), template, label(template), *values,
                amounts=per_template_paid.get((sender, template), ()))
            for (sender, template), values in per_template.items()]
    rows.sort(key=lambda r: (r.sender, r.template or "", str(r.template_id)))
    totals = [Row(sender, sender_names.get(sender, str(sender)), None, None, *values,
                  amounts=per_sender_paid.get((sender,), ()))
              for (sender,), values in per_sender.items()]
    totals.sort(key=lambda r: r.sender)
    return SelfService(first_month=month_label(first), last_month=month_label(last), agency_id=agency_id,
                       template_id=template_id, rows=rows, totals=totals)


def csv_rows(found: SelfService):
    yield ("sender_id", "sender", "template_id", "template", "links_sent", "opened", "self_service", "paid",
           "paid_amounts_minor", "self_cured", "self_cure_rate")
    for row in [*found.rows, *found.totals]:
        yield (row.sender_id, row.sender, "" if row.total else (row.template_id or ""),
               "(all)" if row.total else row.template, row.sent, row.opened, row.acted, row.paid,
               " ".join(f"{currency}:{minor}" for currency, minor in row.amounts), row.cured,
               "" if row.self_cure_rate is None else f"{row.self_cure_rate:.6f}")
