"""Cursor pagination: stable under inserts, ordered by (time, id), with an opaque cursor."""
import base64
import json
import uuid
from datetime import datetime

from marshmallow import Schema, fields, validate
from sqlalchemy import and_, or_

from tenants.db import db
from tenants.errors import ValidationFailed


class PageArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)


def page_schema(item_schema, name: str):
    return Schema.from_dict(
        {"items": fields.List(fields.Nested(item_schema)), "next_cursor": fields.String(allow_none=True)},
        name=name,
    )


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, ident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except (ValueError, TypeError):
        raise ValidationFailed("The cursor is not valid; start again without it.", code="pagination.bad_cursor") \
            from None


def _encode(at: datetime, ident: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), str(ident)]).encode()).decode()


def paginate(stmt, time_column, id_column, *, limit: int, cursor: str | None, newest_first: bool = False) -> dict:
    if cursor:
        at, ident = _decode(cursor)
        if newest_first:
            stmt = stmt.where(or_(time_column < at, and_(time_column == at, id_column < ident)))
        else:
            stmt = stmt.where(or_(time_column > at, and_(time_column == at, id_column > ident)))
    order = (time_column.desc(), id_column.desc()) if newest_first else (time_column, id_column)
    rows = db.session.scalars(stmt.order_by(*order).limit(limit + 1)).all()
    items, more = rows[:limit], len(rows) > limit
    last = items[-1] if items else None
    next_cursor = _encode(getattr(last, time_column.key), getattr(last, id_column.key)) if more else None
    return {"items": items, "next_cursor": next_cursor}
