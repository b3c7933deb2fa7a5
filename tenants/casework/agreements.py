"""Repayment agreements: a printable document for a settlement or a payment plan, then its signature.

The document is a self-contained HTML page in Chinese and English (the lender's language first, and governing),
kept in the evidence store so its digest is in the audit chain. It is signed by an uploaded signed copy, or by the
debtor's acknowledgement — who, when and how ("verbal on recorded call <attempt id>", "e-signature") — which
produces a signed copy of the document with that record appended. Either way the signed copy is evidence. Signing
a settlement's agreement is the debtor accepting the settlement.
"""
import io
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from babel.dates import format_date, format_datetime
from jinja2 import Environment
from sqlalchemy import ForeignKey, String, Uuid, select
from sqlalchemy.orm import Mapped, mapped_column

from tenants import audit, clock, references
from tenants.casework import evidence as evidence_store
from tenants.casework import settlements
from tenants.casework.settlements import SettlementStatus
from tenants.conduct.models import ContactAttempt
from tenants.context import TenantScoped, current_tenant_id
from tenants.db import UtcDateTime, UuidPrimaryKey, db, get_visible
from tenants.errors import Conflict, PermissionDenied, ValidationFailed
from tenants.money import Money
from tenants.pii import EncryptedString
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant

METHODS = ("upload", "verbal", "e_signature")


class AgreementStatus:
    GENERATED = "generated"
    SIGNED = "signed"


class Agreement(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "agreements"

    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    settlement_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("settlements.id"), index=True)
    plan_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payment_plans.id"), index=True)
    language: Mapped[str] = mapped_column(String(8))  # the governing text: "zh" or "en"
    status: Mapped[str] = mapped_column(String(12))
    document_evidence_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("evidence.id"))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    signed_evidence_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("evidence.id"))
    signatory: Mapped[str | None] = mapped_column(EncryptedString)  # usually the debtor's name
    signature_method: Mapped[str | None] = mapped_column(String(12))
    signature_detail: Mapped[str | None] = mapped_column(String(200))
    signed_attempt_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contact_attempts.id"))
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    signature_recorded_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))


@dataclass(frozen=True)
class Instalment:
    number: int
    due_on: date
    amount_minor: int


@dataclass(frozen=True)
class Terms:
    kind: str  # settlement | plan
    currency: str
    total_minor: int
    outstanding_minor: int
    as_of: date
    deadline: date | None = None
    instalments: tuple[Instalment, ...] = ()


def for_settlement(settlement_id: uuid.UUID, *, user_id: uuid.UUID | None) -> Agreement:
    settlement = settlements.get_settlement(settlement_id)
    if settlement.tenant_id != current_tenant_id():
        raise PermissionDenied("Only the agency that made the offer prepares its agreement.",
                               code="settlement.not_yours")
    settlements.held_placement(settlement.account_id)
    if settlement.status not in (*SettlementStatus.OFFERED, SettlementStatus.ACCEPTED):
        raise Conflict("An agreement is prepared for an offer the debtor may take (a discount beyond your limit "
                       "needs the lender's approval first).", code="settlement.wrong_status",
                       details={"status": settlement.status})
    existing = _existing(Agreement.settlement_id == settlement.id)
    if existing is not None:
        return existing
    terms = Terms(kind="settlement", currency=settlement.currency, total_minor=settlement.amount_minor,
                  outstanding_minor=settlement.outstanding_minor, as_of=settlement.proposed_at.date(),
                  deadline=settlement.deadline)
    return _generate(get_account(settlement.account_id), terms, settlement_id=settlement.id, user_id=user_id)


