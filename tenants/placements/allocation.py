"""Stratified, weighted, seeded allocation of accounts to collection agencies.

Pure Python, standard library only: no database, no Flask.

A lender places overdue accounts with several agencies by integer weights
(champion/challenger, e.g. 70/30).  ``allocate`` splits the candidates so that

* the global per-agency totals are the largest-remainder apportionment of the
  weights (70/30 of 1,000 is exactly 700/300);
* every stratum (DPD bucket x balance quartile band) is split in proportion to
  those totals, each agency getting the floor or ceiling of its ideal share,
  with the rounding carried from stratum to stratum so the strata add up to
  the exact global totals;
* inside a stratum, accounts ordered by balance (descending) are dealt along
  an evenly interleaved agency sequence, and the sequence is shuffled only
  inside small windows of adjacent balances with
  ``random.Random(f"{seed}:{stratum_label}")``.  Which account goes where is
  therefore random but reproducible, and every agency gets the same mix of
  large and small balances;
* the result does not depend on the order of the candidates or of the weights
  mapping: the same candidates + weights + seed always give the same
  assignment, and a different seed gives a different one.

The ``explanation`` is a JSON-serialisable record meant to be stored with the
placement so the split can be audited and re-derived; ``strata`` gives each
account's stratum, stored on its placement so that the champion/challenger
comparison reads the strata the split used instead of ranking the accounts again.
"""
from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_DPD_BUCKETS", "METHOD", "Allocation", "Candidate", "allocate"]

METHOD = "stratified-weighted"
DEFAULT_DPD_BUCKETS: tuple[int, ...] = (30, 60, 90, 180, 360)
_BALANCE_BANDS = 4          # quartiles
_MAX_WINDOW = 64            # largest window of adjacent balances shuffled together


@dataclass(frozen=True)
class Candidate:
    account_id: str          # opaque id (stringified UUID)
    balance_minor: int       # outstanding balance in minor units
    days_past_due: int


@dataclass(frozen=True)
class Allocation:
    assignment: dict[str, str]       # account_id -> agency key
    explanation: dict                # JSON-serialisable record of how the split was made
    strata: dict[str, tuple[int, int]]  # account_id -> (DPD bucket index, balance band index), both from 0


# --------------------------------------------------------------------------- validation

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_weights(weights: Mapping[str, int]) -> dict[str, int]:
    if not isinstance(weights, Mapping):
        # ValueError, not TypeError: the contract is one exception type for every bad weights input.
        raise ValueError("weights must be a mapping of agency key -> positive integer weight")  # noqa: TRY004
    if not weights:
        raise ValueError("weights must name at least one agency")
    checked: dict[str, int] = {}
    for agency, weight in weights.items():
        if not isinstance(agency, str) or not agency.strip():
            raise ValueError(f"agency key must be a non-empty string, got {agency!r}")
        if not _is_int(weight):
            raise ValueError(f"weight for agency {agency!r} must be an integer, got {weight!r}")
        if weight <= 0:
            raise ValueError(f"weight for agency {agency!r} must be positive, got {weight}")
        checked[agency] = weight
    return checked


def _check_buckets(dpd_buckets: Sequence[int]) -> tuple[list[int], list[str]]:
    bounds = list(dpd_buckets)
    previous = -1
    for bound in bounds:
        if not _is_int(bound) or bound < 0:
            raise ValueError(f"DPD bucket boundaries must be non-negative integers, got {bound!r}")
        if bound <= previous:
            raise ValueError(f"DPD bucket boundaries must be strictly increasing, got {bounds!r}")
        previous = bound
    labels: list[str] = []
    low = 0
    for bound in bounds:
        labels.append(f"{low}-{bound}")
        low = bound + 1
    labels.append(f"{low}+")
    return bounds, labels


def _check_candidates(candidates: Sequence[Candidate]) -> None:
    seen: set[str] = set()
    for candidate in candidates:
        account_id = candidate.account_id
        if not isinstance(account_id, str) or not account_id:
            raise ValueError(f"account_id must be a non-empty string, got {account_id!r}")
        if account_id in seen:
            raise ValueError(f"duplicate candidate account_id {account_id!r}")
        seen.add(account_id)
        if not _is_int(candidate.balance_minor) or candidate.balance_minor < 0:
            raise ValueError(
                f"balance_minor of account {account_id!r} must be a non-negative integer, "
                f"got {candidate.balance_minor!r}")
        if not _is_int(candidate.days_past_due) or candidate.days_past_due < 0:
            raise ValueError(
                f"days_past_due of account {account_id!r} must be a non-negative integer, "
                f"got {candidate.days_past_due!r}")


