"""The Chinese-mobile fast path of ``normalize_phone`` never changes a verdict of phonenumbers' full parse."""
import random

import pytest

from tenants.errors import ValidationFailed
from tenants.identifiers import _cn_mobile, normalize_phone, normalize_phone_fully

FORMS = (
    lambda d: d,
    lambda d: f"{d[:3]} {d[3:7]} {d[7:]}",
    lambda d: f"{d[:3]}-{d[3:7]}-{d[7:]}",
    lambda d: f"+86{d}",
    lambda d: f"+86 {d[:3]} {d[3:7]} {d[7:]}",
    lambda d: f"+86-{d}",
    lambda d: f"0086{d}",
    lambda d: f"0086 {d}",
    lambda d: f"86{d}",
    lambda d: f"+86 ({d[:3]}) {d[3:7]} {d[7:]}",
    lambda d: f"{d[:4]} {d[4:]}",
    lambda d: f"{d}0",
    lambda d: d[:-1],
)
REGIONS = ("CN", None, "US", "HK", "GB")


def outcome(normalize, text, region):
    try:
        return normalize(text, region)
    except ValidationFailed as exc:
        return (exc.code, exc.message)


def test_every_prefix_in_every_written_form_and_region_gets_the_full_parses_answer():
    rng = random.Random(86)
    answered = 0
    for prefix in range(10**4):  # 1xxxx: every carrier, mobile block and CN dialling prefix that can start one
        digits = f"1{prefix:04d}{rng.randrange(10**6):06d}"
        for text, region in ((digits, "CN"), (rng.choice(FORMS)(digits), rng.choice(REGIONS))):
            fast = _cn_mobile(text, region)
            answered += fast is not None
            assert outcome(normalize_phone, text, region) == outcome(normalize_phone_fully, text, region), \
                (text, region)
    assert answered > 5_000  # the fast path does answer for most mobiles, so this compared something


@pytest.mark.parametrize("text", [
    "13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "+8613800138000", "0086 13800138000",
    "8613800138000", "010-12345678", "(010) 1234 5678", "0755-8888 8888", "+1 212 555 0123", "+44 7911 123456",
    "+852 9123 4567", "12345", "1380013800", "17912345678", "14612345678", "14512345678", "17400512345",
    "16101234567", "11012345678", "13800138000 ext. 12", "tel:+86-138-0013-8000", "１３８００１３８０００", "",
    "13800138000\n", " 13800138000", "+86 10 1234 5678", "400-810-8888", "95588",
])
@pytest.mark.parametrize("region", REGIONS)
def test_written_forms_lenders_use_get_the_full_parses_answer(text, region):
    assert outcome(normalize_phone, text, region) == outcome(normalize_phone_fully, text, region)


def test_the_fast_path_answers_only_for_chinese_mobiles():
    assert _cn_mobile("138 0013 8000", "CN") == "+8613800138000"
    assert _cn_mobile("+86-138-0013-8000", "US") == "+8613800138000"
    assert _cn_mobile("13800138000", "US") is None  # a US lender's 11 digits are not read as Chinese
    assert _cn_mobile("0086 13800138000", None) is None  # 00 is CN's international prefix, not everyone's
    assert _cn_mobile("010-12345678", "CN") is None  # landlines go to the full parse
    assert _cn_mobile("12012345678", "CN") is None  # 12x is a carrier prefix, not a mobile
