"""Session users for the web UI. The user loader only finds a user inside the tenant of the URL."""
import uuid

from flask import Flask, g, redirect, request, url_for
from flask_login import UserMixin

from tenants.db import db
from tenants.tenancy.models import Membership, User
from tenants.tenancy.services import membership_in_current_tenant
from web.extensions import login_manager


class SessionUser(UserMixin):
    def __init__(self, user: User, membership: Membership | None):
        self.user = user
        self.membership = membership

    def get_id(self) -> str:
        return str(self.user.id)

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


def _load_user(user_id: str) -> SessionUser | None:
    try:
        uid = uuid.UUID(user_id)
    except ValueError:
        return None
    user = db.session.get(User, uid)
    if user is None or not user.is_active:
        return None
    if g.get("tenant") is None:
        return SessionUser(user, None)
    membership = membership_in_current_tenant(user.id)
    return SessionUser(user, membership) if membership else None


def _unauthorized():
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def init_login(app: Flask) -> None:
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.session_protection = "strong"
