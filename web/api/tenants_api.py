"""Tenant administration for platform-admin tokens. For any other token these routes do not exist (404)."""
import uuid

from flask import g, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from tenants.conduct import baseline
from tenants.conduct.presets import PRESETS
from tenants.context import platform_scope
from tenants.db import db
from tenants.errors import NotFound
from tenants.tenancy.models import Tenant, TenantStatus
from tenants.tenancy.roles import TenantKind
from tenants.tenancy.schemas import NewTenantSchema
from tenants.tenancy.services import create_tenant, get_tenant, set_tenant_status
from web.api.pagination import PageArgs, page_schema, paginate
from web.api.schemas import StatusChangeIn, TenantCreatedOut, TenantOut, with_extra

blp = Blueprint("api_tenants", __name__, url_prefix="/api/v1/tenants", description="Tenants (platform admins)")


@blp.before_request
def _platform_admins_only():
    if g.get("tenant") is None or g.tenant.kind != TenantKind.PLATFORM or g.get("role") != "platform_admin":
        raise NotFound()


@blp.route("")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(TenantOut, "TenantPage"))
def list_tenants(args):
    with platform_scope("api: every tenant, for the platform"):
        return paginate(select(Tenant).where(Tenant.kind != TenantKind.PLATFORM), Tenant.created_at, Tenant.id,
                        **args)


@blp.route("", methods=["POST"])
@blp.arguments(NewTenantSchema)
@blp.response(201, TenantCreatedOut)
def new_tenant(data):
    tenant, secret = create_tenant(platform_tenant_id=g.tenant.id, **data)
    db.session.commit()
    return with_extra(tenant, TenantOut, first_admin_accept_url=url_for("auth.accept", token=secret, _external=True))


@blp.route("/<uuid:tenant_id>")
@blp.response(200, TenantOut)
def tenant(tenant_id: uuid.UUID):
    return get_tenant(tenant_id)


@blp.route("/<uuid:tenant_id>/suspend", methods=["POST"])
@blp.arguments(StatusChangeIn)
@blp.response(200, TenantOut)
def suspend(data, tenant_id: uuid.UUID):
    found = set_tenant_status(get_tenant(tenant_id), TenantStatus.SUSPENDED, platform_tenant_id=g.tenant.id, **data)
    db.session.commit()
    return found


class BaselineIn(Schema):
    baseline = fields.String(required=True, validate=validate.OneOf(tuple(PRESETS)),
                             metadata={"description": "The rulebook preset: cn, us, uk, in or ie."})


@blp.route("/<uuid:tenant_id>/conduct-baseline", methods=["PUT"])
@blp.arguments(BaselineIn)
@blp.response(200, TenantOut)
def conduct_baseline(data, tenant_id: uuid.UUID):
    """Assign a lender's conduct baseline; placements' tightened parameters apply on top of it."""
    found = get_tenant(tenant_id)
    baseline.assign(found, data["baseline"], platform_tenant_id=g.tenant.id)
    db.session.commit()
    return found


@blp.route("/<uuid:tenant_id>/reactivate", methods=["POST"])
@blp.arguments(StatusChangeIn)
@blp.response(200, TenantOut)
def reactivate(data, tenant_id: uuid.UUID):
    found = set_tenant_status(get_tenant(tenant_id), TenantStatus.ACTIVE, platform_tenant_id=g.tenant.id, **data)
    db.session.commit()
    return found
