"""The evidence store: call recordings, signed agreements, letters and court papers attached to an account.

A file belongs to the tenant that uploaded it and is read by the account's lender and the agency holding the
account (an agency that no longer holds it reads none, its own uploads included). Its content lives in the database
in chunks (like portfolio uploads), encrypted with the PII key ring, so every web node and worker reads the same
bytes; the SHA-256 of the plaintext is recorded in the audit chain of the uploader and of the lender, and every read
checks the decrypted bytes against it again: a changed file (or ciphertext) is refused and the refusal audited.
Retention dates come from the rulebook's retention timers. A case's whole evidence exports as one zip with a
manifest of verified digests.
"""
import hashlib
import json
import re
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, Uuid, select
from sqlalchemy.orm import Mapped, mapped_column

from tenants import audit, clock, references
from tenants.audit import AuditEvent
from tenants.casework.disputes import Dispute
from tenants.casework.money_models import PaymentPlan
from tenants.casework.settlements import Settlement
from tenants.conduct import service as conduct
from tenants.conduct.models import ContactAttempt
from tenants.context import TenantScoped, current_tenant_id, tenant_scope
from tenants.db import UtcDateTime, UuidPrimaryKey, db, get_visible
from tenants.errors import Conflict, ValidationFailed
from tenants.pii import EncryptedBytes
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant

KINDS = ("call_recording", "signed_agreement", "agreement", "letter", "court_paper", "id_document", "other")
UPLOADABLE = tuple(k for k in KINDS if k != "agreement")  # an unsigned agreement is generated, never uploaded
CHUNK_SIZE = 1024 * 1024
MAX_BYTES = 50 * 1024 * 1024  # an hour of call recording at telephone quality, with room to spare
# Rulebook timers that set how long records are kept: rule id → its years parameter.
RETENTION_TIMERS = {"CN.RECORDING": "retention_years", "US.RETENTION": "years"}
# Where the rulebook sets no retention (uk, in, ie): six years, the longest limitation period among the presets
# (UK.STATUTEBARRED), so the evidence outlives any claim it could support.
PLATFORM_RETENTION = ("PLATFORM.RETENTION", 6)
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*(; ?charset=[a-z0-9_-]+)?$")
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


class Evidence(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "evidence"

    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    retention_until: Mapped[date] = mapped_column(Date)
    retention_rule: Mapped[str] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contact_attempts.id"))
    settlement_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("settlements.id"))
    plan_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payment_plans.id"))
    dispute_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("disputes.id"))
    # Where the digest was recorded: the uploader's chain, and the lender's when another tenant uploaded.
    audit_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("audit_events.id"))
    lender_audit_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("audit_events.id"))
    uploaded_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EvidenceChunk(TenantScoped, db.Model):
    """The file's bytes in order; carries the evidence's visibility columns so the tenant lock needs no join."""

    __tablename__ = "evidence_chunks"

    evidence_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("evidence.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"))
    data: Mapped[bytes] = mapped_column(EncryptedBytes)  # the digest is over the plaintext


class EvidenceTampered(Conflict):
    code = "evidence.tampered"
    message = "The stored file no longer matches the digest recorded when it was uploaded."


@dataclass(frozen=True)
class Links:
    attempt_id: uuid.UUID | None = None
    settlement_id: uuid.UUID | None = None
    plan_id: uuid.UUID | None = None
    dispute_id: uuid.UUID | None = None