def agreement_for_plan(plan, *, user_id: uuid.UUID | None = None) -> Agreement:
    """The agreement of a payment plan (tenants.casework plans: `instalments` with number, due_on and
    amount_minor; `currency`, `account_id`, `id`), read through getattr so either side may evolve."""
    if getattr(plan, "tenant_id", None) != current_tenant_id():
        raise PermissionDenied("Only the agency that agreed the plan prepares its agreement.", code="plan.not_yours")
    instalments = tuple(sorted(
        (Instalment(int(i.number), i.due_on, int(i.amount_minor))
         for i in getattr(plan, "instalments", None) or ()), key=lambda i: i.number))
    if not instalments:
        raise ValidationFailed("A plan needs instalments before its agreement can be prepared.",
                               code="agreement.no_instalments")
    account = get_account(plan.account_id)
    existing = _existing(Agreement.plan_id == plan.id)
    if existing is not None:
        return existing
    total = sum(i.amount_minor for i in instalments)
    terms = Terms(kind="plan", currency=getattr(plan, "currency", None) or account.currency, total_minor=total,
                  outstanding_minor=account.outstanding_minor, as_of=getattr(plan, "agreed_on", None)
                  or clock.now().date(), instalments=instalments)
    return _generate(account, terms, plan_id=plan.id, user_id=user_id)


def _existing(condition) -> Agreement | None:
    found = db.session.scalar(select(Agreement).where(condition, Agreement.tenant_id == current_tenant_id())
                              .order_by(Agreement.created_at.desc()).limit(1))
    if found is not None and found.status == AgreementStatus.SIGNED:
        raise Conflict("The agreement is already signed.", code="agreement.already_signed")
    return found


def _generate(account: Account, terms: Terms, *, settlement_id: uuid.UUID | None = None,
              plan_id: uuid.UUID | None = None, user_id: uuid.UUID | None) -> Agreement:
    lender = db.session.get(Tenant, account.tenant_id)
    maker = db.session.get(Tenant, current_tenant_id())
    agreement = Agreement(tenant_id=maker.id, lender_tenant_id=lender.id, account_id=account.id,
                          settlement_id=settlement_id, plan_id=plan_id, language=_language(lender),
                          status=AgreementStatus.GENERATED, created_by_user_id=user_id, created_at=clock.now())
    db.session.add(agreement)
    db.session.flush()
    html = render_document(agreement, account, terms, lender=lender, maker=maker)
    document = evidence_store.store(
        account.id, kind="agreement", filename=f"repayment-agreement-{agreement.id}.html",
        content_type="text/html; charset=utf-8", stream=io.BytesIO(html),
        links=evidence_store.Links(settlement_id=settlement_id, plan_id=plan_id),
        description=f"Repayment agreement ({terms.kind})", user_id=user_id)
    agreement.document_evidence_id = document.id
    audit.record("agreement.generated", object_type="agreement", object_id=agreement.id,
                 after={"account_id": str(account.id), "kind": terms.kind, "evidence_id": str(document.id),
                        "sha256": document.sha256, "language": agreement.language})
    return agreement


def get_agreement(agreement_id: uuid.UUID) -> Agreement:
    return get_visible(Agreement, agreement_id, "agreement.not_found")


def for_account(account_id: uuid.UUID) -> list[Agreement]:
    return list(db.session.scalars(select(Agreement).where(Agreement.account_id == account_id)
                                   .order_by(Agreement.created_at.desc())))


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str | None
    stream: object


