"""The collector's desk: who works a case (assignments), what was noted on it, and the callbacks promised.

All three belong to the agency (`TenantScoped`): the lender never reads an agency's internal notes or its staffing.
An assignment is tied to a placement, so when the placement ends (recall, expiry, closure) the case simply stops
appearing in queues; a new placement of the same account starts unassigned.
"""
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db
from tenants.pii import EncryptedString


class AssignmentMethod:
    HAND = "hand"
    ROUND_ROBIN = "round_robin"
    REGION = "region"
    ALL = (HAND, ROUND_ROBIN, REGION)


class CaseAssignment(UuidPrimaryKey, TenantScoped, db.Model):
    """One collector working one placed case from `assigned_at` until `ended_at` (reassigned or released)."""

    __tablename__ = "case_assignments"
    __table_args__ = (
        # One current assignment per placement, enforced by the database (two supervisors racing both lose but one).
        Index("uq_case_assignments_current_placement", "placement_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
        # A collector's queue starts here: his current cases only.
        Index("ix_case_assignments_current_collector", "tenant_id", "collector_user_id",
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
    )

    placement_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("placements.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    collector_user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    method: Mapped[str] = mapped_column(String(12))
    assigned_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))


class CaseNote(UuidPrimaryKey, TenantScoped, db.Model):
    """A collector's note on a case. The text often repeats what the debtor said: encrypted at rest."""

    __tablename__ = "case_notes"
    __table_args__ = (Index("ix_case_notes_account_created", "account_id", "created_at"),)

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"))
    placement_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("placements.id"))
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(EncryptedString)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)


class CallbackStatus:
    SCHEDULED = "scheduled"
    DONE = "done"
    CANCELLED = "cancelled"


class Callback(UuidPrimaryKey, TenantScoped, db.Model):
    """A call back promised to the debtor at a time of theirs: `due_at` in UTC, `local_zone` the zone it was given
    in (shown back in that zone, whatever the collector's own)."""

    __tablename__ = "callbacks"
    __table_args__ = (
        Index("ix_callbacks_account_status_due", "account_id", "status", "due_at"),
        Index("ix_callbacks_collector_status_due", "tenant_id", "collector_user_id", "status", "due_at"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"))
    placement_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("placements.id"))
    collector_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    local_zone: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(EncryptedString)
    status: Mapped[str] = mapped_column(String(12), default=CallbackStatus.SCHEDULED)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
