"""Template text with a fixed set of placeholders, rendered in Jinja2's sandbox.

A template may hold plain text and `{{ placeholder }}` for the names below, nothing else: no filters, loops or
expressions. Lenders write these templates and agencies send them; keeping the language this small means a
template can neither reach into Python objects nor build an unbounded message, and the sandbox stays a second
lock rather than the only one.
"""
from datetime import date

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from tenants.errors import ValidationFailed
from tenants.money import Money

PLACEHOLDERS = ("debtor_name", "amount_due", "currency", "reference", "agency_name", "lender_name", "due_date",
                "portal_link")  # portal_link: a self-service link made for each message (tenants/portal/links.py)

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class TemplateProblem(ValueError):
    pass


def placeholders(source: str) -> set[str]:
    """The placeholders a text uses. Raises TemplateProblem for anything but text and known placeholders."""
    try:
        tree = _env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"Line {exc.lineno}: {exc.message}") from None
    used = set()
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            raise TemplateProblem("Only text and {{ placeholder }} are allowed (no {% ... %} statements).")
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                continue
            if not isinstance(node, nodes.Name):
                raise TemplateProblem("Write placeholders as {{ name }}, without filters or expressions.")
            if node.name not in PLACEHOLDERS:
                raise TemplateProblem(f"Unknown placeholder {{{{ {node.name} }}}}. Use: "
                                      + ", ".join(f"{{{{ {p} }}}}" for p in PLACEHOLDERS) + ".")
            used.add(node.name)
    return used


def check_fields(fields: dict[str, str | None]) -> None:
    """Raise ValidationFailed naming each field whose text is not a valid template."""
    problems = {}
    for name, source in fields.items():
        if not source:
            continue
        try:
            placeholders(source)
        except TemplateProblem as exc:
            problems[name] = [str(exc)]
    if problems:
        raise ValidationFailed(code="template.invalid", details={"fields": problems})


def render(source: str | None, values: dict[str, str]) -> str | None:
    if source is None:
        return None
    placeholders(source)
    return _env.from_string(source).render(**values)


def values_for(*, debtor_name: str, outstanding_minor: int, currency: str, reference: str, agency_name: str,
               lender_name: str, due_date: date | None, locale: str, portal_link: str = "") -> dict[str, str]:
    """The placeholders' values for one account, formatted in the template's language."""
    money_locale = "zh_CN" if locale.startswith("zh") else "en"
    return {
        "debtor_name": debtor_name,
        "amount_due": Money(outstanding_minor, currency).format(money_locale),
        "currency": currency,
        "reference": reference,
        "agency_name": agency_name,
        "lender_name": lender_name,
        "due_date": due_date.isoformat() if due_date else "",
        "portal_link": portal_link,
    }
