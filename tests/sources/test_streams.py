"""Stream sources against the machine's real brokers, and the decoding every stream shares."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from assay.exceptions import SourceError, SpecError
from assay.sources import Source, open_source
from assay.sources._ingest import ingest
from assay.sources._sinks import ParquetSink, Quarantine, open_sink
from assay.sources._streams import Message, RedisStreamSource, decode
from assay.testing import check_source

pytestmark = pytest.mark.services


# -- decoding (no server) ---------------------------------------------------------------------------------------------


def test_decode_parses_a_batch_and_sets_bad_messages_aside() -> None:
    msgs = [Message(str(i), json.dumps({"x": i, "geo": {"lat": i / 2, "lon": -i}}).encode()) for i in range(5)]
    msgs.insert(2, Message("bad-1", b"<html>oops</html>"))
    msgs.insert(4, Message("bad-2", b"[1, 2, 3]"))
    msgs.append(Message("pretty", b'{\n  "x": 99,\n  "geo": {"lat": 1.5, "lon": 2}\n}'))
    frame, bad = decode(msgs)
    assert frame["x"].to_list() == [0, 1, 2, 3, 4, 99]
    assert frame.columns == ["x", "geo.lat", "geo.lon", "_id"]  # nested objects flattened to columns
    assert frame["_id"].to_list() == ["0", "1", "2", "3", "4", "pretty"]
    assert [(b[0], b[1].split(":")[0]) for b in bad] == [("bad-1", "not valid JSON"),
                                                         ("bad-2", "JSON list where an object was expected")]


def test_decode_csv_lines_checks_field_counts() -> None:
    msgs = [Message("a", b"1,Lyon,2.5"), Message("b", b"2,Oslo"), Message("c", b'3,"Kyiv, UA",1e3')]
    frame, bad = decode(msgs, fmt="csv", columns=["id", "city", "v"])
    assert frame.select("id", "city", "v").rows() == [(1, "Lyon", 2.5), (3, "Kyiv, UA", 1000.0)]
    assert bad[0][0] == "b"
    assert "2 fields, expected 3" in bad[0][1]
    with pytest.raises(SpecError, match=r"\?columns="):
        decode(msgs, fmt="csv")


# -- Redis Streams --------------------------------------------------------------------------------------------------


@pytest.fixture
def redis_stream(service: Callable[[str], tuple[str, int]]) -> Iterator[tuple[str, Callable[..., None]]]:
    """A unique stream name and a function that appends JSON (or raw) messages; deleted afterwards."""
    import redis

    host, port = service("redis")
    client = redis.Redis(host=host, port=port)
    name = f"assay-test-{uuid.uuid4().hex[:10]}"

    def add(rows: list[dict] | None = None, raw: list[bytes] | None = None) -> None:
        pipe = client.pipeline(transaction=False)
        for row in rows or []:
            pipe.xadd(name, {"data": json.dumps(row)})
        for payload in raw or []:
            pipe.xadd(name, {"data": payload})
        pipe.execute()

    yield f"redis://{host}:{port}/{name}", add
    client.delete(name)
    client.close()


def _rows(n: int, start: int = 0) -> list[dict]:
    return [{"i": i, "amount": round(i * 0.75, 2), "kind": "ab"[i % 2], "meta": {"shop": i % 5}}
            for i in range(start, start + n)]


def test_redis_read_is_a_snapshot_that_consumes_nothing(redis_stream: tuple[str, Callable[..., None]]) -> None:
    uri, add = redis_stream
    add(_rows(300))
    source = open_source(uri)
    assert isinstance(source, Source)
    frame = check_source(source, batch_sizes=(128, 1000))
    assert frame.height == 300
    assert frame.columns == ["i", "amount", "kind", "meta.shop", "_id"]
    assert open_source(uri).scan().select("amount").sum().collect().item() == pytest.approx(sum(
        r["amount"] for r in _rows(300)))
    assert [b.height for b in source.batches(128)] == [128, 128, 44]
    assert source.fingerprint() == open_source(uri).fingerprint()
    # a consumer group still sees every message: read() consumed nothing
    consumer = RedisStreamSource(uri + "?group=g1")
    got = consumer.fetch_batch(1000, 0.5)
    assert len(got) == 300
    consumer.close()


def test_redis_ingest_to_parquet_quarantines_bad_messages(redis_stream: tuple[str, Callable[..., None]],
                                                         tmp_path: Path) -> None:
    uri, add = redis_stream
    add(_rows(1000))
    add(raw=[b"not json at all", b'{"i": 5, "amount": '])
    add(_rows(500, start=1000))
    sink = ParquetSink(tmp_path / "out")
    quarantine = Quarantine(tmp_path / "dead.ndjson", source=uri)
    stats = ingest(open_source(uri), sink, quarantine=quarantine, batch_size=300, batch_seconds=0.2, idle=0.5)
    assert stats.messages == 1502
    assert stats.written == 1500
    assert stats.quarantined == 2
    data = pl.read_parquet(tmp_path / "out" / "*.parquet")
    assert sorted(data["i"].to_list()) == list(range(1500))
    dead = [json.loads(line) for line in (tmp_path / "dead.ndjson").read_text().splitlines()]
    assert [d["payload"] for d in dead] == ["not json at all", '{"i": 5, "amount": ']
    assert all(d["reason"].startswith("not valid JSON") for d in dead)
    assert open_source(uri + "?group=assay").lag() == 0  # everything acknowledged


def test_redis_unacked_batch_is_replayed_and_stored_once(redis_stream: tuple[str, Callable[..., None]],
                                                         tmp_path: Path) -> None:
    uri, add = redis_stream
    add(_rows(700))
    out = tmp_path / "out"
    # a consumer that writes a batch and "crashes" before acking it
    first = RedisStreamSource(uri)
    batch = first.fetch_batch(400, 0.5)
    frame, _ = first.decode(batch)
    assert ParquetSink(out).write(frame) == 400
    first.close()
    # the restarted consumer gets the 400 pending messages again, then the rest; the sink skips the replayed ids
    stats = ingest(RedisStreamSource(uri), ParquetSink(out), quarantine=Quarantine(tmp_path / "q.ndjson"),
                   batch_size=250, batch_seconds=0.2, idle=0.5)
    assert stats.messages == 700
    assert stats.duplicates == 400
    data = pl.read_parquet(out / "*.parquet")
    assert data.height == 700
    assert data["_id"].n_unique() == 700


def test_redis_stream_into_postgresql_table_is_idempotent(redis_stream: tuple[str, Callable[..., None]],
                                                          service: Callable[[str], tuple[str, int]],
                                                          tmp_path: Path) -> None:
    host, port = service("postgresql")
    uri, add = redis_stream
    add(_rows(600))
    table = f"ingest_{uuid.uuid4().hex[:8]}"
    target = f"postgresql://root@{host}:{port}/test?table={table}"
    try:
        first = RedisStreamSource(uri)
        frame, _ = first.decode(first.fetch_batch(200, 0.5))
        sink = open_sink(target)
        sink.write(frame)  # written, never acked: replayed below
        sink.close()
        first.close()
        stats = ingest(RedisStreamSource(uri), open_sink(target), batch_size=250, batch_seconds=0.2, idle=0.5)
        assert stats.messages == 600
        stored = open_source(target).read()
        assert stored.height == 600
        assert sorted(stored["i"].to_list()) == list(range(600))
    finally:
        import psycopg

        with psycopg.connect(f"host={host} port={port} user=root dbname=test", autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def test_redis_errors_are_one_line_and_masked(service: Callable[[str], tuple[str, int]]) -> None:
    host, port = service("redis")
    with pytest.raises(SourceError) as info:
        RedisStreamSource("redis://user:topsecret9@127.0.0.1:1/s").fetch(1, 0.1)
    assert "topsecret9" not in str(info.value)
    assert "redis://user:***@127.0.0.1:1/s" in str(info.value)
    with pytest.raises(SourceError, match="does not exist"):
        open_source(f"redis://{host}:{port}/no-such-stream-{uuid.uuid4().hex}").read()
    with pytest.raises(SpecError, match="names no stream"):
        open_source(f"redis://{host}:{port}/")


def test_parquet_dataset_reads_back_as_one_table_when_batches_drift(tmp_path: Path) -> None:
    from assay.sources._sinks import scan_dataset

    batches = [
        [{"id": 1, "price": 3, "note": None}, {"id": 2, "price": 4, "note": None}],  # price integral, note all-null
        [{"id": 3, "price": 2.5, "note": "late"}],  # price fractional now, note has a type
        [{"id": 4, "extra": True}],  # price and note absent, a new column
    ]
    for k, rows in enumerate(batches):
        frame, _ = decode([Message(f"{k}-{i}", json.dumps(r).encode()) for i, r in enumerate(rows)])
        ParquetSink(tmp_path / "ds").write(frame)  # a new sink per batch: as after restarts
    data = scan_dataset(tmp_path / "ds").collect().sort("id")
    assert data["price"].to_list() == [3.0, 4.0, 2.5, None]
    assert data["note"].to_list() == [None, None, "late", None]
    assert data["extra"].to_list() == [None, None, None, True]


def test_parquet_dataset_with_text_where_numbers_were_reads_every_value_as_text(tmp_path: Path) -> None:
    """A batch whose field held text ("n/a") where earlier batches held numbers is written as it came; the dataset
    and ``open_source`` on its directory read the column as text with every value, in file order."""
    batches = [[{"id": 1, "v": 1.5}, {"id": 2, "v": 2.0}], [{"id": 3, "v": "n/a"}], [{"id": 4, "v": 4}]]
    for k, rows in enumerate(batches):
        frame, _ = decode([Message(f"{k}-{i}", json.dumps(r).encode()) for i, r in enumerate(rows)])
        ParquetSink(tmp_path / "ds").write(frame)
    (tmp_path / "ds" / "_SUCCESS").write_text("")  # not data
    from assay.sources._sinks import scan_dataset

    for data in (scan_dataset(tmp_path / "ds").collect(), open_source(str(tmp_path / "ds")).read()):
        assert data.schema["v"] == pl.String
        assert data["id"].to_list() == [1, 2, 3, 4]
        assert data["v"].to_list() == ["1.5", "2.0", "n/a", "4"]


def test_redis_ingest_with_a_model_quarantines_rows_the_model_refuses(redis_stream: tuple[str, Callable[..., None]],
                                                                      tmp_path: Path) -> None:
    """One message whose value the model cannot read goes to the quarantine with the reason; its batch is scored."""
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from assay._fitted import Model

    X = np.arange(20, dtype=float).reshape(-1, 1)
    model = Model([], LinearRegression().fit(X, X[:, 0] * 2), task="regression", target="y",
                  input_schema={"amount": "Float64"}, features=["amount"], feature_fill=[10.0])
    uri, add = redis_stream
    add([{"amount": str(i)} for i in range(40)] + [{"amount": ""}, {"amount": "abc"}, {"amount": "77"}])
    quarantine = Quarantine(tmp_path / "dead.ndjson", source=uri)
    stats = ingest(open_source(uri), ParquetSink(tmp_path / "out"), quarantine=quarantine, model=model,
                   batch_size=1000, batch_seconds=0.2, idle=0.5)
    assert stats.messages == 43
    assert stats.written == 42  # the blank amount is a missing value, scored; 'abc' is set aside
    assert stats.quarantined == 1
    dead = [json.loads(line) for line in (tmp_path / "dead.ndjson").read_text().splitlines()]
    assert json.loads(dead[0]["payload"]) == {"amount": "abc"}
    assert dead[0]["reason"].startswith('model input: column \'amount\': value "abc"')
    scored = pl.read_parquet(tmp_path / "out" / "*.parquet")
    # the kept rows are written as the model read them (numbers), not as the text 'abc' made the batch's column
    assert scored.schema["amount"] == pl.Float64
    assert scored.filter(pl.col("amount") == 77.0)["prediction"].to_list() == [pytest.approx(154.0)]
    assert scored["amount"].null_count() == 1  # the blank one
    assert open_source(uri + "?group=assay").lag() == 0  # everything acknowledged


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("redis://127.0.0.1:6379/orders?stream=x", r"unknown option 'stream' for redis://127\.0\.0\.1:6379/orders"),
        ("nats://127.0.0.1:4222/orders?durabel=a", r"unknown option 'durabel' .*did you mean 'durable'\?"),
        ("mqtt://127.0.0.1:1883/t?qso=1", r"unknown option 'qso' .*did you mean 'qos'\?"),
        ("amqp://guest:guest@127.0.0.1:5672/q?prefech=5", r"unknown option 'prefech' .*did you mean 'prefetch'\?"),
        ("tcp://127.0.0.1:9?max_mesages=5", r"unknown option 'max_mesages' .*did you mean 'max_messages'\?"),
    ],
)
def test_a_misspelt_stream_option_is_an_error_naming_the_known_ones(uri: str, message: str) -> None:
    """Before any connection: an option no stream source reads was ignored without a word."""
    with pytest.raises(SpecError, match=message):
        open_source(uri)
    assert open_source(uri.split("?")[0] + "?idle=0.5").idle == 0.5
