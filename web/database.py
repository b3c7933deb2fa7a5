"""Engine-level settings per dialect."""
from sqlalchemy import event


def configure_engine(engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, _record):
        # pysqlite's own transaction handling breaks SAVEPOINTs; let SQLAlchemy emit BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection):
        # IMMEDIATE: a transaction that reads and then writes would otherwise fail at once ("database is locked")
        # whenever another process committed in between — the demo's web server, worker and billing run share the
        # file. Taking the write lock up front makes them queue (busy_timeout) instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
