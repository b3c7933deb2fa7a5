import base64
import os

import pytest
from cryptography.fernet import Fernet

from tenants.pii import Keyring, derive_development_keyring, mask


def test_encrypts_non_deterministically_and_decrypts():
    ring = derive_development_keyring("secret")
    first, second = ring.encrypt("张三 13800138000"), ring.encrypt("张三 13800138000")
    assert first != second and "张三" not in first
    assert ring.decrypt(first) == "张三 13800138000"


def test_key_rotation_keeps_old_ciphertext_readable_and_rewrites_it_under_the_new_key():
    index_key = os.urandom(32)
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    old_ring = Keyring([old_key], index_key)
    token = old_ring.encrypt("110101199003074477")
    rotated_ring = Keyring([new_key, old_key], index_key)
    assert rotated_ring.decrypt(token) == "110101199003074477"
    rotated = rotated_ring.rotate(token)
    assert Keyring([new_key], index_key).decrypt(rotated) == "110101199003074477"
    with pytest.raises(ValueError):
        Keyring([new_key], index_key).decrypt(token)


def test_blind_index_is_stable_keyed_and_separated_by_kind():
    ring_a = Keyring([Fernet.generate_key()], b"a" * 32)
    ring_b = Keyring([Fernet.generate_key()], b"b" * 32)
    assert ring_a.blind_index("phone", "+8613800138000") == ring_a.blind_index("phone", "+8613800138000")
    assert ring_a.blind_index("phone", "+8613800138000") != ring_b.blind_index("phone", "+8613800138000")
    assert ring_a.blind_index("phone", "x") != ring_a.blind_index("email", "x")


def test_short_index_key_is_refused():
    with pytest.raises(ValueError):
        Keyring([base64.urlsafe_b64encode(os.urandom(32))], b"short")


@pytest.mark.parametrize("kind,value,role,expected", [
    ("id_number", "110101199003074477", "lender_admin", "1101**********4477"),
    ("phone", "+8613800138000", "agency_collector", "+86138****8000"),
    ("phone", "+8613800138000", "agency_supervisor", "+8613800138000"),
    ("name", "张三丰", "lender_analyst", "张**"),
    ("name", "John Smith", "lender_analyst", "J*** S****"),
    ("email", "li.na@example.cn", "agency_collector", "l***@example.cn"),
    ("address", "上海市浦东新区世纪大道100号", "agency_collector", "上海市浦东新***"),
])
def test_masking_by_role(kind, value, role, expected):
    assert mask(kind, value, role) == expected
