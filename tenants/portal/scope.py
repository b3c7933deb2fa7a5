"""The debtor's session acts inside a tenant context — the agency holding the account's active placement, else the
account's lender — and inside that context it is fenced to one account.

The tenant context alone would let the session see every case of that agency, so the portal adds a second fence:
while `account_fence(account_id)` is active, loading any ORM row that names another account (an `Account` whose id,
or any row whose `account_id`, differs) raises `TenantIsolationError` before the row reaches portal code. The portal's
services never take an account id, plan id or agreement id from a request: they act on the session's account and on
the rows hanging on it. The tenant context is the first lock (and row-level security on PostgreSQL), the fence the
second; tests/integration/test_portal_isolation.py holds both.
"""
import uuid
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.orm import Session

from tenants.db import db
from tenants.errors import TenantIsolationError

_fenced: ContextVar[uuid.UUID | None] = ContextVar("recoverly_portal_account", default=None)


def fenced_account() -> uuid.UUID | None:
    return _fenced.get()


def enter(account_id: uuid.UUID):
    return _fenced.set(account_id)


def leave(token) -> None:
    _fenced.reset(token)


@contextmanager
def account_fence(account_id: uuid.UUID):
    token = enter(account_id)
    try:
        yield
    finally:
        leave(token)


def _account_of(obj) -> uuid.UUID | None:
    table = getattr(type(obj), "__table__", None)
    if table is None:
        return None
    if table.name == "accounts":
        return obj.id
    if "account_id" in table.columns:
        return getattr(obj, "account_id", None)
    return None


def check(obj) -> None:
    fenced = _fenced.get()
    if fenced is None:
        return
    account_id = _account_of(obj)
    if account_id is not None and account_id != fenced:
        raise TenantIsolationError(f"portal session of one account loaded a {type(obj).__name__} of another")


@event.listens_for(Session, "loaded_as_persistent")
def _fence_loaded(session, obj):
    check(obj)


def _fence_instance(target, *args):
    check(target)


# A row already held by the session and read again (refreshed, expired) is checked too.
event.listen(db.Model, "load", _fence_instance, propagate=True)
event.listen(db.Model, "refresh", _fence_instance, propagate=True)


@event.listens_for(Session, "before_flush")
def _fence_written(session, flush_context, instances):
    if _fenced.get() is None:
        return
    for obj in (*session.new, *session.dirty):
        check(obj)
