"""``assay ingest`` as a real process: kill -9 mid-batch and restart (every message exactly once), Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

pytestmark = [pytest.mark.services, pytest.mark.slow]

N_GOOD = 20_000
N_BAD = 25


@pytest.fixture
def stream(service: Callable[[str], tuple[str, int]]) -> Iterator[tuple[str, object]]:
    import redis

    host, port = service("redis")
    client = redis.Redis(host=host, port=port)
    name = f"assay-kill-{uuid.uuid4().hex[:10]}"
    pipe = client.pipeline(transaction=False)
    for i in range(N_GOOD):
        pipe.xadd(name, {"data": json.dumps({"i": i, "x": i * 0.5, "tag": f"t{i % 7}"})})
        if i % (N_GOOD // N_BAD) == 0 and i // (N_GOOD // N_BAD) < N_BAD:
            pipe.xadd(name, {"data": f"<bad {i}>"})
    pipe.execute()
    yield f"redis://{host}:{port}/{name}", client
    client.delete(name)
    client.close()


def _command(uri: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "assay", "ingest", uri, "--to", str(out), "--batch-size", "300",
            "--batch-seconds", "0.2", *extra]


def _pending(client: object, name: str) -> int:
    info = client.xpending(name, "assay")  # type: ignore[attr-defined]
    return int(info["pending"])


def _parts(out: Path) -> list[Path]:
    return sorted(out.glob("part-*.parquet")) if out.exists() else []


def test_kill_9_mid_batch_then_restart_stores_every_message_once(stream: tuple[str, object], tmp_path: Path) -> None:
    uri, client = stream
    name = uri.rsplit("/", 1)[1]
    out = tmp_path / "dataset"
    killed_with_pending = 0
    for _attempt in range(3):
        proc = subprocess.Popen(_command(uri, out, "--idle", "5s", "--quiet"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            before = len(_parts(out))
            deadline = time.monotonic() + 60
            while len(_parts(out)) < before + 3 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
        if _pending(client, name) > 0:  # killed between reading a batch and acking it
            killed_with_pending += 1
            if killed_with_pending >= 2:
                break
    assert killed_with_pending >= 1, "every kill landed between batches; the test proved nothing"

    done = subprocess.run(_command(uri, out, "--idle", "2s"), capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    summary = done.stderr.decode().strip().splitlines()[-1]
    assert "stopped: source idle" in summary

    data = pl.read_parquet(out / "*.parquet")
    assert data.height == N_GOOD
    assert data["_id"].n_unique() == N_GOOD
    assert sorted(data["i"].to_list()) == list(range(N_GOOD))
    dead = [json.loads(line) for line in Path(f"{out}.quarantine.ndjson").read_text().splitlines()]
    assert len(dead) == N_BAD
    assert len({d["id"] for d in dead}) == N_BAD
    assert all(d["payload"].startswith("<bad ") for d in dead)
    assert _pending(client, name) == 0
    assert list(out.glob(".tmp-*")) == []


def test_ctrl_c_stops_cleanly_after_the_current_batch(stream: tuple[str, object], tmp_path: Path) -> None:
    """SIGINT mid-stream: the current batch is finished and acked, a summary is printed; on a terminal (a pty
    here) a live progress line shows messages/s, lag and quarantined while it runs."""
    import pty
    import threading

    uri, client = stream
    name = uri.rsplit("/", 1)[1]
    out = tmp_path / "dataset"
    master, slave = pty.openpty()
    proc = subprocess.Popen(_command(uri, out, "--for", "120s", "--batch-size", "100"), stdout=subprocess.DEVNULL,
                            stderr=slave, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while len(_parts(out)) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    reader.join(10)
    os.close(master)
    err = b"".join(chunks).decode()
    assert proc.returncode == 0, err
    assert "\r\x1b[Kingest: " in err  # the live line, redrawn in place
    assert "/s)" in err
    assert "quarantined, lag" in err
    summary = err.strip().splitlines()[-1]
    assert "stopped: interrupted" in summary
    data = pl.read_parquet(out / "*.parquet")
    # nothing half done: every message handed out was written and acked, none is left pending
    assert _pending(client, name) == 0
    groups = {g["name"].decode(): g for g in client.xinfo_groups(name)}  # type: ignore[attr-defined]
    read = int(groups["assay"]["entries-read"])
    quarantined = len(Path(f"{out}.quarantine.ndjson").read_text().splitlines()) if Path(
        f"{out}.quarantine.ndjson").exists() else 0
    assert data.height + quarantined == read
    assert 0 < data.height < N_GOOD
    assert f"{read:,} messages" in summary
