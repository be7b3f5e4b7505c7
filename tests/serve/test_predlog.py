"""The prediction log on SQLite and PostgreSQL (real server, unique schema): group-committed durable writes,
idempotent feedback, the join that live metrics use, and drops counted when the database is unreachable."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from assay.serve._predlog import PredictionLog


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
