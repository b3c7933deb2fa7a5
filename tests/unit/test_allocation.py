import json
import random
import uuid
from collections import Counter

import pytest

from tenants.placements.allocation import Allocation, Candidate, allocate

WEIGHTS = {"agency-a": 70, "agency-b": 30}
LABELS = ["0-30", "31-60", "61-90", "91-180", "181-360", "361+"]


def make_candidates(n, seed=7):
    rng = random.Random(seed)
    return [
        Candidate(
            account_id=str(uuid.UUID(int=rng.getrandbits(128))),
            balance_minor=int(rng.lognormvariate(11, 1.2)),   # long-tailed, like real balances
            days_past_due=rng.randint(0, 720),
        )
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def thousand():
    return make_candidates(1000)


def test_every_candidate_is_assigned_to_a_weighted_agency(thousand):
    result = allocate(thousand, WEIGHTS, seed=42)
    assert isinstance(result, Allocation)
    assert set(result.assignment) == {c.account_id for c in thousand}
    assert set(result.assignment.values()) == set(WEIGHTS)


def test_totals_are_exact_apportionment_of_the_weights(thousand):
    result = allocate(thousand, WEIGHTS, seed=42)
    counts = {a: list(result.assignment.values()).count(a) for a in WEIGHTS}
    assert counts == {"agency-a": 700, "agency-b": 300}
    assert result.explanation["per_agency"]["agency-a"]["accounts"] == 700
    assert result.explanation["per_agency"]["agency-b"]["share_accounts"] == 0.3


@pytest.mark.parametrize("n,weights,expected", [
    (1001, {"a": 70, "b": 30}, {"a": 701, "b": 300}),        # 700.7 / 300.3
    (10, {"a": 1, "b": 1, "c": 1}, {"a": 4, "b": 3, "c": 3}),  # tie goes to key order
    (997, {"a": 5, "b": 3, "c": 2}, {"a": 499, "b": 299, "c": 199}),
    (7, {"x": 2, "y": 5}, {"x": 2, "y": 5}),
])
def test_totals_round_by_largest_remainder(n, weights, expected):
    result = allocate(make_candidates(n, seed=n), weights, seed=1)
    counts = {a: list(result.assignment.values()).count(a) for a in weights}
    assert counts == expected
    for agency, weight in weights.items():
        assert abs(counts[agency] - n * weight / sum(weights.values())) < 1


def test_same_inputs_in_any_order_give_the_same_assignment(thousand):
    first = allocate(thousand, WEIGHTS, seed=42)
    shuffled = list(thousand)
    random.Random(99).shuffle(shuffled)
    reversed_weights = {"agency-b": 30, "agency-a": 70}
    second = allocate(tuple(shuffled), reversed_weights, seed=42)
    assert second.assignment == first.assignment
    assert second.explanation == first.explanation


def test_a_different_seed_gives_a_different_but_equally_balanced_assignment(thousand):
    one = allocate(thousand, WEIGHTS, seed=42)
    two = allocate(thousand, WEIGHTS, seed=43)
    moved = sum(one.assignment[k] != two.assignment[k] for k in one.assignment)
    assert moved > 100                      # genuinely re-randomised, not a tweak
    assert one.explanation["strata"] == two.explanation["strata"]   # same counts per stratum


def test_mix_of_balance_and_dpd_matches_the_weights():
    candidates = make_candidates(10_000, seed=3)
    result = allocate(candidates, WEIGHTS, seed=2024)
    by_id = {c.account_id: c for c in candidates}
    total_balance = sum(c.balance_minor for c in candidates)
    for agency, weight in WEIGHTS.items():
        share = weight / 100
        mine = [by_id[k] for k, a in result.assignment.items() if a == agency]
        assert abs(sum(c.balance_minor for c in mine) / total_balance - share) < 0.02
        assert result.explanation["per_agency"][agency]["share_balance"] == pytest.approx(share, abs=0.02)
        for label, lo, hi in [("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90),
                              ("91-180", 91, 180), ("181-360", 181, 360), ("361+", 361, 10**9)]:
            in_bucket = [c for c in candidates if lo <= c.days_past_due <= hi]
            got = sum(1 for c in mine if lo <= c.days_past_due <= hi)
            assert abs(got / len(in_bucket) - share) < 0.02, (agency, label)
            assert result.explanation["per_agency"][agency]["by_dpd_bucket"][label] == got


def test_each_stratum_is_split_by_weight_and_strata_add_up(thousand):
    result = allocate(thousand, WEIGHTS, seed=42)
    strata = result.explanation["strata"]
    assert len(strata) == 6 * 4
    assert sum(s["accounts"] for s in strata) == 1000
    for stratum in strata:
        bucket, band = stratum["label"].split("/")
        assert bucket in LABELS and band in {"q1", "q2", "q3", "q4"}
        assert sum(stratum["per_agency"].values()) == stratum["accounts"]
        ideal = stratum["accounts"] * 0.7
        assert abs(stratum["per_agency"]["agency-a"] - ideal) < 1
    for agency in WEIGHTS:
        assert sum(s["per_agency"][agency] for s in strata) == result.explanation["per_agency"][agency]["accounts"]


def test_each_account_s_stratum_is_the_one_the_record_counts_it_in(thousand):
    result = allocate(thousand, WEIGHTS, seed=42)
    assert set(result.strata) == set(result.assignment)
    counted = Counter()
    for account_id, (bucket, band) in result.strata.items():
        counted[(f"{LABELS[bucket]}/q{band + 1}", result.assignment[account_id])] += 1
    assert counted == Counter({(s["label"], agency): n for s in result.explanation["strata"]
                               for agency, n in s["per_agency"].items() if n})
    # Ranked by balance, then account id, within the DPD bucket: a band's balances all lie below the next band's.
    by_id = {c.account_id: c for c in thousand}
    for bucket in range(len(LABELS)):
        bands = [sorted((by_id[a].balance_minor, a) for a, (b, q) in result.strata.items() if (b, q) == (bucket, band))
                 for band in range(4)]
        assert all(low[-1] < high[0] for low, high in zip(bands, bands[1:]))


def test_dpd_buckets_are_upper_inclusive_and_quartiles_rank_by_balance():
    candidates = [Candidate(f"acct-{dpd}-{bal}", bal, dpd)
                  for dpd in (0, 30, 31, 60, 61, 90, 91, 180, 181, 360, 361, 5000)
                  for bal in (100, 200, 300, 400)]
    result = allocate(candidates, {"only": 1}, seed=0)
    strata = {s["label"]: s["accounts"] for s in result.explanation["strata"]}
    assert strata == {f"{label}/q{q}": 2 for label in LABELS for q in range(1, 5)}
    assert result.explanation["per_agency"]["only"]["by_dpd_bucket"] == {label: 8 for label in LABELS}


def test_custom_dpd_buckets_and_small_buckets_use_fewer_bands():
    candidates = [Candidate("a", 10, 5), Candidate("b", 20, 10), Candidate("c", 30, 11)]
    result = allocate(candidates, WEIGHTS, seed=1, dpd_buckets=(10,))
    assert result.explanation["dpd_buckets"] == ["0-10", "11+"]
    assert [s["label"] for s in result.explanation["strata"]] == ["0-10/q1", "0-10/q2", "11+/q1"]


def test_one_agency_gets_everything(thousand):
    result = allocate(thousand, {"solo": 3}, seed=5)
    assert set(result.assignment.values()) == {"solo"}
    assert len(result.assignment) == 1000
    record = result.explanation["per_agency"]["solo"]
    assert record["accounts"] == 1000 and record["share_accounts"] == 1.0 and record["share_balance"] == 1.0
    assert "solo" in result.explanation["summary"]


def test_no_candidates_gives_an_empty_assignment_with_an_explanation():
    result = allocate([], WEIGHTS, seed=42)
    assert result.assignment == {}
    explanation = result.explanation
    assert explanation["method"] == "stratified-weighted"
    assert explanation["strata"] == []
    assert explanation["per_agency"]["agency-a"] == {
        "accounts": 0, "balance_minor": 0, "share_accounts": 0.0, "share_balance": 0.0,
        "by_dpd_bucket": {label: 0 for label in LABELS},
    }
    assert "No accounts" in explanation["summary"]
    json.dumps(explanation)


@pytest.mark.parametrize("weights,fragment", [
    ({}, "at least one agency"),
    ({"a": 0, "b": 1}, "must be positive"),
    ({"a": -5}, "must be positive"),
    ({"a": 70, "b": 30.0}, "must be an integer"),
    ({"a": "70"}, "must be an integer"),
    ({"a": True}, "must be an integer"),
    ({"": 1}, "non-empty string"),
    ([("a", 1)], "mapping"),
])
def test_invalid_weights_are_rejected(thousand, weights, fragment):
    with pytest.raises(ValueError, match=fragment):
        allocate(thousand, weights, seed=1)


def test_invalid_candidates_and_buckets_are_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        allocate([Candidate("x", 1, 1), Candidate("x", 2, 2)], WEIGHTS, seed=1)
    with pytest.raises(ValueError, match="balance_minor"):
        allocate([Candidate("x", -1, 1)], WEIGHTS, seed=1)
    with pytest.raises(ValueError, match="days_past_due"):
        allocate([Candidate("x", 1, -1)], WEIGHTS, seed=1)
    with pytest.raises(ValueError, match="strictly increasing"):
        allocate([], WEIGHTS, seed=1, dpd_buckets=(60, 30))
    with pytest.raises(ValueError, match="seed"):
        allocate([], WEIGHTS, seed="42")


def test_explanation_is_json_serialisable_and_explains_the_split(thousand):
    result = allocate(thousand, WEIGHTS, seed=42)
    explanation = json.loads(json.dumps(result.explanation))
    assert explanation == result.explanation
    assert explanation["method"] == "stratified-weighted"
    assert explanation["seed"] == 42
    assert explanation["weights"] == WEIGHTS
    assert explanation["dpd_buckets"] == LABELS
    assert explanation["summary"] == (
        "1,000 accounts split 700/300 across agency-a, agency-b (weights 70/30), "
        "stratified by 6 DPD buckets × balance quartiles, seed 42")
    balances = {c.account_id: c.balance_minor for c in thousand}
    for agency, record in explanation["per_agency"].items():
        assert record["balance_minor"] == sum(b for k, b in balances.items() if result.assignment[k] == agency)
        assert sum(record["by_dpd_bucket"].values()) == record["accounts"]


def test_100k_candidates_are_all_placed_in_the_weights_proportions():
    """At the size of a large placement every account lands with exactly one agency, in the weights' proportions
    (how long it takes is bench/allocation_bench.py's question, not a test's)."""
    candidates = make_candidates(100_000, seed=11)
    result = allocate(candidates, {"a": 5, "b": 3, "c": 2}, seed=9)
    assert set(result.assignment) == {c.account_id for c in candidates}
    shares = Counter(result.assignment.values())
    assert {agency: round(count / 100_000, 2) for agency, count in shares.items()} == {"a": 0.5, "b": 0.3, "c": 0.2}
