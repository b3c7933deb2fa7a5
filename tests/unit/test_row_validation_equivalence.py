"""The import's plain field functions and its fast paths (Chinese mobiles, plain decimal amounts) give, row for
row, the records, codes and messages of the marshmallow schema, phonenumbers' full parse and Money.parse they stand
in for, on a large generated file of valid, invalid and edge-case values."""
import random
from datetime import date

import pytest

from tenants.identifiers import cn_resident_id_check_char, normalize_phone_fully
from tenants.portfolios import rows
from tenants.portfolios.fields import suggest_mapping
from tenants.portfolios.parsing import EXTRA_KEY
from tenants.portfolios.rows import RowContext, validate_row
from tests.unit import marshmallow_row_reference

ROWS = 20_000
TODAY = date(2026, 12, 1)
CN = RowContext(currency="CNY", default_region="CN", default_time_zone="Asia/Shanghai", today=TODAY, country="CN")
US = RowContext(currency="USD", default_region="US", default_time_zone="America/New_York", today=TODAY, country="US")


def _resident_id(rng, *, good=True):
    first17 = f"{rng.choice(('110105', '310101', '440305', '510107'))}{rng.randrange(1950, 2005)}" \
              f"{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{rng.randrange(1000):03d}"
    check = cn_resident_id_check_char(first17)
    return first17 + (check if good else ("1" if check != "1" else "2"))


def _mobile(rng, *, good=True):
    """A mobile of a block in use (good) or any 1xx number (some blocks are not mobiles, some not allotted)."""
    prefix = rng.choice(("130", "138", "147", "151", "166", "173", "177", "186", "199")) if good \
        else f"1{rng.randrange(100):02d}"
    return prefix + f"{rng.randrange(10**8):08d}"


def _phone(rng, good):
    digits = _mobile(rng, good=good)
    if good:
        return rng.choice((digits, f"{digits[:3]} {digits[3:7]} {digits[7:]}", f"+86 {digits}", f"0086{digits}",
                           f"{digits[:3]}-{digits[3:7]}-{digits[7:]}", f"'{digits}"))
    return rng.choice((
        f"86{digits}", f"+86 ({digits[:3]}) {digits[3:7]} {digits[7:]}", "010-12345678", "(010) 1234 5678",
        "0755-8888 8888", "+1 212 555 0123", "(212) 555-0123", "+44 7911 123456", "+852 9123 4567", "12345",
        digits[:-1], digits + "0", "17912345678", "12012345678", f"{digits} ext. 12", f"tel:+86-{digits}",
        "１３８００１３８０００", f"{digits}；{_mobile(rng)}", f"{digits}, 555", f"{digits}/{digits}", "400-810-8888",
        "95588", "电话", "+86 10 1234 5678", digits, f"+86 {digits}"))


def _date(rng, good, years=(2015, 2027)):
    y, m, d = rng.randrange(*years), rng.randrange(1, 13), rng.randrange(1, 29)
    if good:
        return rng.choice((f"{y}-{m:02d}-{d:02d}", f"{y}/{m}/{d}", f"{y}.{m}.{d}", f"{y}{m:02d}{d:02d}",
                           f"{y}年{m}月{d}日", f"{y}-{m:02d}-{d:02d} 12:30:00", f"{y}-{m:02d}-{d:02d}T08:00:00Z"))
    return rng.choice((f"{m:02d}/{d:02d}/{y}", f"{y}-02-30", "1899-01-01", "2300-01-01", "tomorrow", "45000",
                       f"{y}年{m}月", f"{y}-{m}", "２０２４－０３－０５", f"{y}/{m:02d}/{d:02d}号"))


def _amount(rng, good):
    whole = rng.randrange(10**6)
    if good:
        return rng.choice((f"{whole}.{rng.randrange(100):02d}", f"{whole:,}.50", f"¥{whole:,}.05", f"{whole}元",
                           f"CNY {whole}", f"RMB {whole}", "0", f" {whole} ", f"{whole}.5", str(whole), "0.00"))
    return rng.choice(("100.123", "-5", "abc", "1e5", "99999999999999999", "$5", "1.2.3", "(100)", "1,23,456.00",
                       "１２３４.５", "-0.01", "12 34", "USD 5", "5 JPY", "9999999999999.99", "10000000000000",
                       "999999999999999", "1000000000000000", "9999999999999.995", "007.50", ".5", "5.", "+5",
                       "5.0", "5.000", "٣٤٥", "0x10", "5_000", "NaN", "Infinity"))


