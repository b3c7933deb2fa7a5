"""PII at rest: field encryption with key rotation, keyed blind indexes, and role-based masking.

Encryption uses MultiFernet: the first key encrypts, every key decrypts, so a new key is added in front and
`rotate` re-encrypts old values. Blind indexes are HMAC-SHA256 with a separate key and a per-kind label, so the
same phone hashes the same everywhere (cross-tenant matching) while the ciphertext key never meets the index key.
"""
import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import LargeBinary, Text
from sqlalchemy.types import TypeDecorator


class Keyring:
    def __init__(self, encryption_keys: list[bytes | str], index_key: bytes | str):
        if not encryption_keys:
            raise ValueError("at least one encryption key is required")
        self._keys = list(encryption_keys)
        self._fernet = MultiFernet([Fernet(k) for k in self._keys])
        self._index_key = index_key.encode() if isinstance(index_key, str) else index_key
        if len(self._index_key) < 32:
            raise ValueError("the blind-index key must be at least 32 bytes")

    def with_new_key(self, key: bytes | str) -> "Keyring":
        """The first step of a rotation: the new key encrypts, the old ones still decrypt."""
        return Keyring([key, *self._keys], self._index_key)

    def retiring_old_keys(self) -> "Keyring":
        """The last step, once `rotate` has rewritten every value: only the newest key remains."""
        return Keyring(self._keys[:1], self._index_key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError("PII ciphertext cannot be decrypted with the configured keys") from None

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")

    # Files (uploads, evidence) are stored as the Fernet token's raw bytes: a third smaller than its base64 text.
    def encrypt_bytes(self, plaintext: bytes) -> bytes:
        return base64.urlsafe_b64decode(self._fernet.encrypt(bytes(plaintext)))

    def decrypt_bytes(self, stored: bytes) -> bytes:
        try:
            return self._fernet.decrypt(base64.urlsafe_b64encode(bytes(stored)))
        except InvalidToken:
            raise ValueError("encrypted file content cannot be decrypted with the configured keys") from None

    def rotate_bytes(self, stored: bytes) -> bytes:
        return base64.urlsafe_b64decode(self._fernet.rotate(base64.urlsafe_b64encode(bytes(stored))))

    def blind_index(self, kind: str, normalized_value: str) -> str:
        message = f"{kind}\x1f{normalized_value}".encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


def derive_development_keyring(secret: str) -> Keyring:
    """Deterministic keys from SECRET_KEY for the demo and tests; production must configure real keys."""

    def derive(label: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret.encode())

    return Keyring([base64.urlsafe_b64encode(derive(b"recoverly-pii-encryption"))], derive(b"recoverly-blind-index"))


_keyring: Keyring | None = None


def configure(keyring: Keyring) -> None:
    global _keyring
    _keyring = keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise RuntimeError("PII keyring not configured")
    return _keyring


def blind_index(kind: str, normalized_value: str) -> str:
    return keyring().blind_index(kind, normalized_value)


class EncryptedString(TypeDecorator):
    """A text column stored as Fernet ciphertext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else keyring().encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else keyring().decrypt(value)


class EncryptedBytes(TypeDecorator):
    """A binary column (file content) stored encrypted; a value that does not decrypt raises ValueError."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else keyring().encrypt_bytes(value)

    def process_result_value(self, value, dialect):
        return None if value is None else keyring().decrypt_bytes(value)


# Which roles see a field in full; everyone else gets the masked form. Debtor PII is the point of this table.
FULL_VIEW = {
    "name": {"platform_admin", "lender_admin", "lender_manager", "agency_admin", "agency_supervisor",
             "agency_collector"},
    "phone": {"lender_admin", "lender_manager", "agency_supervisor"},
    "email": {"platform_admin", "lender_admin", "lender_manager", "agency_admin", "agency_supervisor"},
    "id_number": set(),
    "address": {"lender_admin", "lender_manager", "agency_supervisor"},
}


def mask(kind: str, value: str | None, role: str) -> str | None:
    if value is None or value == "":
        return value
    if role in FULL_VIEW.get(kind, set()):
        return value
    return MASKERS[kind](value)


def _mask_name(value: str) -> str:
    if value.isascii():
        return " ".join(part[:1] + "*" * max(len(part) - 1, 1) for part in value.split())
    return value[:1] + "*" * max(len(value) - 1, 1)


def _mask_phone(value: str) -> str:
    digits = value.lstrip("+")
    keep_head = 5 if value.startswith("+") else 3
    if len(digits) <= keep_head + 4:
        return "*" * len(value)
    return value[: keep_head + (1 if value.startswith("+") else 0)] + "****" + value[-4:]


def _mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return (local[:1] + "***@" + domain) if domain else "***"


def _mask_id_number(value: str) -> str:
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def _mask_address(value: str) -> str:
    return value[:6] + "***"


MASKERS = {
    "name": _mask_name,
    "phone": _mask_phone,
    "email": _mask_email,
    "id_number": _mask_id_number,
    "address": _mask_address,
}
