"""``assay ingest`` through ``main(argv)``: limits, sinks, the summary line and one-line errors."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from assay.cli import main


@pytest.fixture
def stream(service: Callable[[str], tuple[str, int]]) -> Iterator[str]:
    import redis

    host, port = service("redis")
    client = redis.Redis(host=host, port=port)
    name = f"assay-cli-{uuid.uuid4().hex[:10]}"
    pipe = client.pipeline(transaction=False)
    for i in range(500):
        pipe.xadd(name, {"data": json.dumps({"i": i, "v": i % 13})})
    pipe.execute()
    yield f"redis://{host}:{port}/{name}"
    client.delete(name)
    client.close()


@pytest.mark.services
def test_max_messages_stops_and_prints_a_summary(stream: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    assert main(["ingest", stream, "--to", str(out), "--max-messages", "120", "--batch-size", "50", "-q"]) == 0
    err = capsys.readouterr().err
    assert "120 messages" in err
    assert "stopped: message limit" in err
    assert pl.read_parquet(out / "*.parquet").height == 120
    # the next run continues where the first stopped
    assert main(["ingest", stream, "--to", str(out), "--idle", "0.5s", "-q"]) == 0
    assert sorted(pl.read_parquet(out / "*.parquet")["i"].to_list()) == list(range(500))


@pytest.mark.services
def test_for_duration_into_a_sqlite_table(stream: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "sink.db"
    assert main(["ingest", stream, "--to", f"sqlite:///{db}?table=events", "--for", "2s", "-q"]) == 0
    assert "stopped: time limit" in capsys.readouterr().err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT _id) FROM events").fetchone() == (500, 500)


def test_sql_table_to_parquet_with_a_watermark(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, total REAL)")
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [(i, i * 2.0) for i in range(250)])
    uri = f"sqlite:///{db}?table=orders&watermark=id"
    assert main(["ingest", uri, "--to", "out", "--batch-size", "100", "-q"]) == 0
    assert "stopped: end of source" in capsys.readouterr().err
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [(i, 0.0) for i in range(250, 260)])
    assert main(["ingest", uri, "--to", "out", "-q"]) == 0
    assert "10 messages" in capsys.readouterr().err  # only the rows newer than the saved watermark
    assert sorted(pl.read_parquet(tmp_path / "out" / "*.parquet")["id"].to_list()) == list(range(260))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ingest", "kafka://h/t", "--to", "out"], "unknown URI scheme 'kafka'"),
        (["ingest", "redis://u:pw9secret@127.0.0.1:1/s", "--to", "out", "--for", "1s"], "redis://u:***@127.0.0.1:1/s"),
        (["ingest", "redis://127.0.0.1:6379/s", "--to", "s3://bucket/x"], "scheme 's3' is not a sink"),
        (["ingest", "redis://127.0.0.1:6379/s", "--to", "out", "--for", "soon"], "cannot read duration 'soon'"),
    ],
)
def test_bad_input_is_one_line(argv: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert len(err.splitlines()) == 1
    assert "pw9secret" not in err


@pytest.mark.services
@pytest.mark.slow
def test_model_scores_each_batch(service: Callable[[str], tuple[str, int]], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    import redis

    import assay

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=300), rng.normal(size=300)
    train = pl.DataFrame({"x": x, "y": y, "label": np.where(x + y > 0, "hi", "lo")})
    model_dir = assay.train(train, target="label", models=["logreg"], folds=2, report=False).model.save(
        tmp_path / "model")
    host, port = service("redis")
    client = redis.Redis(host=host, port=port)
    name = f"assay-score-{uuid.uuid4().hex[:10]}"
    pipe = client.pipeline(transaction=False)
    for i in range(200):
        pipe.xadd(name, {"data": json.dumps({"x": float(x[i]), "y": float(y[i])})})
    pipe.execute()
    try:
        out = tmp_path / "scored"
        argv = ["ingest", f"redis://{host}:{port}/{name}", "--to", str(out), "--model", str(model_dir),
                "--idle", "0.5s", "--batch-size", "64", "-q"]
        assert main(argv) == 0, capsys.readouterr().err
    finally:
        client.delete(name)
        client.close()
    scored = pl.read_parquet(out / "*.parquet").sort("_id")
    assert scored.height == 200
    assert {"x", "y", "_id", "prediction", "proba_hi", "proba_lo"} <= set(scored.columns)
    expected = assay.load_model(model_dir).predict(scored.select("x", "y"))
    assert scored["prediction"].to_list() == expected["prediction"].to_list()

    # a table scored back into PostgreSQL, one transaction per batch, upserted on the key: running twice is harmless
    db = tmp_path / "visits.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE visits (id INTEGER, x REAL, y REAL)")
        conn.executemany("INSERT INTO visits VALUES (?, ?, ?)", [(i, float(x[i]), float(y[i])) for i in range(150)])
    pg_host, pg_port = service("postgresql")
    table = f"scores_{uuid.uuid4().hex[:8]}"
    target = f"postgresql://root@{pg_host}:{pg_port}/test?table={table}"
    argv = ["ingest", f"sqlite:///{db}?table=visits", "--to", target, "--model", str(model_dir), "--key", "id",
            "--batch-size", "40", "-q"]
    try:
        assert main(argv) == 0
        assert main(argv) == 0
        from assay.sources import open_source

        back = open_source(target).read().sort("id")
        assert back["id"].to_list() == list(range(150))
        want = assay.load_model(model_dir).predict(back.select("x", "y"))["prediction"].to_list()
        assert back["prediction"].to_list() == want
    finally:
        import psycopg

        with psycopg.connect(f"host={pg_host} port={pg_port} user=root dbname=test", autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def test_model_named_in_the_registry_scores_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--model models:/NAME/ALIAS loads the registered version (verified) instead of a directory."""
    import numpy as np

    import assay
    from assay.registry import open_registry

    rng = np.random.default_rng(4)
    x = rng.normal(size=200)
    train = pl.DataFrame({"x": x, "label": np.where(x > 0, "hi", "lo")})
    model_dir = assay.train(train, target="label", models=["logreg"], folds=2, report=False).model.save(
        tmp_path / "model")
    registry = tmp_path / "registry"
    open_registry(registry).register(model_dir, "signs")  # a new name: production points at it
    db = tmp_path / "rows.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE rows (id INTEGER, x REAL)")
        conn.executemany("INSERT INTO rows VALUES (?, ?)", [(i, float(v)) for i, v in enumerate([-2.0, 3.0, -0.5])])
    out = tmp_path / "scored"
    argv = ["ingest", f"sqlite:///{db}?table=rows", "--to", str(out), "--model", "models:/signs/production",
            "--registry", str(registry), "-q"]
    assert main(argv) == 0, capsys.readouterr().err
    assert pl.read_parquet(out / "*.parquet").sort("id")["prediction"].to_list() == ["lo", "hi", "lo"]

    argv[argv.index("models:/signs/production")] = "models:/sings"
    assert main(argv) == 2
    assert "sings" in capsys.readouterr().err


