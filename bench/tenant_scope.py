"""What the tenant lock costs: primary-key reads each in its tenant's context vs. the same ORM reads with a
hand-written tenant filter and no lock.

Runs on the default SQLite (a temporary file) or on DATABASE_URL when set. No flags.
Ends with: RESULT scoped_per_s=… baseline_per_s=… ratio=…
"""
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_tmp = Path(tempfile.mkdtemp(prefix="recoverly-bench-"))
os.environ.setdefault("RECOVERLY_INSTANCE_DIR", str(_tmp))
os.environ.setdefault("RECOVERLY_ENV", "development")  # derived keys: nothing here is real data
os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789abcdef0123456789")

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402

from tenants.context import platform_scope, tenant_scope  # noqa: E402
from tenants.db import db  # noqa: E402
from tenants.tenancy.models import Membership, Tenant, User  # noqa: E402
from web import create_app  # noqa: E402

TENANTS, USERS_PER_TENANT, READS = 20, 50, 5000


def seed() -> list[tuple]:
    pairs = []
    for t in range(TENANTS):
        with platform_scope("benchmark: seed"):
            tenant = Tenant(kind="agency", slug=f"bench-{t}-{random.randrange(10**9)}", name=f"Bench {t}",
                            time_zone="Asia/Shanghai", locale="zh_CN", currency="CNY")
            db.session.add(tenant)
            db.session.flush()
            users = [User(email_index=f"{tenant.slug}-{u}", email="x@example.test", name="x", password_hash=None)
                     for u in range(USERS_PER_TENANT)]
            db.session.add_all(users)
            db.session.flush()
        with tenant_scope(tenant.id):
            for user in users:
                membership = Membership(user_id=user.id, role="agency_collector")
                db.session.add(membership)
                db.session.flush()
                pairs.append((tenant.id, membership.id))
    db.session.commit()
    return pairs


def scoped_reads(pairs) -> float:
    start = time.perf_counter()
    for tenant_id, membership_id in pairs:
        with tenant_scope(tenant_id):
            db.session.execute(select(Membership.role).where(Membership.id == membership_id)).scalar_one()
    return len(pairs) / (time.perf_counter() - start)


def unscoped_reads(pairs) -> float:
    """The same ORM reads with the tenant filter written by hand and no tenant lock (a platform context)."""
    with platform_scope("benchmark baseline"):
        start = time.perf_counter()
        for tenant_id, membership_id in pairs:
            db.session.execute(select(Membership.role).where(Membership.id == membership_id,
                                                             Membership.tenant_id == tenant_id)).scalar_one()
        return len(pairs) / (time.perf_counter() - start)


def main() -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL") or f"sqlite:///{_tmp / 'bench.db'}"})
    with app.app_context():
        upgrade()
        pairs = seed()
        sample = [random.choice(pairs) for _ in range(READS)]
        scoped_reads(sample[:200])  # warm caches
        scoped = scoped_reads(sample)
        baseline = unscoped_reads(sample)
        dialect = db.engine.dialect.name
    print(f"{READS} primary-key reads over {TENANTS} tenants ({dialect})")
    print(f"RESULT scoped_per_s={scoped:.0f} baseline_per_s={baseline:.0f} ratio={scoped / baseline:.2f}")


if __name__ == "__main__":
    main()
