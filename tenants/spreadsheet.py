"""Cells of the CSV files users download (import error files, billed cases, commission statements)."""
import json
import re
from datetime import datetime, timezone

from tenants.money import Money

_NUMERIC = re.compile(r"[+-][\d\s().,\-]*")


def safe_cell(value) -> str:
    """Text a spreadsheet would run as a formula (CSV injection) is quoted; signed numbers stay numbers."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    if text and (text[0] in "=@\t\r" or (text[0] in "+-" and not _NUMERIC.fullmatch(text))):
        return "'" + text
    return text


def decimal_text(money: Money) -> str:
    """1234.50 — the amount in its currency's units, no symbol, no grouping."""
    return f"{money.decimal():f}"


def utc_iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
