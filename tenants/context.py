"""Tenant context and the ORM lock.

Every request and every job runs inside exactly one context: a tenant's, or the platform's (explicit, with a
reason, logged). Who sees and writes what is declared once in tenants.access_policy: its read rules become the
`with_loader_criteria` of every query (without a context, queries on tenant data fail closed), its insert and
write rules the `before_flush` guard. On PostgreSQL the same context reaches each transaction as a token that only
`app_enter_tenant` / `app_enter_platform` with DB_LOCK_KEY can mint (tenants.database_lock), so raw SQL is fenced
by row-level security generated from the same declaration (the database lock).
"""
import logging
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import ClassVar

from flask import has_app_context
from sqlalchemy import ForeignKey, Table, Uuid, bindparam, event, false, inspect, text
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, with_loader_criteria
from sqlalchemy.sql.util import find_tables

from tenants import access_policy
from tenants.db import db
from tenants.errors import TenantIsolationError, WriteRefused

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
    """Mixin for every row that belongs to one tenant; who else sees it is declared in tenants.access_policy.
    A model whose own index leads with tenant_id sets `tenant_id_index = False`: that index serves every lookup by
    tenant, and a second one only costs its inserts (and can lead the planner astray, see migration 0028)."""

    tenant_id_index: ClassVar[bool] = True

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, ForeignKey("tenants.id"), index=cls.tenant_id_index, nullable=False)


def _access(obj) -> access_policy.Access | None:
    table = getattr(type(obj), "__table__", None)
    return access_policy.access_of(table.name) if table is not None else None


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


def hand_over_to_tenant(platform_token, tenant) -> object:
    """Leave platform work (entered with `platform_token`) for the tenant whose own row it read, which the open
    transaction already acts for: the statement that read the row entered the tenant itself (app_enter_bearer,
    tenants.tenancy.tokens), so nothing more is sent. That row counts as read under the tenant's context, since a
    tenant always sees itself (tenants.access_policy). Returns the token `deactivate` needs."""
    _current.reset(platform_token)
    token = _current.set(TenantContext(tenant_id=tenant.id))
    inspect(tenant).info["context"] = _current.get()
    return token


_entered_by_statement: ContextVar[bool] = ContextVar("recoverly_entered_by_statement", default=False)


@contextmanager
def entered_by_statement():
    """A transaction begun inside the block sets no context at its start: its first statement enters one itself,
    through a SECURITY DEFINER function that checks DB_LOCK_KEY (app_enter_bearer). Until then it acts for nobody:
    the tokens are transaction-local, and one left in a session-level setting is worthless in a new transaction."""
    flag = _entered_by_statement.set(True)
    try:
        yield
    finally:
        _entered_by_statement.reset(flag)


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


_lock_key: str | None = None


def configure(lock_key: str | None) -> None:
    """The key with which a transaction tells the database lock which tenant it acts for, or that it does
    platform work (tenants/database_lock.py)."""
    global _lock_key
    _lock_key = lock_key


def lock_key() -> str:
    """DB_LOCK_KEY, for a statement that enters a context itself (`entered_by_statement`)."""
    if not _lock_key:
        raise TenantIsolationError("the database lock needs DB_LOCK_KEY")
    return _lock_key


_TENANT_SQL = text("SELECT app_enter_tenant(:tenant, :key)")
_PLATFORM_SQL = text("SELECT app_enter_platform(:key)")
_NO_CONTEXT_SQL = text("SELECT set_config('app.tenant_id', '', true), set_config('app.tenant_token', '', true), "
                       "set_config('app.platform', '', true)")
# With a statement timeout (web transactions, README "Configuration"), the same round trip sets it for the
# transaction alone (`set_config(…, true)` is SET LOCAL): safe behind PgBouncer in transaction mode, where a
# connection-level setting would stay with the server connection.
_TIMED = {sql: text(sql.text + ", set_config('statement_timeout', :statement_timeout, true)")
          for sql in (_TENANT_SQL, _PLATFORM_SQL, _NO_CONTEXT_SQL)}
_statement_timeout: str | None = None


def set_statement_timeout(milliseconds: int | None) -> None:
    """Every transaction that enters its context at its start gets this statement timeout (0/None: the server's)."""
    global _statement_timeout
    _statement_timeout = f"{int(milliseconds)}ms" if milliseconds else None


def statement_timeout() -> str | None:
    """The web transactions' statement timeout (e.g. '30000ms'), for a statement that enters its context by itself
    (the API's bearer lookup), or None."""
    return _statement_timeout


def _execute_setting(connection, sql, params: dict) -> None:
    if _statement_timeout is None:
        connection.execute(sql, params)
    else:
        connection.execute(_TIMED[sql], {**params, "statement_timeout": _statement_timeout})


def _apply_database_setting(connection) -> None:
    """The context, as the database lock sees it: a tenant or the platform only with DB_LOCK_KEY."""
    if connection.dialect.name != "postgresql":
        return
    ctx = _current.get()
    if ctx is None or (ctx.tenant_id is None and not ctx.is_platform):
        _execute_setting(connection, _NO_CONTEXT_SQL, {})
        return
    if not _lock_key:
        raise TenantIsolationError("the database lock needs DB_LOCK_KEY")
    if ctx.is_platform:
        _execute_setting(connection, _PLATFORM_SQL, {"key": _lock_key})
    else:
        _execute_setting(connection, _TENANT_SQL, {"tenant": ctx.tenant_id, "key": _lock_key})


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


