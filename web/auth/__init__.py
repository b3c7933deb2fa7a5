"""Session users for the web UI. The user loader only finds a user inside the tenant of the URL, and only while
the cookie's session version is the user's current one (tenants.tenancy.sessions: revoked sessions end here)."""
import uuid

from flask import Flask, g, redirect, request, url_for
from flask_login import UserMixin

from tenants.context import platform_scope
from tenants.db import db
from tenants.tenancy.models import Membership, User
from tenants.tenancy.services import membership_in_current_tenant
from web.extensions import login_manager

# The session's user id is "<user uuid>.<session version>".
_SEPARATOR = "."


class SessionUser(UserMixin):
    def __init__(self, user: User, membership: Membership | None):
        self.user = user
        self.membership = membership

    def get_id(self) -> str:
        return f"{self.user.id}{_SEPARATOR}{self.user.session_version}"

    @property
    def id(self):
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def locale(self) -> str | None:
        return self.user.locale

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None

    @property
    def is_active(self) -> bool:
        return self.user.is_active


def _parse(session_id: str | None) -> tuple[uuid.UUID, int] | None:
    user_part, _sep, version = (session_id or "").partition(_SEPARATOR)
    try:
        return uuid.UUID(user_part), int(version)
    except ValueError:
        return None


def session_user_id(session_id: str | None) -> uuid.UUID | None:
    """The user a session cookie names (not proof that the session is still valid)."""
    parsed = _parse(session_id)
    return parsed[0] if parsed else None


def _load_user(session_id: str) -> SessionUser | None:
    """A revoked or unknown session loads nobody (the login page); a valid session outside the member's tenants
    loads the person without a membership (the tenant pages answer 404)."""
    parsed = _parse(session_id)
    if parsed is None:
        return None
    user_id, version = parsed
    with platform_scope("session: the logged-in person, before the tenant's membership is checked"):
        user = db.session.get(User, user_id)
    if user is None or not user.is_active or user.session_version != version:
        return None
    if g.get("tenant") is None:
        return SessionUser(user, None)
    return SessionUser(user, membership_in_current_tenant(user.id))


def _unauthorized():
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def init_login(app: Flask) -> None:
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.session_protection = "strong"
