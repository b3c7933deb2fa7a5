"""Accounts: a lender reads its own; an agency reads only the accounts it holds an active placement for (the
tenant lock decides, not this module). Debtor PII is masked by the token's role. Lender updates (a payment made
to the lender directly, an adjustment, a closure) are the lender's alone: for an agency the route does not exist.
"""
import uuid

from flask import g
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from tenants import references
from tenants.capabilities import Capability
from tenants.db import db
from tenants.errors import Conflict
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios import accounts as account_service
from tenants.portfolios import export
from tenants.portfolios.imports import COUNTRY_BY_CURRENCY
from tenants.portfolios.models import Account, Portfolio, UpdateKind
from web.access import require_capability
from web.api.idempotency import idempotency_key
from web.api.pagination import paginate
from web.api.portfolio_schemas import (
    AccountArgs,
    AccountExportArgs,
    AccountOut,
    AccountPage,
    LenderUpdateCreatedOut,
    LenderUpdateIn,
    extend,
    lenders_and_agencies,
    lenders_only,
    loads,
)
from web.exports import stream_export

blp = Blueprint("api_accounts", __name__, url_prefix="/api/v1",
                description="Accounts and the lender's updates to them")


@blp.route("/accounts")
@lenders_and_agencies
@blp.arguments(AccountArgs, location="query")
@blp.response(200, AccountPage)
def list_accounts(args):
    """Accounts, oldest first (cursor pagination on created_at, id). Filters combine with AND."""
    page = {"limit": args.pop("limit"), "cursor": args.pop("cursor")}
    query = account_service.accounts_query(account_service.AccountFilter(**args), default_region=_region())
    return paginate(query.options(selectinload(Account.phones)), Account.created_at, Account.id, **page)


@blp.route("/accounts/export")
@lenders_only
@blp.arguments(AccountExportArgs, location="query")
@blp.doc(responses={"200": {
    "description": "Every account the filters select, in the order asked, streamed: CSV (UTF-8 with BOM, CRLF) "
                   "or XLSX. Personal data is masked by the token's role as in every response; the export is an "
                   "audit event (accounts.exported) with its filters and row count.",
    "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}}}}})
def export_accounts(args):
    file_format, sort = args.pop("format"), args.pop("sort")
    if args["portfolio_id"] is not None:  # the audit event records the filters: never another tenant's id
        references.visible(Portfolio, args["portfolio_id"], code="portfolio.not_found", field="portfolio_id")
    filters = account_service.AccountFilter(**args)
    query = account_service.accounts_query(filters, default_region=_region()).where(Account.tenant_id == g.tenant.id)
    export.record_export(filters, sort, file_format, export.count(query))
    db.session.commit()
    return stream_export(query, sort, file_format)


def _region() -> str:
    """Where a phone written without a country code was written: the tenant's country."""
    return (g.tenant.settings or {}).get("country") or COUNTRY_BY_CURRENCY.get(g.tenant.currency, "CN")


@blp.route("/accounts/<uuid:account_id>")
@lenders_and_agencies
@blp.response(200, AccountOut)
def account(account_id: uuid.UUID):
    found = account_service.get_account(account_id)
    return extend(found, placement=_open_placement(found), lender_updates=account_service.updates_of(found))


def _open_placement(found: Account) -> Placement | None:
    return db.session.scalar(select(Placement).where(Placement.account_id == found.id,
                                                     Placement.status.in_(PlacementStatus.OPEN)))


@blp.route("/accounts/<uuid:account_id>/updates", methods=["POST"])
@lenders_only
@require_capability(Capability.ACCOUNT_UPDATE)
@loads(account_service.get_account, "account_id", "found")
@blp.arguments(LenderUpdateIn)
@blp.response(201, LenderUpdateCreatedOut)
def record_update(data, found: Account):
    """Record a payment made to the lender directly, a signed balance adjustment, or a closure.

    Takes effect at once, for the agency holding the account too. Send an `Idempotency-Key` header (up to 100
    characters, unique per request) and a retried request returns the first answer instead of recording twice."""
    key = idempotency_key()
    if key:
        earlier = account_service.update_by_idempotency_key(key)
        if earlier is not None:
            if earlier.account_id != found.id:
                raise Conflict("This Idempotency-Key was already used for another account.",
                               code="idempotency.key_reused")
            return extend(earlier, account=found, account_status=found.status)
    update = _record(data, found)
    update.idempotency_key = key
    try:
        db.session.commit()
    except IntegrityError:  # the same key raced in from a parallel retry: answer with the winner
        db.session.rollback()
        earlier = account_service.update_by_idempotency_key(key)
        found = account_service.get_account(found.id)
        return extend(earlier, account=found, account_status=found.status)
    return extend(update, account=found, account_status=found.status)


def _record(data, found: Account):
    kind, occurred_on, note = data["kind"], data["occurred_on"], data["note"]
    if kind == UpdateKind.DIRECT_PAYMENT:
        update = account_service.record_direct_payment(found, data["amount"], occurred_on, note, None)
    elif kind == UpdateKind.BALANCE_ADJUSTMENT:
        update = account_service.record_adjustment(found, data["component"], data["amount"], occurred_on, note,
                                                   None)
    else:
        update = account_service.record_closure(found, data["closure_status"], occurred_on, note, None)
    return update
