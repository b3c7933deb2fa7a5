"""Getting in: a one-time code for a link, then a short session.

Every answer to someone who is not yet in is the same whether the link exists or not: asking for a code always
says "if this link is valid, a code is on its way", and a wrong code, an expired one, an unknown, expired or revoked
link all answer `portal.code_invalid`. Counters live in PostgreSQL (`portal_attempts`), not in Redis, so an outage of
Redis never leaves guessing unthrottled; each counts under a keyed hash:

- codes sent: 3 per link and 6 per account per 15 minutes, 10 per client address per hour;
- wrong answers: 5 per link per 15 minutes, 10 per account per hour, 20 per client address per hour; a code itself
  dies after 5 wrong tries and after 10 minutes.

A letter's link is opened with the last four characters of the ID number on file instead (no code is sent).
A session lasts 15 minutes without use and 60 minutes at most, and ends with its link.
"""
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text

from tenants import audit, clock
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.errors import DomainError
from tenants.messaging import gateways
from tenants.pii import blind_index
from tenants.placements.models import Placement, PlacementStatus
from tenants.portal import links
from tenants.portal.models import PortalAttempt, PortalCode, PortalLink, PortalSession
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant

CODE_TTL = timedelta(minutes=10)
CODE_TRIES = 5
IDLE = timedelta(minutes=15)
LIFETIME = timedelta(minutes=60)
ID_DIGITS = 4

# (what is counted, scope) → (most events, window)
LIMITS = {
    ("send", "link"): (3, timedelta(minutes=15)),
    ("send", "account"): (6, timedelta(minutes=15)),
    ("send", "address"): (10, timedelta(hours=1)),
    ("fail", "link"): (5, timedelta(minutes=15)),
    ("fail", "account"): (10, timedelta(hours=1)),
    ("fail", "address"): (20, timedelta(hours=1)),
}


class CodeInvalid(DomainError):
    """The one answer for a wrong code and for a link that does not exist, expired or was revoked."""

    code = "portal.code_invalid"
    status = 422
    message = "This code is not right, or it has expired. Ask for a new code."


class Throttled(DomainError):
    code = "portal.throttled"
    status = 429
    message = "Too many tries. Wait a while and try again."


class SessionEnded(DomainError):
    code = "portal.session_ended"
    status = 401
    message = "Your session has ended. Open the link in your message again."


# ---- counters ----------------------------------------------------------------------------------------------------

def _key(kind: str, scope: str, value: str) -> str:
    return f"{kind}:{scope}:" + blind_index("portal_limit", f"{scope}:{value}")[:40]


def _over(kind: str, scope: str, value: str, now: datetime) -> bool:
    most, window = LIMITS[(kind, scope)]
    count = db.session.scalar(select(func.count()).select_from(PortalAttempt).where(
        PortalAttempt.key == _key(kind, scope, value), PortalAttempt.at > now - window))
    return count >= most


def _count(kind: str, keys: dict[str, str], now: datetime) -> None:
    for scope, value in keys.items():
        db.session.add(PortalAttempt(key=_key(kind, scope, value), at=now))
    db.session.flush()


