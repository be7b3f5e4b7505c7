"""Stream sources: Redis Streams, NATS JetStream, MQTT, RabbitMQ (AMQP 0-9-1), raw TCP and UDP lines.

Streams are unbounded, so each source offers two faces:

- the :class:`~assay.sources.Source` protocol (``read``/``scan``/``batches``) reads what is available *now*, up to
  ``?max_messages=`` (default 100,000) or until nothing arrives for ``?idle=`` seconds (default 1), and acknowledges
  nothing — so ``assay profile``/``train`` work on a stream without consuming it;
- :meth:`StreamSource.fetch` / :meth:`StreamSource.ack`, used by ``assay ingest``: fetch a micro-batch, write it
  durably, then ack (at-least-once). Every message carries a stable id (the broker's where it has one) that sinks
  dedupe on, so a replay after a crash stores each message once.

Payloads are JSON objects (one per message, or one per line for TCP/UDP) or CSV lines (``?format=csv&columns=a,b``).
:func:`decode` turns a list of messages into a frame in one vectorised parse; a message that is not valid is returned
with the reason, for the quarantine.

URIs::

    redis://host:6379/STREAM?group=assay&consumer=assay&db=0&field=data
    nats://host:4222/SUBJECT?stream=NAME&durable=assay&ack_wait=30   (unacked messages return after ack_wait s)
    mqtt://host:1883/TOPIC?client_id=assay&qos=1
    amqp://user:pw@host:5672/QUEUE            (amqp://host/VHOST/QUEUE for another vhost)
    tcp://127.0.0.1:9000  udp://127.0.0.1:9001  (assay listens; senders write lines)
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import polars as pl

from assay._deps import import_optional
from assay.exceptions import SourceError, SourceNotFoundError, SpecError, did_you_mean
from assay.sources._base import DEFAULT_BATCH_SIZE, flatten, mask_uri
from assay.sources._credentials import mask_text, masked_logger, resolve_uri

__all__ = [
    "AMQPSource",
    "MQTTSource",
    "Message",
    "NATSSource",
    "RedisStreamSource",
    "StreamSource",
    "TCPSource",
    "UDPSource",
    "decode",
    "flatten",
]

log = masked_logger(__name__)

ID_COLUMN = "_id"


@dataclass(frozen=True, slots=True)
class Message:
    """One message: a stable id (for dedupe) and the raw payload; ``handle`` is what the broker needs to ack it.

    ``redelivered`` is set when the broker says the message may have been handed out before (a replay after a
    crash): only batches holding such messages need the sink's dedupe against what it already stored.
    """

    id: str
    payload: bytes
    handle: Any = None
    redelivered: bool = False


def _content_id(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=12).hexdigest()


def _parse_json(payloads: list[bytes]) -> pl.DataFrame:
    return pl.read_ndjson(io.BytesIO(b"\n".join(payloads)), infer_schema_length=None)


def _check_json(payload: bytes) -> str | None:
    """Why one payload is not a JSON object (``None`` when it is one)."""
    import json

    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        return f"JSON {type(value).__name__} where an object was expected"
    return None


def decode(messages: list[Message], *, fmt: str = "json", columns: list[str] | None = None,
           separator: str = ",") -> tuple[pl.DataFrame, list[tuple[str, str, bytes]]]:
    """Parse ``messages`` into one frame with an ``_id`` column; return it and the bad ``(id, reason, payload)``.

    The whole batch is parsed in one call (Polars' NDJSON/CSV readers); only when that fails is each message checked
    on its own to find and set aside the bad ones.

    >>> good, bad = decode([Message("1", b'{"x": 1}'), Message("2", b"oops"), Message("3", b'{"x": 2}')])
    >>> good["x"].to_list(), [b[0] for b in bad]
    ([1, 2], ['2'])
    """
    if not messages:
        return pl.DataFrame({ID_COLUMN: pl.Series([], dtype=pl.String)}), []
    bad: list[tuple[str, str, bytes]] = []
    good = messages
    if fmt == "json":
        parse = _parse_json
        # a payload spread over lines would break the one-object-per-line parse: re-serialise it compactly
        if any(b"\n" in m.payload for m in messages):
            good = [Message(m.id, m.payload.replace(b"\r", b" ").replace(b"\n", b" "), m.handle, m.redelivered)
                    for m in messages]
    elif fmt == "csv":
        if not columns:
            msg = "CSV lines need their column names: add ?columns=a,b,c to the stream URI"
            raise SpecError(msg)
        names = columns
        good, bad = _split_ragged(messages, columns, separator)

        def parse(payloads: list[bytes]) -> pl.DataFrame:
            return pl.read_csv(io.BytesIO(b"\n".join(payloads)), has_header=False, new_columns=names,
                               separator=separator, infer_schema_length=None)
    else:
        msg = f"unknown stream format {fmt!r}; use ?format=json or ?format=csv"
        raise SpecError(msg)
    if not good:
        return pl.DataFrame({ID_COLUMN: pl.Series([], dtype=pl.String)}), bad
    try:
        frame = parse([m.payload for m in good])
        if frame.height != len(good):
            raise ValueError("row count mismatch")  # e.g. an empty payload line: find it below
    except Exception:
        kept = []
        for m in good:
            reason = _check_json(m.payload) if fmt == "json" else _check_csv(m.payload, columns or [], separator)
            if reason is None:
                try:
                    parse([m.payload])
                except Exception as exc:  # valid on its own terms but not parseable with its batch
                    reason = f"cannot be read: {str(exc).splitlines()[0][:200]}"
            if reason is None:
                kept.append(m)
            else:
                bad.append((m.id, reason, m.payload))
        good = kept
        if not good:
            return pl.DataFrame({ID_COLUMN: pl.Series([], dtype=pl.String)}), bad
        try:
            frame = parse([m.payload for m in good])
        except Exception:
            # the good messages disagree on a field's type (object here, list there): keep each as its own frame
            frames = [parse([m.payload]) for m in good]
            frame = pl.concat([flatten(f) for f in frames], how="diagonal_relaxed")
    frame = flatten(frame)
    ids = pl.Series(ID_COLUMN, [m.id for m in good], dtype=pl.String)
    if ID_COLUMN in frame.columns:  # the payload's own "_id" is kept under another name; "_id" is the message id
        frame = frame.rename({ID_COLUMN: f"{ID_COLUMN}_payload"})
    return frame.with_columns(ids), bad


def _split_ragged(messages: list[Message], columns: list[str], separator: str,
                  ) -> tuple[list[Message], list[tuple[str, str, bytes]]]:
    """Set aside CSV lines with the wrong number of fields (Polars would pad a short line with nulls).

    Lines without quotes are counted in one vectorised pass; only quoted lines go through the csv module.
    """
    lines = pl.Series([m.payload for m in messages], dtype=pl.Binary).cast(pl.String, strict=False)
    fields = lines.str.count_matches(separator, literal=True) + 1
    quoted = lines.str.contains('"', literal=True).fill_null(False)
    suspect = (lines.is_null() | quoted | (fields != len(columns))).to_list()
    good: list[Message] = []
    bad: list[tuple[str, str, bytes]] = []
    for m, check in zip(messages, suspect, strict=True):
        reason = _check_csv(m.payload, columns, separator) if check else None
        if reason is None:
            good.append(m)
        else:
            bad.append((m.id, reason, m.payload))
    return good, bad


def _check_csv(payload: bytes, columns: list[str], separator: str) -> str | None:
    try:
        row = next(csv.reader([payload.decode("utf-8")], delimiter=separator))
    except (UnicodeDecodeError, csv.Error, StopIteration) as exc:
        return f"not a CSV line: {exc}"
    if len(row) != len(columns):
        return f"CSV line has {len(row)} fields, expected {len(columns)} ({', '.join(columns)})"
    return None


def _seconds(text: str | float | None, default: float) -> float:
    if text is None or text == "":
        return default
    if isinstance(text, (int, float)):
        return float(text)
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)


class StreamSource:
    """What every stream source shares: options, the Source protocol over a snapshot, decoding, fingerprint."""

    kind = "stream"
    #: options every stream source reads (``?name=value`` in the URI or keyword arguments); each broker adds its own
    COMMON_OPTIONS: tuple[str, ...] = ("format", "columns", "separator", "max_messages", "idle", "id_field")
    OPTIONS: tuple[str, ...] = ()

    def __init__(self, uri: str, **options: Any) -> None:
        self.uri = uri
        parts = urlsplit(uri)
        self.options: dict[str, str] = {**dict(parse_qsl(parts.query)), **{k: str(v) for k, v in options.items()}}
        known = (*self.COMMON_OPTIONS, *self.OPTIONS)
        for key in self.options:  # a misspelt option would otherwise be ignored without a word
            if key not in known:
                msg = (f"unknown option {key!r} for {mask_uri(uri)}{did_you_mean(key, known)}; known: "
                       f"{', '.join(known)}")
                raise SpecError(msg)
        self.format = self.options.get("format", "json")
        cols = self.options.get("columns", "")
        self.columns = [c.strip() for c in cols.split(",") if c.strip()] or None
        self.separator = self.options.get("separator", ",")
        self.max_messages = int(self.options.get("max_messages", DEFAULT_BATCH_SIZE))
        self.idle = _seconds(self.options.get("idle"), 1.0)
        self.id_field = self.options.get("id_field") or None

    # -- to be provided by each broker -------------------------------------------------------------------------
    def fetch(self, max_count: int, timeout: float) -> list[Message]:
        """Up to ``max_count`` messages, waiting at most ``timeout`` seconds for the first; [] when none came."""
        raise NotImplementedError

    def ack(self, messages: list[Message]) -> None:
        """Acknowledge ``messages`` (call only after they are durably written)."""

    def lag(self) -> int | None:
        """Messages waiting in the broker for this consumer, when the broker says."""
        return None

    def close(self) -> None:
        """Release connections; unacked messages are redelivered later."""

    def _peek(self, limit: int) -> list[Message]:
        """Messages available now without consuming them (default: fetch and do not ack)."""
        out: list[Message] = []
        try:
            while len(out) < limit:
                got = self.fetch(min(limit - len(out), 10_000), self.idle)
                if not got:
                    break
                out += got
        finally:
            self.close()
        return out

    # -- the Source protocol ------------------------------------------------------------------------------------
    def decode(self, messages: list[Message]) -> tuple[pl.DataFrame, list[tuple[str, str, bytes]]]:
        frame, bad = decode(messages, fmt=self.format, columns=self.columns, separator=self.separator)
        if self.id_field and self.id_field in frame.columns:
            frame = frame.with_columns(pl.col(self.id_field).cast(pl.String).alias(ID_COLUMN))
        return frame, bad

    #: said when a read finds nothing: why a stream can look empty
    EMPTY_HINT = ""

    def read(self) -> pl.DataFrame:
        messages = self._peek(self.max_messages)
        if not messages:
            log.warning("no message came from %s within %gs (?idle= waits longer)%s", mask_uri(self.uri), self.idle,
                        self.EMPTY_HINT)
        frame, bad = self.decode(messages)
        if bad:
            log.warning("%d malformed message(s) in %s skipped while reading, e.g. %s", len(bad), mask_uri(self.uri),
                        bad[0][1])
        return frame

    def scan(self) -> pl.LazyFrame:
        return self.read().lazy()

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[pl.DataFrame]:
        yield from self.read().iter_slices(batch_size)

    def fingerprint(self) -> str:
        frame = self.read()
        ids = frame[ID_COLUMN] if ID_COLUMN in frame.columns else pl.Series([], dtype=pl.String)
        key = f"{mask_uri(self.uri)}|{frame.height}|{ids.head(1).to_list()}|{ids.tail(1).to_list()}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def messages(self, batch_size: int = 10_000, batch_seconds: float = 1.0) -> Iterator[list[Message]]:
        """Micro-batches forever: up to ``batch_size`` messages or ``batch_seconds`` of waiting, whichever first.

        The caller acks each batch (``ack``) once it is durably handled.
        """
        while True:
            yield self.fetch_batch(batch_size, batch_seconds)

    def fetch_batch(self, batch_size: int, batch_seconds: float) -> list[Message]:
        """One micro-batch: keep fetching until ``batch_size`` messages or ``batch_seconds`` have passed."""
        deadline = time.monotonic() + batch_seconds
        out: list[Message] = []
        while len(out) < batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            got = self.fetch(batch_size - len(out), left)
            out += got
        return out

    def _error(self, what: str, exc: BaseException, fix: str) -> SourceError:
        text = mask_text(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        return SourceError(f"{what} {mask_uri(self.uri)}: {text}; {fix}")


def _path_parts(uri: str) -> list[str]:
    return [unquote(p) for p in urlsplit(uri).path.split("/") if p]


# -- Redis Streams ---------------------------------------------------------------------------------------------------


class RedisStreamSource(StreamSource):
    """A Redis stream read through a consumer group (XREADGROUP), acked with XACK.

    On start the consumer first re-reads its own pending entries (delivered before a crash but never acked), so a
    restart with the same ``consumer`` name replays exactly the unacknowledged messages.
    """

    OPTIONS = ("group", "consumer", "field", "db", "start")

    def __init__(self, uri: str, **options: Any) -> None:
        super().__init__(uri, **options)
        parts = _path_parts(uri)
        if not parts:
            msg = f"{mask_uri(uri)} names no stream; use redis://host:6379/STREAM"
            raise SpecError(msg)
        self.stream = "/".join(parts)
        self.group = self.options.get("group", "assay")
        self.consumer = self.options.get("consumer", "assay")
        self.field = self.options.get("field") or None
        self._client: Any = None
        self._pending_done = False
        self._pending_cursor = "0"

    def client(self) -> Any:
        if self._client is None:
            redis = import_optional("redis", "streams")
            parts = urlsplit(resolve_uri(self.uri))
            from redis.backoff import ExponentialWithJitterBackoff
            from redis.retry import Retry

            self._client = redis.Redis(
                host=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=int(self.options.get("db", 0)),
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                socket_connect_timeout=5, socket_timeout=30,
                # a few quick retries ride out a blip; a server that is down is reported within a second
                retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 3))
            try:
                self._client.ping()
            except Exception as exc:
                self._client = None
                kind = "wrong password for" if "auth" in str(exc).lower() else "cannot connect to"
                raise self._error(kind, exc, "check host, port and password, and that Redis is running") from None
        return self._client

    def _ensure_group(self) -> None:
        r = self.client()
        try:
            r.xgroup_create(self.stream, self.group, id=self.options.get("start", "0"), mkstream=True)
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise self._error("cannot create consumer group on", exc, "check the stream name") from None

    def _payload(self, fields: dict[bytes, bytes]) -> bytes:
        if self.field:
            return fields.get(self.field.encode(), b"")
        if len(fields) == 1:
            return next(iter(fields.values()))  # one field ("data", "json", …) holds the message
        import json

        return json.dumps({k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}).encode()

    def fetch(self, max_count: int, timeout: float) -> list[Message]:
        r = self.client()
        if not self._pending_done:
            self._ensure_group()
            # this consumer's pending entries, after the last one already handed out in this run
            got = r.xreadgroup(self.group, self.consumer, {self.stream: self._pending_cursor}, count=max_count)
            entries = got[0][1] if got else []
            if entries:
                self._pending_cursor = entries[-1][0].decode()
                live = [(i, f) for i, f in entries if f]  # entries deleted since delivery come back empty
                return [Message(i.decode(), self._payload(f), None, True) for i, f in live]
            self._pending_done = True
        block = max(1, int(timeout * 1000))
        try:
            got = r.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=max_count, block=block)
        except Exception as exc:
            if "NOGROUP" in str(exc):
                self._pending_done, self._pending_cursor = False, "0"
                return []
            raise self._error("cannot read from", exc, "check that Redis is running") from None
        if not got:
            return []
        return [Message(i.decode(), self._payload(f)) for i, f in got[0][1]]

    def ack(self, messages: list[Message]) -> None:
        if not messages:
            return
        r = self.client()
        ids = [m.id for m in messages]
        pipe = r.pipeline(transaction=False)
        for i in range(0, len(ids), 10_000):
            pipe.xack(self.stream, self.group, *ids[i : i + 10_000])
        pipe.execute()

    def lag(self) -> int | None:
        try:
            for info in self.client().xinfo_groups(self.stream):
                if info.get("name") in (self.group, self.group.encode()):
                    lag = info.get("lag")
                    return int(lag) if lag is not None else None
        except Exception:
            return None
        return None

    def _peek(self, limit: int) -> list[Message]:
        r = self.client()
        if not r.exists(self.stream):
            msg = f"Redis stream {self.stream!r} does not exist at {mask_uri(self.uri)}; check the name"
            raise SourceNotFoundError(msg)
        entries = r.xrange(self.stream, count=limit)  # reads without touching any consumer group
        return [Message(i.decode(), self._payload(f)) for i, f in entries]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


# -- NATS JetStream --------------------------------------------------------------------------------------------------


class _LoopThread:
    """An asyncio loop in a daemon thread, so the synchronous fetch/ack API can drive nats-py's async client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="assay-nats")
        self.thread.start()

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class NATSSource(StreamSource):
    """A NATS JetStream subject read by a durable pull consumer; each message acked after its batch is written."""

    OPTIONS = ("stream", "durable", "ack_wait")

    def __init__(self, uri: str, **options: Any) -> None:
        super().__init__(uri, **options)
        parts = _path_parts(uri)
        if not parts:
            msg = f"{mask_uri(uri)} names no subject; use nats://host:4222/SUBJECT"
            raise SpecError(msg)
        self.subject = ".".join(parts)
        self.stream = self.options.get("stream") or None
        self.durable = self.options.get("durable", "assay")
        self._loop: _LoopThread | None = None
        self._nc: Any = None
        self._sub: Any = None

    def _connect(self) -> None:
        if self._nc is not None:
            return
        nats = import_optional("nats", "streams")
        parts = urlsplit(resolve_uri(self.uri))
        server = f"nats://{parts.hostname or '127.0.0.1'}:{parts.port or 4222}"
        self._loop = _LoopThread()
        kwargs: dict[str, Any] = {"servers": [server], "connect_timeout": 5, "max_reconnect_attempts": 1,
                                  "reconnect_time_wait": 0.2, "allow_reconnect": False}
        if parts.username:
            kwargs["user"] = unquote(parts.username)
            kwargs["password"] = unquote(parts.password or "")

        async def go() -> Any:
            async def quiet(_exc: Exception) -> None:  # errors surface through the calls below
                return None

            return await nats.connect(**kwargs, error_cb=quiet)

        try:
            self._nc = self._loop.run(go(), timeout=15)
        except Exception as exc:
            self._loop.stop()
            self._loop = None
            raise self._error("cannot connect to", exc, "check host and port, and that NATS runs with -js") from None

    async def _stream_name(self, js: Any) -> str:
        if self.stream:
            return self.stream
        from nats.js.errors import NotFoundError

        try:
            return await js.find_stream_name_by_subject(self.subject)
        except NotFoundError:
            msg = (f"no JetStream stream holds subject {self.subject!r} at {mask_uri(self.uri)}; create one "
                   f"(nats stream add --subjects '{self.subject}') or name it with ?stream=")
            raise SourceNotFoundError(msg) from None

    def _subscribe(self, durable: str | None, ack: bool) -> Any:
        self._connect()
        from nats.js.api import AckPolicy, ConsumerConfig

        async def go() -> Any:
            js = self._nc.jetstream()
            stream = await self._stream_name(js)
            self.stream = stream
            config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT if ack else AckPolicy.NONE,
                                    max_ack_pending=-1, ack_wait=float(self.options.get("ack_wait", 30)))
            return await js.pull_subscribe(self.subject, durable=durable, stream=stream, config=config)

        assert self._loop is not None
        return self._loop.run(go())

    def _batch(self, sub: Any, max_count: int, timeout: float) -> list[Message]:
        import nats.errors

        async def go() -> list[Any]:
            try:
                return await sub.fetch(max_count, timeout=max(timeout, 0.05))
            except (nats.errors.TimeoutError, TimeoutError):  # nothing arrived within the timeout
                return []

        assert self._loop is not None
        msgs = self._loop.run(go(), timeout=timeout + 30)
        return [Message(f"{self.stream}:{m.metadata.sequence.stream}", m.data, m, m.metadata.num_delivered > 1)
                for m in msgs]

    def fetch(self, max_count: int, timeout: float) -> list[Message]:
        if self._sub is None:
            self._sub = self._subscribe(self.durable, ack=True)
        return self._batch(self._sub, max_count, timeout)

    def ack(self, messages: list[Message]) -> None:
        if not messages or self._loop is None:
            return

        async def go() -> None:
            for m in messages:
                await m.handle.ack()
            await self._nc.flush()

        self._loop.run(go(), timeout=60)

    def lag(self) -> int | None:
        if self._sub is None or self._loop is None:
            return None
        try:
            return int(self._loop.run(self._sub.consumer_info(), timeout=5).num_pending)
        except Exception:
            return None

    def _peek(self, limit: int) -> list[Message]:
        try:
            sub = self._subscribe(None, ack=False)  # an ephemeral consumer: the durable one is not touched
            out: list[Message] = []
            while len(out) < limit:
                got = self._batch(sub, min(limit - len(out), 10_000), self.idle)
                if not got:
                    break
                out += got
            return out
        finally:
            self.close()

    def close(self) -> None:
        if self._nc is not None and self._loop is not None:
            try:
                self._loop.run(self._nc.close(), timeout=10)
            except Exception:
                log.debug("closing NATS connection to %s failed", mask_uri(self.uri))
        if self._loop is not None:
            self._loop.stop()
        self._nc = self._sub = self._loop = None


