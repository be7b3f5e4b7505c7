"""Fixtures for server tests: registries with small real models, and real `python -m assay serve` processes on an
ephemeral 127.0.0.1 port (stopped with SIGTERM, killed if they do not exit)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest

from assay._fitted import Model
from assay.models import LinearRegressionGD, LogisticRegressionGD
from assay.registry import open_registry

HERE = Path(__file__).parent
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris() -> pl.DataFrame:
    from sklearn.datasets import load_iris

    data = load_iris()
    frame = pl.DataFrame(data.data, schema=FEATURES, orient="row")
    return frame.with_columns(species=pl.Series(np.asarray(data.target_names)[data.target]))


def iris_artifact(directory: Path, alpha: float = 1e-3) -> Path:
    frame = iris()
    est = LogisticRegressionGD(alpha=alpha, max_iter=200).fit(frame.select(FEATURES).to_numpy(),
                                                              frame["species"].to_numpy())
    model = Model([], est, task="classification", target="species", input_schema=dict.fromkeys(FEATURES, "Float64"),
                  features=FEATURES, classes=[str(c) for c in est.classes_])
    return model.save(directory / f"iris-{uuid.uuid4().hex[:8]}", model_name="logreg",
                      source={"uri": "sklearn:iris", "fingerprint": "iris", "rows": frame.height})


def regression_artifact(directory: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    est = LinearRegressionGD().fit(X, X @ np.array([2.0, -1.0]) + 0.5)
    model = Model([], est, task="regression", target="y", input_schema={"a": "Float64", "b": "Float64"},
                  features=["a", "b"])
    return model.save(directory / f"reg-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    """A registry with `iris` v1 (production, with a training profile) and v2."""
    reg = open_registry(tmp_path / "registry")
    reg.register(iris_artifact(tmp_path), "iris", reference=iris())
    reg.register(iris_artifact(tmp_path, alpha=1e-2), "iris", reference=iris())
    return tmp_path / "registry"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
