"""Schemas and request guards of the portfolio, account, panel and placement API.

Guards: `only_for(kind, ...)` answers 404 to tokens of another kind of tenant (a lender-only collection does not
exist for an agency), `loads(loader, arg)` resolves the URL's object before the body is parsed, so a foreign id
is a 404 whatever the body. Put them between `@blp.route` and `@blp.arguments`; `require_capability` after `only_for`.

Debtor PII in responses goes through `tenants.pii.mask` with the token's role.
"""
import json
from datetime import date
from functools import wraps
from zoneinfo import ZoneInfo

from flask import g
from flask_smorest.fields import Upload as _Upload
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from werkzeug.datastructures import FileStorage

from tenants import clock
from tenants.errors import NotFound, ValidationFailed
from tenants.money import Money
from tenants.pii import mask
from tenants.placements.panel import CHANNELS
from tenants.portfolios import imports
from tenants.portfolios.accounts import COMPONENTS
from tenants.portfolios.fields import parse_target
from tenants.portfolios.models import AccountStatus, UpdateKind
from tenants.portfolios.rows import MAX_MINOR
from tenants.tenancy.roles import TenantKind
from web.api.pagination import PageArgs

# ---- guards -------------------------------------------------------------------------------------------------

def only_for(*kinds: str):
    """Routes of one kind of tenant: any other token gets 404, as for an object that does not exist."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            tenant = g.get("tenant")
            if tenant is None or tenant.kind not in kinds:
                raise NotFound()
            return view(*args, **kwargs)

        return wrapped

    return decorator


lenders_only = only_for(TenantKind.LENDER)
agencies_only = only_for(TenantKind.AGENCY)
lenders_and_agencies = only_for(TenantKind.LENDER, TenantKind.AGENCY)


def loads(loader, arg: str, as_: str):
    """Look the URL's object up (NotFound for a foreign id) before the body is parsed; pass it as `as_`."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            kwargs[as_] = loader(kwargs.pop(arg))
            return view(*args, **kwargs)

        return wrapped

    return decorator


def is_lender() -> bool:
    return g.tenant.kind == TenantKind.LENDER


class _Extended:
    def __init__(self, obj, extra: dict):
        self._obj = obj
        self.__dict__.update(extra)

    def __getattr__(self, name):
        return getattr(self._obj, name)


def extend(obj, **extra) -> _Extended:
    """The object's attributes plus a few computed for one response (its placement, its updates)."""
    return _Extended(obj, extra)


def tenant_today() -> date:
    return clock.now().astimezone(ZoneInfo(g.tenant.time_zone)).date()


# ---- fields -------------------------------------------------------------------------------------------------

def masked(kind: str, attribute: str, **kwargs) -> fields.Function:
    """A PII field shown in full or masked by the requesting token's role."""
    return fields.Function(lambda obj: mask(kind, getattr(obj, attribute), g.role), allow_none=True,
                           metadata={"description": f"Masked ({kind}) unless the role may see it in full."},
                           **kwargs)


class Whole(fields.Nested):
    """Nests the object itself under another schema: a group of its fields in the output."""

    def get_value(self, obj, attr, accessor=None, default=None):
        return obj


DPD = validate.Range(min=0, max=100_000)


def sane_amount(value: str) -> None:
    """A decimal amount in the tenant's currency, and not so large it would overflow a 64-bit balance."""
    try:
        minor = Money.parse(value, g.tenant.currency).minor
    except ValidationFailed as exc:
        raise ValidationError(exc.message) from None
    if abs(minor) > MAX_MINOR:
        raise ValidationError("The amount is too large.")


class ColumnMap(fields.Dict):
    """{file header: canonical field} (`""` = ignore the column); each target checked by `parse_target`.
    With `from_string`, a JSON object sent as a string (a multipart form field) is accepted too."""

    def __init__(self, *, from_string: bool = False, **kwargs):
        super().__init__(keys=fields.String(), values=fields.String(), **kwargs)
        self.from_string = from_string

    def _deserialize(self, value, attr, data, **kwargs):
        if self.from_string and isinstance(value, str):
            if not value.strip():
                return None
            try:
                value = json.loads(value)
            except ValueError:
                raise ValidationError("Send the mapping as a JSON object of header → field.") from None
        mapping = super()._deserialize(value, attr, data, **kwargs)
        problems = {}
        for header, target in mapping.items():
            if not header.strip():
                problems[header] = ["A header cannot be blank."]
            elif target:
                try:
                    parse_target(target)
                except ValueError:
                    problems[header] = [f"{target!r} is not a Recoverly account field."]
        if problems:
            raise ValidationError(problems)
        return mapping


