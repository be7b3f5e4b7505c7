"""`assay serve` from the command line: option errors are one-line messages; a real process binds 127.0.0.1 by
default, serves, and drains on SIGTERM (every answered prediction logged)."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid

import httpx
import numpy as np

from assay._fitted import Model
from assay.cli import main
from assay.models import LinearRegressionGD
from assay.registry import open_registry


def test_bad_options_are_one_line_errors(capsys):
    assert main(["serve", "--log-mode", "sometimes"]) == 2
    assert "--log-mode must be durable or async" in capsys.readouterr().err
    assert main(["serve", "--fallback", "iris"]) == 2
    assert "NAME=previous" in capsys.readouterr().err


def test_an_unreachable_registry_or_unknown_model_is_a_one_line_error(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runs = [
        (f"postgresql://127.0.0.1:{port}/x", [], "cannot connect to the registry database"),
        (str(tmp_path / "reg"), ["--model", "nope"], "no model named 'nope'"),
    ]
    for registry, extra, said in runs:
        proc = subprocess.run(
            [sys.executable, "-m", "assay", "serve", "--registry", registry, "--port", "0", *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        assert said in proc.stderr
        assert "Traceback" not in proc.stderr


def test_a_port_in_use_is_a_one_line_error_before_models_are_loaded(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--registry", str(tmp_path / "reg"), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "another --port" in err


def test_serve_process_binds_localhost_and_drains_on_sigterm(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    est = LinearRegressionGD().fit(X, X @ np.array([1.0, 2.0]))
    model = Model(
        [], est, task="regression", target="y", input_schema={"a": "Float64", "b": "Float64"}, features=["a", "b"]
    )
    path = model.save(tmp_path / f"m-{uuid.uuid4().hex[:6]}")
    reg = open_registry(tmp_path / "reg")
    reg.register(path, "lin")
    est2 = LinearRegressionGD().fit(X, X @ np.array([10.0, 20.0]))
    model2 = Model(
        [], est2, task="regression", target="y", input_schema={"a": "Float64", "b": "Float64"}, features=["a", "b"]
    )
    reg.register(model2.save(tmp_path / f"m-{uuid.uuid4().hex[:6]}"), "lin")  # version 2, not deployed
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assay",
            "serve",
            "--registry",
            str(tmp_path / "reg"),
            "--port",
            str(port),
            "--extra-versions",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        r = httpx.post(f"http://127.0.0.1:{port}/models/lin/predict", json=[{"a": 1.0, "b": 1.0}])
        assert abs(r.json()["predictions"][0]["prediction"] - 3.0) < 0.1
        # Regression feedback gives a live RMSE.
        httpx.post(
            f"http://127.0.0.1:{port}/models/lin/feedback", json={"request_id": r.json()["request_id"], "value": 3.5}
        )
        live = httpx.get(f"http://127.0.0.1:{port}/models/lin/metrics").json()["versions"]["1"]
        assert abs(live["rmse"] - abs(r.json()["predictions"][0]["prediction"] - 3.5)) < 1e-9
        # A registered version that is not deployed is loaded on request (--extra-versions 1).
        oip = {
            "inputs": [
                {"name": "a", "shape": [1], "datatype": "FP64", "data": [1.0]},
                {"name": "b", "shape": [1], "datatype": "FP64", "data": [1.0]},
            ]
        }
        r2 = httpx.post(f"http://127.0.0.1:{port}/v2/models/lin/versions/2/infer", json=oip, timeout=60)
        assert r2.status_code == 200, r2.text
        assert r2.json()["model_version"] == "2"
        assert abs(r2.json()["outputs"][0]["data"][0] - 30.0) < 1.0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit by SIGTERM, not a crash).
    assert proc.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in out
    assert f"http://127.0.0.1:{port}" in out
    assert '"message":"stopped; 2 prediction records written, 0 dropped"' in out  # drained before exit
    with sqlite3.connect(tmp_path / "reg" / "predictions.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM assay_predictions").fetchone()[0] == 2


def test_a_host_that_is_not_this_machines_is_a_one_line_error_that_says_so(tmp_path, capsys):
    # (the hint was "is another server there? use another --port" for every failure to listen)
    # (with --port 0 the host was not checked at all: uvicorn failed after start-up, exit status 3)
    assert main(["serve", "--registry", str(tmp_path / "reg"), "--host", "999.1.1.1", "--port", "0"]) == 2
    assert main(["serve", "--registry", str(tmp_path / "reg"), "--host", "no-such-host.invalid", "--port", "8"]) == 2
    err = capsys.readouterr().err
    assert "cannot listen on 999.1.1.1:0" in err
    assert "cannot listen on no-such-host.invalid:8" in err
    assert "--host must be an address of this machine" in err
    assert "another --port" not in err


def test_a_wrap_that_cannot_be_imported_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    # It was a traceback from the server's start-up (ModuleNotFoundError, or AttributeError for "module:").
    runs = [
        (["--wrap", "no_such_module_xyz:wrap"], "--wrap 'no_such_module_xyz:wrap': cannot import 'no_such_module_xyz'"),
        (["--wrap", "json"], "--wrap 'json': write module:function"),
        (["--wrap", "json:no_such_function"], "module 'json' has no function 'no_such_function'"),
    ]
    for args, says in runs:
        assert main(["serve", "--registry", str(tmp_path / "reg"), "--port", "0", *args]) == 2
        err = capsys.readouterr().err
        assert says in err
        assert "Traceback" not in err
    monkeypatch.setenv("ASSAY_SERVE_WRAP", "no_such_module_xyz:wrap")
    assert main(["serve", "--registry", str(tmp_path / "reg"), "--port", "0"]) == 2
    assert "$ASSAY_SERVE_WRAP 'no_such_module_xyz:wrap': cannot import" in capsys.readouterr().err
