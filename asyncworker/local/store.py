"""Opt-in persistence (``asyncworker local --db FILE``): the endpoint's state in SQLite.

What is written is what SWF itself keeps: the domains with their types, every execution's
history (one row per event, appended) and the tokens of started tasks. Everything else (open
tasks, timers, children, decision tasks) follows from the histories and is rebuilt from them on
start (``restore.py``), so the hot path writes one row per event and one per task start.

Writes are buffered and committed together once per event-loop iteration (one transaction for
every call and timer of that iteration), in WAL mode with ``synchronous=NORMAL``: a committed
transaction survives the process being killed (not a power cut). A call answered in the very
iteration the process dies in may be lost, as on any server whose answers were in flight.
Executions dropped by retention while running stay in the file until the next start, which
deletes them.

A file that is not SQLite, is damaged, or is another program's database is refused with
``StoreError`` before anything is written to it, and so is a file another endpoint runs on (an
endpoint holds its file's exclusive lock until it stops).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from typing import TYPE_CHECKING, Any, Final

from .model import Domain, RegisteredType

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Iterable

    from .model import Event, Execution

APPLICATION_ID: Final = 0x41575346  # "AWSF", in the file header
LOCK_TIMEOUT: Final = 1.0
"""Seconds to wait for a file another endpoint holds before refusing it."""
SCHEMA_VERSION: Final = 1
SCHEMA: Final = (
    "CREATE TABLE domains (name TEXT PRIMARY KEY, body TEXT NOT NULL)",
    "CREATE TABLE events (domain TEXT NOT NULL, workflow_id TEXT NOT NULL,"
    " run_id TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE tokens (token TEXT NOT NULL, domain TEXT NOT NULL,"
    " workflow_id TEXT NOT NULL, run_id TEXT NOT NULL, started_event_id INTEGER NOT NULL)",
)
_INSERT_EVENT: Final = "INSERT INTO events VALUES (?, ?, ?, ?)"
_INSERT_TOKEN: Final = "INSERT INTO tokens VALUES (?, ?, ?, ?, ?)"
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

RunKey = tuple[str, str, str]
"""An execution's (domain, workflowId, runId)."""


class StoreError(Exception):
    """The database file cannot be used: not SQLite, damaged, or not this endpoint's."""


class Loaded:
    """What a store held at start: domains, histories in start order, started tasks' tokens."""

    def __init__(self) -> None:
        self.domains: list[Domain] = []
        self.histories: dict[RunKey, list[Event]] = {}
        self.rowids: dict[RunKey, list[int]] = {}
        self.tokens: dict[tuple[RunKey, int], str] = {}


class Store:
    """The open database file and the writes waiting for the end of the loop iteration."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop) -> None:
        self.path = path
        self._loop = loop
        self._db = _connect(path)
        self._events: list[tuple[RunKey, Event]] = []
        self._tokens: list[tuple[str, str, str, str, int]] = []
        self._domains: Iterable[Domain] | None = None
        self._pending = False
        self._closed = False

    # ------------------------------------------------------------------ writing

    def events(self, domain: str, workflow_id: str, run_id: str) -> JournaledEvents:
        """A new execution's history list, whose appended events are written."""
        return JournaledEvents(self, (domain, workflow_id, run_id))

    def event(self, key: RunKey, event: Event) -> None:
        """Write ``event`` of the execution ``key`` (at the end of this loop iteration)."""
        self._events.append((key, event))
        if not self._pending:
            self._schedule()

    def token(self, token: str, execution: Execution, started_event_id: int) -> None:
        """Write a started task's token."""
        self._tokens.append(
            (
                token,
                execution.domain.name,
                execution.workflow_id,
                execution.run_id,
                started_event_id,
            )
        )
        if not self._pending:
            self._schedule()

    def domains_changed(self, domains: Iterable[Domain]) -> None:
        """Write the domains and their types again (a registry call changed them)."""
        self._domains = domains
        if not self._pending:
            self._schedule()

    def _schedule(self) -> None:
        self._pending = True
        self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Commit what is waiting, in one transaction (nothing once the store is closed)."""
        self._pending = False
        if self._closed:
            return
        events, self._events = self._events, []
        tokens, self._tokens = self._tokens, []
        domains, self._domains = self._domains, None
        with self._db:
            if events:
                self._db.executemany(
                    _INSERT_EVENT, [(*key, _encode(event)) for key, event in events]
                )
            if tokens:
                self._db.executemany(_INSERT_TOKEN, tokens)
            if domains is not None:
                self._db.execute("DELETE FROM domains")
                self._db.executemany(
                    "INSERT INTO domains VALUES (?, ?)",
                    [(domain.name, _encode(domain_body(domain))) for domain in domains],
                )

    def close(self) -> None:
        """Commit what is waiting and close the file."""
        self.flush()
        self._closed = True
        self._db.close()

    # ------------------------------------------------------------------ reading

    def load(self) -> Loaded:
        """Everything the file holds."""
        loaded = Loaded()
        try:
            for (body,) in self._db.execute("SELECT body FROM domains ORDER BY rowid"):
                loaded.domains.append(domain_from(json.loads(body)))
            rows = self._db.execute(
                "SELECT rowid, domain, workflow_id, run_id, body FROM events ORDER BY rowid"
            )
            for rowid, domain, workflow_id, run_id, body in rows:
                key = (domain, workflow_id, run_id)
                loaded.histories.setdefault(key, []).append(json.loads(body))
                loaded.rowids.setdefault(key, []).append(rowid)
            for token, domain, workflow_id, run_id, started in self._db.execute(
                "SELECT * FROM tokens"
            ):
                loaded.tokens[((domain, workflow_id, run_id), started)] = token
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{self.path}: unreadable endpoint state ({exc})") from exc
        return loaded

    def forget(self, rowids: list[int]) -> None:
        """Delete the history rows of executions no longer retained, and every token (the
        ones still needed are written again)."""
        with self._db:
            for start in range(0, len(rowids), 500):
                chunk = rowids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                self._db.execute(f"DELETE FROM events WHERE rowid IN ({marks})", chunk)
            self._db.execute("DELETE FROM tokens")


class JournaledEvents(list[Any]):
    """An execution's history whose appended events are also written to the store."""

    __slots__ = ("_key", "_store")

    def __init__(self, store: Store, key: RunKey) -> None:
        super().__init__()
        self._store = store
        self._key = key

    def append(self, event: Event) -> None:
        super().append(event)
        self._store.event(self._key, event)


