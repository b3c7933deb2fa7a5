"""Tenant context and the ORM lock.

Every request and every job runs inside exactly one context: a tenant's, or the platform's (explicit, with a
reason, logged). Tenant-scoped models are filtered by `with_loader_criteria` from that context; without one,
queries on tenant data fail closed. A `before_flush` guard refuses rows of another tenant. On PostgreSQL the
same context is copied into the transaction-local settings `app.tenant_id` / `app.platform` that the row-level
security policies read, so raw SQL is fenced as well (the database lock).
"""
import logging
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

from flask import has_app_context
from sqlalchemy import ForeignKey, Uuid, event, text
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, with_loader_criteria

from tenants.db import db
from tenants.errors import TenantIsolationError

log = logging.getLogger("recoverly.platform_context")


@dataclass(frozen=True)
class TenantContext:
    tenant_id: uuid.UUID | None
    platform_reason: str | None = None

    @property
    def is_platform(self) -> bool:
        return self.platform_reason is not None


_current: ContextVar[TenantContext | None] = ContextVar("recoverly_tenant_context", default=None)


class TenantScoped:
    """Mixin for every row that belongs to one tenant."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, ForeignKey("tenants.id"), index=True, nullable=False)


class SharedScoped:
    """Rows owned by one tenant (`tenant_id`) that another tenant may also see through a relationship — an
    account seen by the agency holding its active placement. Each class says who sees it (`visible_to`, a SQL
    expression used by the ORM lock; the migrations mirror it in row-level security) and who may write it."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, ForeignKey("tenants.id"), index=True, nullable=False)

    @classmethod
    def visible_to(cls, tenant_id: uuid.UUID):
        raise NotImplementedError

    def writable_by(self, tenant_id: uuid.UUID) -> bool:
        return self.tenant_id == tenant_id


_SCOPED = (TenantScoped, SharedScoped)


def _shared_classes() -> list[type]:
    return [m.class_ for m in db.Model.registry.mappers if issubclass(m.class_, SharedScoped)]


def current() -> TenantContext | None:
    return _current.get()


def current_tenant_id() -> uuid.UUID:
    ctx = _current.get()
    if ctx is None or ctx.tenant_id is None:
        raise TenantIsolationError("no tenant context is active")
    return ctx.tenant_id


def activate(ctx: TenantContext | None):
    """Enter a context for the rest of a request or job; returns the token `deactivate` needs."""
    if ctx is not None and ctx.is_platform:
        log.debug("platform context entered: %s", ctx.platform_reason)
    token = _current.set(ctx)
    _resync_open_transaction()
    return token


def deactivate(token) -> None:
    _current.reset(token)
    _resync_open_transaction()


@contextmanager
def tenant_scope(tenant_id: uuid.UUID):
    token = activate(TenantContext(tenant_id=tenant_id))
    try:
        yield
    finally:
        deactivate(token)


@contextmanager
def platform_scope(reason: str):
    """Cross-tenant work (login lookups, admin reports, sweepers) — never an ad hoc filter switch."""
    if not reason:
        raise ValueError("a platform context needs a reason")
    token = activate(TenantContext(tenant_id=None, platform_reason=reason))
    try:
        yield
    finally:
        deactivate(token)


def _guc_values() -> dict:
    ctx = _current.get()
    if ctx is None:
        return {"tenant": "", "platform": ""}
    if ctx.is_platform:
        return {"tenant": "", "platform": "on"}
    return {"tenant": str(ctx.tenant_id), "platform": ""}


def _apply_database_setting(connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    connection.execute(
        text("SELECT set_config('app.tenant_id', :tenant, true), set_config('app.platform', :platform, true)"),
        _guc_values(),
    )


def _resync_open_transaction() -> None:
    """A context entered mid-transaction must reach PostgreSQL too, not only the next transaction."""
    if not has_app_context():
        return
    session = db.session()
    if not session.in_transaction():
        return
    try:
        _apply_database_setting(session.connection())
    except (DBAPIError, PendingRollbackError):
        # The transaction already failed; nothing more runs in it but a rollback, which clears the setting.
        pass


@lru_cache(maxsize=4096)
def _criteria_for(tenant_id: uuid.UUID) -> tuple:
    """The loader criteria of one tenant, built once: the shared classes' subqueries are costly to rebuild."""
    return (
        with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True),
        *(with_loader_criteria(cls, cls.visible_to(tenant_id), include_aliases=True) for cls in _shared_classes()),
    )


def _touches_tenant_data(orm_execute_state) -> bool:
    return any(issubclass(m.class_, _SCOPED) for m in orm_execute_state.all_mappers)


@event.listens_for(Session, "after_begin")
def _set_transaction_tenant(session, transaction, connection):
    _apply_database_setting(connection)


@event.listens_for(Session, "do_orm_execute")
def _apply_tenant_criteria(state):
    if state.is_column_load or not (state.is_select or state.is_update or state.is_delete):
        return
    ctx = _current.get()
    if ctx is not None and ctx.is_platform:
        return
    if ctx is None:
        if _touches_tenant_data(state):
            raise TenantIsolationError("query on tenant data without a tenant context")
        # Tenant tables reached only through a join: match nothing rather than everything.
        state.statement = state.statement.options(
            with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id.is_(None), include_aliases=True),
            *(with_loader_criteria(cls, cls.tenant_id.is_(None), include_aliases=True) for cls in _shared_classes()),
        )
        return
    state.statement = state.statement.options(*_criteria_for(ctx.tenant_id))


@event.listens_for(Session, "before_flush")
def _refuse_foreign_rows(session, flush_context, instances):
    ctx = _current.get()
    for obj in chain(session.new, session.dirty, session.deleted):
        if not isinstance(obj, _SCOPED):
            continue
        if ctx is None:
            raise TenantIsolationError(f"writing {type(obj).__name__} without a tenant context")
        if ctx.is_platform:
            continue
        if obj.tenant_id is None and obj in session.new:
            obj.tenant_id = ctx.tenant_id
        allowed = obj.writable_by(ctx.tenant_id) if isinstance(obj, SharedScoped) else obj.tenant_id == ctx.tenant_id
        if not allowed:
            raise TenantIsolationError(f"{type(obj).__name__} belongs to another tenant")
