"""Rulebooks as data: rules, parameters with a strictness direction, versions and lender tightening.

A parameter declares which way is stricter (``direction``):

* ``lower``    – a cap: a lower number is stricter (e.g. 3 connected calls per day).
* ``higher``   – a duration or window length: a higher number is stricter (e.g. 7-day quiet period).
* ``later``    – a window start: a later time of day is stricter (08:00 → 09:00).
* ``earlier``  – a window end: an earlier time of day is stricter (22:00 → 21:00).
* ``true``     – a boolean where ``True`` is stricter; ``false`` the opposite.
* ``superset`` – a set where more members are stricter (channels covered, holidays off).
* ``fixed``    – may not be changed by a lender.

``tighten`` refuses any override that loosens, and returns a new rulebook whose version records the overrides.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Any, Mapping

ACTIONS = ("BLOCK", "PAUSE", "APPROVE", "CONTENT", "TIMER", "WARN")
CONFIDENCE = {"✔": "official", "◐": "secondary", "✖": "unverified"}
DIRECTIONS = ("lower", "higher", "later", "earlier", "true", "false", "superset", "fixed")


@dataclass(frozen=True)
class Param:
    value: Any
    direction: str
    confidence: str = "official"
    note: str = ""
    of: type | None = None  # a set parameter's item type, when its default is empty (dates, say)

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}")
        if self.confidence not in CONFIDENCE.values():
            raise ValueError(f"unknown confidence {self.confidence!r}")

    @property
    def flagged(self) -> bool:
        """True when the value rests on a secondary or unverified source and must stay configurable."""
        return self.confidence != "official"


@dataclass(frozen=True)
class Rule:
    id: str
    statement: str
    action: str
    citation: str
    confidence: str
    params: Mapping[str, Param] = field(default_factory=dict)
    scope: str | None = None  # per_debt / per_person / per_number
    enforced: bool = True  # False: data-only, carried in the rulebook but not evaluated by the engine
    approver_role: str | None = None

    def __post_init__(self):
        for a in self.action.split("+"):
            if a not in ACTIONS:
                raise ValueError(f"{self.id}: unknown action {a!r}")

    @property
    def flagged_params(self) -> list[str]:
        return [name for name, p in self.params.items() if p.flagged]


# Hold types that stop contact on every debt of the person, whoever holds the debt (CONDUCT_RULES "Person-wide
# facts"): a death or a bankruptcy is the person's, not one loan's. A rulebook may name more.
PERSON_WIDE_HOLDS = frozenset({"deceased", "bankruptcy"})


@dataclass(frozen=True)
class Rulebook:
    jurisdiction: str
    version: str
    rules: tuple[Rule, ...]
    default_zones: tuple[str, ...]
    hold_rules: Mapping[str, str]  # hold type -> rule id used when such a hold is active
    base_version: str = ""
    person_wide_holds: frozenset[str] = PERSON_WIDE_HOLDS
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        if not self.base_version:
            object.__setattr__(self, "base_version", self.version)
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate rule ids")

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def has(self, rule_id: str) -> bool:
        return any(r.id == rule_id for r in self.rules)

    def value(self, rule_id: str, param: str) -> Any:
        return self.rule(rule_id).params[param].value

    def enforced_ids(self) -> list[str]:
        return [r.id for r in self.rules if r.enforced]

    def data_only_ids(self) -> list[str]:
        return [r.id for r in self.rules if not r.enforced]


def _is_stricter_or_equal(direction: str, old: Any, new: Any) -> bool:
    if direction == "fixed":
        return new == old
    if direction in ("lower", "higher", "later", "earlier"):
        if isinstance(old, bool) or isinstance(new, bool):
            raise TypeError("boolean given for an ordered parameter")
        if isinstance(old, time) != isinstance(new, time):
            raise TypeError("time parameter needs a datetime.time")
        if isinstance(old, (int, float)) and not isinstance(new, (int, float)):
            raise TypeError("number parameter needs a number")
        return new <= old if direction in ("lower", "earlier") else new >= old
    if direction in ("true", "false"):
        if not isinstance(new, bool):
            raise TypeError("boolean parameter needs a bool")
        strict = direction == "true"
        return new == old or new == strict
    if direction == "superset":
        if not isinstance(new, (set, frozenset)):
            raise TypeError("set parameter needs a set")
        return set(new) >= set(old)
    raise ValueError(direction)


def _canonical(v: Any) -> Any:
    if isinstance(v, (time, date, datetime)):
        return v.isoformat()
    if isinstance(v, (set, frozenset, tuple, list)):
        return sorted(_canonical(x) for x in v)
    return v


def parse_overrides(rulebook: Rulebook, raw: Any) -> dict[str, dict[str, Any]]:
    """A placement's conduct terms as stored (JSON: strings, numbers, lists) typed by each parameter's own kind
    — a time from "HH:MM", a set of dates from ISO dates — and checked to tighten `rulebook` (`tighten`). Raises
    ValueError naming the rule and parameter; whatever it accepts, the engine decides on without raising."""
    typed = _typed_terms(rulebook, raw)
    tighten(rulebook, typed)
    return typed


def tighten_by_terms(rulebook: Rulebook, raw: Any) -> Rulebook:
    """`rulebook` tightened by a placement's terms as stored: `parse_overrides`' checks, with the tightening that
    checks them being the answer rather than done twice. Raises ValueError as `parse_overrides` does."""
    return tighten(rulebook, _typed_terms(rulebook, raw))


def _typed_terms(rulebook: Rulebook, raw: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        raise ValueError("conduct terms: an object of rule ids, each an object of parameters")
    typed: dict[str, dict[str, Any]] = {}
    for rule_id, params in raw.items():
        if not rulebook.has(rule_id):
            raise ValueError(f"{rule_id}: unknown rule in {rulebook.version}")
        if not isinstance(params, Mapping):
            raise ValueError(f"{rule_id}: an object of parameters")
        rule = rulebook.rule(rule_id)
        for name, value in params.items():
            if name not in rule.params:
                raise ValueError(f"{rule_id}.{name}: unknown parameter")
            typed.setdefault(rule_id, {})[name] = _typed(rule.params[name], value, f"{rule_id}.{name}")
    return typed


def _typed(param: Param, value: Any, where: str) -> Any:
    kind = type(param.value)
    try:
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError("true or false")
            return value
        if kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
                raise ValueError("a whole number" if kind is int else "a number")
            return kind(value)
        if kind is time:
            return value if isinstance(value, time) else time.fromisoformat(str(value))
        if kind is frozenset:
            if not isinstance(value, (list, tuple, set, frozenset)):
                raise ValueError("a list")
            item = param.of or next((type(x) for x in param.value), str)
            return frozenset(_item(item, x) for x in value)
        if not isinstance(value, kind):
            raise ValueError(f"a {kind.__name__}")
        return value
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _item(kind: type, value: Any) -> Any:
    if kind is date:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not a whole number")
        return value
    if not isinstance(value, kind):
        raise ValueError(f"{value!r} is not a {kind.__name__}")
    return value


def tighten(rulebook: Rulebook, overrides: Mapping[str, Mapping[str, Any]]) -> Rulebook:
    """Apply lender overrides; every override must be at least as strict as the current value.

    Raises ``ValueError`` naming rule and parameter when an override would loosen (or names an unknown rule or
    parameter, or has the wrong type). The result's version is ``<base>+lender:<hash of all overrides>``.
    """
    if not overrides:
        return rulebook
    rules = {r.id: r for r in rulebook.rules}
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in rulebook.overrides.items()}
    for rule_id, params in overrides.items():
        if rule_id not in rules:
            raise ValueError(f"{rule_id}: unknown rule in {rulebook.version}")
        rule = rules[rule_id]
        new_params = dict(rule.params)
        for name, value in params.items():
            if name not in rule.params:
                raise ValueError(f"{rule_id}.{name}: unknown parameter")
            p = rule.params[name]
            if isinstance(value, set):
                value = frozenset(value)
            try:
                ok = _is_stricter_or_equal(p.direction, p.value, value)
            except TypeError as e:
                raise ValueError(f"{rule_id}.{name}: {e}") from None
            if not ok:
                raise ValueError(
                    f"{rule_id}.{name}: override {value!r} would loosen {p.value!r} "
                    f"(direction: {p.direction}); lenders may only tighten"
                )
            new_params[name] = replace(p, value=value)
            merged.setdefault(rule_id, {})[name] = value
        rules[rule_id] = replace(rule, params=new_params)
    blob = json.dumps({r: {k: _canonical(v) for k, v in ps.items()} for r, ps in merged.items()}, sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return replace(
        rulebook,
        rules=tuple(rules[r.id] for r in rulebook.rules),
        version=f"{rulebook.base_version}+lender:{digest}",
        overrides=merged,
    )
