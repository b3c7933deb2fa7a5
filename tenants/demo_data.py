"""Demo tenants and one user for every role. Idempotent: running it again changes nothing."""
from dataclasses import dataclass

from sqlalchemy import select

from tenants import audit
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.tenancy.models import Membership, Tenant, User
from tenants.tenancy.passwords import hash_password
from tenants.tenancy.roles import TenantKind
from tenants.tenancy.services import email_index

DEMO_PASSWORD = "demo-password-1"

TENANTS = [
    # kind, slug, name, zone, locale, currency
    (TenantKind.PLATFORM, "platform", "Recoverly Platform", "UTC", "en", "CNY"),
    (TenantKind.LENDER, "jinxin-lending", "金信网贷 Jinxin Lending", "Asia/Shanghai", "zh_CN", "CNY"),
    (TenantKind.LENDER, "harbor-credit", "Harbor Credit (US)", "America/New_York", "en", "USD"),
    (TenantKind.AGENCY, "huaxia-collect", "华夏催收 Huaxia Collections", "Asia/Shanghai", "zh_CN", "CNY"),
    (TenantKind.AGENCY, "eastwind-recovery", "东风资产 Eastwind Recovery", "Asia/Shanghai", "zh_CN", "CNY"),
    (TenantKind.AGENCY, "atlas-recovery", "Atlas Recovery (US)", "America/Chicago", "en", "USD"),
]

USERS = [
    # email, name, tenant slug, role
    ("admin@recoverly.test", "Platform Admin", "platform", "platform_admin"),
    ("lender.admin@jinxin.test", "王丽 Wang Li", "jinxin-lending", "lender_admin"),
    ("lender.manager@jinxin.test", "陈刚 Chen Gang", "jinxin-lending", "lender_manager"),
    ("lender.analyst@jinxin.test", "刘洋 Liu Yang", "jinxin-lending", "lender_analyst"),
    ("lender.admin@harbor.test", "Dana Brooks", "harbor-credit", "lender_admin"),
    ("agency.admin@huaxia.test", "张伟 Zhang Wei", "huaxia-collect", "agency_admin"),
    ("supervisor@huaxia.test", "李娜 Li Na", "huaxia-collect", "agency_supervisor"),
    ("collector@huaxia.test", "赵强 Zhao Qiang", "huaxia-collect", "agency_collector"),
    ("agency.admin@eastwind.test", "孙敏 Sun Min", "eastwind-recovery", "agency_admin"),
    ("collector@eastwind.test", "周杰 Zhou Jie", "eastwind-recovery", "agency_collector"),
    ("agency.admin@atlas.test", "Sam Ortiz", "atlas-recovery", "agency_admin"),
    ("collector@atlas.test", "Riley Chen", "atlas-recovery", "agency_collector"),
    # One person in two organisations, to show the tenant switcher.
    ("collector@huaxia.test", "赵强 Zhao Qiang", "eastwind-recovery", "agency_collector"),
]


@dataclass(frozen=True)
class Credential:
    email: str
    password: str
    tenant: str
    role: str


def seed() -> list[Credential]:
    tenants = {slug: _tenant(kind, slug, name, zone, locale, currency)
               for kind, slug, name, zone, locale, currency in TENANTS}
    credentials = []
    for email, name, slug, role in USERS:
        user = _user(email, name, tenants[slug].locale)
        _membership(tenants[slug], user, role)
        credentials.append(Credential(email, DEMO_PASSWORD, slug, role))
    db.session.commit()
    return credentials


def _tenant(kind, slug, name, zone, locale, currency) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        tenant = Tenant(kind=kind, slug=slug, name=name, time_zone=zone, locale=locale, currency=currency)
        db.session.add(tenant)
        db.session.flush()
        with tenant_scope(tenant.id):
            audit.record("tenant.created", object_type="tenant", object_id=tenant.id,
                         after={"slug": slug, "kind": kind, "source": "seed-demo"})
    return tenant


def _user(email: str, name: str, locale: str) -> User:
    user = db.session.scalar(select(User).where(User.email_index == email_index(email)))
    if user is None:
        user = User(email_index=email_index(email), email=email, name=name,
                    password_hash=hash_password(DEMO_PASSWORD), locale=locale)
        db.session.add(user)
        db.session.flush()
    return user


def _membership(tenant: Tenant, user: User, role: str) -> None:
    with platform_scope("seed-demo"):
        exists = db.session.scalar(
            select(Membership.id).where(Membership.tenant_id == tenant.id, Membership.user_id == user.id)
        )
    if exists is None:
        with tenant_scope(tenant.id):
            membership = Membership(tenant_id=tenant.id, user_id=user.id, role=role)
            db.session.add(membership)
            db.session.flush()
            audit.record("membership.created", object_type="membership", object_id=membership.id,
                         after={"role": role, "source": "seed-demo"})
