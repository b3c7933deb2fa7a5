"""Mapping lenders' columns, validating imported rows, and the error file sent back to the lender."""
import csv
import io
from datetime import date

import pytest

from tenants.errors import ValidationFailed
from tenants.identifiers import cn_resident_id_check_char
from tenants.portfolios.error_file import error_csv
from tenants.portfolios.fields import check_mapping, missing_required, suggest_mapping
from tenants.portfolios.parsing import EXTRA_KEY, FileRejected
from tenants.portfolios.rows import CellError, RowContext, ThirdParty, validate_row

TODAY = date(2024, 6, 1)
CN = RowContext(currency="CNY", default_region="CN", default_time_zone="Asia/Shanghai", today=TODAY, country="CN")
US = RowContext(currency="USD", default_region="US", default_time_zone="America/New_York", today=TODAY, country="US")


def resident_id(first17: str = "11010519900307447") -> str:
    return first17 + cn_resident_id_check_char(first17)


def wrong_check_char(first17: str = "11010519900307447") -> str:
    good = cn_resident_id_check_char(first17)
    return first17 + ("1" if good != "1" else "2")


CN_HEADERS = ["合同号", "姓名", "身份证号", "手机号", "本金(元)", "利息", "罚息", "放款日期", "到期日", "联系人姓名",
              "联系人电话", "与借款人关系", "地址", "产品", "是否争议"]
CN_MAPPING = suggest_mapping(CN_HEADERS)


def cn_row(**overrides) -> dict:
    row = {
        "合同号": "HT2024-0001", "姓名": "张三", "身份证号": resident_id(), "手机号": "138 0013 8000",
        "本金(元)": "¥1,234.50", "利息": "12.3", "罚息": "", "放款日期": "2023/12/5", "到期日": "2024年3月5日",
        "联系人姓名": "李四", "联系人电话": "13700137000", "与借款人关系": "配偶", "地址": "北京市朝阳区建国路1号",
        "产品": "现金贷", "是否争议": "否",
    }
    row.update(overrides)
    return row


def codes(errors):
    return [(e.column, e.code) for e in errors]


# ---------------------------------------------------------------------------------------------- mapping

def test_chinese_headers_are_recognised():
    assert CN_MAPPING == {
        "合同号": "external_ref", "姓名": "debtor_name", "身份证号": "id_number", "手机号": "phone",
        "本金(元)": "principal", "利息": "interest", "罚息": "penalty", "放款日期": "loan_date", "到期日": "due_date",
        "联系人姓名": "third_party_name", "联系人电话": "third_party_phone", "与借款人关系": "third_party_relationship",
        "地址": "address", "产品": "product", "是否争议": "disputed",
    }


def test_english_headers_ignore_case_spaces_and_underscores():
    mapping = suggest_mapping(["Loan ID", "Customer Name", "MOBILE", "Phone 2", "Outstanding Principal",
                               "Days Past Due", "E-mail", "Time Zone", "Comments"])
    assert mapping == {
        "Loan ID": "external_ref", "Customer Name": "debtor_name", "MOBILE": "phone", "Phone 2": "phone_2",
        "Outstanding Principal": "principal", "Days Past Due": "days_past_due", "E-mail": "email",
        "Time Zone": "time_zone", "Comments": "",
    }
    assert missing_required(mapping) == []


def test_the_usual_chinese_names_of_a_loan_reference_are_recognised():
    for header in ("借款编号", "借款单号", "借款合同号", "借据号", "合同编号"):
        assert suggest_mapping([header, "姓名", "本金", "逾期天数"])[header] == "external_ref"