def store(account_id: uuid.UUID, *, kind: str, filename: str, content_type: str | None, stream,
          links: Links = Links(), description: str | None = None, user_id: uuid.UUID | None = None) -> Evidence:
    """Keep a file as evidence on the account (the lender's or one the current agency holds)."""
    account = get_account(account_id)
    if kind not in KINDS:
        raise ValidationFailed(details={"fields": {"kind": [f"One of {', '.join(KINDS)}."]}})
    _check_links(account, links)
    uploaded_at = clock.now()
    retention_until, retention_rule = retention_for(account, kind, _retention_start(kind, links, uploaded_at))
    evidence = Evidence(tenant_id=current_tenant_id(), lender_tenant_id=account.tenant_id, account_id=account.id,
                        kind=kind, filename=clean_filename(filename), content_type=_clean_type(content_type),
                        size_bytes=0, sha256="", retention_until=retention_until, retention_rule=retention_rule,
                        description=description, uploaded_by_user_id=user_id, uploaded_at=uploaded_at,
                        **asdict(links))
    db.session.add(evidence)
    db.session.flush()
    evidence.size_bytes, evidence.sha256 = _store_chunks(evidence, stream)
    record = {"account_id": str(account.id), "kind": kind, "filename": evidence.filename,
              "size_bytes": evidence.size_bytes, "sha256": evidence.sha256,
              "retention_until": evidence.retention_until.isoformat(), "retention_rule": evidence.retention_rule}
    evidence.audit_event_id = audit.record("evidence.stored", object_type="evidence", object_id=evidence.id,
                                           after=record).id
    db.session.flush()  # before the lender's chain is written in its context, which may not write this row
    if account.tenant_id != current_tenant_id():
        # The lender takes legal action on this evidence: its own chain must hold the digest too.
        with tenant_scope(account.tenant_id):
            lender_event_id = audit.record("evidence.stored", object_type="evidence", object_id=evidence.id,
                                           after=record).id
        evidence.lender_audit_event_id = lender_event_id
        db.session.flush()
    return evidence


def _store_chunks(evidence: Evidence, stream) -> tuple[int, str]:
    digest, size, seq = hashlib.sha256(), 0, 0
    while True:
        block = stream.read(CHUNK_SIZE)
        if not block:
            break
        size += len(block)
        if size > MAX_BYTES:
            raise ValidationFailed(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.",
                                   code="evidence.too_large")
        digest.update(block)
        db.session.add(EvidenceChunk(tenant_id=evidence.tenant_id, evidence_id=evidence.id, seq=seq,
                                     lender_tenant_id=evidence.lender_tenant_id, account_id=evidence.account_id,
                                     data=block))
        seq += 1
        db.session.flush()
    if size == 0:
        raise ValidationFailed("The file is empty.", code="evidence.empty")
    return size, digest.hexdigest()


def _check_links(account: Account, links: Links) -> None:
    checks = {"attempt_id": (ContactAttempt, links.attempt_id, "contact_attempt.not_found"),
              "settlement_id": (Settlement, links.settlement_id, "settlement.not_found"),
              "plan_id": (PaymentPlan, links.plan_id, "plan.not_found"),
              "dispute_id": (Dispute, links.dispute_id, "dispute.not_found")}
    for field, (model, ident, code) in checks.items():
        if ident is not None:
            references.of_account(model, ident, account.id, code=code, field=field)


def clean_filename(name: str | None) -> str:
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return base[-255:] or "evidence"


def _clean_type(content_type: str | None) -> str:
    value = (content_type or "").strip().lower()
    return value if _CONTENT_TYPE.match(value) and len(value) <= 100 else "application/octet-stream"


# ---- retention ---------------------------------------------------------------------------------------------

def retention_for(account: Account, kind: str, started_at: datetime) -> tuple[date, str]:
    """Until when the file must be kept, and the rule that says so: the longest retention timer of the account's
    rulebook (the lender's baseline, tightened by the placement), counted from the call for a recording."""
    lender = db.session.get(Tenant, account.tenant_id)
    placement = db.session.scalar(select(Placement).where(Placement.account_id == account.id,
                                                          Placement.status == PlacementStatus.ACTIVE))
    book = conduct.rulebook_for(lender, placement)
    timers = [(rule_id, book.value(rule_id, param)) for rule_id, param in RETENTION_TIMERS.items()
              if book.has(rule_id)]
    rule_id, years = max(timers, key=lambda t: t[1]) if timers else PLATFORM_RETENTION
    return _add_years(started_at.date(), years), rule_id


def _retention_start(kind: str, links: Links, uploaded_at: datetime) -> datetime:
    if kind == "call_recording" and links.attempt_id is not None:
        return db.session.get(ContactAttempt, links.attempt_id).decided_at
    return uploaded_at


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


# ---- reading -------------------------------------------------------------------------------------------------

def get_evidence(evidence_id: uuid.UUID) -> Evidence:
    return get_visible(Evidence, evidence_id, "evidence.not_found")


def for_account(account_id: uuid.UUID) -> list[Evidence]:
    return list(db.session.scalars(select(Evidence).where(Evidence.account_id == account_id)
                                   .order_by(Evidence.uploaded_at, Evidence.id)))