class Upload(_Upload):
    """A multipart file part (not a plain form value)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ValidationError("Send the file as a multipart file part.")
        return value


# ---- portfolios, imports, mapping ---------------------------------------------------------------------------

class PortfolioOut(Schema):
    id = fields.UUID()
    name = fields.String()
    created_at = fields.DateTime()


class PortfolioDetailOut(PortfolioOut):
    accounts = fields.Integer()
    accounts_open = fields.Integer()
    outstanding_minor = fields.Integer()
    currency = fields.String()


class ImportOut(Schema):
    id = fields.UUID()
    portfolio_id = fields.UUID()
    portfolio_name = fields.Function(lambda job: job.portfolio.name)
    filename = fields.String()
    file_format = fields.String()
    size_bytes = fields.Integer()
    status = fields.String(metadata={"description": "queued, running, completed or failed (see error_code)"})
    progress = fields.Function(
        lambda job: round(job.rows_processed / job.rows_total, 4) if job.rows_total else
        (1.0 if job.status == "completed" else 0.0),
        metadata={"description": "rows_processed ÷ rows_total, 0–1"})
    rows_total = fields.Integer(allow_none=True)
    rows_processed = fields.Integer()
    rows_created = fields.Integer()
    rows_updated = fields.Integer()
    rows_failed = fields.Integer()
    rows_in_other_portfolios = fields.Function(
        lambda job: imports.held_elsewhere_count(job),
        metadata={"description": "Of rows_failed, the rows refused because the lender holds their account in "
                                 "another portfolio (code account.in_other_portfolio): left there until "
                                 "POST /imports/{id}/move-accounts."})
    encoding = fields.String(allow_none=True)
    delimiter = fields.String(allow_none=True)
    headers = fields.List(fields.String(), allow_none=True)
    mapping = fields.Dict(keys=fields.String(), values=fields.String())
    error_code = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


class ImportListArgs(PageArgs):
    portfolio_id = fields.UUID(load_default=None)


class ImportUploadIn(Schema):
    file = Upload(required=True, metadata={"description": ".csv, .tsv, .txt, .xlsx or .json"})
    portfolio = fields.String(required=True, validate=validate.Length(min=1, max=200),
                              metadata={"description": "Portfolio name; created if new."})
    mapping = ColumnMap(from_string=True, load_default=None, allow_none=True,
                        metadata={"description": "Optional JSON object {header: field}; else the saved mapping "
                                                 "or a suggestion is used."})


class JsonImportIn(Schema):
    portfolio = fields.String(required=True, validate=validate.Length(min=1, max=200))
    records = fields.List(fields.Dict(), required=True, metadata={"description": "Account records (objects)."})
    mapping = ColumnMap(load_default=None, allow_none=True)


class CellErrorOut(Schema):
    column = fields.String(allow_none=True)
    code = fields.String()
    message = fields.String(metadata={"description": "English; `code` and `params` render it in any language."})
    params = fields.Dict(keys=fields.String(), metadata={"description": "The message's variables (the value, "
                                                                        "the line…), by name."})


class RowErrorOut(Schema):
    line = fields.Integer()
    errors = fields.List(fields.Nested(CellErrorOut))


class RowErrorArgs(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(load_default=None, metadata={"description": "next_cursor of the previous page"})


class RowErrorPage(Schema):
    items = fields.List(fields.Nested(RowErrorOut))
    next_cursor = fields.String(allow_none=True)


class ColumnMappingIO(Schema):
    mapping = ColumnMap(required=True)


# ---- accounts -----------------------------------------------------------------------------------------------

class AccountFilters(Schema):
    """Which accounts: the list and its export filter alike."""

    portfolio_id = fields.UUID(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf((AccountStatus.OPEN, *AccountStatus.CLOSED)))
    dpd_min = fields.Integer(load_default=None, validate=DPD)
    dpd_max = fields.Integer(load_default=None, validate=DPD)
    region = fields.String(load_default=None)
    external_ref = fields.String(load_default=None)
    phone = fields.String(load_default=None, metadata={"description": "Any written form; matched exactly."})


class AccountArgs(PageArgs, AccountFilters):
    pass


class AccountExportArgs(AccountFilters):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "xlsx")),
                           metadata={"description": "csv (UTF-8 with BOM) or xlsx"})
    sort = fields.String(load_default=None, validate=validate.OneOf(
        [f"{sign}{key}" for key in ("ref", "balance", "dpd", "last_contact", "status") for sign in ("", "-")]),
        metadata={"description": "ref (default), balance, dpd, last_contact or status; a leading - for "
                                 "descending. Ties are broken by the account's id."})


class BalancesOut(Schema):
    currency = fields.String()
    original_minor = fields.Integer()
    principal_minor = fields.Integer()
    interest_minor = fields.Integer()
    fees_minor = fields.Integer()
    penalty_minor = fields.Integer()
    outstanding_minor = fields.Integer()


class AccountListItem(Schema):
    id = fields.UUID()
    external_ref = fields.String()
    portfolio_id = fields.UUID()
    status = fields.String()
    debtor_name = masked("name", "debtor_name")
    phone = fields.Function(lambda a: mask("phone", a.phones[0].phone, g.role) if a.phones else None,
                            allow_none=True, metadata={"description": "First phone; masked by role."})
    region = fields.String(allow_none=True)
    product = fields.String(allow_none=True)
    currency = fields.String()
    outstanding_minor = fields.Integer()
    days_past_due = fields.Integer()
    on_hold = fields.Boolean()
    created_at = fields.DateTime()


class AccountPage(Schema):
    items = fields.List(fields.Nested(AccountListItem))
    next_cursor = fields.String(allow_none=True)


class ThirdPartyOut(Schema):
    name = masked("name", "name")
    phone = masked("phone", "phone")
    relationship = fields.String(attribute="relationship_label", allow_none=True)


class FlagsOut(Schema):
    deceased = fields.Boolean()
    bankrupt = fields.Boolean()
    disputed = fields.Boolean()
    attorney = fields.Boolean()
    cease_requested = fields.Boolean()


class PartyOut(Schema):
    slug = fields.String()
    name = fields.String()


class PlacementSummaryOut(Schema):
    id = fields.UUID()
    batch_id = fields.UUID()
    agency = fields.Nested(PartyOut)
    status = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    commission_bps = fields.Integer()
    allowed_channels = fields.List(fields.String())


class LenderUpdateOut(Schema):
    id = fields.UUID()
    kind = fields.String()
    amount_minor = fields.Integer()
    currency = fields.String()
    component = fields.String(allow_none=True)
    allocation = fields.Dict(allow_none=True, metadata={"description": "Minor units applied per component."})
    closure_status = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    occurred_on = fields.Date()
    created_at = fields.DateTime()


class AccountOut(Schema):
    id = fields.UUID()
    external_ref = fields.String()
    portfolio_id = fields.UUID()
    status = fields.String()
    debtor_name = masked("name", "debtor_name")
    id_type = fields.String()
    id_number = masked("id_number", "id_number")
    phones = fields.Function(lambda a: [mask("phone", p.phone, g.role) for p in a.phones],
                             metadata={"description": "Masked by role."})
    email = masked("email", "email")
    address = masked("address", "address")
    third_parties = fields.List(fields.Nested(ThirdPartyOut))
    region = fields.String(allow_none=True)
    time_zones = fields.List(fields.String())
    product = fields.String(allow_none=True)
    balances = Whole(BalancesOut)
    days_past_due = fields.Integer()
    loan_date = fields.Date(allow_none=True)
    due_date = fields.Date(allow_none=True)
    last_payment_date = fields.Date(allow_none=True)
    last_payment_minor = fields.Integer(allow_none=True)
    charge_off_date = fields.Date(allow_none=True)
    limitation_date = fields.Date(allow_none=True)
    flags = Whole(FlagsOut)
    on_hold = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    placement = fields.Nested(PlacementSummaryOut, allow_none=True,
                              metadata={"description": "The open placement (offered or active), if any."})
    lender_updates = fields.List(fields.Nested(LenderUpdateOut))


class LenderUpdateIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(
        (UpdateKind.DIRECT_PAYMENT, UpdateKind.BALANCE_ADJUSTMENT, UpdateKind.CLOSURE)))
    amount = fields.String(load_default=None, validate=sane_amount, metadata={
        "description": "Decimal string in the account's currency; signed for an adjustment."})
    component = fields.String(load_default=None, validate=validate.OneOf(COMPONENTS))
    closure_status = fields.String(load_default=None, validate=validate.OneOf(AccountStatus.CLOSED))
    occurred_on = fields.Date(required=True)
    note = fields.String(load_default=None, validate=validate.Length(max=2000))

    @validates_schema
    def _needs(self, data, **_):
        problems = {}
        if data["kind"] in (UpdateKind.DIRECT_PAYMENT, UpdateKind.BALANCE_ADJUSTMENT) and not data.get("amount"):
            problems["amount"] = ["Required for a payment or an adjustment."]
        if data["kind"] == UpdateKind.BALANCE_ADJUSTMENT and not data.get("component"):
            problems["component"] = ["Required for an adjustment."]
        if data["kind"] == UpdateKind.CLOSURE and not data.get("closure_status"):
            problems["closure_status"] = ["Required for a closure."]
        if problems:
            raise ValidationError(problems)


class LenderUpdateCreatedOut(LenderUpdateOut):
    account = fields.Nested(BalancesOut)
    account_status = fields.String()


# ---- panel --------------------------------------------------------------------------------------------------

class RelationshipOut(Schema):
    id = fields.UUID()
    lender = fields.Nested(PartyOut)
    agency = fields.Nested(PartyOut)
    status = fields.String()
    contract_start = fields.Date()
    contract_end = fields.Date(allow_none=True)
    next_review_on = fields.Date()
    review_due = fields.Function(lambda r: r.review_due(tenant_today()),
                                 metadata={"description": "The yearly agency evaluation is due."})
    default_commission_bps = fields.Integer()
    default_period_days = fields.Integer()
    default_channels = fields.List(fields.String())
    created_at = fields.DateTime()


class RelationshipList(Schema):
    items = fields.List(fields.Nested(RelationshipOut))


class NewRelationshipIn(Schema):
    agency_slug = fields.String(required=True)
    contract_start = fields.Date(required=True)
    contract_end = fields.Date(load_default=None, allow_none=True)
    commission_bps = fields.Integer(required=True, validate=validate.Range(min=0, max=10_000))
    period_days = fields.Integer(required=True, validate=validate.Range(min=1, max=3 * 365))
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), required=True,
                           validate=validate.Length(min=1))


# ---- placements ---------------------------------------------------------------------------------------------

class SelectionIn(Schema):
    portfolio_id = fields.UUID(load_default=None)
    dpd_min = fields.Integer(load_default=None, validate=DPD)
    dpd_max = fields.Integer(load_default=None, validate=DPD)
    balance_min = fields.String(load_default=None, validate=sane_amount, metadata={"description": "Decimal string"})
    balance_max = fields.String(load_default=None, validate=sane_amount, metadata={"description": "Decimal string"})
    region = fields.String(load_default=None)
    external_refs = fields.List(fields.String(), load_default=list)
    limit = fields.Integer(load_default=None, validate=validate.Range(min=1, max=200_000))


class AgencyWeightIn(Schema):
    agency_slug = fields.String(required=True)
    weight = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000))


class CommissionTierIn(Schema):
    min_dpd = fields.Integer(required=True, validate=validate.Range(min=0, max=10**6))
    max_dpd = fields.Integer(load_default=10**6, validate=validate.Range(min=0, max=10**6))
    bps = fields.Integer(required=True, validate=validate.Range(min=0, max=10_000))


class TermsIn(Schema):
    commission_bps = fields.Integer(validate=validate.Range(min=0, max=10_000))
    commission_tiers = fields.List(fields.Nested(CommissionTierIn))
    period_days = fields.Integer(validate=validate.Range(min=1, max=3 * 365))
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), validate=validate.Length(min=1))
    conduct_overrides = fields.Dict()
    max_discount_bps = fields.Integer(validate=validate.Range(min=0, max=10_000), metadata={
        "description": "The largest settlement discount the agency may agree alone (basis points of the "
                       "outstanding balance); beyond it the lender decides. Default 0."})


class PlaceIn(Schema):
    selection = fields.Nested(SelectionIn, load_default=dict)
    agencies = fields.List(fields.Nested(AgencyWeightIn), required=True, validate=validate.Length(min=1))
    terms = fields.Nested(TermsIn, load_default=dict)
    seed = fields.Integer(load_default=None, validate=validate.Range(min=0, max=2**62))
    debtors_notified = fields.Boolean(load_default=False, metadata={
        "description": "The lender has told these debtors that collection is handed to the agency. Where the "
                       "rulebook requires that notice (CN.OUTSOURCE.NOTICE), an agency's contact without it "
                       "needs the lender's approval."})

    expected_accounts = fields.Integer(load_default=None, validate=validate.Range(min=1), metadata={
        "description": "The `accounts` of the preview being confirmed: placing is refused (409 "
                       "placement.selection_changed) when the selection no longer holds that many."})

    @validates_schema
    def _distinct_agencies(self, data, **_):
        slugs = [a["agency_slug"] for a in data.get("agencies", [])]
        if len(slugs) != len(set(slugs)):
            raise ValidationError({"agencies": ["Each agency once."]})


class PreviewIn(PlaceIn):
    class Meta:
        exclude = ("debtors_notified", "expected_accounts")


class BalanceBandOut(Schema):
    lowest_minor = fields.Integer()
    highest_minor = fields.Integer()


class AgencyPreviewOut(Schema):
    agency = fields.Nested(PartyOut)
    weight = fields.Integer()
    accounts = fields.Integer()
    balance_minor = fields.Integer()
    by_dpd_bucket = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_balance_band = fields.List(fields.Integer(), metadata={"description": "Accounts per `balance_bands` entry"})


class PreviewOut(Schema):
    accounts = fields.Integer()
    balance_minor = fields.Integer()
    currency = fields.String()
    seed = fields.Integer(metadata={"description": "Send it with the placement to make exactly this split"})
    dpd_buckets = fields.List(fields.String())
    balance_bands = fields.List(fields.Nested(BalanceBandOut),
                                metadata={"description": "Quarters of the selection by balance"})
    agencies = fields.List(fields.Nested(AgencyPreviewOut))


class BatchAgencyOut(Schema):
    agency = fields.Nested(PartyOut)
    accounts = fields.Integer()
    balance_minor = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class BatchOut(Schema):
    """A lender sees the whole batch; an agency only its own slice (its counts and balance), without the
    lender-only fields (seed, criteria, terms, summary, allocation)."""

    id = fields.UUID()
    lender = fields.Nested(PartyOut)
    created_at = fields.DateTime()
    accounts = fields.Integer()
    balance_minor = fields.Integer()
    currency = fields.String(allow_none=True)
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())
    agencies = fields.List(fields.Nested(BatchAgencyOut))
    seed = fields.Integer(metadata={"description": "Lenders only: reruns the same split."})
    criteria = fields.Dict(metadata={"description": "Lenders only: the selection."})
    terms = fields.Dict(metadata={"description": "Lenders only: the terms given (others from the panel)."})
    summary = fields.String(metadata={"description": "Lenders only: the split in one sentence."})
    allocation = fields.Dict(metadata={"description": "Lenders only: how the split was made, per stratum "
                                                      "(agency keys are agency tenant ids)."})


class PlacementArgs(PageArgs):
    agency_slug = fields.String(load_default=None, metadata={"description": "Lenders only."})
    status = fields.String(load_default=None, validate=validate.OneOf(
        ("offered", "active", "declined", "recalled", "expired", "closed")))
    batch_id = fields.UUID(load_default=None)


class PlacementOut(Schema):
    id = fields.UUID()
    batch_id = fields.UUID()
    account_id = fields.UUID()
    lender_id = fields.UUID(attribute="tenant_id")
    agency = fields.Nested(PartyOut)
    status = fields.String()
    commission_bps = fields.Integer()
    commission_tiers = fields.List(fields.Dict())
    starts_on = fields.Date()
    ends_on = fields.Date()
    allowed_channels = fields.List(fields.String())
    conduct_overrides = fields.Dict()
    max_discount_bps = fields.Integer(allow_none=True)
    currency = fields.String()
    balance_at_placement_minor = fields.Integer()
    dpd_at_placement = fields.Integer()
    recovered_minor = fields.Integer()
    offered_at = fields.DateTime()
    responded_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    end_reason = fields.String(allow_none=True)
    recall_forced = fields.Boolean()


class PlacementPage(Schema):
    items = fields.List(fields.Nested(PlacementOut))
    next_cursor = fields.String(allow_none=True)


class RecallIn(Schema):
    placement_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=10_000))
    reason = fields.String(required=True, validate=validate.Length(max=2000))
    force = fields.Boolean(load_default=False, metadata={"description": "Lender admins only: recall despite "
                                                                        "blockers such as an open dispute."})


class RecallOut(Schema):
    recalled = fields.Integer()
    items = fields.List(fields.Nested(PlacementOut))


class OfferOut(Schema):
    batch_id = fields.UUID()
    lender_name = fields.String()
    accounts = fields.Integer()
    balance_minor = fields.Integer()
    currency = fields.String()
    offered_at = fields.DateTime()
    status = fields.String()


class OfferList(Schema):
    items = fields.List(fields.Nested(OfferOut))


class ResponseOut(Schema):
    batch_id = fields.UUID()
    status = fields.String(metadata={"description": "active (accepted) or declined"})
    placements = fields.Integer()


class LeagueRowOut(Schema):
    agency_slug = fields.String()
    agency_name = fields.String()
    currency = fields.String(metadata={"description": "One row per agency and currency: amounts are never mixed."})
    accounts_active = fields.Integer()
    accounts_placed = fields.Integer()
    balance_placed_minor = fields.Integer()
    recovered_minor = fields.Integer()
    liquidation_rate = fields.Float()


class LeagueTableOut(Schema):
    currency = fields.String()
    formula = fields.String()
    rows = fields.List(fields.Nested(LeagueRowOut))