def _pick(rng, good_pool, bad_pool, clean_row, blank=0.1):
    if clean_row:
        return good_pool()
    roll = rng.random()
    if roll < blank:
        return ""
    return good_pool() if roll < 0.7 else bad_pool()


def _cn_row(rng, clean_row):
    def pick(good, bad, blank=0.1):
        return _pick(rng, good, bad, clean_row, blank)

    has_contact = rng.random() < 0.4
    row = {
        "合同号": pick(lambda: f"HT{rng.randrange(10**7):07d}",
                    lambda: rng.choice(("X" * 101, "ＨＴ１２３", "合同-一二三", "  HT 9  ")), blank=0.05),
        "姓名": pick(lambda: rng.choice(("张三", "李四", "王小明", "欧阳娜娜", "Ann Lee")),
                   lambda: rng.choice(("名" * 201, "　张　三　", "李\u3000四")), blank=0.05),
        "证件类型": pick(lambda: rng.choice(("", "身份证", "居民身份证", "resident-id")),
                     lambda: rng.choice(("passport", "护照", "驾照", "OTHER", "Social Security Number"))),
        "身份证号": pick(lambda: _resident_id(rng),
                     lambda: rng.choice((_resident_id(rng, good=False), "11010519900230447X", "1101051990030744",
                                         _resident_id(rng).lower()[:17] + "x", "'" + _resident_id(rng),
                                         "E12345678", "１１０１０５１９４９１２３１００２Ｘ"))),
        "手机号": pick(lambda: _phone(rng, True), lambda: _phone(rng, False)),
        "备用电话": pick(lambda: rng.choice(("", _phone(rng, True))), lambda: _phone(rng, False), blank=0.5),
        "邮箱": pick(lambda: rng.choice(("", "Li.Na@Example.CN")),
                   lambda: rng.choice(("not-an-email", "a@b", "@x.cn"))),
        "地址": pick(lambda: "北京市朝阳区建国路1号", lambda: "路" * 300),
        "地区": pick(lambda: rng.choice(("北京市", "广东省", "")), lambda: "省" * 101),
        "时区": pick(lambda: "", lambda: rng.choice(("Asia/Shanghai", "Asia/Urumqi", "Mars/Base", "UTC+8")),
                   blank=0.6),
        "产品": pick(lambda: rng.choice(("现金贷", "消费分期", "")), lambda: "品" * 101),
        "借款金额": pick(lambda: _amount(rng, True), lambda: _amount(rng, False), blank=0.3),
        "本金": pick(lambda: _amount(rng, True), lambda: _amount(rng, False), blank=0.05),
        "利息": pick(lambda: _amount(rng, True), lambda: _amount(rng, False), blank=0.3),
        "费用": pick(lambda: _amount(rng, True), lambda: _amount(rng, False), blank=0.5),
        "罚息": pick(lambda: _amount(rng, True), lambda: _amount(rng, False), blank=0.3),
        "币种": pick(lambda: rng.choice(("", "CNY", "cny")), lambda: rng.choice(("USD", "JPY", "KWD", "XYZ", "人民币")),
                   blank=0.5),
        "放款日期": pick(lambda: _date(rng, True, (2015, 2020)), lambda: _date(rng, rng.random() < 0.5), blank=0.2),
        "到期日": pick(lambda: _date(rng, True, (2020, 2027)), lambda: _date(rng, rng.random() < 0.5), blank=0.2),
        "逾期天数": pick(lambda: rng.choice(("", str(rng.randrange(400)), f"{rng.randrange(400)}天", "30.0")),
                     lambda: rng.choice(("-1", "abc", "40000", "３０", "1.5")), blank=0.4),
        "最后还款日期": pick(lambda: _date(rng, True), lambda: _date(rng, False), blank=0.5),
        "最后还款金额": pick(lambda: _amount(rng, True), lambda: _amount(rng, False), blank=0.5),
        "核销日期": pick(lambda: "", lambda: _date(rng, rng.random() < 0.5), blank=0.7),
        "时效到期日": pick(lambda: "", lambda: _date(rng, rng.random() < 0.5), blank=0.7),
        "联系人姓名": pick(lambda: rng.choice(("李四", "王五")) if has_contact else "", lambda: "联" * 201),
        "联系人电话": pick(lambda: _phone(rng, True) if has_contact else "", lambda: _phone(rng, False)),
        "与借款人关系": pick(lambda: rng.choice(("配偶", "父母", "同事")) if has_contact else "", lambda: "关" * 51),
        "联系人2姓名": pick(lambda: "", lambda: rng.choice(("", "赵六"))),
        "联系人2电话": pick(lambda: "", lambda: _phone(rng, rng.random() < 0.5)),
        "联系人2关系": pick(lambda: "", lambda: rng.choice(("朋友", ""))),
    }
    for flag in ("已故", "是否破产", "是否争议", "委托律师", "停止催收"):
        row[flag] = pick(lambda: rng.choice(("", "否", "是", "N", "0")),
                         lambda: rng.choice(("maybe", "TRUE", "yes", "Y", "2", "是的")), blank=0.5)
    if not clean_row and rng.random() < 0.02:
        row[EXTRA_KEY] = ["多余"]
    if not clean_row and rng.random() < 0.02:  # JSON uploads: lists, objects and numbers where text is expected
        row[rng.choice(("姓名", "手机号", "本金", "到期日", "逾期天数", "是否争议", "时区", "邮箱", "证件类型"))] = \
            rng.choice((["a", "b"], {"x": 1}, 12, 1.5, ["13800138000", 13900139000], True))
    return row


