"""Fixtures for server tests: registries with small real models, and real `python -m assay serve` processes on an
ephemeral 127.0.0.1 port (stopped with SIGTERM, killed if they do not exit)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from assay.registry import open_registry

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from kit import free_port, iris, iris_artifact  # noqa: E402 - needs the path above


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    """A registry with `iris` v1 (production, with a training profile) and v2."""
    reg = open_registry(tmp_path / "registry")
    reg.register(iris_artifact(tmp_path), "iris", reference=iris())
    reg.register(iris_artifact(tmp_path, alpha=1e-2), "iris", reference=iris())
    return tmp_path / "registry"


class ServerProcess:
    def __init__(self, proc: subprocess.Popen, url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `python -m assay serve --registry R --port P ARGS`; `faults` writes the fault-injection control file."""
    started: list[ServerProcess] = []

    def start(registry: Path | str, *args: str, wait: bool = True, token: str = "s3cret",
              faults: dict | None = None) -> ServerProcess:
        port = free_port()
        log = tmp_path / f"server-{port}.log"
        env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "ASSAY_FAULTS": str(tmp_path / "faults.json")}
        (tmp_path / "faults.json").write_text(json.dumps(faults or {}))
        cmd = [sys.executable, "-m", "assay", "serve", "--registry", str(registry), "--port", str(port),
               "--token", token, "--drift-seconds", "0", *args]
        if faults is not None:
            cmd += ["--wrap", "faults:wrap"]
        with log.open("wb") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        server = ServerProcess(proc, f"http://127.0.0.1:{port}", log)
        started.append(server)
        if wait:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    pytest.fail(f"server exited with {proc.returncode}:\n{server.logs()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{server.url}/v2/health/ready", timeout=2).status_code == 200:
                        return server
                time.sleep(0.1)
            pytest.fail(f"server did not become ready:\n{server.logs()}")
        return server

    yield start
    for server in started:
        server.stop(signal.SIGTERM, timeout=20)


def set_faults(tmp_path: Path, **faults: object) -> None:
    """Change the running server's injected faults (read by tests/serve/faults.py on every batch)."""
    tmp = tmp_path / "faults.json.tmp"
    tmp.write_text(json.dumps(faults))
    tmp.replace(tmp_path / "faults.json")


@pytest.fixture
def faults(tmp_path: Path) -> Callable[..., None]:
    return lambda **kw: set_faults(tmp_path, **kw)
