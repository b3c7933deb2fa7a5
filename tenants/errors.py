"""One error hierarchy. Every error a user can cause carries a machine code, a human message and an HTTP status.

The web layer renders these as JSON under /api/v1 and as HTML pages elsewhere; services raise them and never
think about HTTP beyond the status hint.
"""


class DomainError(Exception):
    code = "error"
    status = 400
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None, details: dict | None = None):
        self.message = message or self.message
        self.code = code or self.code
        self.details = details or {}
        super().__init__(self.message)


class ValidationFailed(DomainError):
    code = "validation.failed"
    status = 422
    message = "Some fields are invalid."


def required_text(value: str | None, *, message: str, code: str, field: str = "reason") -> str:
    """A free-text field the user must fill (why a payment is reversed, a plan cancelled …), stripped."""
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(message, code=code, details={"fields": {field: ["Required."]}})
    return text


class NotFound(DomainError):
    """Also the answer for another tenant's object: existence is never confirmed across tenants."""

    code = "not_found"
    status = 404
    message = "Not found."


class Unauthenticated(DomainError):
    code = "auth.required"
    status = 401
    message = "Authentication is required."


class PermissionDenied(DomainError):
    code = "auth.forbidden"
    status = 403
    message = "Your role does not allow this."


class WriteRefused(PermissionDenied):
    """The access policy does not let this tenant make this change to a row it can see (tenants/access_policy.py):
    the services' own checks normally say why first; this is the net under them, never a server error."""

    code = "access.write_refused"
    message = "This change is not yours to make."


class Conflict(DomainError):
    code = "conflict"
    status = 409
    message = "The request conflicts with the current state."


class ServiceUnavailable(DomainError):
    """A dependency the request cannot safely go without is down (e.g. login throttling's Redis)."""

    code = "service.unavailable"
    status = 503
    message = "The service is briefly unavailable. Try again in a minute."


class TenantSuspended(DomainError):
    code = "tenant.suspended"
    status = 403
    message = "This organisation is suspended on Recoverly."


class TenantIsolationError(RuntimeError):
    """A programming error: code tried to touch tenant data without, or outside, its tenant context."""
