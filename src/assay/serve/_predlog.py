"""The durable prediction log and the feedback table (SQLite beside the registry, or the registry's PostgreSQL).

One writer thread commits records in batches (group commit): whatever arrived while the previous commit ran goes
into the next one. With a durable SQLite log, a model's batch worker commits its batch's records itself instead
(one transaction per batch, taken in turn with the writer's) and hands them to the writer only when that fails.
In ``durable`` mode (the default) a request is answered only after its record is committed, so no 2xx exists
without a record even if the process is killed; a record that cannot be written is counted as a drop and its
request fails (503) instead. In ``async`` mode requests do not wait and a full queue drops (and counts)
records. Feedback is keyed by request id: the first value for an id is kept, duplicates are ignored (idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["SHADOW_SUFFIX", "LogUnavailable", "PredictionLog", "prediction_record"]

SHADOW_SUFFIX = "-shadow"  # a shadow's record: the request id of the request it mirrored, and this

_DDL = [
    """CREATE TABLE IF NOT EXISTS assay_predictions (
        request_id TEXT PRIMARY KEY, model TEXT NOT NULL, version INTEGER NOT NULL, ts DOUBLE PRECISION NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL, rows INTEGER NOT NULL, inputs TEXT, inputs_sha256 TEXT,
        outputs TEXT NOT NULL, degraded INTEGER NOT NULL, shadow INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS assay_feedback (
        request_id TEXT PRIMARY KEY, model TEXT NOT NULL, value TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL)""",
]
_INSERT = (
    "INSERT INTO assay_predictions (request_id, model, version, ts, latency_ms, rows, inputs, inputs_sha256, "
    "outputs, degraded, shadow) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING"
)
_COLUMNS = 11
_CHUNK = 64  # most rows per multi-row INSERT (SQLite)


def _insert_rows(rows: int) -> str:
    """One INSERT of ``rows`` records (SQLite): one statement step for all of them."""
    values = ", ".join(["(" + ", ".join("?" * _COLUMNS) + ")"] * rows)
    return _INSERT.replace("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)


# One statement per row count up to _CHUNK, so a batch of any size is one call (each stays in the connection's
# statement cache, which holds 128).
_INSERT_ROWS = {n: _insert_rows(n) for n in range(2, _CHUNK + 1)}
_STOP = object()


class LogUnavailable(Exception):
    """A durable request's record could not be written (its prediction is not returned)."""


def prediction_record(
    rid: str,
    name: str,
    version: int,
    latency: float,
    rows: int,
    body: bytes,
    log_inputs: str,
    outputs: list[dict[str, Any]],
    degraded: str | None,
    shadow: bool,
    ts: float | None = None,
) -> tuple[Any, ...]:
    """One row of ``assay_predictions`` (``log_inputs``: "full" keeps the body, "hash" only its SHA-256; ``ts``:
    the time of the prediction, default now)."""
    inputs = body.decode("utf-8", errors="replace") if log_inputs == "full" else None
    return (
        rid,
        name,
        version,
        time.time() if ts is None else ts,
        round(latency * 1000, 3),
        rows,
        inputs,
        hashlib.sha256(body).hexdigest(),
        orjson.dumps(outputs, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
        1 if degraded else 0,
        1 if shadow else 0,
    )


class PredictionLog:
    """Batched, durable writes of prediction records; feedback storage; live metrics from their join."""

    def __init__(
        self, target: str, *, mode: str = "durable", max_queue: int = 100_000, write_timeout: float = 30.0
    ) -> None:
        self.target = target
        self.mode = mode
        self.max_queue = max_queue
        # Durable mode: about the longest a request waits for its record (a database locked by another writer, or
        # unreachable): one commit attempt in the batch worker, then the writer's retries until this much time
        # has passed since they began; the request then gets its 503. Async mode keeps retrying for 30 s.
        self.write_timeout = write_timeout if mode == "durable" else 30.0
        self.written = 0
        self.dropped = 0
        self.batches = 0
        # SimpleQueue: put() from the event loop is one C call (queue.Queue's Condition allocates a lock per wait and
        # takes three Python-level locks per put).
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.kind = "postgresql" if target.startswith(("postgresql://", "postgres://")) else "sqlite"
        # Durable SQLite: a batch worker thread commits its batch's records itself (see commit_here), on its own
        # connection; one transaction at a time with the writer's, so neither waits in SQLite's busy handler.
        self.commits_in_caller = self.kind == "sqlite" and mode == "durable"
        self._write_lock = threading.Lock()
        self._caller = threading.local()
        with self._connect() as conn:
            cur = conn.cursor()
            for ddl in _DDL:
                cur.execute(ddl)
            conn.commit()

    # -- connections ------------------------------------------------------------------------------------------
    def _connect(self, timeout: float = 30.0) -> Any:
        """A connection; ``timeout``: how long a statement waits for a lock another SQLite writer holds (and, at
        least 2 s, for a PostgreSQL connection)."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.target, timeout=timeout, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit survives a killed process (the WAL is in the OS cache), not a power cut.
            conn.execute("PRAGMA synchronous=NORMAL")
            return _Closing(conn, "sqlite")
        import psycopg

        dsn, _, schema = self.target.partition("#")
        conn = psycopg.connect(dsn, connect_timeout=max(2, min(10, round(timeout))))
        if schema:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.execute(f'SET search_path TO "{schema}"')
            conn.commit()
        return _Closing(conn, "postgresql")

    # -- writer -----------------------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="assay-prediction-log", daemon=True)
        self._thread.start()

    def submit(self, record: tuple[Any, ...]) -> asyncio.Future[bool] | None:
        """Queue one record; in durable mode return a future resolved (True/False) once it is committed."""
        if self._queue.qsize() >= self.max_queue:
            self.dropped += 1
            return None
        fut: asyncio.Future[bool] | None = None
        if self.mode == "durable" and self._loop is not None:
            fut = self._loop.create_future()
        self._queue.put(([record], fut, None))
        return fut

    def submit_many(self, records: list[tuple[Any, ...]], deliveries: list[tuple[asyncio.Future[Any], Any]]) -> bool:
        """Queue a batch's records from any thread in one call; False (all counted as drops) when the queue is full.

        In durable mode each ``(future, result)`` of ``deliveries`` is settled once the records are committed (the
        result, or :class:`LogUnavailable`), so a request is answered with one wake-up of the event loop; in async
        mode the caller answers the requests itself and ``deliveries`` is ignored.
        """
        if self._queue.qsize() >= self.max_queue:
            self.dropped += len(records)
            return False
        self._queue.put((records, None, deliveries if self.mode == "durable" else None))
        return True

    def commit_here(self, records: list[tuple[Any, ...]]) -> bool:
        """Commit ``records`` in the calling thread (a batch worker; durable SQLite only); True once committed.

        False when the caller should hand them to the writer instead: another kind of log, a backlog queued for
        the writer (a commit here would overtake it), or a failed write, which the writer then retries and, if it
        fails again, counts as drops.
        """
        if not self.commits_in_caller or self._queue.qsize():
            return False
        with self._write_lock:
            conn = getattr(self._caller, "conn", None)
            try:
                if conn is None:
                    conn = self._caller.conn = self._connect(self.write_timeout)
                    # Each INSERT commits itself (SQLite autocommit): a batch of up to 64 records is one call
                    # instead of an INSERT and a COMMIT, each of which lets go of the GIL and waits to take it back.
                    # A batch of more is several transactions; if one fails, the writer inserts them all again and
                    # ON CONFLICT skips those already in.
                    conn.conn.isolation_level = None
                _write(conn, records)  # committed as each INSERT returns
            except Exception:  # the transaction is dropped with the connection; the writer tries again
                if conn is not None:
                    conn.close()
                self._caller.conn = None
                return False
            self.written += len(records)
            self.batches += 1
        return True

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait (at most ``timeout`` seconds) until every record queued before this call was written (or dropped);
        True when it was. In async mode a request is answered before its record is written: feedback sent at once
        for it is looked up again after this."""
        if self._thread is None or not self._thread.is_alive():
            return self._queue.qsize() == 0
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _run(self) -> None:
        conn = None
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            if isinstance(item, threading.Event):  # a flush: what was queued before it is written
                item.set()
                continue
            items = [item]
            count = len(item[0])
            flushes = []
            while count < 5000:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self._queue.put(_STOP)
                    break
                if isinstance(nxt, threading.Event):
                    flushes.append(nxt)
                    continue
                items.append(nxt)
                count += len(nxt[0])
            records = [r for rs, _, _ in items for r in rs]
            ok = False
            began = time.monotonic()
            for attempt in range(3):
                try:
                    with self._write_lock:
                        if conn is None:
                            conn = self._connect(self.write_timeout)
                        _write(conn, records)
                        conn.commit()
                    ok = True
                    break
                except Exception:  # the database is away: retry on a new connection, then count the drop
                    if conn is not None:
                        conn.close()
                    conn = None
                    if time.monotonic() - began >= self.write_timeout:  # (its requests have waited long enough)
                        break
                    time.sleep(0.05 * (attempt + 1))
            with self._write_lock:  # counted under the lock that batch workers count under too
                if ok:
                    self.written += len(records)
                    self.batches += 1
                else:
                    self.dropped += len(records)
            for done in flushes:
                done.set()
            futures = [f for _, f, _ in items if f is not None]
            deliveries = [d for _, _, ds in items if ds for d in ds]
            if (futures or deliveries) and self._loop is not None:
                with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                    self._loop.call_soon_threadsafe(_resolve, futures, deliveries, ok)
        if conn is not None:
            conn.close()

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued and stop the writer."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    # -- feedback and live metrics ----------------------------------------------------------------------------
    def add_feedback(self, request_id: str, model: str, value: Any) -> bool:
        """Store the true value for a request; False when one was already stored (the first is kept)."""
        with self._connect() as conn:
            cur = conn.cursor()
            cur.execute(
                conn.sql(
                    "INSERT INTO assay_feedback (request_id, model, value, ts) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (request_id) DO NOTHING"
                ),
                (request_id, model, json.dumps(value), time.time()),
            )
            inserted = cur.rowcount == 1
            conn.commit()
        return inserted

    def add_feedback_many(self, items: Sequence[tuple[str, str, Any]]) -> list[bool]:
        """:meth:`add_feedback` for each ``(request_id, model, value)`` on one connection, in one transaction (a
        connection per item cost ~9 ms each on PostgreSQL: 4.4 s for 500 labels)."""
        inserted = []
        with self._connect() as conn:
            cur = conn.cursor()
            sql = conn.sql(
                "INSERT INTO assay_feedback (request_id, model, value, ts) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (request_id) DO NOTHING"
            )
            now = time.time()
            for request_id, model, value in items:
                cur.execute(sql, (request_id, model, json.dumps(value), now))
                inserted.append(cur.rowcount == 1)
            conn.commit()
        return inserted

    def predictions(self, request_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """:meth:`prediction` of each id that has a record, looked up on one connection, 500 ids a query."""
        found: dict[str, dict[str, Any]] = {}
        ids = list(dict.fromkeys(request_ids))
        with self._connect() as conn:
            cur = conn.cursor()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                cur.execute(
                    conn.sql(
                        "SELECT request_id, model, version, outputs, rows FROM assay_predictions "
                        f"WHERE request_id IN ({marks})"
                    ),
                    chunk,
                )
                for rid, model, version, outputs, rows in cur.fetchall():
                    found[rid] = {
                        "model": model,
                        "version": int(version),
                        "outputs": json.loads(outputs),
                        "rows": int(rows),
                    }
        return found

    def prediction(self, request_id: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            cur = conn.cursor()
            cur.execute(
                conn.sql("SELECT model, version, outputs, rows FROM assay_predictions WHERE request_id = ?"),
                (request_id,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return {"model": row[0], "version": int(row[1]), "outputs": json.loads(row[2]), "rows": int(row[3])}

    def joined(self, model: str) -> list[tuple[int, list[Any], Any]]:
        """(version, logged outputs, true value) for every request of ``model`` that has feedback."""
        return [(v, json.loads(o), json.loads(t)) for _, _, v, o, t in self.joined_since(model)]

    def joined_since(self, model: str, since: float | None = None) -> list[tuple[str, float, int, str, str]]:
        """(prediction record id, feedback time, version, logged outputs, true value) for every request of ``model``
        whose feedback was stored at ``since`` or later (all without it); outputs and value as stored (JSON), to be
        parsed only when used."""
        recent = "" if since is None else " AND f.ts >= ?"
        with self._connect() as conn:
            cur = conn.cursor()
            # a shadow's record is the mirrored request's id + SHADOW_SUFFIX: that request's feedback scores it too
            cur.execute(
                conn.sql(
                    "SELECT p.request_id, f.ts, p.version, p.outputs, f.value FROM assay_predictions p "
                    f"JOIN assay_feedback f ON p.request_id = f.request_id WHERE p.model = ? AND p.shadow = 0{recent} "
                    "UNION ALL "
                    "SELECT p.request_id, f.ts, p.version, p.outputs, f.value FROM assay_feedback f "
                    f"JOIN assay_predictions p ON p.request_id = f.request_id || '{SHADOW_SUFFIX}' "
                    f"WHERE p.model = ? AND p.shadow = 1{recent}"
                ),
                (model, model) if since is None else (model, since, model, since),
            )
            rows = cur.fetchall()
        return [(r, float(ts), int(v), o, t) for r, ts, v, o, t in rows]

    def count(self, model: str | None = None) -> int:
        with self._connect() as conn:
            cur = conn.cursor()
            if model is None:
                cur.execute("SELECT count(*) FROM assay_predictions")
            else:
                cur.execute(conn.sql("SELECT count(*) FROM assay_predictions WHERE model = ?"), (model,))
            return int(cur.fetchone()[0])

    def request_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` have a record (for reconciliation)."""
        found: set[str] = set()
        with self._connect() as conn:
            cur = conn.cursor()
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                marks = ", ".join("?" * len(chunk))
                cur.execute(conn.sql(f"SELECT request_id FROM assay_predictions WHERE request_id IN ({marks})"), chunk)
                found.update(r[0] for r in cur.fetchall())
        return found


def _write(conn: _Closing, records: list[tuple[Any, ...]]) -> None:
    """Insert ``records`` (not committed, unless the connection commits each statement: see commit_here).

    SQLite: multi-row INSERTs of up to 64 records. ``executemany`` steps the statement once per record, and the
    sqlite3 module lets go of the GIL around every step; the writer then waits for it back, once per record, while
    the event loop holds it: one step per chunk makes that one wait.
    """
    cur = conn.cursor()
    if conn.kind != "sqlite":
        cur.executemany(conn.sql(_INSERT), records)
        return
    for at in range(0, len(records), _CHUNK):
        chunk = records[at : at + _CHUNK]
        if len(chunk) == 1:
            cur.execute(_INSERT, chunk[0])
        else:
            cur.execute(_INSERT_ROWS[len(chunk)], [v for r in chunk for v in r])


def _resolve(futures: list[asyncio.Future[bool]], deliveries: list[tuple[asyncio.Future[Any], Any]], ok: bool) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_result(ok)
    for fut, result in deliveries:
        if fut.done():
            continue
        if ok:
            fut.set_result(result)
        else:
            fut.set_exception(LogUnavailable("the prediction log is unavailable; the prediction was not recorded"))


class _Closing:
    """A connection usable as a context manager that closes it, with ``?`` → ``%s`` for PostgreSQL."""

    def __init__(self, conn: Any, kind: str) -> None:
        self.conn = conn
        self.kind = kind

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.kind == "postgresql" else text

    def cursor(self) -> Any:
        return self.conn.cursor()

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection
            self.conn.close()

    def __enter__(self) -> _Closing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
