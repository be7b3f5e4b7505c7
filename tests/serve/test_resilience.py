"""Circuit breaker and load shedding on a real server process with injected faults (tests/serve/faults.py)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from kit import ROW

from assay.registry import open_registry

BREAKER = ["--breaker-window", "4", "--breaker-min-calls", "4", "--breaker-open-seconds", "1",
           "--breaker-probes", "2", "--breaker-slow-ms", "300", "--breaker-slow-rate", "0.5", "--watch-seconds", "0"]


def _predict(url: str) -> httpx.Response:
    return httpx.post(f"{url}/models/iris/predict", json=[ROW], timeout=30)


def _until_closed(url: str, limit: float = 20) -> list[httpx.Response]:
    """Healthy traffic until the breaker of v2 is closed again (half-open probes succeed)."""
    seen = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        r = _predict(url)
        seen.append(r)
        state = httpx.get(f"{url}/models/iris/status").json()["production"]["breaker"]["state"]
        if state == "closed" and not r.json()["degraded"]:
            return seen
        time.sleep(0.1)
    pytest.fail("breaker did not close")


def test_breaker_trips_falls_back_and_recovers(registry_dir, start_server, faults):
    open_registry(registry_dir).promote("iris", 2)  # production v2, fallback: the previous version (v1)
    server = start_server(registry_dir, *BREAKER, faults={})
    url = server.url
    assert _predict(url).json()["model_version"] == 2
    for times_opened, mode in enumerate(["raise", "nan", "sleep"], 1):
        faults(mode=mode, versions=[2], seconds=0.4)
        responses = [_predict(url) for _ in range(8)]
        assert [r.status_code for r in responses] == [200] * 8, mode
        if mode == "sleep":
            # Slow calls still answer (from v2) until the window holds min_calls of them; then the breaker opens.
            assert [r.json()["model_version"] for r in responses[:4]] == [2] * 4
            responses = responses[4:]
        # A failing call is retried on the fallback, then the open breaker sends everything to v1 at once.
        assert all(r.json()["model_version"] == 1 for r in responses), mode
        assert all(r.json()["degraded"] for r in responses), mode
        assert responses[-1].headers["x-assay-degraded"] == "breaker_open"
        status = httpx.get(f"{url}/models/iris/status").json()
        assert status["production"]["breaker"]["times_opened"] == times_opened
        faults()  # healthy again: after open_seconds, half-open probes close the breaker
        time.sleep(1.1)
        recovered = _until_closed(url)
        assert recovered[-1].json()["model_version"] == 2
    metrics = httpx.get(f"{url}/metrics").text
    assert 'assay_degraded_total{model="iris",reason="breaker_open"}' in metrics
    assert 'assay_breaker_state{model="iris",version="2"} 0.0' in metrics


def test_no_fallback_503_at_once_then_saturation_exact_counts(registry_dir, start_server, faults):
    server = start_server(registry_dir, "--max-inflight", "5", "--max-batch", "1", "--queue-timeout", "30",
                          "--watch-seconds", "0", "--fallback", "iris=none", "--breaker-window", "4",
                          "--breaker-min-calls", "4", "--breaker-open-seconds", "1", "--breaker-probes", "2",
                          faults={})
    # Without a fallback, an open breaker refuses at once (503 + Retry-After) instead of calling the model.
    faults(mode="raise")
    codes = [_predict(server.url).status_code for _ in range(4)]
    assert codes == [500] * 4  # the model's own failures, reported as such
    r = _predict(server.url)
    assert r.status_code == 503
    assert "circuit open" in r.json()["error"]
    assert r.headers["retry-after"] == "1"
    assert (r.headers["x-model-name"], r.headers["x-model-version"]) == ("iris", "1")  # the version refusing
    faults()
    time.sleep(1.1)
    assert [_predict(server.url).status_code for _ in range(2)] == [200, 200]  # the probes close it
    assert httpx.get(f"{server.url}/models/iris/status").json()["production"]["breaker"]["state"] == "closed"
    # each failure and each change of the breaker's state is a JSON log line naming the model and version
    lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    failed = [x for x in lines if x["message"].startswith("model iris v1 failed")]
    assert len(failed) == 4
    assert all(x["model"] == "iris" and x["version"] == 1 and x["request_id"] for x in failed)
    changes = [x["breaker"] for x in lines if x["message"].startswith("circuit breaker of iris v1")]
    assert changes == ["open", "half_open", "closed"]

    # Saturation: 5 predictions may be in flight; each batch of one row sleeps 0.9 s (not "slow" for the
    # breaker's 1 s default), so 20 simultaneous requests admit exactly 5 and shed exactly 15 with Retry-After.
    faults(mode="sleep", seconds=0.9)

    async def burst() -> list[tuple[int, float, dict]]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=40)) as client:
            await client.get(f"{server.url}/v2/health/live")

            async def one() -> tuple[int, float, dict]:
                start = time.perf_counter()
                r = await client.post(f"{server.url}/models/iris/predict", json=[ROW])
                return r.status_code, time.perf_counter() - start, dict(r.headers)

            return await asyncio.gather(*[one() for _ in range(20)])

    results = asyncio.run(burst())
    codes = sorted(code for code, _, _ in results)
    assert codes.count(200) == 5
    assert codes.count(503) == 15
    shed = [(t, h) for code, t, h in results if code == 503]
    assert all(h["retry-after"] == "1" for _, h in shed)
    assert len({h.get("x-request-id") for _, h in shed}) == 15  # every refusal has its own request id
    assert all(len(h["x-request-id"]) == 32 for _, h in shed)
    slowest_shed = max(t for t, _ in shed)
    fastest_ok = min(t for code, t, _ in results if code == 200)
    assert slowest_shed < fastest_ok  # shed before even the first accepted request finished its 0.9 s
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'assay_shed_total{model="iris",reason="capacity"} 15.0' in metrics

    # A refusal keeps its connection usable: on one keep-alive connection, a request shed while 5 are in flight
    # is followed by one that is served once they are done; "Connection: close" is honoured.
    host, port = server.url.removeprefix("http://").split(":")
    body = json.dumps([ROW]).encode()

    def request(close: bool = False) -> bytes:
        return (f"POST /models/iris/predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n"
                ).encode() + body

    def answer(reader: Any) -> tuple[int, dict[str, str], bytes]:
        status = int(reader.readline().split()[1])
        headers = {}
        while (line := reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        return status, headers, reader.read(int(headers["content-length"]))

    async def in_flight() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            return [r.status_code for r in await asyncio.gather(*[
                client.post(f"{server.url}/models/iris/predict", json=[ROW]) for _ in range(5)])]

    with socket.create_connection((host, int(port)), timeout=30) as sock, sock.makefile("rb") as reader:
        with ThreadPoolExecutor(1) as pool:
            busy = pool.submit(asyncio.run, in_flight())
            deadline = time.monotonic() + 10
            while httpx.get(f"{server.url}/models/iris/status").json()["production"]["queued"] < 5:
                assert time.monotonic() < deadline, "the 5 requests did not arrive"
                time.sleep(0.02)
            sock.sendall(request())
            status, headers, text = answer(reader)
            assert (status, headers["retry-after"]) == (503, "1")
            assert "capacity" in json.loads(text)["error"]
            assert busy.result() == [200] * 5
        faults()
        sock.sendall(request(close=True))
        status, headers, text = answer(reader)
        assert status == 200
        assert json.loads(text)["model_version"] == 1
        assert reader.read() == b""  # closed after the answer, as asked


def test_a_fallback_that_cannot_be_had_does_not_stop_the_model_being_served(registry_dir, start_server):
    server = start_server(registry_dir, "--model", "iris", "--fallback", "iris=nosuch", "--watch-seconds", "0")
    r = _predict(server.url)
    assert r.status_code == 200
    assert r.json()["model_version"] == 1
    assert httpx.get(f"{server.url}/models/iris/status").json()["fallback"] is None
    assert "fallback 'nosuch' unusable" in server.logs()
    # nor a promotion (the new version is served, without a fallback)
    r = httpx.post(f"{server.url}/admin/models/iris/promote", json={"version": 2},
                   headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200, r.text
    assert _predict(server.url).json()["model_version"] == 2


def test_a_failing_canary_falls_back_to_production(registry_dir, start_server, faults):
    server = start_server(registry_dir, *BREAKER, "--breaker-open-seconds", "5", faults={})
    admin = {"Authorization": "Bearer s3cret"}
    r = httpx.post(f"{server.url}/admin/models/iris/canary", json={"version": 2, "percent": 50}, headers=admin)
    assert r.json()["canary"]["version"] == 2
    faults(mode="raise", versions=[2])
    responses = [_predict(server.url) for _ in range(40)]
    assert [r.status_code for r in responses] == [200] * 40  # production (v1) is healthy: no client sees a failure
    assert {r.json()["model_version"] for r in responses} == {1}
    retried = [r for r in responses if r.json()["degraded"]]
    assert len(retried) == 4  # the canary's failed calls, answered by v1, until its breaker opened
    assert {r.headers["x-assay-degraded"] for r in retried} == {"error"}
    status = httpx.get(f"{server.url}/models/iris/status").json()
    assert status["canary"]["breaker"]["state"] == "open"
    assert status["production"]["breaker"]["state"] == "closed"
    faults()
    time.sleep(5.1)  # half-open: the canary takes its share again once its probes succeed
    versions = [_predict(server.url).json()["model_version"] for _ in range(60)]
    assert versions.count(2) > 5


def test_half_open_probes_that_end_without_an_outcome_do_not_leave_the_breaker_stuck(
        registry_dir, start_server, faults):
    server = start_server(registry_dir, *BREAKER, "--fallback", "iris=none", faults={})
    faults(mode="raise")
    assert [_predict(server.url).status_code for _ in range(4)] == [500] * 4
    assert _predict(server.url).status_code == 503  # open
    faults()
    time.sleep(1.1)  # half-open: 2 probe calls decide
    # the probes that come first are requests with bad input: refused (422) before they tell anything
    bad = [httpx.post(f"{server.url}/models/iris/predict", json=[{"sepal_length": 1.0}]) for _ in range(3)]
    assert [r.status_code for r in bad] == [422] * 3
    assert [_predict(server.url).status_code for _ in range(3)] == [200] * 3
    assert httpx.get(f"{server.url}/models/iris/status").json()["production"]["breaker"]["state"] == "closed"


def test_input_that_overflows_the_prediction_is_a_422_and_does_not_open_the_breaker(start_server, tmp_path):
    from kit import regression_artifact

    reg = open_registry(tmp_path / "registry")
    reg.register(regression_artifact(tmp_path), "reg")
    server = start_server(tmp_path / "registry", *BREAKER)
    url = f"{server.url}/models/reg/predict"
    huge = [httpx.post(url, json=[{"a": 1e308, "b": 0.0}]) for _ in range(8)]  # 2 * 1e308 is infinite
    assert [r.status_code for r in huge] == [422] * 8
    assert "NaN or infinite prediction for this input" in huge[0].json()["error"]
    # the model keeps serving everyone else
    ok = httpx.post(url, json=[{"a": 1.0, "b": 2.0}])
    assert ok.status_code == 200
    assert ok.json()["predictions"][0]["prediction"] == pytest.approx(0.5, abs=0.2)
    breaker = httpx.get(f"{server.url}/models/reg/status").json()["production"]["breaker"]
    assert (breaker["state"], breaker["times_opened"]) == ("closed", 0)


def test_a_failing_shadow_is_not_called_while_its_breaker_is_open(registry_dir, start_server, faults):
    server = start_server(registry_dir, *BREAKER, "--breaker-open-seconds", "30", faults={})
    r = httpx.post(f"{server.url}/admin/models/iris/shadow", json={"version": 2},
                   headers={"Authorization": "Bearer s3cret"})
    assert r.json()["shadow"]["version"] == 2
    faults(mode="raise", versions=[2])
    for _ in range(20):
        r = _predict(server.url)
        assert (r.status_code, r.json()["model_version"], r.json()["degraded"]) == (200, 1, False)
        time.sleep(0.05)  # (the mirrored call runs after the answer)
    metrics = httpx.get(f"{server.url}/metrics").text
    # four failed calls open the shadow's breaker; the other 16 requests are not mirrored to it
    assert 'assay_requests_total{model="iris",status="shadow_500",version="2"} 4.0' in metrics
    assert 'assay_shed_total{model="iris",reason="shadow_breaker"} 16.0' in metrics


def test_503s_of_a_failed_fallback_and_of_a_locked_log_are_counted_and_come_within_the_queue_timeout(
    registry_dir, start_server, faults
):
    """The 503s that no other series counts (not shed, not a breaker refusal) are in assay_requests_total: the
    model and its fallback both failing, and the durable log not writable. A log another writer has locked costs a
    request about two queue timeouts (the batch worker's try, then the writer's), not 30 s a try."""
    import sqlite3

    open_registry(registry_dir).promote("iris", 2)  # fallback: v1
    server = start_server(registry_dir, "--queue-timeout", "0.5", "--watch-seconds", "0", "--breaker-min-calls", "20",
                          faults={})
    faults(mode="raise")
    failed = _predict(server.url)
    assert failed.status_code == 503
    assert failed.json()["error"].startswith("model and fallback failed")
    faults()
    holder = sqlite3.connect(registry_dir / "predictions.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        start = time.monotonic()
        unlogged = _predict(server.url)
        waited = time.monotonic() - start
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert unlogged.status_code == 503
    assert unlogged.headers["retry-after"] == "1"
    assert waited < 5
    assert _predict(server.url).status_code == 200
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'assay_requests_total{model="iris",status="503",version="1"} 1.0' in metrics  # the fallback's failure
    assert 'assay_requests_total{model="iris",status="503",version="2"} 1.0' in metrics  # the unwritable record
