"""Login throttling in Redis, per account and per client address, over a sliding quarter hour."""
import logging

import redis

from tenants.errors import Throttled, ValidationFailed
from tenants.tenancy.services import email_index
from workers.connection import connection

log = logging.getLogger(__name__)

WINDOW_SECONDS = 15 * 60
PER_ACCOUNT = 5
PER_ADDRESS = 30


def _keys(email: str, address: str) -> tuple[str | None, str]:
    try:
        account = f"throttle:login:account:{email_index(email)}"
    except ValidationFailed:
        account = None
    return account, f"throttle:login:address:{address}"


def check(email: str, address: str) -> None:
    account, by_address = _keys(email, address)
    try:
        counts = connection().mget([k for k in (account, by_address) if k])
    except redis.RedisError:
        log.error("login throttle unavailable: Redis is unreachable")
        return
    values = [int(c or 0) for c in counts]
    account_count = values[0] if account else 0
    address_count = values[-1]
    if account_count >= PER_ACCOUNT or address_count >= PER_ADDRESS:
        raise Throttled("Too many failed logins. Wait 15 minutes and try again.",
                        details={"retry_after_seconds": WINDOW_SECONDS})


def record_failure(email: str, address: str) -> None:
    try:
        pipe = connection().pipeline()
        for key in _keys(email, address):
            if key:
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS)
        pipe.execute()
    except redis.RedisError:
        log.error("login throttle unavailable: Redis is unreachable")


def clear_account(email: str) -> None:
    account, _ = _keys(email, "")
    if account:
        try:
            connection().delete(account)
        except redis.RedisError:
            log.error("login throttle unavailable: Redis is unreachable")