@lru_cache(maxsize=65536)
def _criterion(cls: type, tenant_id: uuid.UUID | None):
    """The declared read rule of one class for one tenant, built once: its subqueries are costly to rebuild.
    Without a tenant, tenant data reached through a join matches nothing rather than everything."""
    rule = access_policy.access_of(cls.__table__.name).read
    where = rule.sql(cls, tenant_id) if rule is not None and tenant_id is not None else false()
    return with_loader_criteria(cls, where, include_aliases=True)


@lru_cache(maxsize=4096)
def _declared_reach(tables: frozenset[str]) -> tuple[type, ...]:
    """The declared classes of these tables and of every class their relationships reach (a joined eager load
    reads them in the same statement)."""
    by_table = {m.local_table.name: m for m in db.Model.registry.mappers}
    seen, todo = set(), [by_table[name] for name in tables if name in by_table]
    while todo:
        mapper = todo.pop()
        if mapper in seen:
            continue
        seen.add(mapper)
        todo.extend(relationship.mapper for relationship in mapper.relationships)
    return tuple(m.class_ for m in seen if access_policy.access_of(m.local_table.name))


def _criteria_for(statement, tenant_id: uuid.UUID | None) -> list:
    """Criteria for the declared tables the statement reads — in joins and subqueries too — rather than for all
    of them: a statement's cache key is computed on every execution and grows with its options."""
    tables = frozenset(table.name for table in find_tables(statement, check_columns=True, include_aliases=True,
                                                           include_joins=True, include_selects=True,
                                                           include_crud=True) if isinstance(table, Table))
    return [_criterion(cls, tenant_id) for cls in _declared_reach(tables)]


def _touches_tenant_data(orm_execute_state) -> bool:
    return any(access_policy.access_of(m.local_table.name) for m in orm_execute_state.all_mappers)


@event.listens_for(Session, "after_begin")
def _set_transaction_tenant(session, transaction, connection):
    if not _entered_by_statement.get():
        _apply_database_setting(connection)


@event.listens_for(Session, "do_orm_execute")
def _apply_tenant_criteria(state):
    if state.is_column_load:
        return _refresh_under_loading_context(state)
    if not (state.is_select or state.is_update or state.is_delete):
        return
    ctx = _current.get()
    if ctx is not None and ctx.is_platform:
        return
    if ctx is None and _touches_tenant_data(state):
        raise TenantIsolationError("query on tenant data without a tenant context")
    criteria = _criteria_for(state.statement, ctx.tenant_id if ctx else None)
    if criteria:
        state.statement = state.statement.options(*criteria)


def _refresh_under_loading_context(state):
    """Expired columns of an object the caller already holds are read again under the context that loaded it:
    a person loaded at login keeps their name after the commit, with no tenant chosen yet. It reveals no row the
    caller did not have; handing out rows by id across contexts is what GuardedSession refuses."""
    held = state.load_options._refresh_state
    loading = held.info.get("context") if held is not None else None
    current_ctx = _current.get()
    if loading is None or loading == current_ctx:
        return None
    connection = state.session.connection()
    token = _current.set(loading)
    try:
        _apply_database_setting(connection)
        return state.invoke_statement()
    finally:
        _current.reset(token)
        _apply_database_setting(connection)


@event.listens_for(Session, "before_flush")
def _refuse_foreign_rows(session, flush_context, instances):
    """The declared insert and write rules, checked before the database sees the row (on SQLite the only lock)."""
    ctx = _current.get()
    for obj in chain(session.new, session.dirty, session.deleted):
        access = _access(obj)
        if access is None:
            continue
        if ctx is None:
            raise TenantIsolationError(f"writing {type(obj).__name__} without a tenant context")
        if ctx.is_platform:
            continue
        if isinstance(obj, TenantScoped) and obj.tenant_id is None and obj in session.new:
            obj.tenant_id = ctx.tenant_id
        rule = access.insert_rule if obj in session.new else access.write
        if not access_policy.evaluate(rule, obj, ctx.tenant_id, session.connection()):
            log.warning("write refused by the access policy: %s %s", type(obj).__name__, getattr(obj, "id", None))
            raise WriteRefused()


def may_write(obj) -> bool:
    """Whether the current tenant may change this row, as the declaration says (for pages offering an action)."""
    ctx = _current.get()
    if ctx is None:
        return False
    if ctx.is_platform:
        return True
    return access_policy.evaluate(_access(obj).write, obj, ctx.tenant_id, db.session.connection())


@event.listens_for(Session, "loaded_as_persistent")
def _remember_loading_context(session, obj):
    inspect(obj).info["context"] = _current.get()


@event.listens_for(Session, "pending_to_persistent")
def _remember_creating_context(session, obj):
    inspect(obj).info["context"] = _current.get()


def loaded_under_current_context(obj) -> bool:
    """False for a row the identity map holds from another context (platform work, another tenant)."""
    return inspect(obj).info.get("context", _current.get()) == _current.get()


TENANT_PARAMETER = "scope_tenant"


def readable(table: Table):
    """The declared read rule of `table` for a Core statement built once and run many times through
    `run_scoped`: the same rule the ORM attaches to its queries, with the tenant left as a parameter. The hot
    paths read plain columns this way rather than entities (building and loading entities costs more than the
    statement); row-level security stays the database's lock as for every query."""
    rule = access_policy.access_of(table.name).read
    return rule.sql(table.c, bindparam(TENANT_PARAMETER, type_=Uuid))


def run_scoped(statement, **parameters):
    """Run a Core statement whose tables are fenced with `readable` as the current tenant (none: refused)."""
    ctx = _current.get()
    if ctx is None or ctx.tenant_id is None:
        raise TenantIsolationError("query on tenant data without a tenant context")
    return db.session.connection().execute(statement, {**parameters, TENANT_PARAMETER: ctx.tenant_id})