# --------------------------------------------------------------------------- apportionment

def _largest_remainder(total: int, weights: dict[str, int], order: list[str]) -> dict[str, int]:
    """Hamilton apportionment of ``total`` seats; ties go to the larger weight, then key order."""
    weight_sum = sum(weights.values())
    seats = {a: total * weights[a] // weight_sum for a in order}
    remainders = {a: total * weights[a] % weight_sum for a in order}
    rank = {a: i for i, a in enumerate(order)}
    left = total - sum(seats.values())
    for agency in sorted(order, key=lambda a: (-remainders[a], rank[a]))[:left]:
        seats[agency] += 1
    return seats


def _split_strata(sizes: list[int], targets: dict[str, int], order: list[str]) -> list[dict[str, int]]:
    """Split each stratum in proportion to ``targets``; the columns sum exactly to ``targets``.

    Each cell is the floor or ceiling of ``size * target / total``.  The stratum's
    leftover seats go to the agencies furthest behind their ideal share so far
    (rounding carried across strata), kept in exact integer arithmetic (units of 1/total).
    """
    total = sum(sizes)
    rank = {a: i for i, a in enumerate(order)}
    carry = {a: 0 for a in order}
    floors: list[dict[str, int]] = []
    rows: list[dict[str, int]] = []
    for size in sizes:
        base = {a: size * targets[a] // total for a in order}
        priority = {a: carry[a] + size * targets[a] % total for a in order}
        left = size - sum(base.values())
        row = dict(base)
        for agency in sorted(order, key=lambda a: (-priority[a], rank[a]))[:left]:
            row[agency] += 1
        for agency in order:
            carry[agency] += size * targets[agency] - row[agency] * total
        floors.append(base)
        rows.append(row)

    # The carried rounding keeps every agency within one account of its target, so the
    # totals are virtually always exact already.  Reconcile defensively so they always are,
    # moving seats where that keeps cells within floor/ceiling wherever possible.
    def column(agency: str) -> int:
        return sum(row[agency] for row in rows)

    while True:
        over = [a for a in order if column(a) > targets[a]]
        under = [a for a in order if column(a) < targets[a]]
        if not over:
            return rows
        giver, taker = over[0], under[0]
        candidates = [k for k, row in enumerate(rows) if row[giver] > 0]
        preferred = [k for k in candidates
                     if rows[k][giver] > floors[k][giver] and rows[k][taker] == floors[k][taker]]
        k = (preferred or candidates)[0]
        rows[k][giver] -= 1
        rows[k][taker] += 1


def _interleave(counts: dict[str, int], order: list[str]) -> list[str]:
    """An evenly spread sequence holding each agency ``counts[a]`` times (mid-point spacing)."""
    slots = []
    for index, agency in enumerate(order):
        n = counts[agency]
        slots.extend(((2 * j + 1) / (2 * n), index) for j in range(n))
    slots.sort()
    return [order[index] for _, index in slots]


# --------------------------------------------------------------------------- allocate

def allocate(candidates: Sequence[Candidate], weights: Mapping[str, int], seed: int,
             dpd_buckets: Sequence[int] = DEFAULT_DPD_BUCKETS) -> Allocation:
    """Assign every candidate to one agency, stratified by DPD bucket x balance quartile.

    Raises ValueError for empty, non-integer or non-positive weights, malformed DPD
    bucket boundaries, duplicate account ids, or negative balances / days past due.
    """
    checked = _check_weights(weights)
    if not _is_int(seed):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    bounds, bucket_labels = _check_buckets(dpd_buckets)
    candidates = list(candidates)
    _check_candidates(candidates)

    # Canonical agency order (heaviest weight first, then key) for both the maths and the
    # record, so neither depends on the order of the weights mapping.
    order = display = sorted(checked, key=lambda a: (-checked[a], a))
    weight_sum = sum(checked.values())
    total = len(candidates)

    # Strata: DPD bucket (upper-inclusive) x balance band by rank within the bucket (q1 = lowest).
    by_bucket: list[list[Candidate]] = [[] for _ in bucket_labels]
    for candidate in candidates:
        by_bucket[bisect_left(bounds, candidate.days_past_due)].append(candidate)
    strata: list[tuple[str, int, int, list[Candidate]]] = []   # (label, bucket index, band index, members)
    for b, members in enumerate(by_bucket):
        if not members:
            continue
        members.sort(key=lambda c: (c.balance_minor, c.account_id))
        n = len(members)
        bands = min(_BALANCE_BANDS, n)
        start = 0
        for q in range(bands):
            end = (q + 1) * n // bands
            band = members[start:end]
            band.sort(key=lambda c: (-c.balance_minor, c.account_id))
            strata.append((f"{bucket_labels[b]}/q{q + 1}", b, q, band))
            start = end

    targets = _largest_remainder(total, checked, order)
    rows = _split_strata([len(s[3]) for s in strata], targets, order) if total else []

    # Deal within each stratum: balance-descending accounts along an interleaved agency
    # sequence, shuffled only within windows of adjacent balances.
    period = weight_sum // math.gcd(*checked.values())
    window = max(2, min(_MAX_WINDOW, period))
    assignment: dict[str, str] = {}
    strata_record = []
    for (label, _, _, members), row in zip(strata, rows):
        sequence = _interleave(row, order)
        if len(order) > 1:
            rng = random.Random(f"{seed}:{label}")
            for start in range(0, len(sequence), window):
                chunk = sequence[start:start + window]
                rng.shuffle(chunk)
                sequence[start:start + window] = chunk
        for candidate, agency in zip(members, sequence):
            assignment[candidate.account_id] = agency
        strata_record.append({
            "label": label,
            "accounts": len(members),
            "per_agency": {a: row[a] for a in display},
        })

    # Per-agency record.
    total_balance = sum(c.balance_minor for c in candidates)
    per_agency = {a: {"accounts": 0, "balance_minor": 0,
                      "by_dpd_bucket": {label: 0 for label in bucket_labels}} for a in display}
    for _, b, _, members in strata:
        for candidate in members:
            record = per_agency[assignment[candidate.account_id]]
            record["accounts"] += 1
            record["balance_minor"] += candidate.balance_minor
            record["by_dpd_bucket"][bucket_labels[b]] += 1
    for a in display:
        record = per_agency[a]
        record["share_accounts"] = round(record["accounts"] / total, 4) if total else 0.0
        record["share_balance"] = (round(record["balance_minor"] / total_balance, 4)
                                   if total_balance else 0.0)
        per_agency[a] = {key: record[key] for key in
                         ("accounts", "balance_minor", "share_accounts", "share_balance",
                          "by_dpd_bucket")}

    explanation = {
        "method": METHOD,
        "seed": seed,
        "weights": {a: checked[a] for a in display},
        "dpd_buckets": bucket_labels,
        "strata": strata_record,
        "per_agency": per_agency,
        "summary": _summary(total, display, checked, per_agency, len(bucket_labels), seed),
    }
    return Allocation(assignment=assignment, explanation=explanation,
                      strata={c.account_id: (b, q) for _, b, q, members in strata for c in members})


def _summary(total: int, agencies: list[str], weights: dict[str, int], per_agency: dict,
             bucket_count: int, seed: int) -> str:
    noun = "account" if total == 1 else "accounts"
    names = ", ".join(agencies)
    if total == 0:
        return (f"No accounts to place across {names} "
                f"(weights {'/'.join(str(weights[a]) for a in agencies)}), seed {seed}")
    if len(agencies) == 1:
        return f"{total:,} {noun} all placed with {names} (single agency), seed {seed}"
    split = "/".join(f"{per_agency[a]['accounts']:,}" for a in agencies)
    buckets = f"{bucket_count} DPD bucket{'' if bucket_count == 1 else 's'}"
    return (f"{total:,} {noun} split {split} across {names} "
            f"(weights {'/'.join(str(weights[a]) for a in agencies)}), "
            f"stratified by {buckets} × balance quartiles, seed {seed}")