# -- MQTT ------------------------------------------------------------------------------------------------------------


class MQTTSource(StreamSource):
    """An MQTT topic at QoS 1 in a persistent session (``clean_session=False``), acked manually after each batch.

    MQTT gives no stable message id, so the dedupe id is the ``?id_field=`` of the payload when given, else a hash
    of topic and payload (identical payloads then count once).
    """

    OPTIONS = ("client_id", "qos")
    EMPTY_HINT = "; a subscriber gets only the topic's retained message and those published while it listens"

    def __init__(self, uri: str, **options: Any) -> None:
        super().__init__(uri, **options)
        parts = _path_parts(uri)
        if not parts:
            msg = f"{mask_uri(uri)} names no topic; use mqtt://host:1883/TOPIC"
            raise SpecError(msg)
        self.topic = "/".join(parts)
        self.client_id = self.options.get("client_id", "assay")
        self.qos = int(self.options.get("qos", 1))
        self._client: Any = None
        self._queue: queue.Queue[Any] = queue.Queue()

    def _connect(self, client_id: str, clean: bool) -> None:
        mqtt = import_optional("paho.mqtt.client", "streams")
        parts = urlsplit(resolve_uri(self.uri))
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                             manual_ack=True)
        if parts.username:
            client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        subscribed = threading.Event()
        client.on_message = lambda _c, _u, msg: self._queue.put(msg)
        client.on_subscribe = lambda *_a: subscribed.set()

        def on_connect(c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
            if not reason.is_failure:
                c.subscribe(self.topic, qos=self.qos)

        client.on_connect = on_connect
        try:
            client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, keepalive=30)
        except Exception as exc:
            raise self._error("cannot connect to", exc, "check host and port, and that the MQTT broker runs") from None
        client.loop_start()
        if not subscribed.wait(10):
            client.loop_stop()
            client.disconnect()
            msg = f"MQTT broker at {mask_uri(self.uri)} did not confirm the subscription to {self.topic!r} in 10 s"
            raise SourceError(msg)
        self._client = client

    def fetch(self, max_count: int, timeout: float) -> list[Message]:
        if self._client is None:
            self._connect(self.client_id, clean=False)
        out: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(out) < max_count:
            try:
                wait = deadline - time.monotonic() if not out else 0.0
                msg = self._queue.get(timeout=max(wait, 0.0)) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            out.append(Message(_content_id(msg.topic.encode() + b"\0" + msg.payload), msg.payload, msg, bool(msg.dup)))
        return out

    def ack(self, messages: list[Message]) -> None:
        if self._client is None:
            return
        for m in messages:
            if m.handle.qos > 0:
                self._client.ack(m.handle.mid, m.handle.qos)

    def lag(self) -> int | None:
        return self._queue.qsize()

    def _peek(self, limit: int) -> list[Message]:
        # MQTT keeps no history: a snapshot is what arrives (on a throwaway session) before the stream is idle.
        self._connect(f"{self.client_id}-peek-{time.time_ns()}", clean=True)
        try:
            out: list[Message] = []
            while len(out) < limit:
                got = self.fetch(limit - len(out), self.idle)
                if not got:
                    break
                out += got
            return out
        finally:
            self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None


