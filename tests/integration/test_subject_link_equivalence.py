"""subject_link as migration 0027 made it answers exactly as migration 0018's did: random batches over a small pool
of identifiers — accounts alone, accounts sharing identifiers with each other and with people linked before,
several subjects merged at once — give the same subjects and merges, call after call, and leave the same links and
aliases. 0018's function is created beside the live one in a transaction that is rolled back."""
import importlib.util
import os
import random
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import DB_LOCK_KEY

pytestmark = pytest.mark.postgres

MIGRATION_0018 = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0018_subject_links.py"
SCENARIOS = 80


def _create_0018_function(connection) -> None:
    spec = importlib.util.spec_from_file_location("migration_0018", MIGRATION_0018)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    connection.exec_driver_sql(migration.LINK.replace("CREATE FUNCTION subject_link(",
                                                      "CREATE FUNCTION subject_link_0018(", 1))


def _scenario(rng: random.Random) -> list[dict[uuid.UUID, list[str]]]:
    """Batches in the order they are linked: a few earlier files, then one over the same people."""
    tag = uuid.uuid4().hex[:8]
    pool = [f"k{n}-{tag}" for n in range(rng.randint(4, 30))]

    def batch(size: int) -> dict[uuid.UUID, list[str]]:
        accounts = {}
        for _ in range(size):
            keys = rng.sample(pool, rng.randint(1, min(3, len(pool))))
            if rng.random() < 0.3:  # someone new to the platform among known people
                keys.append(f"new-{uuid.uuid4().hex}")
            if rng.random() < 0.05:  # an identifier given twice for one account
                keys.append(keys[0])
            accounts[uuid.uuid4()] = keys
        return accounts

    return [batch(rng.randint(1, 6)) for _ in range(rng.randint(0, 4))] + [batch(rng.randint(1, 16))]


def _link(connection, function: str, batch: dict[uuid.UUID, list[str]]) -> list[tuple]:
    rows = connection.execute(text(f"SELECT account_id, subject_key, merged_from FROM {function}("
                                   "CAST(:accounts AS uuid[]), CAST(:identifiers AS text[]), :key)"),
                              {"accounts": [account for account, keys in batch.items() for _ in keys],
                               "identifiers": [key for keys in batch.values() for key in keys],
                               "key": DB_LOCK_KEY}).all()
    return sorted((str(row.account_id), row.subject_key, tuple(row.merged_from)) for row in rows)


def _state(connection, identifiers: set[str]) -> tuple:
    links = connection.execute(text("SELECT identifier_key, subject_key FROM subject_links "
                                    "WHERE identifier_key = ANY(:keys) ORDER BY 1"), {"keys": list(identifiers)}).all()
    aliases = connection.execute(text("SELECT alias, subject_key FROM subject_aliases "
                                      "WHERE alias = ANY(:keys) ORDER BY 1"), {"keys": list(identifiers)}).all()
    return [tuple(row) for row in links], [tuple(row) for row in aliases]


def test_subject_link_answers_as_migration_0018s_did(app, owner_engine):
    mixed = 0
    with owner_engine.connect() as connection:
        everything = connection.begin()
        _create_0018_function(connection)
        for seed in range(SCENARIOS):
            batches = _scenario(random.Random(seed))
            identifiers = {key for batch in batches for keys in batch.values() for key in keys}
            transcripts = {}
            for function in ("subject_link", "subject_link_0018"):
                savepoint = connection.begin_nested()
                answers = [_link(connection, function, batch) for batch in batches]
                transcripts[function] = answers, _state(connection, identifiers)
                savepoint.rollback()
            assert transcripts["subject_link"] == transcripts["subject_link_0018"], f"scenario {seed}"
            mixed += _alone_beside_others(batches)
        everything.rollback()
    assert mixed > SCENARIOS // 4, "the scenarios put accounts alone beside accounts that go the long way"


def _alone_beside_others(batches: list[dict[uuid.UUID, list[str]]]) -> bool:
    """Whether the last batch has both: accounts none of whose identifiers was linked before or is another's in the
    batch, and accounts that meet someone."""
    known = {key for batch in batches[:-1] for keys in batch.values() for key in keys}
    named = [key for keys in batches[-1].values() for key in set(keys)]
    shared = {key for key in named if named.count(key) > 1}
    alone = [not (set(keys) & (known | shared)) for keys in batches[-1].values()]
    return any(alone) and not all(alone)


@pytest.mark.parametrize("shape", ["every account alone", "alone beside people who meet"])
def test_a_batch_that_meets_another_linking_the_same_identifier_ends_as_with_0018(app, shape):
    """Batch B finds identifier K unlinked, then batch A, which linked K a moment before, commits while B inserts
    it: B's insert waits for A, finds K taken and B goes the long way. Both functions, the same interleaving, the
    same answers."""
    engine = create_engine(os.environ["MIGRATION_DATABASE_URL"], pool_size=2, max_overflow=0)
    try:
        with engine.begin() as connection:
            _create_0018_function(connection)
        answers = {function: _race(engine, function, shape) for function in ("subject_link", "subject_link_0018")}
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP FUNCTION IF EXISTS subject_link_0018(uuid[], text[], text)")
        engine.dispose()
    assert answers["subject_link"] == answers["subject_link_0018"]
    assert answers["subject_link"][0] == "K", "B's account with K is A's person"


def _race(engine, function: str, shape: str) -> list[str]:
    """B's subjects, each named by the label of the identifier it is (K, M, P)."""
    run = uuid.uuid4().hex
    labels = {f"{label}-{run}": label for label in "KMP"}
    key, other, shared = labels
    batch = {uuid.uuid4(): [key], uuid.uuid4(): [other]}
    if shape != "every account alone":
        batch.update({uuid.uuid4(): [shared], uuid.uuid4(): [shared]})
    found = {}
    with engine.connect() as a, engine.connect() as b:
        first = a.begin()
        _link(a, function, {uuid.uuid4(): [key]})

        def batch_b():
            with b.begin() as second:
                found.update((str(account), subject) for account, subject, _ in _link(b, function, batch))
                second.rollback()

        racer = threading.Thread(target=batch_b)
        racer.start()
        time.sleep(0.5)  # B has read K as unlinked and waits on A's uncommitted link
        first.commit()
        racer.join(timeout=30)
    return [labels[found[str(account)]] for account in batch]
