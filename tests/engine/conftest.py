"""A real Dask cluster for the engine tests: one ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1.

Started once per test session (a few seconds) and shared; tests that kill a worker start their own extra worker.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DASK = str(Path(sys.executable).with_name("dask"))
QUIET = {"DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error", "POLARS_MAX_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_worker(address: str, name: str, workdir: Path, *, memory_limit: str = "1GB",
                 nanny: bool = False) -> subprocess.Popen:
    """A ``dask worker`` process in its own process group (so a test can kill exactly it)."""
    cmd = [DASK, "worker", address, "--name", name, "--nthreads", "1", "--memory-limit", memory_limit,
           "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(workdir / name)]
    if not nanny:
        cmd.append("--no-nanny")
    return subprocess.Popen(cmd, env={**os.environ, **QUIET}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Address of a scheduler with two 1-thread workers (separate processes)."""
    import distributed  # noqa: F401  (the dask extra is part of the test environment: fail, never skip)
    workdir = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env={**os.environ, **QUIET}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    workers = [start_worker(address, f"w{i}", workdir) for i in range(2)]
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for proc in [*workers, scheduler]:
            stop(proc)


@pytest.fixture
def client(dask_cluster: str) -> Iterator[object]:
    from assay.engine import dask_client

    with dask_client(dask_cluster) as c:
        yield c