def sign(agreement_id: uuid.UUID, *, method: str, signatory: str, signed_at: datetime | None = None,
         attempt_id: uuid.UUID | None = None, upload: Upload | None = None,
         user_id: uuid.UUID | None = None) -> Agreement:
    agreement = get_agreement(agreement_id)
    if agreement.tenant_id != current_tenant_id():
        raise PermissionDenied("Only the tenant that prepared the agreement records its signature.",
                               code="agreement.not_yours")
    account = get_account(agreement.account_id)
    if agreement.status != AgreementStatus.GENERATED:
        raise Conflict("The agreement is already signed.", code="agreement.already_signed")
    signatory = (signatory or "").strip()
    fields = {}
    if method not in METHODS:
        fields["method"] = [f"One of {', '.join(METHODS)}."]
    if not 0 < len(signatory) <= 200:
        fields["signatory"] = ["Who signed or acknowledged the agreement."]
    now = clock.now()
    signed_at = signed_at or now
    if not agreement.created_at <= signed_at <= now:
        fields["signed_at"] = ["Between the agreement's preparation and now."]
    if method == "upload" and upload is None:
        fields["file"] = ["Upload the signed copy."]
    if fields:
        raise ValidationFailed(details={"fields": fields})
    settlement = _settlement_to_accept(agreement)
    if method == "upload":
        detail, attempt = "signed copy uploaded", None
        stored = evidence_store.store(
            account.id, kind="signed_agreement", filename=upload.filename, content_type=upload.content_type,
            stream=upload.stream, links=_links(agreement), description=f"Signed by {signatory}", user_id=user_id)
    else:
        attempt = _recorded_call(account, attempt_id) if method == "verbal" else None
        detail = f"verbal on recorded call {attempt.id}" if attempt else "e-signature"
        original = evidence_store.verified_copy(evidence_store.get_evidence(agreement.document_evidence_id)).read()
        maker, lender = db.session.get(Tenant, agreement.tenant_id), db.session.get(Tenant, account.tenant_id)
        signed = _with_acknowledgement(original, who=signatory, when=signed_at, how=detail, attempt=attempt,
                                       recorded_by=maker.name, language=agreement.language, zone=lender.time_zone)
        stored = evidence_store.store(
            account.id, kind="signed_agreement", filename=f"repayment-agreement-{agreement.id}-signed.html",
            content_type="text/html; charset=utf-8", stream=io.BytesIO(signed), links=_links(agreement, attempt),
            description=f"Acknowledged by {signatory}: {detail}", user_id=user_id)
    agreement.status, agreement.signed_evidence_id, agreement.signed_at = AgreementStatus.SIGNED, stored.id, signed_at
    agreement.signatory, agreement.signature_method, agreement.signature_detail = signatory, method, detail
    agreement.signed_attempt_id, agreement.signature_recorded_by_user_id = attempt.id if attempt else None, user_id
    if settlement is not None and settlement.status != SettlementStatus.ACCEPTED:
        settlements.accept(settlement.id)
    audit.record("agreement.signed", object_type="agreement", object_id=agreement.id,
                 before={"status": AgreementStatus.GENERATED},
                 after={"status": agreement.status, "method": method, "detail": detail,
                        "signed_at": signed_at.isoformat(), "evidence_id": str(stored.id), "sha256": stored.sha256})
    return agreement


def _settlement_to_accept(agreement: Agreement):
    if agreement.settlement_id is None:
        return None
    settlement = settlements.get_settlement(agreement.settlement_id)
    if settlement.status not in (*SettlementStatus.OFFERED, SettlementStatus.ACCEPTED) \
            or settlements.past_deadline(settlement):
        raise Conflict("The settlement this agreement is for is no longer open to the debtor.",
                       code="settlement.wrong_status", details={"status": settlement.status})
    return settlement


def _recorded_call(account: Account, attempt_id: uuid.UUID | None) -> ContactAttempt:
    message = "A call on this account in which the debtor was spoken to."
    if attempt_id is None:
        raise ValidationFailed(details={"fields": {"attempt_id": [message]}})
    attempt = references.of_account(ContactAttempt, attempt_id, account.id, code="contact_attempt.not_found",
                                    field="attempt_id", message=message)
    if attempt.channel != "call" or not attempt.conversation:
        raise ValidationFailed(details={"fields": {"attempt_id": [message]}})
    return attempt


def _links(agreement: Agreement, attempt: ContactAttempt | None = None) -> "evidence_store.Links":
    return evidence_store.Links(attempt_id=attempt.id if attempt else None, settlement_id=agreement.settlement_id,
                                plan_id=agreement.plan_id)


# ---- the document -------------------------------------------------------------------------------------------

