"""Outbound webhooks: signed events to a tenant's own systems (see README, "Webhooks").

Services call `emit` (and its helpers) in their own transaction; the workers deliver (tenants.webhooks.delivery).
"""
from tenants.webhooks.events import (  # noqa: F401
    EVENT_TYPES,
    Emission,
    Item,
    contact_decided,
    emit,
    emit_each,
    emit_for,
    guarded_insert,
    placements,
    set_nudger,
    write,
    written,
)
