"""The canonical account fields an import maps a lender's columns onto, and suggesting that mapping.

API
---
``Field`` (frozen dataclass): ``name``, ``required``, ``description``, ``synonyms``, ``numbered``, ``kind``.
``FIELDS: tuple[Field, ...]`` in display order; ``FIELDS_BY_NAME: dict[str, Field]``.
``REQUIRED_FIELDS = ("external_ref", "debtor_name", "principal")``; ``ONE_OF_REQUIRED = ("due_date", "days_past_due")``.
``MAX_NUMBER``: the highest number a numbered field may carry (``phone_10``).
``parse_target(target) -> tuple[str, int]``: ``"phone_2"`` → ``("phone", 2)``; ``"phone"`` → ``("phone", 1)``;
    raises ``ValueError`` for anything that is not a canonical field.
``slot_name(field, number) -> str``: the inverse (``("phone", 1)`` → ``"phone"``).
``normalize_header(text) -> str``: the comparison key used for synonyms.
``suggest_mapping(headers) -> dict[str, str]``: every header → a canonical target or ``""`` (ignore).
``missing_required(mapping) -> list[str]``: required targets not mapped; the due date / days past due pair is
    reported as the single entry ``"due_date|days_past_due"`` (meaning: map at least one of them).
``check_mapping(mapping, headers) -> None``: raises ``ValidationFailed`` (code ``mapping.invalid``) for unknown or
    doubly-used targets and ``FileRejected`` (code ``import.missing_columns``, ``details["missing"]``) when
    required fields are not mapped or mapped headers are not in the file.

A mapping is ``{their header: canonical target or "" to ignore}``. Numbered fields — ``phone`` and the
``third_party_*`` trio — may repeat as ``phone_2``, ``third_party_name_2`` …; the contact trio with the same
number describes the same person. ``phone`` collects every phone column into one list.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tenants.errors import ValidationFailed
from tenants.portfolios.parsing import FileRejected

MAX_NUMBER = 10
REQUIRED_FIELDS = ("external_ref", "debtor_name", "principal")
ONE_OF_REQUIRED = ("due_date", "days_past_due")
DUE_DATE_OR_DPD = "|".join(ONE_OF_REQUIRED)

# kinds: text, money, date, int, flag, phone, email, time_zone, id_type, currency, list
ID_TYPES = ("cn_resident_id", "passport", "national_id", "ssn", "other")


@dataclass(frozen=True)
class Field:
    name: str
    required: bool
    description: str
    synonyms: tuple[str, ...]
    numbered: bool = False
    kind: str = "text"


def _f(name, description, synonyms, *, required=False, numbered=False, kind="text") -> Field:
    return Field(name, required, description, tuple(synonyms), numbered, kind)


FIELDS: tuple[Field, ...] = (
    _f("external_ref", "The lender's own reference for the loan account; unique within the lender.",
       ["external_ref", "external_reference", "reference", "ref", "loan_id", "loan_no", "loan_number",
        "account_no", "account_number", "account_id", "account_ref", "contract_no", "contract_number",
        "合同号", "合同编号", "借据号", "借据编号", "贷款编号", "贷款合同号", "借款编号", "借款单号", "借款合同号",
        "账户编号", "订单号", "订单编号"],
       required=True),
    _f("debtor_name", "The borrower's full name.",
       ["name", "debtor_name", "customer_name", "borrower_name", "full_name", "debtor", "borrower", "customer",
        "姓名", "客户姓名", "借款人", "借款人姓名", "客户名称", "债务人", "债务人姓名"],
       required=True),
    _f("id_type", "Kind of identity document: cn_resident_id, passport, national_id, ssn or other.",
       ["id_type", "document_type", "id_document_type", "证件类型"], kind="id_type"),
    _f("id_number", "The identity document's number (for China, the 18-character resident ID).",
       ["id_number", "id_no", "resident_id", "national_id", "id_card", "id_card_no", "ssn", "身份证号",
        "身份证号码", "身份证", "证件号码", "证件号"]),
    _f("phone", "The borrower's phone numbers; several columns and several numbers per cell are allowed.",
       ["phone", "phones", "mobile", "mobile_phone", "mobile_number", "phone_number", "cell", "cellphone",
        "cell_phone", "telephone", "tel", "contact_number", "手机号", "手机号码", "手机", "联系电话", "电话",
        "电话号码", "联系方式", "备用电话", "备用手机号"],
       numbered=True, kind="phone"),
    _f("email", "The borrower's email address.",
       ["email", "e_mail", "email_address", "邮箱", "电子邮箱", "电子邮件", "邮箱地址"], kind="email"),
    _f("address", "The borrower's postal address.",
       ["address", "home_address", "mailing_address", "postal_address", "地址", "家庭住址", "住址", "通讯地址",
        "联系地址", "居住地址", "家庭地址"]),
    _f("region", "Province, state or region.",
       ["region", "province", "state", "county", "地区", "省份", "所在地区", "所在省份"]),
    _f("time_zone", "IANA time zone (e.g. Asia/Shanghai); overrides the zone derived from the phone numbers.",
       ["time_zone", "timezone", "tz", "时区"], kind="time_zone"),
    _f("product", "The loan product.",
       ["product", "product_name", "loan_product", "loan_type", "产品", "产品名称", "贷款产品", "产品类型"]),
    _f("original_amount", "Amount originally lent; defaults to the principal.",
       ["original_amount", "loan_amount", "amount_financed", "original_balance", "original_principal",
        "借款金额", "贷款金额", "合同金额", "放款金额"], kind="money"),
    _f("principal", "Outstanding principal.",
       ["principal", "outstanding_principal", "principal_balance", "principal_outstanding", "本金", "剩余本金",
        "逾期本金", "欠款本金", "未还本金", "待还本金"],
       required=True, kind="money"),
    _f("interest", "Outstanding interest.",
       ["interest", "outstanding_interest", "interest_balance", "利息", "逾期利息", "欠款利息", "未还利息",
        "待还利息"], kind="money"),
    _f("fees", "Outstanding fees.",
       ["fees", "fee", "charges", "outstanding_fees", "费用", "手续费", "服务费", "未还费用"], kind="money"),
    _f("penalty", "Outstanding penalty interest or late charges.",
       ["penalty", "penalties", "penalty_interest", "late_fee", "late_fees", "late_charges", "罚息", "违约金",
        "滞纳金", "逾期罚息"], kind="money"),
    _f("currency", "ISO 4217 currency code; defaults to the lender's currency.",
       ["currency", "ccy", "currency_code", "币种", "货币"], kind="currency"),
    _f("loan_date", "Date the loan was made.",
       ["loan_date", "disbursement_date", "disbursed_date", "origination_date", "open_date", "opened_date",
        "放款日期", "放款日", "借款日期", "贷款日期", "起息日"], kind="date"),
    _f("due_date", "Date the missed payment was due.",
       ["due_date", "payment_due_date", "due", "到期日", "到期日期", "应还款日", "应还款日期", "应还日期",
        "还款日", "还款日期"], kind="date"),
    _f("days_past_due", "Days past due; derived from the due date when absent.",
       ["days_past_due", "dpd", "days_overdue", "days_delinquent", "overdue_days", "逾期天数"], kind="int"),
    _f("last_payment_date", "Date of the last payment received.",
       ["last_payment_date", "last_paid_date", "last_payment_on", "最后还款日期", "最近还款日期", "上次还款日期",
        "最后还款日"], kind="date"),
    _f("last_payment_amount", "Amount of the last payment received.",
       ["last_payment_amount", "last_paid_amount", "last_payment", "最后还款金额", "最近还款金额",
        "上次还款金额"], kind="money"),
    _f("charge_off_date", "Date the lender charged the loan off.",
       ["charge_off_date", "chargeoff_date", "write_off_date", "writeoff_date", "核销日期"], kind="date"),
    _f("limitation_date", "Date the limitation period for legal action ends.",
       ["limitation_date", "statute_of_limitations_date", "sol_date", "statute_date", "诉讼时效到期日",
        "诉讼时效日期", "时效到期日"], kind="date"),
    _f("third_party_name", "Name of a third-party contact (e.g. an emergency contact).",
       ["third_party_name", "third_party", "contact_name", "contact", "reference_name",
        "emergency_contact_name", "emergency_contact", "联系人姓名", "联系人", "紧急联系人", "紧急联系人姓名",
        "其他联系人", "其他联系人姓名"],
       numbered=True),
    _f("third_party_phone", "Phone number of a third-party contact.",
       ["third_party_phone", "contact_phone", "reference_phone", "emergency_contact_phone", "联系人电话",
        "联系人手机", "联系人手机号", "联系人手机号码", "联系人号码", "紧急联系人电话", "紧急联系人手机号",
        "其他联系人电话"],
       numbered=True, kind="phone"),
    _f("third_party_relationship", "The contact's relationship to the borrower (spouse, parent, colleague …).",
       ["third_party_relationship", "relationship", "relation", "contact_relationship", "与借款人关系", "关系",
        "联系人关系", "与本人关系", "紧急联系人关系"],
       numbered=True),
    _f("third_parties", "Third-party contacts as a list of {name, phone, relationship} objects (JSON only).",
       ["third_parties", "contacts", "third_party_contacts"], kind="list"),
    _f("deceased", "The borrower has died (yes/no).", ["deceased", "is_deceased", "dead", "已故", "是否死亡", "死亡"],
       kind="flag"),
    _f("bankrupt", "The borrower is bankrupt or insolvent (yes/no).",
       ["bankrupt", "bankruptcy", "is_bankrupt", "insolvent", "破产", "是否破产"], kind="flag"),
    _f("disputed", "The borrower disputes the debt (yes/no).",
       ["disputed", "dispute", "is_disputed", "争议", "有争议", "是否争议"], kind="flag"),
    _f("attorney", "The borrower is represented by an attorney (yes/no).",
       ["attorney", "has_attorney", "represented", "lawyer", "律师", "委托律师", "是否委托律师"], kind="flag"),
    _f("cease_requested", "The borrower asked to stop being contacted (yes/no).",
       ["cease_requested", "cease_and_desist", "cease", "do_not_contact", "停止催收", "停止联系", "要求停止联系"],
       kind="flag"),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]|【[^】]*】|<[^>]*>")
_NOISE = re.compile(r"[\s_\-.:：/\\*#'\"`]+")
_NUMBERED = re.compile(r"^(\D*?)(\d{1,2})(\D*)$")
_TARGET = re.compile(r"^([a-z_]+?)(?:_(\d{1,2}))?$")


def normalize_header(text: str) -> str:
    """Comparison key: NFKC (full-width → half-width), lower case, no spaces/underscores/punctuation, and
    without a bracketed unit or note (``本金(元)``, ``Principal [CNY]``) unless that would leave nothing."""
    text = unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "").strip().lower()
    without = _BRACKETS.sub("", text)
    if _NOISE.sub("", without):
        text = without
    return _NOISE.sub("", text)


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for field in FIELDS:
        for synonym in (field.name, *field.synonyms):
            key = normalize_header(synonym)
            owner = index.setdefault(key, field.name)
            if owner != field.name:
                raise AssertionError(f"header synonym {synonym!r} used by both {owner} and {field.name}")
    return index


_INDEX = _build_index()


def parse_target(target: str) -> tuple[str, int]:
    """``"third_party_name_2"`` → ``("third_party_name", 2)``; raises ValueError if not a canonical target."""
    if target in FIELDS_BY_NAME:
        return target, 1
    match = _TARGET.match(target or "")
    if match and match.group(2):
        base, number = match.group(1), int(match.group(2))
        field = FIELDS_BY_NAME.get(base)
        if field is not None and field.numbered and 1 <= number <= MAX_NUMBER:
            return base, number
    raise ValueError(f"{target!r} is not a canonical account field")


def slot_name(field: str, number: int) -> str:
    return field if number == 1 else f"{field}_{number}"


def _match(header: str) -> tuple[str, int | None] | None:
    """(field, explicit number or None) for one header, or None when nothing matches."""
    key = normalize_header(header)
    if not key:
        return None
    if key in _INDEX:
        return _INDEX[key], None
    numbered = _NUMBERED.match(key)
    if numbered:
        base_key = numbered.group(1) + numbered.group(3)
        number = int(numbered.group(2))
        field = _INDEX.get(base_key)
        if field is not None:
            if FIELDS_BY_NAME[field].numbered:
                return field, number
            if number == 1:
                return field, None
    return None


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """Guess each header's canonical target from English and Chinese synonyms, ignoring case, spaces,
    underscores, full-width forms and bracketed units. Every header appears in the result; unrecognised
    ones, and later headers for a single-valued field that is already taken, map to ``""``.

    Numbered fields fill the number written in the header when free (``联系人2电话`` → ``third_party_phone_2``),
    otherwise the lowest free number, so ``mobile, phone, 备用电话`` → ``phone, phone_2, phone_3`` and two
    unnumbered contact name/phone pairs become contact 1 and contact 2.
    """
    taken: set[str] = set()
    mapping: dict[str, str] = {}
    for header in headers:
        match = _match(header)
        target = ""
        if match is not None:
            field, number = match
            if FIELDS_BY_NAME[field].numbered:
                candidates = ([number] if number and 1 <= number <= MAX_NUMBER else []) + list(range(1, MAX_NUMBER + 1))
                for n in candidates:
                    if slot_name(field, n) not in taken:
                        target = slot_name(field, n)
                        break
            elif field not in taken:
                target = field
        if target:
            taken.add(target)
        mapping[header] = target
    return mapping


def missing_required(mapping: dict[str, str]) -> list[str]:
    """Required targets that no header maps to, in canonical order (see the module docstring)."""
    targets = {t for t in mapping.values() if t}
    missing = [name for name in REQUIRED_FIELDS if name not in targets]
    if not targets.intersection(ONE_OF_REQUIRED):
        missing.append(DUE_DATE_OR_DPD)
    return missing


def check_mapping(mapping: dict[str, str], headers: list[str]) -> None:
    """Refuse a mapping that cannot work with this file, before any row is read."""
    seen: dict[str, str] = {}
    problems = []
    for header, target in mapping.items():
        if not target:
            continue
        try:
            base, number = parse_target(target)
        except ValueError:
            problems.append(f"{header!r} is mapped to unknown field {target!r}")
            continue
        slot = slot_name(base, number)
        if slot in seen:
            problems.append(f"{seen[slot]!r} and {header!r} are both mapped to {slot}")
        seen[slot] = header
    if problems:
        raise ValidationFailed("The column mapping is invalid: " + "; ".join(problems) + ".", code="mapping.invalid",
                               details={"problems": problems})

    present = set(headers)
    absent_headers = [h for h, t in mapping.items() if t and h not in present]
    missing = missing_required(mapping)
    if missing or absent_headers:
        parts = []
        if missing:
            parts.append("map a column to " + ", ".join(m.replace("|", " or ") for m in missing))
        if absent_headers:
            parts.append("the file has no column " + ", ".join(repr(h) for h in absent_headers))
        raise FileRejected("Required columns are missing: " + "; ".join(parts) + ".", code="import.missing_columns",
                           details={"missing": missing, "absent_headers": absent_headers})