def _language(lender: Tenant) -> str:
    return "zh" if (lender.locale or "").lower().startswith("zh") else "en"


BABEL_LOCALE = {"zh": "zh_CN", "en": "en"}
LANGUAGE_NAMES = {"zh": {"zh": "中文", "en": "英文"}, "en": {"zh": "Chinese", "en": "English"}}

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_DOCUMENT = _env.from_string("""<!DOCTYPE html>
<html lang="{{ first }}">
<head>
<meta charset="utf-8">
<title>{{ t[order[0]].title }} / {{ t[order[1]].title }}</title>
<style>
body { font-family: "Noto Serif CJK SC", "Songti SC", SimSun, Georgia, serif; max-width: 46em; margin: 2em auto;
       padding: 0 1em; line-height: 1.6; color: #111; }
h1 { font-size: 1.5em; margin-bottom: 0; } h2 { font-size: 1.1em; margin-top: 1.5em; }
.ref, .footer { color: #555; font-size: 0.85em; } table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #999; padding: 0.25em 0.75em; text-align: left; } td.num { text-align: right; }
section { border-top: 2px solid #333; margin-top: 2em; padding-top: 0.5em; }
.signature { margin-top: 2.5em; } .line { display: inline-block; min-width: 14em; border-bottom: 1px solid #111; }
.acknowledgement { border: 2px solid #333; padding: 0.75em; margin-top: 2em; }
@media print { body { margin: 0; } section { page-break-inside: avoid; } }
</style>
</head>
<body>
{% for lang in order %}{% set x = t[lang] %}
<section lang="{{ lang }}">
<h1>{{ x.title }}</h1>
<p class="ref">{{ x.reference }}</p>
<h2>{{ x.parties_heading }}</h2>
<ul>{% for line in x.parties %}<li>{{ line }}</li>{% endfor %}</ul>
<h2>{{ x.terms_heading }}</h2>
{% for paragraph in x.terms %}<p>{{ paragraph }}</p>{% endfor %}
{% if x.schedule %}
<table><thead><tr>{% for h in x.schedule_headings %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for number, due_on, amount in x.schedule %}
<tr><td>{{ number }}</td><td>{{ due_on }}</td><td class="num">{{ amount }}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}
{% for paragraph in x.after_schedule %}<p>{{ paragraph }}</p>{% endfor %}
<p>{{ x.governing }}</p>
<div class="signature">{{ x.signature }} <span class="line"></span> &nbsp; {{ x.date }} <span class="line"></span></div>
</section>
{% endfor %}
<p class="footer">{{ t[first].generated }}</p>
</body>
</html>
""")
_ACKNOWLEDGEMENT = _env.from_string("""<div class="acknowledgement" id="acknowledgement">
{% for line in lines %}<p>{{ line }}</p>
{% endfor %}</div>
""")


def render_document(agreement: Agreement, account: Account, terms: Terms, *, lender: Tenant, maker: Tenant) -> bytes:
    first = agreement.language
    order = [first, "en" if first == "zh" else "zh"]
    texts = {lang: _texts(lang, agreement, account, terms, lender=lender, maker=maker) for lang in order}
    return _DOCUMENT.render(t=texts, order=order, first=first).encode("utf-8")