def test_several_phone_and_contact_columns_get_numbered_slots():
    mapping = suggest_mapping(["姓名", "手机号", "联系电话", "备用电话", "联系人1姓名", "联系人1电话", "联系人1关系",
                               "联系人2姓名", "联系人2电话", "联系人2关系", "ＰＨＯＮＥ"])
    assert [mapping[h] for h in ("手机号", "联系电话", "备用电话", "ＰＨＯＮＥ")] == ["phone", "phone_2", "phone_3",
                                                                             "phone_4"]
    assert [mapping[h] for h in ("联系人2姓名", "联系人2电话", "联系人2关系")] == [
        "third_party_name_2", "third_party_phone_2", "third_party_relationship_2"]
    assert mapping["联系人1电话"] == "third_party_phone"


def test_a_single_valued_field_is_suggested_once():
    mapping = suggest_mapping(["姓名", "客户姓名"])
    assert mapping == {"姓名": "debtor_name", "客户姓名": ""}


def test_missing_required_lists_what_to_map():
    assert missing_required({"姓名": "debtor_name", "x": ""}) == [
        "external_ref", "principal", "due_date|days_past_due"]
    assert missing_required(CN_MAPPING) == []
    assert missing_required({**CN_MAPPING, "到期日": ""}) == ["due_date|days_past_due"]
    assert missing_required({**CN_MAPPING, "到期日": "", "逾期天数": "days_past_due"}) == []


def test_check_mapping_refuses_unusable_mappings():
    check_mapping(CN_MAPPING, CN_HEADERS)
    with pytest.raises(FileRejected) as exc:
        check_mapping({**CN_MAPPING, "本金(元)": ""}, CN_HEADERS)
    assert exc.value.code == "import.missing_columns"
    assert exc.value.details["missing"] == ["principal"]
    with pytest.raises(FileRejected) as exc:
        check_mapping({**CN_MAPPING, "Balance": "interest", "利息": ""}, CN_HEADERS)
    assert exc.value.details["absent_headers"] == ["Balance"]
    with pytest.raises(ValidationFailed) as exc:
        check_mapping({**CN_MAPPING, "利息": "principal"}, CN_HEADERS)
    assert exc.value.code == "mapping.invalid"
    with pytest.raises(ValidationFailed) as exc:
        check_mapping({**CN_MAPPING, "产品": "favourite_colour"}, CN_HEADERS)
    assert exc.value.code == "mapping.invalid"


# ---------------------------------------------------------------------------------------------- a good row

def test_a_good_chinese_row_becomes_an_account_record():
    record, errors = validate_row(cn_row(), CN_MAPPING, CN)
    assert errors == []
    assert record.external_ref == "HT2024-0001"
    assert record.debtor_name == "张三"
    assert (record.id_type, record.id_number) == ("cn_resident_id", resident_id())
    assert record.phones == ["+8613800138000"]
    assert (record.time_zones, record.time_zone_source) == (["Asia/Shanghai"], "phone")
    assert record.currency == "CNY"
    assert (record.principal_minor, record.original_minor) == (123450, 123450)
    assert (record.interest_minor, record.fees_minor, record.penalty_minor) == (1230, 0, 0)
    assert (record.loan_date, record.due_date) == (date(2023, 12, 5), date(2024, 3, 5))
    assert record.days_past_due == (TODAY - date(2024, 3, 5)).days == 88
    assert record.third_parties == [ThirdParty(name="李四", phone="+8613700137000", relationship="配偶")]
    assert record.address == "北京市朝阳区建国路1号" and record.product == "现金贷"
    assert record.disputed is False and record.deceased is False
    assert record.last_payment_minor is None and record.email is None


def test_full_width_characters_and_stray_spaces_are_normalised():
    record, errors = validate_row(cn_row(**{
        "本金(元)": "１，２３４．５０", "手机号": "１３８　００１３　８０００", "姓名": "　张三　", "利息": "￥１２.３",
        "身份证号": resident_id("11010519491231002").lower(),
    }), CN_MAPPING, CN)
    assert errors == []
    assert record.principal_minor == 123450 and record.interest_minor == 1230
    assert record.phones == ["+8613800138000"]
    assert record.debtor_name == "张三"
    assert record.id_number == "11010519491231002X"


