"""Ids a request names in its body or query (the third party called, the attempt a promise was agreed on, the member
who made a contact …), resolved as the current tenant sees them before they are used or stored.

Foreign-key checks ignore row-level security: an id the tenant cannot see would otherwise be stored (another
tenant's row) or fail in the database (a random id). Not visible answers 404, exactly as a missing id does, with
the field named; visible but belonging to another account is the caller's own mix-up and answers 422.
"""
import uuid

from tenants.db import get_visible
from tenants.errors import NotFound, ValidationFailed
from tenants.tenancy.models import Membership
from tenants.tenancy.services import membership_in_current_tenant


def visible(model, ident: uuid.UUID, *, code: str, field: str):
    """The row `ident` names, if the current tenant sees it."""
    try:
        return get_visible(model, ident, code)
    except NotFound:
        raise NotFound(code=code, details={"fields": {field: ["Not found."]}}) from None


def of_account(model, ident: uuid.UUID, account_id: uuid.UUID, *, code: str, field: str,
               message: str = "Not one of this account's records."):
    """A visible row that must also belong to this account (its `account_id`)."""
    found = visible(model, ident, code=code, field=field)
    if found.account_id != account_id:
        raise ValidationFailed(details={"fields": {field: [message]}})
    return found


def member(user_id: uuid.UUID | None, *, field: str) -> Membership | None:
    """An active member of the current tenant named by user id (None passes through)."""
    if user_id is None:
        return None
    found = membership_in_current_tenant(user_id)
    if found is None:
        raise NotFound(code="member.not_found", details={"fields": {field: ["Not a member of this tenant."]}})
    return found
