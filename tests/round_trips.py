"""Counting what a piece of work sends to the database: every statement, every transaction's BEGIN and end, and
every liveness ping the pool sends on checkout. Each is one round trip on PostgreSQL (psycopg sends BEGIN on its
own before a transaction's first statement), so the sum is the round trips the work costs."""
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event


@dataclass
class RoundTrips:
    kinds: Counter = field(default_factory=Counter)
    statements: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.kinds.values())

    def report(self) -> str:
        lines = [f"{self.total} round trips: {dict(self.kinds)}"]
        lines += [f"  {sql.split(chr(10))[0][:140]}" for sql in self.statements]
        return "\n".join(lines)


@contextmanager
def counting_round_trips(engine):
    """Round trips `engine` makes inside the block (its pool's pings included)."""
    seen = RoundTrips()

    def statement(conn, cursor, sql, parameters, context, executemany):
        seen.kinds["statement"] += 1
        seen.statements.append(sql)

    def marker(kind):
        def listener(*_args):
            seen.kinds[kind] += 1
            seen.statements.append(kind.upper())
        return listener

    listeners = [(engine, "before_cursor_execute", statement), (engine, "begin", marker("begin")),
                 (engine, "commit", marker("commit")), (engine, "rollback", marker("rollback"))]
    original_ping = engine.dialect.do_ping

    def ping(dbapi_connection):
        marker("ping")()
        return original_ping(dbapi_connection)

    for target, name, listener in listeners:
        event.listen(target, name, listener)
    engine.dialect.do_ping = ping
    try:
        yield seen
    finally:
        engine.dialect.do_ping = original_ping
        for target, name, listener in listeners:
            event.remove(target, name, listener)
