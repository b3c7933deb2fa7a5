"""What a decision saw, stored with the attempt, and the decision replayed from it.

Everything is opaque (blind-index keys, times, counts): a compliance officer can rerun the engine exactly as it
ran without the snapshot holding a name, a number or another tenant's identity.
"""
from dataclasses import fields
from datetime import date, datetime, time
from functools import cache

from tenants.conduct import engine
from tenants.conduct.models import ContactAttempt
from tenants.conduct.presets import preset
from tenants.conduct.rulebook import Rulebook, tighten


def capture(request: engine.ContactRequest, history, holds, consent: engine.Consent, *, preset_code: str,
            overrides: dict) -> dict:
    return {
        "request": _fields(request),
        "history": [_fields(p) for p in history],
        "holds": [_fields(h) for h in holds],
        "consent": _fields(consent),
        "rulebook": {"preset": preset_code, "overrides": overrides or {}},
    }


@cache
def _names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _fields(value) -> dict:
    """`dataclasses.asdict` made plain, without its deep copy: the engine's inputs are flat records of immutable
    values, and a history holds hundreds of them on every attempt."""
    return {name: _plain(getattr(value, name)) for name in _names(type(value))}


PERSON = "person"


def redacted(inputs: dict) -> dict:
    """The snapshot as a tenant may read it: the person's contacts about other debts keep their time, channel and
    outcome (they explain a shared count) but lose every key that could link them to another debt or number."""
    if not inputs or "request" not in inputs:
        return inputs
    own = inputs["request"]["debt_id"]
    history = [{**p, "subject_key": PERSON} if p["debt_id"] == own else
               {"at": p["at"], "channel": p["channel"], "target": p["target"], "connected": p["connected"],
                "conversation": p["conversation"], "pending": p["pending"], "debt_id": "other"}
               for p in inputs["history"]]
    # The subject key is shared with other lenders' debts of the person (tenants.conduct.subjects): compared across
    # tenants, or watched change when another lender's file joins two subjects, it would tell on their files.
    return {**inputs, "request": {**inputs["request"], "subject_key": PERSON}, "history": history}


def rulebook_of(record: ContactAttempt) -> Rulebook:
    spec = record.inputs["rulebook"]
    book = preset(spec["preset"])
    return tighten(book, spec["overrides"]) if spec["overrides"] else book


def replay(record: ContactAttempt) -> engine.Decision:
    """Decide again, at the same instant, on the same inputs and rulebook (a newer rulebook version is flagged by
    the caller comparing `rulebook_version`)."""
    data = record.inputs
    request = _build(engine.ContactRequest, data["request"])
    history = [_build(engine.PastAttempt, p) for p in data["history"]]
    holds = [_build(engine.Hold, h) for h in data["holds"]]
    consent = _build(engine.Consent, data["consent"])
    return engine.decide(request, history, holds, consent, rulebook_of(record), record.decided_at)


def matches(record: ContactAttempt, replayed: engine.Decision) -> bool:
    stored = [(h["rule_id"], h["action"]) for h in record.hits]
    return record.decision == replayed.outcome and stored == [(h.rule_id, h.action) for h in replayed.hits]


def replayable(record: ContactAttempt) -> bool:
    return bool(record.inputs) and "rulebook" in record.inputs


_TYPES = {"at": datetime, "starts_at": datetime, "ends_at": datetime, "consent_after_conversation_until": datetime,
          "limitation_date": date}


def _plain(value):
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _build(cls, data: dict):
    known = {f.name for f in fields(cls)}
    values = {}
    for name, value in data.items():
        if name not in known:
            continue
        if value is not None and name in _TYPES:
            value = _TYPES[name].fromisoformat(value)
        elif name == "inconvenient_windows":
            value = tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in value)
        elif name == "agreed_hours" and value is not None:
            value = (time.fromisoformat(value[0]), time.fromisoformat(value[1]))
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return cls(**values)