CN_HEADERS = list(_cn_row(random.Random(0), True))
CN_MAPPING = suggest_mapping(CN_HEADERS)
# A lender who mapped neither a reference nor a due date: the required errors and their order.
SPARSE_MAPPING = {header: ("" if target in ("external_ref", "due_date", "debtor_name") else target)
                  for header, target in CN_MAPPING.items()}
US_MAPPING = {**CN_MAPPING, "逾期天数": "", "到期日": "due_date"}


def generated_rows():
    rng = random.Random(2026)
    for i in range(ROWS):
        raw = _cn_row(rng, clean_row=rng.random() < 0.4)
        if i % 10 == 9:
            yield raw, SPARSE_MAPPING, CN
        elif i % 10 == 8:
            yield raw, US_MAPPING, US
        else:
            yield raw, CN_MAPPING, CN


@pytest.fixture
def reference_validate_row(monkeypatch):
    """validate_row as it was: marshmallow's schema load, phonenumbers' full parse for every phone and
    Money.parse for every amount."""
    def validate(raw, mapping, ctx):
        with monkeypatch.context() as patch:
            patch.setattr(rows, "_convert", marshmallow_row_reference.convert)
            patch.setattr(rows, "normalize_phone", normalize_phone_fully)
            patch.setattr(rows, "_plain_amount", lambda text, currency: None)
            return validate_row(raw, mapping, ctx)
    return validate


def test_plain_functions_and_fast_paths_give_the_marshmallow_schemas_records_and_errors(reference_validate_row):
    assert all(CN_MAPPING.values()), CN_MAPPING  # every generated column is validated
    valid, codes = 0, set()
    for raw, mapping, ctx in generated_rows():
        expected = reference_validate_row(raw, mapping, ctx)
        assert validate_row(raw, mapping, ctx) == expected, raw
        valid += expected[0] is not None
        codes.update(error.code for error in expected[1])
    assert valid > ROWS // 4  # both verdicts were compared many times over
    assert codes >= {"required", "money.invalid", "money.too_precise", "money.negative", "money.unknown_currency",
                     "date.invalid", "date.ambiguous", "date.order", "cn_id.format", "cn_id.checksum",
                     "cn_id.birth_date", "phone.invalid", "email.invalid", "timezone.invalid", "flag.invalid",
                     "id_type.invalid", "number.invalid", "row.extra_values", "text.too_long", "type.invalid"}
