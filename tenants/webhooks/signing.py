"""The signature a receiver checks: `Recoverly-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

The widely used scheme: the timestamp is signed with the body, so a captured request cannot be replayed later than
the receiver's tolerance. During a secret's rotation overlap the header carries one `v1=` per secret in force
(the new one first); a receiver accepts the request if any of them matches its secret.
"""
import hashlib
import hmac
import secrets
import time

HEADER = "Recoverly-Signature"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(secrets_in_force: list[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets_in_force)])


def verify(header_value: str, body: bytes, secret: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> bool:
    """What a receiver does (the README's snippet does the same): a recent timestamp and one matching v1."""
    timestamp, candidates = None, []
    for part in (header_value or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