# -- RabbitMQ (AMQP 0-9-1) -----------------------------------------------------------------------------------------


class AMQPSource(StreamSource):
    """A RabbitMQ queue consumed with manual acks (one multiple-ack per batch); the queue is declared durable."""

    OPTIONS = ("prefetch",)

    def __init__(self, uri: str, **options: Any) -> None:
        super().__init__(uri, **options)
        parts = _path_parts(uri)
        if not parts:
            msg = f"{mask_uri(uri)} names no queue; use amqp://user:pw@host:5672/QUEUE"
            raise SpecError(msg)
        self.vhost = parts[0] if len(parts) > 1 else "/"
        self.queue = parts[-1]
        self._conn: Any = None
        self._ch: Any = None

    def _channel(self) -> Any:
        if self._ch is None:
            pika = import_optional("pika", "streams")
            parts = urlsplit(resolve_uri(self.uri))
            creds = pika.PlainCredentials(unquote(parts.username or "guest"), unquote(parts.password or "guest"))
            params = pika.ConnectionParameters(host=parts.hostname or "127.0.0.1", port=parts.port or 5672,
                                               virtual_host=self.vhost, credentials=creds, connection_attempts=1,
                                               socket_timeout=5, blocked_connection_timeout=30)
            try:
                self._conn = pika.BlockingConnection(params)
            except Exception as exc:
                text = repr(exc)
                refused = "ACCESS_REFUSED" in text or "Auth" in text
                kind = "wrong user or password for" if refused else "cannot connect to"
                raise self._error(kind, exc or Exception(text), "check host, port, user and password") from None
            self._ch = self._conn.channel()
            self._ch.queue_declare(self.queue, durable=True)
            self._ch.basic_qos(prefetch_count=int(self.options.get("prefetch", 20_000)))
        return self._ch

    def fetch(self, max_count: int, timeout: float) -> list[Message]:
        ch = self._channel()
        out: list[Message] = []
        deadline = time.monotonic() + timeout
        for method, props, body in ch.consume(self.queue, auto_ack=False, inactivity_timeout=max(timeout, 0.01)):
            if method is None:
                break
            mid = props.message_id or _content_id(body)
            out.append(Message(str(mid), body, method.delivery_tag, bool(method.redelivered)))
            if len(out) >= max_count or time.monotonic() >= deadline:
                break
        return out

    def ack(self, messages: list[Message]) -> None:
        if messages and self._ch is not None:
            self._ch.basic_ack(delivery_tag=max(m.handle for m in messages), multiple=True)

    def lag(self) -> int | None:
        try:
            return int(self._channel().queue_declare(self.queue, durable=True, passive=True).method.message_count)
        except Exception:
            return None

    def close(self) -> None:
        if self._conn is not None:
            try:
                if self._ch is not None and self._ch.is_open:
                    self._ch.cancel()  # unacked messages go back to the queue
                self._conn.close()
            except Exception:
                log.debug("closing AMQP connection to %s failed", mask_uri(self.uri))
        self._conn = self._ch = None


