"""A call placed through a telephony gateway for one contact attempt: which gateway knows it by which id, and what
the gateway reported (answered, no answer, busy or failed, and for how long). The agency's own row."""
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db


class CallStatus:
    DIALLING = "dialling"  # handed to the gateway, nothing reported yet
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # the gateway could not place it
    REPORTED = (ANSWERED, NO_ANSWER, BUSY, FAILED)


class Call(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "calls"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    attempt_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contact_attempts.id"), unique=True)
    gateway: Mapped[str] = mapped_column(String(16))
    # None for a softphone link (tel:): nothing outside knows the call.
    gateway_call_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=CallStatus.DIALLING)
    duration_s: Mapped[int | None] = mapped_column(Integer)
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    placed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
