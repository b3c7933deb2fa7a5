import pytest

from tenants.errors import ValidationFailed
from tenants.identifiers import cn_resident_id_check_char, normalize_cn_resident_id, normalize_email, normalize_phone


def test_valid_resident_ids_pass_including_the_x_check_character():
    assert normalize_cn_resident_id("11010519491231002x") == "11010519491231002X"
    assert normalize_cn_resident_id(" 110101199003074477 ") == "110101199003074477"


@pytest.mark.parametrize("value,code", [
    ("110101199003074478", "cn_id.checksum"),
    ("11010119900307447", "cn_id.format"),
    ("110101199002304471", "cn_id.birth_date"),
    ("ABCDEFGHIJKLMNOPQR", "cn_id.format"),
])
def test_invalid_resident_ids_are_refused_with_a_reason(value, code):
    with pytest.raises(ValidationFailed) as exc:
        normalize_cn_resident_id(value)
    assert exc.value.code == code


def test_check_character_of_the_standard_example():
    assert cn_resident_id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize("raw,region,e164", [
    ("138 0013 8000", "CN", "+8613800138000"),
    ("+86 138-0013-8000", None, "+8613800138000"),
    ("(212) 555-0123", "US", "+12125550123"),
    ("07911 123456", "GB", "+447911123456"),
])
def test_phones_normalise_to_e164(raw, region, e164):
    assert normalize_phone(raw, region) == e164


def test_invalid_phone_is_refused():
    with pytest.raises(ValidationFailed):
        normalize_phone("12345", "CN")


def test_emails_normalise_case_and_whitespace():
    assert normalize_email("  Li.Na@Example.CN ") == "li.na@example.cn"
    with pytest.raises(ValidationFailed):
        normalize_email("not-an-email")