@pytest.mark.parametrize("text,expected", [
    ("2024-03-05", date(2024, 3, 5)), ("2024/3/5", date(2024, 3, 5)), ("20240305", date(2024, 3, 5)),
    ("2024年3月5日", date(2024, 3, 5)), ("2024.03.05", date(2024, 3, 5)), ("2024-03-05 00:00:00", date(2024, 3, 5)),
    ("２０２４年３月５日", date(2024, 3, 5)),
])
def test_accepted_date_forms(text, expected):
    record, errors = validate_row(cn_row(到期日=text), CN_MAPPING, CN)
    assert errors == []
    assert record.due_date == expected


@pytest.mark.parametrize("text,minor", [("1,234.50", 123450), ("¥1,234.50", 123450), ("1234.5元", 123450),
                                        ("CNY 1234.50", 123450), ("0", 0), ("88", 8800)])
def test_accepted_amount_forms(text, minor):
    record, errors = validate_row(cn_row(**{"本金(元)": text}), CN_MAPPING, CN)
    assert errors == []
    assert record.principal_minor == minor


# ---------------------------------------------------------------------------------------------- each error code

@pytest.mark.parametrize("overrides,column,code", [
    ({"合同号": ""}, "合同号", "required"),
    ({"姓名": "  "}, "姓名", "required"),
    ({"本金(元)": ""}, "本金(元)", "required"),
    ({"本金(元)": "12,3a"}, "本金(元)", "money.invalid"),
    ({"利息": "1.234"}, "利息", "money.too_precise"),
    ({"罚息": "-5"}, "罚息", "money.negative"),
    ({"本金(元)": "99999999999999999"}, "本金(元)", "money.invalid"),  # would overflow the balance column
    ({"到期日": "next Tuesday"}, "到期日", "date.invalid"),
    ({"到期日": "2024-02-30"}, "到期日", "date.invalid"),
    ({"到期日": "03/05/2024"}, "到期日", "date.ambiguous"),
    ({"到期日": "5.3.2024"}, "到期日", "date.ambiguous"),
    ({"身份证号": "12345"}, "身份证号", "cn_id.format"),
    ({"身份证号": wrong_check_char()}, "身份证号", "cn_id.checksum"),
    ({"身份证号": resident_id("11010519900230447")}, "身份证号", "cn_id.birth_date"),
    ({"手机号": "12345"}, "手机号", "phone.invalid"),
    ({"联系人电话": "999"}, "联系人电话", "phone.invalid"),
    ({"是否争议": "maybe"}, "是否争议", "flag.invalid"),
    ({"放款日期": "2024-04-01"}, "到期日", "date.order"),
    ({EXTRA_KEY: "surplus"}, "", "row.extra_values"),
])
def test_each_problem_is_reported_on_the_lenders_column(overrides, column, code):
    record, errors = validate_row(cn_row(**overrides), CN_MAPPING, CN)
    assert record is None
    assert codes(errors) == [(column, code)]
    assert len(errors[0].message) > 20  # a sentence saying what is wrong, not just the code


@pytest.mark.parametrize("column,value,code", [
    ("Email", "zhang.at.example.com", "email.invalid"),
    ("Time zone", "GMT+8", "timezone.invalid"),
    ("ID type", "驾照", "id_type.invalid"),
    ("DPD", "-3", "number.invalid"),
    ("DPD", "thirty", "number.invalid"),
    ("DPD", "99999999999", "number.invalid"),
    ("Currency", "RMBX", "money.unknown_currency"),
])
def test_problems_in_optional_columns(column, value, code):
    mapping = {**CN_MAPPING, "Email": "email", "Time zone": "time_zone", "ID type": "id_type",
               "DPD": "days_past_due", "Currency": "currency"}
    record, errors = validate_row({**cn_row(), column: value}, mapping, CN)
    assert record is None
    assert codes(errors) == [(column, code)]


