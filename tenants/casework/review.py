"""The daily review of promises and plans: which agencies have something open (asked in a platform context), and
one agency's review in its own context."""
import uuid
from datetime import datetime

from sqlalchemy import select, union

from tenants.casework import plans, promises
from tenants.casework.money_models import PaymentPlan, PlanStatus, Promise, PromiseStatus
from tenants.db import db


def agencies_to_review() -> list[uuid.UUID]:
    """Call in a platform context."""
    query = union(select(Promise.tenant_id).where(Promise.status == PromiseStatus.OPEN),
                  select(PaymentPlan.tenant_id).where(PaymentPlan.status.in_(PlanStatus.OPEN)))
    return sorted(db.session.scalars(query), key=str)


def review_agency(now: datetime | None = None) -> dict:
    """The current agency's open promises and plans, judged against confirmed payments. Idempotent."""
    return {"promises": promises.review(now), "plans": plans.review(now)}
