"""The one SQLAlchemy handle every model and service shares."""
import uuid
from datetime import timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, Uuid
from sqlalchemy.types import TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


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
    """A row by id as the current tenant sees it: another tenant's row and a missing one are the same 404."""
    from tenants.errors import NotFound

    found = db.session.get(model, ident)
    if found is None:
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