def _texts(lang: str, agreement: Agreement, account: Account, terms: Terms, *, lender: Tenant,
           maker: Tenant) -> dict:
    locale = BABEL_LOCALE[lang]

    def money(minor: int) -> str:
        return Money(minor, terms.currency).format(locale)

    def day(value: date) -> str:
        return format_date(value, "long", locale=locale)

    governing = LANGUAGE_NAMES[lang][agreement.language]
    generated_at = format_datetime(agreement.created_at, "long", tzinfo=lender.time_zone, locale=locale)
    agency_party = maker.id != lender.id
    if lang == "zh":
        text = {
            "title": "还款协议", "reference": f"协议编号 {agreement.id} · 账户 {account.external_ref}",
            "parties_heading": "协议各方",
            "parties": [f"债权人：{lender.name}"] + ([f"受托催收机构：{maker.name}"] if agency_party else [])
            + [f"债务人：{account.debtor_name}"],
            "terms_heading": "还款条款", "schedule_headings": ["期数", "到期日", "金额"],
            "governing": f"本协议以中文和英文书就，两种文本如有不一致，以{governing}文本为准。",
            "signature": "债务人签字", "date": "日期",
            "generated": f"本文件由 Recoverly 于 {generated_at} 生成。",
        }
        if terms.kind == "settlement":
            text["terms"] = [
                f"截至{day(terms.as_of)}，本账户未偿余额为{money(terms.outstanding_minor)}。如债务人于"
                f"{day(terms.deadline)}（含当日）前付清{money(terms.total_minor)}，债权人同意以此全额了结本债务，"
                f"其余{money(terms.outstanding_minor - terms.total_minor)}予以减免。",
                "如未在上述日期前付清，本和解要约自动失效，全部余额仍应偿还。"]
        else:
            text["terms"] = [f"债务人同意按下列计划分{len(terms.instalments)}期偿还共计{money(terms.total_minor)}："]
            text["after_schedule"] = ["如任一期未按时足额还款，债权人可终止本计划，剩余未偿余额即应偿还。"]
    else:
        text = {
            "title": "Repayment agreement", "reference": f"Agreement {agreement.id} · Account {account.external_ref}",
            "parties_heading": "Parties",
            "parties": [f"Creditor: {lender.name}"]
            + ([f"Collecting on the creditor's behalf: {maker.name}"] if agency_party else [])
            + [f"Debtor: {account.debtor_name}"],
            "terms_heading": "Terms", "schedule_headings": ["No.", "Due on", "Amount"],
            "governing": f"This agreement is written in Chinese and English; if they differ, the {governing} text "
                         "governs.",
            "signature": "Debtor's signature", "date": "Date",
            "generated": f"Generated by Recoverly on {generated_at}.",
        }
        if terms.kind == "settlement":
            text["terms"] = [
                f"On {day(terms.as_of)} the outstanding balance of this account is {money(terms.outstanding_minor)}. "
                f"The creditor accepts {money(terms.total_minor)} in full and final settlement if it is paid by "
                f"{day(terms.deadline)} (inclusive); the remaining "
                f"{money(terms.outstanding_minor - terms.total_minor)} is then waived.",
                "If the amount is not paid in full by that date, this offer lapses and the whole balance remains due."]
        else:
            text["terms"] = [f"The debtor will repay {money(terms.total_minor)} in {len(terms.instalments)} "
                             "instalments as follows:"]
            text["after_schedule"] = ["If an instalment is not paid in full when due, the creditor may end this plan "
                                      "and the remaining balance becomes due at once."]
    text["schedule"] = [(i.number, day(i.due_on), money(i.amount_minor)) for i in terms.instalments]
    text.setdefault("after_schedule", [])
    return text


def _with_acknowledgement(original: bytes, *, who: str, when: datetime, how: str, attempt: ContactAttempt | None,
                          recorded_by: str, language: str, zone: str) -> bytes:
    how_zh = f"在录音通话 {attempt.id} 中口头确认" if attempt else "电子签名"
    lines = [f"{who}已于{format_datetime(when, 'long', tzinfo=zone, locale='zh_CN')}确认本协议（{how_zh}）。"
             f"记录机构：{recorded_by}。",
             f"Acknowledged by {who} on {format_datetime(when, 'long', tzinfo=zone, locale='en')} — {how}. "
             f"Recorded by {recorded_by}."]
    if language == "en":
        lines.reverse()
    block = _ACKNOWLEDGEMENT.render(lines=lines).encode("utf-8")
    head, marker, tail = original.rpartition(b"</body>")
    return head + block + marker + tail if marker else original + block
