"""The limits an uploaded portfolio file is held to, in one place: the web request enforces the size, the worker
the rest. The upload size is the default of the app's UPLOAD_MAX_BYTES setting (web/config.py), which also sets
the request size the web server accepts, so both refuse at the same limit."""
import math

MIB = 1024 * 1024

UPLOAD_MAX_BYTES = 64 * MIB
# Excel's own limit for one worksheet; a CSV or JSON file with more rows is refused the same way.
MAX_ROWS = 1_048_576

# XLSX is a zip of XML. Checked from the zip's directory before anything is inflated; Python's zipfile never
# inflates a member past its declared size (it stops there and fails the CRC), so the declared sizes are binding.
XLSX_MAX_MEMBERS = 1_000
XLSX_MAX_CENTRAL_DIRECTORY = 1 * MIB  # read before the member count can be trusted
XLSX_MAX_UNCOMPRESSED = 1024 * MIB  # all members together
XLSX_MAX_SHARED_STRINGS = 64 * MIB  # openpyxl holds the whole shared-string table in memory
XLSX_MAX_RATIO = 100  # inflated ÷ compressed, per member (Apache POI's default threshold)
XLSX_RATIO_FLOOR = 1 * MIB  # smaller members may compress better than that without harm

# What the web request may read of a file to show its headers: never more than this, inflated.
HEADER_SAMPLE_BYTES = 1 * MIB
MAX_HEADER_CHARS = 100
EXCERPT_CHARS = 80


def megabytes(size: int, *, round_up: bool = False) -> str:
    """64 MB — how a limit is named in a message. A file's size is rounded up (`round_up`), so a file just over
    the limit never reads as the limit itself ("2.1 MB; the limit is 2 MB")."""
    if size % MIB == 0:
        return f"{size // MIB:,} MB"
    return f"{in_megabytes(size) if round_up else round(size / MIB, 1):,.1f} MB"


def in_megabytes(size: int) -> int | float:
    """The number `megabytes` names for a file (rounded up to a tenth), for a message's parameters."""
    return size // MIB if size % MIB == 0 else math.ceil(size * 10 / MIB) / 10


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of what a file said, so a refusal never echoes a huge value back."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