def stored_chunks(evidence: Evidence) -> Iterator[bytes]:
    """One chunk per query, decrypted: memory stays at one chunk whatever the file size. A chunk whose ciphertext
    was altered no longer decrypts: that is tampering too."""
    seq = 0
    while True:
        try:
            data = db.session.scalar(select(EvidenceChunk.data).where(EvidenceChunk.evidence_id == evidence.id,
                                                                      EvidenceChunk.seq == seq))
        except ValueError:
            _tampered(evidence, _recorded_digest(evidence), actual="undecryptable")
        if data is None:
            return
        yield data
        seq += 1


def verified_copy(evidence: Evidence):
    """The file's bytes in a temporary file (rewound), once they match the recorded digest; else refused."""
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
    digest, size = hashlib.sha256(), 0
    for block in stored_chunks(evidence):
        digest.update(block)
        size += len(block)
        spool.write(block)
    _verify(evidence, digest.hexdigest(), size)
    spool.seek(0)
    return spool


def _verify(evidence: Evidence, actual: str, size: int) -> None:
    recorded = _recorded_digest(evidence)
    if actual == evidence.sha256 and size == evidence.size_bytes and recorded in (None, actual):
        return
    _tampered(evidence, recorded, actual)


def _tampered(evidence: Evidence, recorded: str | None, actual: str):
    details = {"evidence_id": str(evidence.id), "recorded_sha256": recorded or evidence.sha256,
               "actual_sha256": actual}
    audit.record("evidence.tamper_detected", object_type="evidence", object_id=evidence.id, after=details)
    db.session.commit()  # the detection stays on record although the request fails
    raise EvidenceTampered(details=details)


def _recorded_digest(evidence: Evidence) -> str | None:
    """The digest this tenant's own audit chain holds for the file (the uploader's and the lender's chains do;
    another agency holding the account has only the evidence row to go by)."""
    after = db.session.scalar(select(AuditEvent.after).where(
        AuditEvent.tenant_id == current_tenant_id(),
        AuditEvent.id.in_([i for i in (evidence.audit_event_id, evidence.lender_audit_event_id) if i])))
    return after.get("sha256") if after else None


# ---- the bundle for legal action -------------------------------------------------------------------------------

def bundle(account_id: uuid.UUID):
    """Every file on the account this tenant may read, in a zip with manifest.json; each digest is verified as the
    file is written, and one changed file refuses the whole bundle. Returns the rewound temporary file."""
    account = get_account(account_id)
    items = for_account(account.id)
    names = _tenant_names({e.tenant_id for e in items} | {account.tenant_id, current_tenant_id()})
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
    files = []
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for n, evidence in enumerate(items, start=1):
            path = f"files/{n:03d}-{evidence.kind}-{evidence.filename}"
            digest, size = hashlib.sha256(), 0
            with archive.open(path, "w", force_zip64=True) as out:
                for block in stored_chunks(evidence):
                    digest.update(block)
                    size += len(block)
                    out.write(block)
            _verify(evidence, digest.hexdigest(), size)
            files.append(_manifest_entry(evidence, path, names))
        manifest = {"account": {"id": str(account.id), "external_ref": account.external_ref,
                                "lender": names[account.tenant_id]},
                    "exported_at": clock.now().isoformat(), "exported_by": names[current_tenant_id()],
                    "digest": "sha256", "files": files}
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    audit.record("evidence.bundle_exported", object_type="account", object_id=account.id,
                 after={"files": len(files), "digests": {f["file"]: f["sha256"] for f in files}})
    spool.seek(0)
    return spool


def _manifest_entry(evidence: Evidence, path: str, names: dict) -> dict:
    return {"file": path, "evidence_id": str(evidence.id), "kind": evidence.kind, "filename": evidence.filename,
            "content_type": evidence.content_type, "sha256": evidence.sha256, "size": evidence.size_bytes,
            "uploaded_at": evidence.uploaded_at.isoformat(),
            "uploaded_by": {"organisation": names[evidence.tenant_id],
                            "user_id": str(evidence.uploaded_by_user_id) if evidence.uploaded_by_user_id else None},
            "retention_until": evidence.retention_until.isoformat(), "retention_rule": evidence.retention_rule,
            "links": {k: str(v) for k, v in (("attempt_id", evidence.attempt_id),
                                             ("settlement_id", evidence.settlement_id),
                                             ("plan_id", evidence.plan_id), ("dispute_id", evidence.dispute_id))
                      if v is not None}}


def _tenant_names(ids: set) -> dict:
    return dict(db.session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(ids))).all())