def test_every_problem_of_a_row_is_reported_at_once_in_column_order():
    row = cn_row(**{"合同号": "", "身份证号": wrong_check_char(), "手机号": "138001380001; 13900139000",
                    "本金(元)": "abc", "到期日": "03/05/2024", "是否争议": "?", EXTRA_KEY: "x"})
    record, errors = validate_row(row, CN_MAPPING, CN)
    assert record is None
    assert codes(errors) == [
        ("", "row.extra_values"), ("合同号", "required"), ("身份证号", "cn_id.checksum"), ("手机号", "phone.invalid"),
        ("本金(元)", "money.invalid"), ("到期日", "date.ambiguous"), ("是否争议", "flag.invalid"),
    ]
    assert "138001380001" in errors[3].message  # says which of the cell's numbers is wrong


def test_a_required_field_without_a_column_is_reported_on_no_column():
    mapping = {h: t for h, t in CN_MAPPING.items() if t != "principal"}
    _, errors = validate_row(cn_row(), mapping, CN)
    assert codes(errors) == [("", "required")]
    assert "principal" in errors[0].message


def test_due_date_or_days_past_due_is_required():
    _, errors = validate_row(cn_row(到期日=""), CN_MAPPING, CN)
    assert codes(errors) == [("到期日", "required")]
    mapping = {**{h: t for h, t in CN_MAPPING.items() if t != "due_date"}, "逾期天数": "days_past_due"}
    _, errors = validate_row({**cn_row(), "逾期天数": ""}, mapping, CN)
    assert codes(errors) == [("逾期天数", "required")]


def test_unknown_currency_still_reports_bad_amounts():
    mapping = {**CN_MAPPING, "币种": "currency"}
    _, errors = validate_row({**cn_row(利息="abc"), "币种": "XYZ"}, mapping, CN)
    assert codes(errors) == [("利息", "money.invalid"), ("币种", "money.unknown_currency")]


# ---------------------------------------------------------------------------------------------- derived values

def test_days_past_due_is_derived_from_the_due_date_and_never_negative():
    assert validate_row(cn_row(到期日="2024-05-02"), CN_MAPPING, CN)[0].days_past_due == 30
    assert validate_row(cn_row(到期日="2024-07-01", 放款日期=""), CN_MAPPING, CN)[0].days_past_due == 0


def test_given_days_past_due_wins_and_due_date_may_be_absent():
    mapping = {**CN_MAPPING, "逾期天数": "days_past_due"}
    record, errors = validate_row({**cn_row(到期日=""), "逾期天数": "45天"}, mapping, CN)
    assert errors == []
    assert (record.days_past_due, record.due_date) == (45, None)
    record, _ = validate_row({**cn_row(), "逾期天数": "7"}, mapping, CN)
    assert record.days_past_due == 7


def test_phones_from_several_columns_and_separators_form_one_deduplicated_list():
    mapping = {**CN_MAPPING, "备用电话": "phone_2"}
    row = {**cn_row(手机号="13800138000；13900139000、+86 137 0013 7000"), "备用电话": "139-0013-9000 / 010-12345678"}
    record, errors = validate_row(row, mapping, CN)
    assert errors == []
    assert record.phones == ["+8613800138000", "+8613900139000", "+8613700137000", "+861012345678"]


def test_one_bad_phone_fails_the_row_even_when_others_are_good():
    record, errors = validate_row(cn_row(手机号="13800138000, 555"), CN_MAPPING, CN)
    assert record is None
    assert codes(errors) == [("手机号", "phone.invalid")]


def test_time_zone_comes_from_the_phone_numbers():
    mapping = {"ref": "external_ref", "name": "debtor_name", "principal": "principal", "due": "due_date",
               "phone": "phone"}
    row = {"ref": "A1", "name": "Ann Smith", "principal": "$1,000.00", "due": "2024-05-01"}
    record, _ = validate_row({**row, "phone": "(212) 555-0123"}, mapping, US)
    assert (record.time_zones, record.time_zone_source) == (["America/New_York"], "phone")
    record, _ = validate_row({**row, "phone": "800-555-0123"}, mapping, US)  # toll-free: anywhere in NANP
    assert len(record.time_zones) > 1 and "America/Los_Angeles" in record.time_zones
    assert all(zone.startswith(("America/", "Pacific/", "Atlantic/")) for zone in record.time_zones)
    record, _ = validate_row({**row, "phone": "(212) 555-0123; +86 138 0013 8000"}, mapping, US)
    assert record.time_zones == ["America/New_York", "Asia/Shanghai"]


