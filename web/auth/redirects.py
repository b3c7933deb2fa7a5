"""Where to go after login or a language switch: only a plain path on this site, never another origin.

Browsers read a backslash as a slash and drop tabs and newlines inside URLs, so `/\\evil.com` and `/\\t/evil.com`
become `//evil.com` (another host); a server or proxy may decode `%2F`/`%5C` before routing. Anything of the kind
is refused rather than cleaned up.
"""
import re
from urllib.parse import urlsplit

_ENCODED_SLASH = re.compile(r"%(2f|5c)", re.IGNORECASE)


def safe_next(target: str | None) -> str | None:
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 0x21 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or _ENCODED_SLASH.search(parts.path):
        return None
    return target