def check(path: str) -> None:
    """Open and check the file, then close it: ``StoreError`` if it cannot be used."""
    _connect(path).close()


def _connect(path: str) -> sqlite3.Connection:
    if path in ("", ":memory:"):  # sqlite3's names of a database that no file keeps
        raise StoreError(f"{path!r}: not a file (the state would be gone at the next start)")
    try:
        db = sqlite3.connect(path, isolation_level="DEFERRED", timeout=LOCK_TIMEOUT)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open ({exc})") from exc
    try:
        _lock(db, path)
        _prepare(db, path)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StoreError(f"{path}: not a usable SQLite database ({exc})") from exc
    except StoreError:
        db.close()
        raise
    return db


def _lock(db: sqlite3.Connection, path: str) -> None:
    """Hold the file's exclusive lock for as long as ``db`` is open: two endpoints on one file
    would each append their own events (histories with duplicate event ids). The kernel drops
    the lock when the process dies, so a killed endpoint's file opens again at once."""
    db.execute("PRAGMA locking_mode = EXCLUSIVE")
    try:
        db.execute("BEGIN EXCLUSIVE")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        raise StoreError(f"{path}: in use by another running endpoint") from exc
    db.execute("COMMIT")


def _prepare(db: sqlite3.Connection, path: str) -> None:
    """Create the schema in a new file, or check an existing one is this endpoint's."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    (application_id,) = db.execute("PRAGMA application_id").fetchone()
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if not tables and not application_id:
        with db:
            for statement in SCHEMA:
                db.execute(statement)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    elif application_id != APPLICATION_ID or version != SCHEMA_VERSION:
        raise StoreError(f"{path}: not an asyncworker local endpoint database")
    (integrity,) = db.execute("PRAGMA quick_check").fetchone()
    if integrity != "ok":
        raise StoreError(f"{path}: damaged database ({integrity})")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")


# --------------------------------------------------------------------------- domains


def domain_body(domain: Domain) -> dict[str, Any]:
    """A domain and its types as JSON."""
    return {
        "name": domain.name,
        "description": domain.description,
        "retention_days": domain.retention_days,
        "status": domain.status,
        "tags": domain.tags,
        "types": [
            dataclasses.asdict(registered)
            for types in (domain.activity_types, domain.workflow_types)
            for registered in types.values()
        ],
    }


def domain_from(body: dict[str, Any]) -> Domain:
    """The domain (with its types, without executions) of ``domain_body``'s JSON."""
    domain = Domain(
        name=body["name"],
        description=body["description"],
        retention_days=body["retention_days"],
        status=body["status"],
        tags=dict(body["tags"]),
    )
    for item in body["types"]:
        registered = RegisteredType(**item)
        types = domain.activity_types if registered.kind == "activity" else domain.workflow_types
        types[(registered.name, registered.version)] = registered
    return domain
