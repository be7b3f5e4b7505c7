"""The prediction log on SQLite and PostgreSQL (real server, unique schema): group-committed durable writes,
idempotent feedback, the join that live metrics use, drops counted when the database is unreachable; and a real
server on a PostgreSQL registry writing its log and feedback into the registry's schema."""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg
import pytest

from assay.serve._predlog import SHADOW_SUFFIX, PredictionLog


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path, service):
    if request.param == "sqlite":
        yield str(tmp_path / "predictions.sqlite")
        return
    host, port = service("postgresql")
    schema = f"assay_log_{uuid.uuid4().hex[:10]}"
    yield f"postgresql://postgres@{host}:{port}/test#{schema}"
    with psycopg.connect(f"postgresql://postgres@{host}:{port}/test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _record(rid: str, version: int, prediction: str) -> tuple:
    return (rid, "m", version, 0.0, 1.5, 1, '[{"x": 1}]', "abc", f'[{{"prediction": "{prediction}"}}]', 0, 0)


def test_durable_batched_writes_feedback_and_join(target):
    log = PredictionLog(target)

    async def run() -> list[bool]:
        log.start(asyncio.get_running_loop())
        futures = [log.submit(_record(f"r{i}", 1 + i % 2, "a" if i % 3 else "b")) for i in range(300)]
        return await asyncio.gather(*futures)

    assert asyncio.run(run()) == [True] * 300
    log.close()
    assert log.written == 300
    assert log.dropped == 0
    assert log.batches < 300  # group commit: many records per transaction
    assert log.count("m") == 300
    assert log.request_ids(["r0", "r299", "nope"]) == {"r0", "r299"}
    assert log.add_feedback("r0", "m", "b") is True
    assert log.add_feedback("r0", "m", "a") is False  # duplicate: the first value stays
    assert log.add_feedback("r1", "m", "a") is True
    joined = sorted(log.joined("m"))
    assert joined == [(1, [{"prediction": "b"}], "b"), (2, [{"prediction": "a"}], "a")]


def test_a_shadow_record_is_scored_by_the_feedback_of_the_request_it_mirrored(target):
    log = PredictionLog(target)
    shadow = (*_record("s1" + SHADOW_SUFFIX, 3, "b")[:-1], 1)

    async def run() -> list[bool]:
        log.start(asyncio.get_running_loop())
        return await asyncio.gather(*[log.submit(r) for r in (_record("s1", 2, "a"), shadow, _record("s2", 2, "a"))])

    assert asyncio.run(run()) == [True] * 3
    assert log.request_ids(["s1", "s2"]) == {"s1", "s2"}
    assert log.add_feedback("s1", "m", "b") is True
    assert sorted(log.joined("m")) == [(2, [{"prediction": "a"}], "b"), (3, [{"prediction": "b"}], "b")]
    log.close()


def test_feedback_for_many_requests_on_one_connection(target):
    """A feedback list is looked up and stored in a few statements (ids 500 a query): the same answers as one
    lookup and one insert per item, duplicates within the list included."""
    log = PredictionLog(target)

    async def run() -> list[bool]:
        log.start(asyncio.get_running_loop())
        return await asyncio.gather(*[log.submit(_record(f"f{i}", 1 + i % 2, "a")) for i in range(1200)])

    assert all(asyncio.run(run()))
    log.close()
    found = log.predictions([f"f{i}" for i in range(1200)] + ["nope", "f3"])
    assert set(found) == {f"f{i}" for i in range(1200)}
    assert found["f3"] == log.prediction("f3") == {"model": "m", "version": 2, "outputs": [{"prediction": "a"}],
                                                   "rows": 1}
    assert log.add_feedback("f0", "m", "b") is True
    assert log.add_feedback_many([("f0", "m", "a"), ("f1", "m", "a"), ("f1", "m", "b"), ("f2", "m", "a")]) == [
        False, True, False, True]
    assert sorted(t for _, _, t in log.joined("m")) == ["a", "a", "b"]  # f0 keeps b, f1 its first value


def test_a_large_batch_is_written_whole_each_request_id_once(target):
    """A batch of records goes in as multi-row statements of several sizes (SQLite): every record arrives with its
    values, and a request id seen twice keeps its first record."""
    log = PredictionLog(target)
    records = [_record(f"b{i}", 1 + i % 3, f"p{i}") for i in range(150)] + [_record("b7", 9, "again")]

    async def run() -> str:
        loop = asyncio.get_running_loop()
        log.start(loop)
        answered = loop.create_future()
        assert log.submit_many(records, [(answered, "committed")])
        return await answered

    assert asyncio.run(run()) == "committed"
    log.close()
    assert log.count("m") == 150
    assert log.request_ids([f"b{i}" for i in range(151)]) == {f"b{i}" for i in range(150)}
    assert log.prediction("b7") == {"model": "m", "version": 2, "outputs": [{"prediction": "p7"}], "rows": 1}
    assert log.prediction("b149") == {"model": "m", "version": 3, "outputs": [{"prediction": "p149"}], "rows": 1}


def test_unreachable_database_counts_drops_and_fails_durable_requests(tmp_path):
    target = str(tmp_path / "predictions.sqlite")
    log = PredictionLog(target)
    (tmp_path / "predictions.sqlite").unlink()
    (tmp_path / "predictions.sqlite").mkdir()  # the file is gone and cannot be recreated: writes fail

    async def run() -> list[bool]:
        log.start(asyncio.get_running_loop())
        return await asyncio.gather(*[log.submit(_record(f"x{i}", 1, "a")) for i in range(5)])

    assert asyncio.run(run()) == [False] * 5
    log.close()
    assert log.dropped == 5
    assert log.written == 0


def test_server_on_a_postgresql_registry_logs_there(start_server, service, tmp_path):
    import httpx
    from kit import ROW, iris, iris_artifact

    from assay.registry import open_registry

    host, port = service("postgresql")
    schema = f"assay_srv_{uuid.uuid4().hex[:10]}"
    uri = f"postgresql://postgres@{host}:{port}/test?schema={schema}&artifacts={tmp_path / 'artifacts'}"
    open_registry(uri).register(iris_artifact(tmp_path), "iris", reference=iris())
    try:
        server = start_server(uri, "--watch-seconds", "0")
        r = httpx.post(f"{server.url}/models/iris/predict", json=[ROW])
        assert r.status_code == 200
        rid = r.json()["request_id"]
        for _ in range(2):
            httpx.post(f"{server.url}/models/iris/feedback", json={"request_id": rid, "value": "setosa"})
        live = httpx.get(f"{server.url}/models/iris/metrics").json()["versions"]["1"]
        assert live == {"feedback_rows": 1, "accuracy": 1.0, "f1_macro": 1.0}
        server.stop()
        with psycopg.connect(f"postgresql://postgres@{host}:{port}/test") as conn:
            logged = conn.execute(f'SELECT request_id FROM "{schema}".assay_predictions').fetchall()
            feedback = conn.execute(f'SELECT count(*) FROM "{schema}".assay_feedback').fetchone()
        assert logged == [(rid,)]
        assert feedback == (1,)
    finally:
        with psycopg.connect(f"postgresql://postgres@{host}:{port}/test", autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_a_batch_is_logged_from_the_worker_and_answered_once_committed(tmp_path):
    from kit import ROW, iris_artifact

    from assay._fitted import Model
    from assay.serve._deploy import Deployment, LogSpec

    log = PredictionLog(str(tmp_path / "predictions.sqlite"))
    model = Model.load(iris_artifact(tmp_path))

    async def run() -> list:
        loop = asyncio.get_running_loop()
        log.start(loop)
        dep = Deployment("iris", 3, model, predlog=log, log_inputs="hash")
        dep.start()
        deadline = loop.time() + 5
        answers = await asyncio.gather(*[dep.submit([ROW], deadline, LogSpec(f"q{i}", b"[{}]", 0.0))
                                         for i in range(20)])
        dep.task.cancel()
        return answers

    answers = asyncio.run(run())
    log.close()
    assert [len(rows) for rows, _ in answers] == [1] * 20
    assert log.written == 20  # every answered request was committed before its answer
    assert log.request_ids([f"q{i}" for i in range(20)]) == {f"q{i}" for i in range(20)}
    assert log.prediction("q7") == {"model": "iris", "version": 3, "outputs": answers[7][0], "rows": 1}


def test_a_batch_the_worker_cannot_commit_goes_to_the_writer_and_fails_its_requests(tmp_path):
    """A durable SQLite log: the batch worker commits its own records; when it cannot, the writer thread tries
    again, and the requests are refused (LogUnavailable, counted as drops) instead of answered unrecorded."""
    from kit import ROW, iris_artifact

    from assay._fitted import Model
    from assay.serve._deploy import Deployment, LogSpec
    from assay.serve._predlog import LogUnavailable

    target = tmp_path / "predictions.sqlite"
    log = PredictionLog(str(target))
    assert log.commits_in_caller
    model = Model.load(iris_artifact(tmp_path))
    target.unlink()
    target.mkdir()  # writes fail from now on

    async def run() -> list:
        loop = asyncio.get_running_loop()
        log.start(loop)
        dep = Deployment("iris", 3, model, predlog=log)
        dep.start()
        deadline = loop.time() + 5
        answers = await asyncio.gather(*[dep.submit([ROW], deadline, LogSpec(f"z{i}", b"[{}]", 0.0))
                                         for i in range(3)], return_exceptions=True)
        dep.task.cancel()
        return answers

    answers = asyncio.run(run())
    log.close()
    assert all(isinstance(a, LogUnavailable) for a in answers)
    assert (log.written, log.dropped) == (0, 3)


def test_durable_batch_records_that_cannot_be_written_fail_their_requests(tmp_path):
    from assay.serve._predlog import LogUnavailable

    target = tmp_path / "predictions.sqlite"
    log = PredictionLog(str(target))
    target.unlink()
    target.mkdir()  # writes fail from now on

    async def run() -> list:
        loop = asyncio.get_running_loop()
        log.start(loop)
        futures = [loop.create_future() for _ in range(3)]
        assert log.submit_many([_record(f"y{i}", 1, "a") for i in range(3)], [(f, i) for i, f in enumerate(futures)])
        return await asyncio.gather(*futures, return_exceptions=True)

    outcomes = asyncio.run(run())
    log.close()
    assert all(isinstance(o, LogUnavailable) for o in outcomes)
    assert log.dropped == 3


@pytest.mark.parametrize("size", [1, 2, 17, 64, 65, 130])
def test_records_committed_in_the_caller_are_all_there_whatever_the_batch_size(tmp_path, size):
    """A caller's batch goes in as multi-row INSERTs of up to 64 records, each committed as it returns: every
    record is readable from another connection as soon as commit_here returns."""
    log = PredictionLog(str(tmp_path / "predictions.sqlite"))
    ids = [f"s{size}-{i}" for i in range(size)]
    assert log.commit_here([_record(rid, 1, "a") for rid in ids])
    assert log.request_ids(ids) == set(ids)
    assert (log.written, log.count("m")) == (size, size)
    assert log.commit_here([_record(ids[0], 1, "b")])  # the same id again: kept once, the first record
    assert log.count("m") == size
    assert log.prediction(ids[0])["outputs"] == [{"prediction": "a"}]


def test_live_metrics_reach_prometheus_without_asking_for_them(start_server, registry_dir):
    import httpx
    from kit import ROW

    server = start_server(registry_dir, "--drift-seconds", "0.3")
    rid = httpx.post(f"{server.url}/models/iris/predict", json=[ROW]).json()["request_id"]
    assert httpx.post(f"{server.url}/models/iris/feedback", json={"request_id": rid, "value": "setosa"}).is_success
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # refreshed by the periodic check, not by a GET of /models/iris/metrics
        scrape = httpx.get(f"{server.url}/metrics").text
        if 'assay_live_metric{metric="feedback_rows",model="iris",version="1"} 1.0' in scrape:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no live metric in /metrics:\n{[line for line in scrape.splitlines() if 'live' in line]}")


def test_a_durable_record_waits_for_a_locked_database_only_about_its_write_timeout(tmp_path):
    """Another writer holding the SQLite log (a retention DELETE, say): a durable request's record is given up after
    about ``write_timeout`` (the server passes its queue timeout), and the request gets its 503 then. Before, each
    try waited 30 s for the lock (the batch worker's, then three of the writer's): two minutes without an answer."""
    import sqlite3

    target = str(tmp_path / "predictions.sqlite")
    log = PredictionLog(target, write_timeout=0.3)
    holder = sqlite3.connect(target, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        start = time.monotonic()
        assert log.commit_here([_record("w0", 1, "a")]) is False  # the batch worker hands it to the writer
        assert time.monotonic() - start < 2

        async def run() -> bool | None:
            log.start(asyncio.get_running_loop())
            fut = log.submit(_record("w1", 1, "a"))
            assert fut is not None
            return await asyncio.wait_for(fut, 5)

        start = time.monotonic()
        assert asyncio.run(run()) is False
        assert time.monotonic() - start < 3
        assert log.dropped == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        log.close()
    assert PredictionLog(target, mode="async").write_timeout == 30.0  # (nobody waits on an async record)


def test_a_server_whose_log_database_is_not_one_says_so_and_does_not_start(start_server, registry_dir):
    """predictions.sqlite overwritten (a bad copy, a full disk): the server refuses to start, naming the file and
    SQLite's complaint in one log line, rather than answering without a log (or leaving only a traceback)."""
    (registry_dir / "predictions.sqlite").write_bytes(b"not a database " * 400)
    server = start_server(registry_dir, wait=False)
    assert server.proc.wait(60) != 0
    expected = f"cannot open the prediction log {registry_dir / 'predictions.sqlite'}: file is not a database"
    assert expected in server.logs()