# -- raw TCP and UDP -----------------------------------------------------------------------------------------------


class _LineListener(StreamSource):
    """Listen on a local port; every line a sender writes is one message. There is no broker and nothing to ack."""

    OPTIONS = ("buffer",)
    EMPTY_HINT = "; assay listens on the port and gets only the lines sent while it listens"

    def __init__(self, uri: str, **options: Any) -> None:
        super().__init__(uri, **options)
        parts = urlsplit(uri)
        self.host = parts.hostname or "127.0.0.1"
        if parts.port is None:
            msg = f"{mask_uri(uri)} needs a port, e.g. {parts.scheme}://127.0.0.1:9000"
            raise SpecError(msg)
        self.port = parts.port
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=int(self.options.get("buffer", 1_000_000)))
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._seq = 0
        self.bound_port: int | None = None

    def _serve(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def start(self) -> int:
        """Bind and start listening (idempotent); returns the port (useful with port 0)."""
        if self._sock is None:
            kind = socket.SOCK_STREAM if self.kind == "tcp" else socket.SOCK_DGRAM
            sock = socket.socket(socket.AF_INET, kind)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.port))
            except OSError as exc:
                sock.close()
                raise self._error("cannot listen on", exc, "choose a free port") from None
            if self.kind == "tcp":
                sock.listen(16)
            sock.settimeout(0.2)
            self._sock = sock
            self.bound_port = sock.getsockname()[1]
            threading.Thread(target=self._serve, args=(sock,), daemon=True, name=f"assay-{self.kind}").start()
        assert self.bound_port is not None
        return self.bound_port

    def _put_lines(self, data: bytes) -> None:
        for line in data.splitlines():
            if line.strip():
                self._queue.put(line)

    def fetch(self, max_count: int, timeout: float) -> list[Message]:
        self.start()
        out: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(out) < max_count:
            try:
                wait = deadline - time.monotonic() if not out else 0.0
                line = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            self._seq += 1
            out.append(Message(_content_id(line), line))
        return out

    def lag(self) -> int | None:
        return self._queue.qsize()

    def _peek(self, limit: int) -> list[Message]:
        out: list[Message] = []
        while len(out) < limit:
            got = self.fetch(limit - len(out), self.idle)
            if not got:
                break
            out += got
        return out

    def close(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class TCPSource(_LineListener):
    """``tcp://HOST:PORT``: accept connections and read newline-delimited JSON or CSV lines from each."""

    kind = "tcp"

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                if self._stop.is_set() or sock.fileno() < 0:
                    return
                continue
            threading.Thread(target=self._read_conn, args=(conn,), daemon=True).start()

    def _read_conn(self, conn: socket.socket) -> None:
        conn.settimeout(0.5)
        tail = b""
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(1 << 16)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                data = tail + data
                cut = data.rfind(b"\n")
                if cut < 0:
                    tail = data
                    continue
                self._put_lines(data[:cut])
                tail = data[cut + 1 :]
        if tail.strip():
            self._put_lines(tail)


class UDPSource(_LineListener):
    """``udp://HOST:PORT``: each datagram holds one or more JSON or CSV lines."""

    kind = "udp"

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data, _ = sock.recvfrom(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return
            self._put_lines(data)
