"""Server-side session revocation.

A session cookie carries the user's id and `session_version` at login, and the user loader accepts it only while
the two still match. Logging out, changing the password, a change to a membership (role, deactivation,
reactivation) and the suspension of a tenant move the version of the people concerned, which ends every session
they had, on every device. Suspending a tenant thereby also logs its members out of their other tenants: rare
(consultants), and safer than a second version per membership.
"""
import uuid
from collections.abc import Iterable

from sqlalchemy import select, update

from tenants.context import platform_scope
from tenants.db import db
from tenants.tenancy.models import Membership, User


def end_sessions(user_ids: Iterable[uuid.UUID]) -> None:
    ids = sorted(set(user_ids))
    if ids:
        with platform_scope("sessions: end every session of these people"):
            db.session.execute(update(User).where(User.id.in_(ids))
                               .values(session_version=User.session_version + 1))


def end_sessions_of_tenant(tenant_id: uuid.UUID) -> None:
    with platform_scope("end the sessions of a suspended tenant's members"):
        members = db.session.scalars(select(Membership.user_id).where(Membership.tenant_id == tenant_id)).all()
    end_sessions(members)
