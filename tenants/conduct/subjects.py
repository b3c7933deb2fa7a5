"""One subject per person, across files and lenders.

A person is known to the platform only by keyed hashes (blind indexes, tenants.pii) of the identifiers the files
give: the resident ID, each phone, the email. Every identifier is linked to a subject; accounts sharing any
identifier, in one file or across lenders, have one subject, whose ledger (tenants.conduct.ledger) counts every
agency's contacts. A file that joins two subjects merges them: their ledger entries, every tenant's accounts and
the links move to the survivor, and the other becomes its alias, so a caller still holding the old key reaches the
survivor.

On PostgreSQL the links and aliases are sealed tables (row-level security on, no policy, no grant) that only the
SECURITY DEFINER functions of migration 0018 read or write: `subject_link` links a batch of accounts in one call
and merges under the persons' ledger locks; the ledger functions resolve aliases after taking the lock. SQLite (the
demo) has one writer at a time: the same plan is made here in Python.
"""
import uuid
from collections.abc import Callable, Iterable

from sqlalchemy import String, select, text
from sqlalchemy.orm import Mapped, mapped_column

from tenants.conduct import windows
from tenants.context import lock_key
from tenants.db import db
from tenants.pii import blind_index

BATCH = 500


class SubjectLink(db.Model):
    """An identifier's blind index → the subject it belongs to. Sealed: never query it, call link()."""

    __tablename__ = "subject_links"

    identifier_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(64), index=True)


class SubjectAlias(db.Model):
    """A subject merged into another → the survivor (always one hop: a merge repoints older aliases). Sealed."""

    __tablename__ = "subject_aliases"

    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(64), index=True)


LINKS = SubjectLink.__table__
ALIASES = SubjectAlias.__table__


def identifiers(id_number_index: str | None, phone_indexes: Iterable[str], email: str | None) -> list[str]:
    """A person's identifiers as linked: blind indexes of normalised values, the resident ID first (a new person's
    subject is named after the first, as it was before links). The ID's and phones' indexes are the ones the
    account and its phones store, so the caller passes them in rather than hashing them twice."""
    keys = [id_number_index] if id_number_index else []
    keys.extend(phone_indexes)
    if email:
        keys.append(blind_index("email", email))
    return list(dict.fromkeys(keys))


def link(batch: dict[uuid.UUID, list[str]]) -> dict[uuid.UUID, str]:
    """Each account's subject (accounts with no identifier are left out), linking what is new and merging the
    subjects this batch joins, in the session's transaction. One round trip on PostgreSQL."""
    batch = {account: keys for account, keys in batch.items() if keys}
    if not batch:
        return {}
    bind = db.session.get_bind()
    subjects, merged = _link(db.session.execute, bind.dialect.name, batch, lock_key() if
                             bind.dialect.name == "postgresql" else None)
    forget_merged(merged)
    return subjects


def link_in_sql(identifiers: str) -> str:
    """What link() does, for identifiers already on the server: the body of a CTE of (account_id, subject_key,
    merged_from) rows, one `subject_link` call taking `link_params()`. `identifiers` names a relation of (account,
    seq, pos, identifier): `seq` orders the accounts as link()'s batch would, `pos` the identifiers of one account
    as identifiers() does. An import (tenants.portfolios.bulk) links the accounts it staged within the statement
    that writes them, so neither the identifiers nor the subjects pass through Python. PostgreSQL only."""
    return ("SELECT l.account_id, l.subject_key, l.merged_from FROM "
            "(SELECT array_agg(i.account ORDER BY i.seq, i.pos) AS accounts, "
            f"array_agg(i.identifier ORDER BY i.seq, i.pos) AS identifiers FROM {identifiers} AS i) AS b, "
            "subject_link(b.accounts, b.identifiers, %(subject_link_key)s) AS l")


def link_params() -> dict:
    return {"subject_link_key": lock_key()}


def forget_merged(subjects: Iterable[str]) -> None:
    """The answers cached for either side of a merge counted one person as two."""
    for subject in subjects:
        windows.invalidate_subject(subject)


def _link(execute: Callable, dialect: str, batch: dict[uuid.UUID, list[str]],
          key: str | None) -> tuple[dict[uuid.UUID, str], set[str]]:
    if dialect == "postgresql":
        accounts = [account for account, keys in batch.items() for _ in keys]
        rows = execute(text("SELECT account_id, subject_key, merged_from FROM subject_link("
                            "CAST(:accounts AS uuid[]), CAST(:identifiers AS text[]), :key)"),
                       {"accounts": accounts, "identifiers": [k for keys in batch.values() for k in keys],
                        "key": key}).all()
        merged = {subject for row in rows if row.merged_from for subject in (row.subject_key, *row.merged_from)}
        return {row.account_id: row.subject_key for row in rows}, merged
    return _link_in_python(execute, batch)