def test_a_followed_model_scores_with_the_version_promoted_meanwhile(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """models:/NAME/production in a long ingest: after a promotion, the next batches are scored by the new version;
    a version named by number stays fixed."""
    import numpy as np

    import assay
    from assay.cli._common import FollowedModel, load_model_ref
    from assay.registry import open_registry
    from assay.sources import open_source
    from assay.sources._ingest import ingest
    from assay.sources._sinks import ParquetSink

    rng = np.random.default_rng(5)
    x = rng.normal(size=200)
    registry = open_registry(tmp_path / "registry")
    for k, labels in enumerate([np.where(x > 0, "hi", "lo"), np.where(x > 0, "lo", "hi")]):  # v2 says the opposite
        train = pl.DataFrame({"x": x, "label": labels})
        saved = assay.train(train, target="label", models=["logreg"], folds=2, report=False).model.save(
            tmp_path / f"model{k}")
        registry.register(saved, "signs")  # v1 becomes production; v2 is only registered
    source_path = tmp_path / "rows.csv"
    pl.DataFrame({"x": [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]}).write_csv(source_path)

    followed = load_model_ref("models:/signs/production", str(tmp_path / "registry"), follow=0)
    assert isinstance(followed, FollowedModel)
    assert not isinstance(load_model_ref("models:/signs/1", str(tmp_path / "registry"), follow=0), FollowedModel)

    def promote_after_the_first_batch(stats) -> None:
        if stats.batches == 1:
            registry.promote("signs", 2)

    with caplog.at_level("WARNING", logger="assay"):
        ingest(open_source(str(source_path)), ParquetSink(tmp_path / "out"), model=followed, batch_size=2,
               on_batch=promote_after_the_first_batch)
    scored = pl.read_parquet(tmp_path / "out" / "*.parquet").sort("x")
    assert scored["prediction"].to_list() == ["hi", "hi", "lo", "lo", "lo", "lo"]
    assert followed.version == 2
    assert "models:/signs/production moved from version 1 to 2" in caplog.text
