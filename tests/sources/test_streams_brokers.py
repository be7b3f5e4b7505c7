"""NATS JetStream, MQTT, RabbitMQ, TCP and UDP sources against the real brokers (and real local sockets)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from assay.exceptions import SourceError
from assay.sources import open_source
from assay.sources._ingest import ingest
from assay.sources._sinks import ParquetSink, Quarantine
from assay.sources._streams import AMQPSource, MQTTSource, NATSSource, TCPSource, UDPSource

pytestmark = pytest.mark.services


def _payloads(n: int, start: int = 0) -> list[bytes]:
    return [json.dumps({"i": i, "v": i * 2.5, "s": {"k": f"k{i % 4}"}}).encode() for i in range(start, start + n)]


def _run_ingest(source: object, tmp_path: Path, idle: float = 1.0) -> tuple[object, pl.DataFrame, list[dict]]:
    out = tmp_path / "out"
    stats = ingest(source, ParquetSink(out), quarantine=Quarantine(tmp_path / "q.ndjson"), batch_size=100,
                   batch_seconds=0.2, idle=idle)
    data = pl.read_parquet(out / "*.parquet") if list(out.glob("*.parquet")) else pl.DataFrame()
    q = tmp_path / "q.ndjson"
    dead = [json.loads(x) for x in q.read_text().splitlines()] if q.exists() else []
    return stats, data, dead


# -- NATS JetStream -------------------------------------------------------------------------------------------------


@pytest.fixture
def nats_subject(service: Callable[[str], tuple[str, int]]) -> Iterator[tuple[str, Callable[[list[bytes]], None]]]:
    import nats

    host, port = service("nats")
    tag = uuid.uuid4().hex[:10]
    stream, subject = f"ASSAYT_{tag}", f"assayt.{tag}"

    async def with_js(action: Callable[..., object]) -> None:
        nc = await nats.connect(f"nats://{host}:{port}")
        try:
            await action(nc.jetstream())
        finally:
            await nc.close()

    asyncio.run(with_js(lambda js: js.add_stream(name=stream, subjects=[subject])))

    def publish(payloads: list[bytes]) -> None:
        async def go(js: object) -> None:
            for p in payloads:
                await js.publish(subject, p)  # type: ignore[attr-defined]

        asyncio.run(with_js(go))

    yield f"nats://{host}:{port}/{subject}", publish
    asyncio.run(with_js(lambda js: js.delete_stream(stream)))


def test_nats_durable_consumer_acks_and_redelivers(nats_subject: tuple[str, Callable[[list[bytes]], None]],
                                                   tmp_path: Path) -> None:
    uri, publish = nats_subject
    publish([*_payloads(300), b"{broken", b'"a string"'])
    snapshot = open_source(uri).read()  # an ephemeral consumer: the durable one below still gets everything
    assert snapshot.height == 300
    assert "s.k" in snapshot.columns
    stats, data, dead = _run_ingest(open_source(uri + "?ack_wait=1"), tmp_path)
    assert stats.written == 300
    assert sorted(data["i"].to_list()) == list(range(300))
    assert len(dead) == 2
    # a consumer that takes 40 messages and dies without acking: JetStream redelivers them after ack_wait
    publish(_payloads(60, start=300))
    crashed = NATSSource(uri + "?ack_wait=1")
    taken = crashed.fetch_batch(40, 1.0)
    assert len(taken) == 40
    ParquetSink(tmp_path / "out").write(crashed.decode(taken)[0])
    crashed.close()
    stats, data, _ = _run_ingest(NATSSource(uri + "?ack_wait=1"), tmp_path, idle=2.5)
    assert data.height == 360
    assert data["_id"].n_unique() == 360


def test_nats_missing_stream_and_unreachable_server(service: Callable[[str], tuple[str, int]]) -> None:
    host, port = service("nats")
    with pytest.raises(SourceError, match="no JetStream stream holds subject"):
        NATSSource(f"nats://{host}:{port}/nobody.{uuid.uuid4().hex}").fetch(1, 0.1)
    with pytest.raises(SourceError, match=r"cannot connect to nats://127\.0\.0\.1:1/x"):
        NATSSource("nats://127.0.0.1:1/x").fetch(1, 0.1)


# -- MQTT ----------------------------------------------------------------------------------------------------------


def _mqtt_publish(host: str, port: int, topic: str, payloads: list[bytes]) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(host, port)
    client.loop_start()
    infos = [client.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_mqtt_qos1_persistent_session(service: Callable[[str], tuple[str, int]], tmp_path: Path) -> None:
    host, port = service("mqtt")
    tag = uuid.uuid4().hex[:10]
    uri = f"mqtt://{host}:{port}/assay/test/{tag}?client_id=assay-{tag}&id_field=i"
    first = MQTTSource(uri)
    assert first.fetch(10, 0.2) == []  # joins the persistent session
    _mqtt_publish(host, port, f"assay/test/{tag}", [*_payloads(200), b"not json"])
    stats, data, dead = _run_ingest(first, tmp_path)
    assert stats.written == 200
    assert sorted(data["i"].to_list()) == list(range(200))
    assert [d["payload"] for d in dead] == ["not json"]
    # while assay is offline the broker keeps QoS 1 messages for the session; they arrive on reconnect
    _mqtt_publish(host, port, f"assay/test/{tag}", _payloads(50, start=200))
    stats, data, _ = _run_ingest(MQTTSource(uri), tmp_path)
    assert stats.written == 50
    assert sorted(data["i"].to_list()) == list(range(250))
    cleanup = MQTTSource(uri)
    cleanup._connect(f"assay-{tag}", clean=True)  # end the persistent session on the broker
    cleanup.close()


def test_an_empty_read_says_why_a_topic_can_look_empty(service: Callable[[str], tuple[str, int]], caplog) -> None:
    host, port = service("mqtt")
    uri = f"mqtt://{host}:{port}/assay/test/{uuid.uuid4().hex[:10]}?idle=0.2"
    with caplog.at_level("WARNING", logger="assay"):
        assert open_source(uri).read().height == 0
    assert f"no message came from {uri} within 0.2s (?idle= waits longer); a subscriber gets only the topic's " \
        "retained message" in caplog.text


# -- RabbitMQ --------------------------------------------------------------------------------------------------------


@pytest.fixture
def amqp_queue(service: Callable[[str], tuple[str, int]]) -> Iterator[tuple[str, Callable[[list[bytes]], None]]]:
    import pika

    host, port = service("amqp")
    name = f"assay-test-{uuid.uuid4().hex[:10]}"
    params = pika.ConnectionParameters(host=host, port=port, credentials=pika.PlainCredentials("guest", "guest"))
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.queue_declare(name, durable=True)

    def publish(payloads: list[bytes]) -> None:
        for p in payloads:
            ch.basic_publish("", name, p, pika.BasicProperties(message_id=uuid.uuid4().hex, delivery_mode=2))

    yield f"amqp://guest:guest@{host}:{port}/{name}", publish
    ch.queue_delete(name)
    conn.close()


def test_rabbitmq_manual_ack_and_requeue(amqp_queue: tuple[str, Callable[[list[bytes]], None]],
                                         tmp_path: Path) -> None:
    uri, publish = amqp_queue
    publish([*_payloads(250), b"[1,2]"])
    crashed = AMQPSource(uri)
    taken = crashed.fetch_batch(80, 1.0)
    assert len(taken) == 80
    ParquetSink(tmp_path / "out").write(crashed.decode(taken)[0])
    crashed.close()  # never acked: RabbitMQ requeues them
    source = AMQPSource(uri)
    assert source.lag() == 251
    stats, data, dead = _run_ingest(source, tmp_path)
    assert stats.messages == 251
    assert stats.duplicates == 80
    assert data.height == 250
    assert data["_id"].n_unique() == 250
    assert len(dead) == 1
    after = AMQPSource(uri)
    assert after.lag() == 0
    after.close()


def test_rabbitmq_wrong_password_is_masked(service: Callable[[str], tuple[str, int]]) -> None:
    host, port = service("amqp")
    with pytest.raises(SourceError) as info:
        AMQPSource(f"amqp://guest:Wr0ngPassw0rd@{host}:{port}/q").fetch(1, 0.1)
    assert "Wr0ngPassw0rd" not in str(info.value)
    assert "amqp://guest:***@" in str(info.value)


# -- TCP and UDP ------------------------------------------------------------------------------------------------------


def test_tcp_json_lines_from_several_senders(tmp_path: Path) -> None:
    source = TCPSource("tcp://127.0.0.1:0")
    port = source.start()

    def send(start: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            data = b"\n".join(_payloads(150, start=start))
            for i in range(0, len(data), 1000):  # lines split across packets are put back together
                sock.sendall(data[i : i + 1000])
            sock.sendall(b"\nnot json\n")

    senders = [threading.Thread(target=send, args=(k * 150,)) for k in range(2)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    stats, data, dead = _run_ingest(source, tmp_path)
    assert sorted(data["i"].to_list()) == list(range(300))
    assert [d["payload"] for d in dead] == ["not json"]  # the same bad line twice is one record (content id)
    assert stats.messages == 302


def test_udp_csv_lines(tmp_path: Path) -> None:
    source = UDPSource("udp://127.0.0.1:0?format=csv&columns=id,city,temp")
    port = source.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(100):
            sock.sendto(f"{i},city{i % 3},{i / 4}".encode(), ("127.0.0.1", port))
            time.sleep(0.0005)  # a local UDP socket buffer is small; a real sender paces itself too
        sock.sendto(b"101,short", ("127.0.0.1", port))
    stats, data, dead = _run_ingest(source, tmp_path)
    assert sorted(data["id"].to_list()) == list(range(100))
    assert data.schema["temp"] == pl.Float64
    assert "2 fields, expected 3" in dead[0]["reason"]
    assert stats.quarantined == 1
