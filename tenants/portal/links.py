"""Portal links: what an approved SMS, email or letter carries in its `{{ portal_link }}` placeholder.

A link is `<base>/p/<token>`, the token `<random>.<signature>`: 128 random bits and a keyed signature (HMAC with the
blind-index key) over the random part and the link's purpose, so a forged or mistyped token is refused before the
database is asked. Only a keyed hash of the random part is stored, bound to the account and the message that
carried it. A link expires (`TTL`, 14 days) and the lender or the sending agency may revoke it, which ends every
session it opened. Opening one never shows anything by itself: a one-time code comes first (tenants/portal/access.py).
"""
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from tenants import audit, clock
from tenants.context import current_tenant_id
from tenants.db import db, get_visible
from tenants.errors import Conflict
from tenants.pii import blind_index
from tenants.portal.models import PortalLink, PortalSession

PURPOSE = "portal"
PLACEHOLDER = "portal_link"
TTL = timedelta(days=14)
_base_url = "http://127.0.0.1:5000"


def configure(base_url: str) -> None:
    """The address debtors reach the portal at (the web layer sets it from PORTAL_BASE_URL)."""
    global _base_url
    _base_url = base_url.rstrip("/")


def _signature(random_part: str, purpose: str = PURPOSE) -> str:
    return blind_index("portal_link_signature", f"{purpose}:{random_part}")[:16]


def token_hash(random_part: str) -> str:
    return blind_index("portal_link", random_part)


def split(token: str, purpose: str = PURPOSE) -> str | None:
    """The random part of a well-signed token, else None (no database read for a forged one)."""
    random_part, dot, signature = (token or "").partition(".")
    if not dot or not 16 <= len(random_part) <= 64 or len(signature) != 16:
        return None
    return random_part if hmac.compare_digest(_signature(random_part, purpose), signature) else None


def base_url() -> str:
    return _base_url


def url_for_token(token: str) -> str:
    return f"{_base_url}/p/{token}"


@dataclass
class Prepared:
    """A link made while its message is being rendered, saved once the message row exists."""

    link: PortalLink
    token: str

    @property
    def url(self) -> str:
        return url_for_token(self.token)


def wanted(*texts: str | None) -> bool:
    from tenants.messaging import rendering

    return any(PLACEHOLDER in rendering.placeholders(text) for text in texts if text)


def prepare(account, *, message_id: uuid.UUID | None, template_id: uuid.UUID | None, channel: str,
            phone_position: int = 0) -> Prepared:
    random_part = secrets.token_urlsafe(16)
    now = clock.now()
    link = PortalLink(tenant_id=current_tenant_id(), lender_tenant_id=account.tenant_id, account_id=account.id,
                      message_id=message_id, template_id=template_id, purpose=PURPOSE,
                      token_hash=token_hash(random_part), channel=channel, phone_position=phone_position,
                      created_at=now, expires_at=now + TTL)
    return Prepared(link=link, token=f"{random_part}.{_signature(random_part)}")


def save(prepared: Prepared) -> PortalLink:
    db.session.add(prepared.link)
    db.session.flush()
    audit.record("portal.link_issued", object_type="portal_link", object_id=prepared.link.id,
                 after={"account_id": str(prepared.link.account_id), "message_id": str(prepared.link.message_id),
                        "channel": prepared.link.channel, "expires_at": prepared.link.expires_at.isoformat()})
    return prepared.link


def issue(account, *, channel: str, message_id: uuid.UUID | None = None, template_id: uuid.UUID | None = None,
          phone_position: int = 0) -> tuple[PortalLink, str]:
    """A link saved at once (the demo, tests); returns the link and its URL."""
    prepared = prepare(account, message_id=message_id, template_id=template_id, channel=channel,
                       phone_position=phone_position)
    return save(prepared), prepared.url


def usable(link: PortalLink | None) -> bool:
    return link is not None and link.purpose == PURPOSE and link.revoked_at is None and link.expires_at > clock.now()


def get_link(link_id: uuid.UUID) -> PortalLink:
    return get_visible(PortalLink, link_id, "portal.link_not_found")


def of_account(account_id: uuid.UUID) -> list[PortalLink]:
    return list(db.session.scalars(select(PortalLink).where(PortalLink.account_id == account_id)
                                   .order_by(PortalLink.created_at.desc())))


def revoke(link_id: uuid.UUID, *, user_id: uuid.UUID | None) -> PortalLink:
    """The lender or the sending agency ends a link and every session it opened."""
    link = get_link(link_id)
    if link.revoked_at is not None:
        raise Conflict("This link is already revoked.", code="portal.link_revoked")
    now = clock.now()
    link.revoked_at, link.revoked_by_user_id = now, user_id
    ended = 0
    for session in db.session.scalars(select(PortalSession).where(PortalSession.link_id == link.id,
                                                                  PortalSession.revoked_at.is_(None))):
        session.revoked_at, session.end_reason = now, "link_revoked"
        ended += 1
    db.session.flush()
    audit.record("portal.link_revoked", object_type="portal_link", object_id=link.id,
                 after={"account_id": str(link.account_id), "sessions_ended": ended, "by": str(current_tenant_id())})
    return link