def _serialise(value: str) -> None:
    """Two guesses on one link at once count one after the other (PostgreSQL; SQLite writes one at a time)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "portal:" + value})


def _find_link(random_part: str | None) -> PortalLink | None:
    if random_part is None:
        return None
    return db.session.scalar(select(PortalLink).where(PortalLink.token_hash == links.token_hash(random_part)))


# ---- asking for a code ----------------------------------------------------------------------------------------------

def request_code(token: str, *, address: str, config) -> None:
    """Send a code to where the link's message went, if the link is valid and no limit is reached. Says nothing
    either way (commits its counters)."""
    random_part = links.split(token)
    token_key = random_part or token[:80]
    now = clock.now()
    with platform_scope("portal: a debtor asks for a code (rate limits, link lookup)"):
        _serialise(token_key)
        if _over("send", "link", token_key, now) or _over("send", "address", address, now):
            db.session.commit()
            raise Throttled()
        _count("send", {"link": token_key, "address": address}, now)
        link = _find_link(random_part)
        ids = None
        if links.usable(link) and link.channel != "letter" and not _over("send", "account", str(link.account_id),
                                                                          now):
            _count("send", {"account": str(link.account_id)}, now)
            ids = (link.id, link.tenant_id)
        db.session.commit()
    if ids is None:
        return
    with tenant_scope(ids[1]):
        _send_code(db.session.get(PortalLink, ids[0]), config)
        db.session.commit()


def recipient_of(link: PortalLink, account: Account) -> str | None:
    """Where the link's message went: the phone at its position or the account's email (letters: nowhere)."""
    if link.channel == "sms":
        phones = account.phones
        return phones[link.phone_position].phone if 0 <= link.phone_position < len(phones) else None
    if link.channel == "email":
        return account.email
    return None


def deliver(link: PortalLink, account: Account, *, sender: Tenant, recipient: str, kind: str, body: str,
            subject: str, config, expires_at, code_text: str | None = None) -> PortalCode:
    """A code or a notice to the debtor through the message gateway, recorded as a PortalCode (the Outbox lists
    them). A gateway failure is recorded, not raised: the debtor asks again."""
    now = clock.now()
    row = PortalCode(id=uuid.uuid4(), tenant_id=sender.id, account_id=account.id, link_id=link.id, kind=kind,
                     channel=link.channel, recipient=recipient, body=body, code_hash="", created_at=now,
                     expires_at=expires_at, failed_attempts=0, status="queued")
    if code_text is not None:
        row.code_hash = _code_hash(row.id, code_text)
    db.session.add(row)
    db.session.flush()
    gateway = gateways.for_channel(link.channel, config)
    try:
        row.gateway_message_id = gateway.send(gateways.Envelope(
            message_id=str(row.id), channel=row.channel, recipient=recipient,
            subject=subject if row.channel == "email" else None, body=body, sender_name=sender.name))
        row.status = "sent"
    except gateways.GatewayError:
        row.status = "failed"
    row.gateway = gateway.name
    return row


def _send_code(link: PortalLink, config) -> PortalCode | None:
    account = db.session.scalar(select(Account).where(Account.id == link.account_id))
    if account is None:  # the sending agency no longer holds the account
        return None
    recipient = recipient_of(link, account)
    if not recipient:
        return None
    code_text = f"{secrets.randbelow(1_000_000):06d}"
    sender = db.session.get(Tenant, link.tenant_id)
    zh = (sender.locale or "").startswith("zh")
    body = (f"【{sender.name}】您的验证码是 {code_text}，10 分钟内有效。请勿告诉任何人。" if zh else
            f"{sender.name}: your code is {code_text}. It expires in 10 minutes. Never share it.")
    row = deliver(link, account, sender=sender, recipient=recipient, kind="code", body=body,
                  subject="验证码 / Your code", config=config, expires_at=clock.now() + CODE_TTL, code_text=code_text)
    audit.record("portal.code_sent", object_type="portal_link", object_id=link.id,
                 after={"account_id": str(account.id), "channel": row.channel, "status": row.status,
                        "code_id": str(row.id)})
    return row


def _code_hash(code_id: uuid.UUID, code_text: str) -> str:
    return blind_index("portal_code", f"{code_id}:{code_text.strip()}")


# ---- answering it ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Opened:
    token: str
    session_id: uuid.UUID


def verify(token: str, answer: str, *, address: str, locale: str | None = None) -> Opened:
    """The right code (or ID digits, for a letter's link) opens a session; anything else is CodeInvalid."""
    random_part = links.split(token)
    token_key = random_part or token[:80]
    now = clock.now()
    with platform_scope("portal: a debtor answers a code (rate limits, link lookup)"):
        _serialise(token_key)
        if _over("fail", "link", token_key, now) or _over("fail", "address", address, now):
            db.session.commit()
            raise Throttled()
        link = _find_link(random_part)
        target = (link.id, link.tenant_id, link.account_id) if links.usable(link) else None
        if target is not None and _over("fail", "account", str(link.account_id), now):
            target = None
        db.session.commit()
    opened = None
    if target is not None:
        with tenant_scope(target[1]):
            opened = _answer(db.session.get(PortalLink, target[0]), answer, locale, now)
            db.session.commit()
    if opened is None:
        with platform_scope("portal: count a wrong answer"):
            keys = {"link": token_key, "address": address}
            if target is not None:
                keys["account"] = str(target[2])
            _count("fail", keys, now)
            db.session.commit()
        raise CodeInvalid()
    return opened


def _answer(link: PortalLink, answer: str, locale: str | None, now: datetime) -> Opened | None:
    account = db.session.scalar(select(Account).where(Account.id == link.account_id))
    if account is None:
        return None
    answer = (answer or "").strip().upper()
    if link.channel == "letter":
        expected = (account.id_number or "").strip().upper()[-ID_DIGITS:]
        right = len(expected) == ID_DIGITS and hmac.compare_digest(expected.encode(), answer.encode())
        code = None
    else:
        code = db.session.scalar(select(PortalCode).where(
            PortalCode.link_id == link.id, PortalCode.kind == "code", PortalCode.used_at.is_(None),
            PortalCode.status == "sent",
            PortalCode.expires_at > now).order_by(PortalCode.created_at.desc()).limit(1))
        right = (code is not None and code.failed_attempts < CODE_TRIES
                 and hmac.compare_digest(code.code_hash, _code_hash(code.id, answer)))
    if not right:
        if code is not None:
            code.failed_attempts += 1
        audit.record("portal.code_rejected", object_type="portal_link", object_id=link.id,
                     after={"account_id": str(account.id)})
        return None
    if code is not None:
        code.used_at = now
    session_token = secrets.token_urlsafe(32)
    lender = db.session.get(Tenant, account.tenant_id)
    session = PortalSession(tenant_id=link.tenant_id, lender_tenant_id=account.tenant_id, account_id=account.id,
                            link_id=link.id, token_hash=_session_hash(session_token),
                            locale=locale or _locale_of(link, lender), created_at=now, last_seen_at=now,
                            expires_at=now + LIFETIME)
    db.session.add(session)
    link.first_opened_at = link.first_opened_at or now
    db.session.flush()
    audit.record("portal.session_opened", object_type="portal_session", object_id=session.id,
                 after={"account_id": str(account.id), "link_id": str(link.id), "channel": link.channel,
                        "expires_at": session.expires_at.isoformat()})
    return Opened(token=session_token, session_id=session.id)


def _locale_of(link: PortalLink, lender: Tenant) -> str:
    from tenants.messaging.models import MessageTemplate

    template_locale = None
    if link.template_id is not None:
        template_locale = db.session.scalar(select(MessageTemplate.locale)
                                            .where(MessageTemplate.id == link.template_id))
    locale = template_locale or lender.locale or "en"
    return "zh_CN" if locale.lower().startswith("zh") else "en"


def _session_hash(session_token: str) -> str:
    return blind_index("portal_session", session_token)


# ---- a session on each request ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Visit:
    """Who the request acts for: the session's account, its lender, and the tenant whose context it runs in (the
    agency holding the active placement, else the lender)."""

    session_id: uuid.UUID
    link_id: uuid.UUID
    account_id: uuid.UUID
    lender_id: uuid.UUID
    acting_tenant_id: uuid.UUID
    template_id: uuid.UUID | None
    locale: str


def resume(session_token: str | None) -> Visit:
    """The live session named by the cookie, touched; SessionEnded otherwise (commits the touch)."""
    if not session_token or len(session_token) > 100:
        raise SessionEnded()
    now = clock.now()
    with platform_scope("portal: find the debtor's session by its cookie"):
        session = db.session.scalar(select(PortalSession).where(PortalSession.token_hash
                                                                == _session_hash(session_token)))
        if session is None or session.revoked_at is not None:
            db.session.rollback()
            raise SessionEnded()
        link = db.session.get(PortalLink, session.link_id)
        ended = _why_ended(session, link, now)
        if ended:
            session.revoked_at, session.end_reason = now, ended
            db.session.commit()
            raise SessionEnded()
        agency_id = db.session.scalar(select(Placement.agency_tenant_id).where(
            Placement.account_id == session.account_id, Placement.status == PlacementStatus.ACTIVE))
        session.last_seen_at = now
        visit = Visit(session_id=session.id, link_id=link.id, account_id=session.account_id,
                      lender_id=session.lender_tenant_id, acting_tenant_id=agency_id or session.lender_tenant_id,
                      template_id=link.template_id, locale=session.locale)
        db.session.commit()
    return visit


def _why_ended(session: PortalSession, link: PortalLink | None, now: datetime) -> str | None:
    if link is None or link.revoked_at is not None:
        return "link_revoked"
    if session.expires_at <= now:
        return "expired"
    if session.last_seen_at + IDLE <= now:
        return "idle"
    return None


def end(visit: Visit, reason: str = "logout") -> None:
    with platform_scope("portal: the debtor ends the session"):
        session = db.session.get(PortalSession, visit.session_id)
        if session is not None and session.revoked_at is None:
            session.revoked_at, session.end_reason = clock.now(), reason
        db.session.commit()


def set_locale(visit: Visit, locale: str) -> None:
    with platform_scope("portal: the debtor's language on this session"):
        session = db.session.get(PortalSession, visit.session_id)
        if session is not None:
            session.locale = locale
        db.session.commit()


def revoke_session(session_id: uuid.UUID, *, user_id: uuid.UUID | None) -> PortalSession:
    """Staff end a debtor's session (the lender, or the tenant whose message opened it)."""
    from tenants.db import get_visible

    session = get_visible(PortalSession, session_id, "portal.session_not_found")
    if session.revoked_at is None:
        session.revoked_at, session.end_reason = clock.now(), "revoked"
        db.session.flush()
        audit.record("portal.session_revoked", object_type="portal_session", object_id=session.id,
                     after={"account_id": str(session.account_id), "by_user_id": str(user_id) if user_id else None})
    return session