def test_explicit_time_zone_overrides_and_no_phone_falls_back_to_the_tenant():
    mapping = {**CN_MAPPING, "时区": "time_zone"}
    record, _ = validate_row({**cn_row(), "时区": "Asia/Urumqi"}, mapping, CN)
    assert (record.time_zones, record.time_zone_source) == (["Asia/Urumqi"], "explicit")
    record, _ = validate_row(cn_row(手机号=""), CN_MAPPING, CN)
    assert (record.time_zones, record.time_zone_source) == (["Asia/Shanghai"], "tenant")


def test_id_type_defaults_by_country_and_only_resident_ids_are_checksummed():
    record, _ = validate_row(cn_row(身份证号=""), CN_MAPPING, CN)
    assert (record.id_type, record.id_number) == ("other", None)
    mapping = {**CN_MAPPING, "证件类型": "id_type"}
    record, errors = validate_row({**cn_row(身份证号="E12345678"), "证件类型": "护照"}, mapping, CN)
    assert errors == []
    assert (record.id_type, record.id_number) == ("passport", "E12345678")
    us_mapping = {"ref": "external_ref", "name": "debtor_name", "amt": "principal", "due": "due_date",
                  "ssn": "id_number"}
    record, errors = validate_row({"ref": "1", "name": "Ann", "amt": "10", "due": "2024-01-01", "ssn": "123-45-6789"},
                                  us_mapping, US)
    assert errors == []
    assert (record.id_type, record.id_number) == ("other", "123-45-6789")


def test_currency_column_overrides_the_tenant_currency_and_its_precision():
    mapping = {**CN_MAPPING, "币种": "currency"}
    record, errors = validate_row({**cn_row(**{"本金(元)": "5000", "利息": "", "罚息": ""}), "币种": "jpy"},
                                  mapping, CN)
    assert errors == []
    assert (record.currency, record.principal_minor) == ("JPY", 5000)
    _, errors = validate_row({**cn_row(**{"本金(元)": "5000.5"}), "币种": "JPY"}, mapping, CN)
    assert codes(errors) == [("本金(元)", "money.too_precise"), ("利息", "money.too_precise")]  # 12.3 yen


def test_optional_amounts_and_original_amount_defaults():
    mapping = {**CN_MAPPING, "借款金额": "original_amount", "最后还款金额": "last_payment_amount"}
    record, _ = validate_row({**cn_row(), "借款金额": "", "最后还款金额": ""}, mapping, CN)
    assert record.original_minor == record.principal_minor and record.last_payment_minor is None
    record, _ = validate_row({**cn_row(), "借款金额": "3000", "最后还款金额": "100"}, mapping, CN)
    assert (record.original_minor, record.last_payment_minor) == (300000, 10000)


@pytest.mark.parametrize("value,expected", [("1", True), ("是", True), ("Y", True), ("TRUE", True), ("yes", True),
                                            ("0", False), ("否", False), ("n", False), ("false", False), ("", False)])
def test_flag_values(value, expected):
    record, errors = validate_row(cn_row(是否争议=value), CN_MAPPING, CN)
    assert errors == []
    assert record.disputed is expected


def test_third_parties_from_numbered_columns():
    mapping = {**CN_MAPPING, "联系人2姓名": "third_party_name_2", "联系人2电话": "third_party_phone_2",
               "联系人3姓名": "third_party_name_3"}
    row = {**cn_row(与借款人关系=""), "联系人2姓名": "王五", "联系人2电话": "+1 212 555 0123", "联系人3姓名": ""}
    record, errors = validate_row(row, mapping, CN)
    assert errors == []
    assert record.third_parties == [ThirdParty("李四", "+8613700137000", ""), ThirdParty("王五", "+12125550123", "")]
    assert record.phones == ["+8613800138000"]  # contacts' numbers are not the debtor's