def _link_in_python(execute: Callable, batch: dict[uuid.UUID, list[str]]) -> tuple[dict[uuid.UUID, str], set[str]]:
    """migration 0018's subject_link for a single writer: the same plan, no locks."""
    wanted = sorted({key for keys in batch.values() for key in keys})
    links = dict(execute(select(LINKS.c.identifier_key, LINKS.c.subject_key)
                         .where(LINKS.c.identifier_key.in_(wanted))).all())
    aliases = dict(execute(select(ALIASES.c.alias, ALIASES.c.subject_key)
                           .where(ALIASES.c.alias.in_(set(links.values())))).all()) if links else {}
    existing = {aliases.get(subject, subject) for subject in links.values()}

    def subject_of(identifier: str) -> str:
        return aliases.get(links[identifier], links[identifier]) if identifier in links else identifier

    parent: dict[str, str] = {}

    def root(subject: str) -> str:
        while parent.setdefault(subject, subject) != subject:
            parent[subject] = parent[parent[subject]]
            subject = parent[subject]
        return subject

    order: dict[str, int] = {}
    for keys in batch.values():
        first = root(subject_of(keys[0]))
        for identifier in keys:
            order.setdefault(subject_of(identifier), len(order))
            parent[root(subject_of(identifier))] = first
    components: dict[str, list[str]] = {}
    for subject in order:
        components.setdefault(root(subject), []).append(subject)
    survivor_of: dict[str, str] = {}
    for members in components.values():
        known = sorted(s for s in members if s in existing)
        survivor = known[0] if known else min(members, key=order.__getitem__)
        survivor_of.update((s, survivor) for s in members)

    fresh = [identifier for identifier in wanted if identifier not in links]
    if fresh:
        execute(LINKS.insert(), [{"identifier_key": i, "subject_key": survivor_of[i]} for i in fresh])
    moves = {s: survivor for s, survivor in survivor_of.items() if s in existing and s != survivor}
    for moved, survivor in moves.items():
        execute(LINKS.update().where(LINKS.c.subject_key == moved).values(subject_key=survivor))
        execute(ALIASES.update().where(ALIASES.c.subject_key == moved).values(subject_key=survivor))
        execute(ALIASES.insert().values(alias=moved, subject_key=survivor))
        execute(text("UPDATE conduct_ledger SET subject_key = :survivor WHERE subject_key = :moved"),
                {"survivor": survivor, "moved": moved})
    if moves:  # every tenant's accounts under a merged key or one of its older aliases: no row-level security here
        execute(text("UPDATE accounts SET subject_key = :survivor "
                     "WHERE subject_key IN (SELECT alias FROM subject_aliases WHERE subject_key = :survivor)"),
                [{"survivor": survivor} for survivor in set(moves.values())])
    merged = set(moves) | set(moves.values())
    return {account: survivor_of[subject_of(keys[0])] for account, keys in batch.items()}, merged


def link_stored(connection, key: str | None) -> None:
    """Link every stored account from the blind indexes it carries, oldest first (migration 0018; the platform
    entered on PostgreSQL). Each account's key from before links (its resident ID's, else its first phone's) is
    first linked as a subject of its own, so that joining it to the account's other identifiers merges its ledger
    like any merge, under the persons' locks."""
    rows = connection.execute(text(
        "SELECT a.id, a.subject_key, a.id_number_index, p.phone_index FROM accounts a "
        "LEFT JOIN account_phones p ON p.account_id = a.id ORDER BY a.created_at, a.id, p.position")).all()
    stored: dict[uuid.UUID, list[str]] = {}
    filed_under: dict[uuid.UUID, str] = {}
    for account_id, subject_key, id_index, phone_index in rows:
        account_id = uuid.UUID(str(account_id))
        keys = stored.setdefault(account_id, [id_index] if id_index else [])
        if phone_index and phone_index not in keys:
            keys.append(phone_index)
        if subject_key:
            filed_under[account_id] = subject_key
    dialect = connection.dialect.name
    for batch in _batches({account: [subject] for account, subject in filed_under.items()}):
        _link(connection.execute, dialect, batch, key)
    joined = {account: list(dict.fromkeys([*keys, *filter(None, [filed_under.get(account)])]))
              for account, keys in stored.items()}
    for batch in _batches({account: keys for account, keys in joined.items() if keys}):
        subjects, _ = _link(connection.execute, dialect, batch, key)
        if dialect == "postgresql":
            connection.execute(text("UPDATE accounts a SET subject_key = s.subject FROM unnest(CAST(:ids AS uuid[]), "
                                    "CAST(:subjects AS text[])) AS s(id, subject) WHERE a.id = s.id"),
                               {"ids": list(subjects), "subjects": list(subjects.values())})
        else:
            connection.execute(text("UPDATE accounts SET subject_key = :subject WHERE id = :id"),
                               [{"id": account.hex, "subject": subject} for account, subject in subjects.items()])


def _batches(accounts: dict[uuid.UUID, list[str]]) -> Iterable[dict[uuid.UUID, list[str]]]:
    items = list(accounts.items())
    for start in range(0, len(items), BATCH):
        yield dict(items[start:start + BATCH])
