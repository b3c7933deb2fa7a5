"""Showing a debtor's full ID number or phone to agency staff who need it: supervisors, and the collector the case
is assigned to. Every reveal is an audited act (who, which case, which field — never the value); pages show the
masked form otherwise (`tenants.pii.mask`)."""
import uuid

from tenants import audit
from tenants.casework import assignment
from tenants.errors import NotFound, PermissionDenied, ValidationFailed
from tenants.portfolios.accounts import get_account

FIELDS = ("id_number", "phone")


def reveal(account_id: uuid.UUID, field: str, *, user_id: uuid.UUID | None, role: str | None,
           phone_position: int = 0) -> str:
    if field not in FIELDS:
        raise ValidationFailed(details={"fields": {"field": [f"One of {', '.join(FIELDS)}."]}})
    assignment.held_placement(account_id)
    if not assignment.may_work(account_id, user_id=user_id, role=role):
        raise PermissionDenied("Only a supervisor or the case's collector may see this in full.",
                               code="reveal.not_allowed")
    account = get_account(account_id)
    if field == "id_number":
        value, detail = account.id_number, {}
    else:
        phones = account.phones
        if not 0 <= phone_position < len(phones):
            raise NotFound("The account has no such phone.", code="reveal.no_value")
        value, detail = phones[phone_position].phone, {"phone_position": phone_position}
    if not value:
        raise NotFound("Nothing is recorded to reveal.", code="reveal.no_value")
    audit.record("pii.revealed", object_type="account", object_id=account.id, after={"field": field, **detail})
    return value
