"""The one SQLAlchemy handle every model and service shares."""
import uuid
from datetime import timezone

from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import DateTime, MetaData, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class GuardedSession(FlaskSession):
    """`get` answers from the identity map without SQL. A row the map holds from another context (platform work
    earlier in the same session, or another tenant's) is read again through the current context's locks, so an
    object loaded for the platform is never handed to tenant code unfiltered."""

    def get(self, entity, ident, **kwargs):
        from tenants.context import loaded_under_current_context

        found = super().get(entity, ident, **kwargs)
        if found is None or kwargs.get("populate_existing") or loaded_under_current_context(found):
            return found
        return super().get(entity, ident, **{**kwargs, "populate_existing": True})


db = SQLAlchemy(model_class=Base, session_options={"class_": GuardedSession})


def on_postgres() -> bool:
    """Whether the session's database is PostgreSQL (production, CI) rather than SQLite (the demo): the paths that
    use its functions, row-level security and triggers ask this."""
    return db.session.get_bind().dialect.name == "postgresql"


def commit_keeping_state() -> None:
    """Commit without expiring what the request loaded: it reads those objects again right after (its response),
    and expired objects reload one query each."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def get_visible(model, ident, code: str):
    """A row by id as the current viewer sees it: another tenant's row, a case an agency keeps from this collector
    (tenants.casework.own_cases) and a missing row are the same 404."""
    from tenants.casework import own_cases  # imported here: the fence's module builds on this one
    from tenants.errors import NotFound

    found = db.session.get(model, ident)
    if found is None or own_cases.hides(found):
        raise NotFound(code=code)
    return found


class UuidPrimaryKey:
    """Random ids: sequential ones would tell a tenant how many rows the platform holds."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class UtcDateTime(TypeDecorator):
    """Stores aware datetimes as UTC and always hands back aware UTC datetimes, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store aware datetimes only")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