def test_a_contact_needs_a_name():
    _, errors = validate_row(cn_row(联系人姓名=""), CN_MAPPING, CN)
    assert codes(errors) == [("联系人姓名", "required")]


def test_third_parties_and_phones_from_json_lists():
    mapping = {"external_ref": "external_ref", "name": "debtor_name", "principal": "principal", "dpd": "days_past_due",
               "phones": "phone", "third_parties": "third_parties"}
    raw = {"external_ref": "J1", "name": "张三", "principal": "10", "dpd": "3",
           "phones": ["13800138000", 13900139000],
           "third_parties": [{"name": "李四", "phone": "13700137000", "relationship": "父亲"}, {"name": "王五"}]}
    record, errors = validate_row(raw, mapping, CN)
    assert errors == []
    assert record.phones == ["+8613800138000", "+8613900139000"]
    assert record.third_parties == [ThirdParty("李四", "+8613700137000", "父亲"), ThirdParty("王五", None, "")]
    _, errors = validate_row({**raw, "third_parties": [{"phone": "1"}], "name": ["a", "b"]}, mapping, CN)
    assert codes(errors) == [("name", "type.invalid"), ("third_parties", "phone.invalid"),
                             ("third_parties", "required")]


def test_overlong_references_are_refused_before_they_reach_the_database():
    _, errors = validate_row(cn_row(合同号="X" * 101), CN_MAPPING, CN)
    assert codes(errors) == [("合同号", "text.too_long")]


def test_an_invalid_mapping_is_a_programming_error():
    with pytest.raises(ValidationFailed) as exc:
        validate_row(cn_row(), {**CN_MAPPING, "产品": "colour"}, CN)
    assert exc.value.code == "mapping.invalid"


# ---------------------------------------------------------------------------------------------- error file

def test_error_file_opens_in_excel_with_line_numbers_and_reasons():
    headers = ["合同号", "姓名", "本金"]
    rows = [
        (3, {"合同号": "HT1", "姓名": "张三", "本金": "abc"},
         [CellError("本金", "money.invalid", "'abc' is not an amount.")]),
        (7, {"合同号": "", "姓名": "李四", "本金": "=1+1", EXTRA_KEY: "x"},
         [CellError("", "row.extra_values", "Extra cells."), CellError("合同号", "required", "Missing.")]),
    ]
    chunks = list(error_csv(iter(rows), headers))
    assert len(chunks) == 3  # header, then one chunk per row
    data = b"".join(chunks)
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == ["line", "合同号", "姓名", "本金", "errors"]
    assert table[1] == ["3", "HT1", "张三", "abc", "本金: money.invalid — 'abc' is not an amount."]
    assert table[2][0] == "7"
    assert table[2][3] == "'=1+1"  # never run as a formula
    assert table[2][4] == "row.extra_values — Extra cells.; 合同号: required — Missing."


def test_error_file_keeps_phone_numbers_and_negative_amounts_readable():
    rows = [(2, {"phone": "+86 138 0013 8000", "amount": "-5", "note": "@cmd", "list": ["a", "b"]}, [])]
    table = list(csv.reader(io.StringIO(b"".join(error_csv(rows, ["phone", "amount", "note", "list"]))
                                        .decode("utf-8-sig"))))
    assert table[1][1:5] == ["+86 138 0013 8000", "-5", "'@cmd", '["a", "b"]']


def test_error_file_does_not_clash_with_the_lenders_own_columns():
    table = list(csv.reader(io.StringIO(b"".join(error_csv([], ["line", "errors"])).decode("utf-8-sig"))))
    assert table[0] == ["import line", "line", "errors", "import errors"]
