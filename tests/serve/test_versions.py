"""Versions live on a real server: hot swap under load loses nothing, a corrupt new version keeps the old one
serving, canary and shadow with per-version metrics; kill -9 under load, then every 2xx has its log record."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time

import httpx
from kit import ROW, iris_artifact

from assay.registry import open_registry

ADMIN = {"Authorization": "Bearer s3cret"}


async def _load(url: str, n: int, concurrency: int, during=None, after: int = 0) -> list[tuple[int, dict, bool]]:
    """``n`` single-row predictions from ``concurrency`` clients; ``during()`` runs once a third are done, and the
    clients go on until ``after`` requests sent after ``during()`` returned have been answered (so that a fast
    server cannot finish all ``n`` before it does). Each result: (status, body, sent after ``during()``)."""
    results: list[tuple[int, dict, bool]] = []
    state = {"sent": 0, "done": during is None, "after": 0}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            while state["sent"] < n or not state["done"] or state["after"] < after:
                state["sent"] += 1
                late = bool(state["done"]) and during is not None
                try:
                    r = await client.post(f"{url}/models/iris/predict", json=[ROW])
                    results.append((r.status_code, r.json() if r.status_code == 200 else {}, late))
                except httpx.HTTPError:
                    results.append((0, {}, late))
                if late:
                    state["after"] += 1

        async def trigger() -> None:
            while len(results) < n // 3:
                await asyncio.sleep(0.01)
            await during()
            state["done"] = True

        tasks = [worker() for _ in range(concurrency)]
        if during is not None:
            tasks.append(trigger())
        await asyncio.gather(*tasks)
    return results


def test_hot_swap_under_load_and_corrupt_version(registry_dir, start_server, tmp_path):
    server = start_server(registry_dir, "--watch-seconds", "0.5")
    url = server.url

    async def promote() -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            r = await client.post(f"{url}/admin/models/iris/promote", json={"version": 2}, headers=ADMIN)
            assert r.status_code == 200, r.text

    results = asyncio.run(_load(url, 300, 8, during=promote, after=40))
    assert len(results) >= 300
    assert sum(late for _, _, late in results) >= 40
    assert [code for code, _, _ in results].count(200) == len(results)  # not one request lost across the swap
    versions = [body["model_version"] for _, body, _ in results]
    assert versions[0] == 1
    assert {body["model_version"] for _, body, late in results if late} == {2}  # sent after the promote: v2
    assert set(versions) == {1, 2}
    reg = open_registry(registry_dir)
    assert reg.resolve("iris") == 2

    # A new version whose artifact was damaged after registration: promote is refused, v2 keeps serving.
    reg.register(iris_artifact(tmp_path), "iris")
    stored = reg.get("iris", 3).path / "steps.json"
    stored.write_text(stored.read_text() + " ")
    r = httpx.post(f"{url}/admin/models/iris/promote", json={"version": 3}, headers=ADMIN, timeout=60)
    assert r.status_code == 409
    assert "modified after it was written" in r.json()["error"]
    assert reg.resolve("iris") == 2
    assert httpx.post(f"{url}/models/iris/predict", json=[ROW]).json()["model_version"] == 2
    # The same through the registry (assay models promote in another process): the watcher refuses it too.
    reg.promote("iris", 3)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/models/iris/status").json()
        if status["last_swap_error"]:
            break
        time.sleep(0.2)
    assert "version 3 failed to load" in status["last_swap_error"]
    assert status["production"]["version"] == 2
    assert httpx.post(f"{url}/models/iris/predict", json=[ROW]).json()["model_version"] == 2

    # Canary 50 % and shadow: both versions answer live traffic, the shadow is logged but never returned.
    reg.promote("iris", 2)
    r = httpx.post(f"{url}/admin/models/iris/canary", json={"version": 1, "percent": 50}, headers=ADMIN)
    assert r.json()["canary"]["version"] == 1
    results = asyncio.run(_load(url, 200, 4))
    served = [body["model_version"] for _, body, _ in results]
    assert 40 < served.count(1) < 160
    assert served.count(1) + served.count(2) == 200
    httpx.post(f"{url}/admin/models/iris/canary", json={"percent": 0}, headers=ADMIN)
    r = httpx.post(f"{url}/admin/models/iris/shadow", json={"version": 1}, headers=ADMIN)
    assert r.json()["shadow"]["version"] == 1
    results = asyncio.run(_load(url, 40, 4))
    assert {body["model_version"] for _, body, _ in results} == {2}
    time.sleep(0.5)
    # feedback on the requests it mirrored scores the shadow version too, next to production's
    feedback = [{"request_id": body["request_id"], "value": "setosa"} for _, body, _ in results]
    assert httpx.post(f"{url}/models/iris/feedback", json=feedback).json()["stored"] == 40
    live = httpx.get(f"{url}/models/iris/metrics").json()["versions"]
    assert live["2"]["feedback_rows"] == live["1"]["feedback_rows"] == 40
    metrics = httpx.get(f"{url}/metrics").text
    assert 'assay_requests_total{model="iris",status="shadow_200",version="1"}' in metrics
    assert 'assay_requests_total{model="iris",status="200",version="1"}' in metrics
    assert 'assay_requests_total{model="iris",status="200",version="2"}' in metrics
    server.stop()
    with sqlite3.connect(registry_dir / "predictions.sqlite") as conn:
        shadows = conn.execute("SELECT count(*) FROM assay_predictions WHERE shadow = 1 AND version = 1").fetchone()
    assert shadows[0] == 40


def test_kill_9_under_load_every_2xx_has_a_log_record(registry_dir, start_server):
    # Production v2 with v1 as fallback; above 4 in flight the fallback answers (degraded "pressure").
    open_registry(registry_dir).promote("iris", 2)
    server = start_server(registry_dir, "--watch-seconds", "0", "--degrade-at", "4")
    url = server.url
    ok_ids: list[str] = []
    degraded: list[str] = []

    async def run() -> None:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=8)) as client:
            stop = asyncio.Event()

            async def worker() -> None:
                while not stop.is_set():
                    try:
                        r = await client.post(f"{url}/models/iris/predict", json=[ROW])
                    except httpx.HTTPError:
                        return  # the server died under us: that request got no 2xx
                    if r.status_code == 200:
                        ok_ids.append(r.headers["x-request-id"])
                        if r.json()["degraded"]:
                            degraded.append(r.headers["x-assay-degraded"])

            async def killer() -> None:
                while len(ok_ids) < 150:
                    await asyncio.sleep(0.01)
                server.proc.send_signal(signal.SIGKILL)
                await asyncio.sleep(0.5)
                stop.set()

            await asyncio.gather(killer(), *[worker() for _ in range(8)])

    asyncio.run(run())
    assert server.proc.wait(10) == -signal.SIGKILL
    assert len(ok_ids) >= 150
    with sqlite3.connect(registry_dir / "predictions.sqlite") as conn:
        logged = {r[0] for r in conn.execute("SELECT request_id FROM assay_predictions")}
    missing = set(ok_ids) - logged
    assert missing == set()
    assert len(ok_ids) == len(set(ok_ids))
    # 8 clients against --degrade-at 4: some requests were answered by the fallback under pressure.
    assert degraded
    assert set(degraded) == {"pressure"}


def test_any_registered_version_is_served_on_request(registry_dir, start_server, tmp_path):
    reg = open_registry(registry_dir)
    reg.register(iris_artifact(tmp_path, alpha=1e-1), "iris")  # v3
    reg.register(iris_artifact(tmp_path, alpha=1.0), "iris")  # v4, damaged after registration below
    stored = reg.get("iris", 4).path / "steps.json"
    stored.write_text(stored.read_text() + " ")
    server = start_server(registry_dir)
    body = {"inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in ROW.items()]}

    def infer(version: int) -> httpx.Response:
        return httpx.post(f"{server.url}/v2/models/iris/versions/{version}/infer", json=body, timeout=60)

    # Before any request loads v3: described from its manifest, and reported as not ready (yet).
    meta = httpx.get(f"{server.url}/v2/models/iris/versions/3")
    assert meta.status_code == 200
    assert meta.headers["X-Model-Version"] == "3"
    assert {i["name"] for i in meta.json()["inputs"]} == set(ROW)
    # every registered version may be asked for by number (loaded on request), so the metadata lists them all
    assert meta.json()["versions"] == ["1", "2", "3", "4"]
    assert httpx.get(f"{server.url}/v2/models/iris").json()["versions"] == ["1", "2", "3", "4"]
    assert httpx.get(f"{server.url}/v2/models/iris/versions/3/ready").status_code == 503
    missing = httpx.get(f"{server.url}/v2/models/iris/versions/9")
    assert missing.status_code == 404
    assert missing.json()["error"].count("no version 9") == 1  # said once, with the versions there are
    assert "versions: 1, 2, 3, 4" in missing.json()["error"]
    for version in (2, 3, 2, 1, 3):  # v1 is production; v2 and v3 are loaded when asked for
        r = infer(version)
        assert r.status_code == 200, r.text
        assert r.json()["model_version"] == str(version)
        assert r.headers["X-Model-Version"] == str(version)
        assert len(r.json()["parameters"]["request_id"]) == 32
    r = infer(4)  # fails its hash check: a clear error for this request only
    assert r.status_code == 409
    assert "version 4 failed to load" in r.json()["error"]
    assert "modified after it was written" in r.json()["error"]
    r = infer(9)
    assert r.status_code == 404
    assert r.json()["error"].count("no version 9") == 1  # said once, with the versions there are
    assert "(versions: 1, 2, 3, 4)" in r.json()["error"]
    assert infer(3).status_code == 200  # the others are untouched
    assert httpx.get(f"{server.url}/v2/models/iris/versions/3/ready").json()["ready"] is True
    assert httpx.post(f"{server.url}/models/iris/predict", json=[ROW]).json()["model_version"] == 1
    server.stop()
    with sqlite3.connect(registry_dir / "predictions.sqlite") as conn:
        logged = dict(conn.execute("SELECT version, count(*) FROM assay_predictions GROUP BY version").fetchall())
    assert logged == {1: 2, 2: 2, 3: 3}  # every 2xx logged under the version that answered it


def test_a_restart_with_a_broken_production_version_serves_the_one_before(registry_dir, start_server, tmp_path):
    # v2 promoted (as assay models promote does, no server running), then its artifact damaged
    reg = open_registry(registry_dir)
    reg.promote("iris", 2)
    stored = reg.get("iris", 2).path / "steps.json"
    stored.write_text(stored.read_text() + " ")
    server = start_server(registry_dir, "--model", "iris", "--watch-seconds", "0.2")
    r = httpx.post(f"{server.url}/models/iris/predict", json=[ROW])
    assert r.status_code == 200
    assert r.json()["model_version"] == 1  # the version in production before v2
    status = httpx.get(f"{server.url}/models/iris/status").json()
    assert "version 2 failed to load" in status["last_swap_error"]
    assert "modified after it was written" in status["last_swap_error"]
    time.sleep(1.0)  # five registry polls: the broken version is not tried (and logged) again
    assert server.logs().count("version 2 failed to load") == 1
    # a version that loads, promoted in the registry, is served
    reg.register(iris_artifact(tmp_path), "iris")
    reg.promote("iris", 3)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.post(f"{server.url}/models/iris/predict", json=[ROW]).json()["model_version"] == 3:
            break
        time.sleep(0.1)
    status = httpx.get(f"{server.url}/models/iris/status").json()
    assert status["production"]["version"] == 3
    assert status["last_swap_error"] is None


def test_a_model_none_of_whose_versions_loads_is_a_503_that_says_why(start_server, tmp_path):
    reg = open_registry(tmp_path / "registry")
    reg.register(iris_artifact(tmp_path), "iris")
    reg.register(iris_artifact(tmp_path), "other")
    stored = reg.get("iris", 1).path / "steps.json"
    stored.write_text(stored.read_text() + " ")
    server = start_server(tmp_path / "registry", "--watch-seconds", "0.2")
    assert httpx.post(f"{server.url}/models/other/predict", json=[ROW]).status_code == 200
    r = httpx.post(f"{server.url}/models/iris/predict", json=[ROW])
    assert r.status_code == 503
    assert "registered but could not be loaded" in r.json()["error"]
    assert "modified after it was written" in r.json()["error"]
    time.sleep(1.0)
    assert server.logs().count("version 1 failed to load") == 1
    assert httpx.post(f"{server.url}/models/nope/predict", json=[ROW]).status_code == 404
    listing = httpx.get(f"{server.url}/models").json()
    assert [m["model"] for m in listing["models"]] == ["other"]
    assert "modified after it was written" in listing["unavailable"]["iris"]


def test_canary_and_shadow_name_versions_as_promote_does(registry_dir, start_server):
    server = start_server(registry_dir)
    url = f"{server.url}/admin/models/iris"
    for path in ("canary", "shadow"):
        unknown = httpx.post(f"{url}/{path}", json={"version": 9, "percent": 20}, headers=ADMIN)
        assert unknown.status_code == 404
        assert "has no version 9" in unknown.json()["error"]
        for bad in ([2], True, {"v": 2}, 2.5):
            r = httpx.post(f"{url}/{path}", json={"version": bad, "percent": 20}, headers=ADMIN)
            assert r.status_code == 400, (path, bad, r.text)
            assert "version must be a version number or an alias name" in r.json()["error"]
            assert r.json()["error"].endswith(f"got {json.dumps(bad)}")  # as the client wrote it: true, not True
        assert httpx.post(f"{url}/{path}", json={"version": "nope"}, headers=ADMIN).status_code == 404
    assert httpx.post(f"{url}/promote", json={"version": True}, headers=ADMIN).status_code == 400
    for percent in (True, "10", 101, -1):  # (true was taken as 1 %)
        r = httpx.post(f"{url}/canary", json={"version": 2, "percent": percent}, headers=ADMIN)
        assert r.status_code == 400, (percent, r.text)
        assert "percent must be a number from 0 to 100" in r.json()["error"]
    # an alias names a version, as for promote; a version already loaded is the same deployment (one breaker)
    open_registry(registry_dir).promote("iris", 2, "staging")
    r = httpx.post(f"{url}/canary", json={"version": "staging", "percent": 30}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert (r.json()["canary"]["version"], r.json()["canary_percent"]) == (2, 30.0)
    r = httpx.post(f"{url}/shadow", json={"version": "v2"}, headers=ADMIN)
    assert r.json()["shadow"]["version"] == 2
    for _ in range(20):
        assert httpx.post(f"{server.url}/models/iris/predict", json=[ROW]).status_code == 200
    status = httpx.get(f"{server.url}/models/iris/status").json()
    assert status["canary"] == status["shadow"]  # one deployment of v2: its counts hold both roles' calls


def test_promoting_the_canary_ends_it_and_ending_a_canary_keeps_a_version_loaded_on_request(registry_dir, start_server):
    server = start_server(registry_dir, "--watch-seconds", "0")
    url = server.url
    oip = {"inputs": [{"name": n, "shape": [1], "datatype": "FP64", "data": [ROW[n]]} for n in ROW]}
    assert httpx.post(f"{url}/v2/models/iris/versions/2/infer", json=oip).status_code == 200  # v2 loaded on request
    r = httpx.post(f"{url}/admin/models/iris/canary", json={"version": 2, "percent": 50}, headers=ADMIN)
    assert r.json()["canary"]["version"] == 2
    httpx.post(f"{url}/admin/models/iris/canary", json={"percent": 0}, headers=ADMIN)
    time.sleep(0.5)  # (a deployment that is let go of drains after 0.2 s)
    r = httpx.post(f"{url}/v2/models/iris/versions/2/infer", json=oip, timeout=10)
    assert r.status_code == 200  # the deployment the canary shared with the request-loaded version still serves
    httpx.post(f"{url}/admin/models/iris/canary", json={"version": 2, "percent": 50}, headers=ADMIN)
    r = httpx.post(f"{url}/admin/models/iris/promote", json={"version": 2}, headers=ADMIN)
    assert (r.json()["production"]["version"], r.json()["canary"], r.json()["canary_percent"]) == (2, None, 0.0)
    assert {_predict_version(url) for _ in range(10)} == {2}


def _predict_version(url: str) -> int:
    return httpx.post(f"{url}/models/iris/predict", json=[ROW]).json()["model_version"]


def test_a_server_on_an_empty_registry_says_so_and_serves_what_is_registered_later(start_server, tmp_path):
    server = start_server(tmp_path / "new-registry", "--watch-seconds", "0.2")
    assert "serving no models: the registry" in server.logs()
    assert "holds no models; models registered there are served within 0.2s" in server.logs()
    open_registry(tmp_path / "new-registry").register(iris_artifact(tmp_path), "iris")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = httpx.post(f"{server.url}/models/iris/predict", json=[ROW])
        if r.status_code == 200:
            break
        time.sleep(0.1)
    assert r.status_code == 200


def test_promoting_another_alias_over_http_moves_it_and_leaves_production_serving(registry_dir, start_server):
    server = start_server(registry_dir, "--watch-seconds", "0")
    url = f"{server.url}/admin/models/iris"
    r = httpx.post(f"{url}/promote", json={"version": 2, "alias": "staging"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["production"]["version"] == 1
    assert open_registry(registry_dir).aliases("iris") == {"production": 1, "staging": 2}
    # Before, the server served the staging version as production until the registry watch swapped it back (and
    # for good with --watch-seconds 0).
    answers = [httpx.post(f"{server.url}/models/iris/predict", json=[ROW]).json() for _ in range(5)]
    assert [a["model_version"] for a in answers] == [1] * 5
    bad = httpx.post(f"{url}/promote", json={"version": 2, "alias": "no good"}, headers=ADMIN)
    assert bad.status_code == 400
    assert "invalid alias 'no good'" in bad.json()["error"]
    # A damaged version is not given the alias.
    stored = open_registry(registry_dir).get("iris", 1).path
    (stored / "steps.json").write_text((stored / "steps.json").read_text() + " ")
    damaged = httpx.post(f"{url}/promote", json={"version": 1, "alias": "staging"}, headers=ADMIN)
    assert damaged.status_code == 409
    assert "staging not moved" in damaged.json()["error"]
    assert open_registry(registry_dir).aliases("iris")["staging"] == 2
    # Rolling staging back leaves production (the body's alias was ignored: production was rolled back instead).
    open_registry(registry_dir).promote("iris", 2)
    assert httpx.post(f"{url}/promote", json={"version": 2}, headers=ADMIN).json()["production"]["version"] == 2
    r = httpx.post(f"{url}/rollback", json={"alias": "staging"}, headers=ADMIN)
    assert r.status_code == 409  # staging has pointed only at version 2
    assert "staging has pointed only at version 2" in r.json()["error"]
    assert r.json()["error"].startswith("model 'iris': staging")
    assert open_registry(registry_dir).aliases("iris") == {"production": 2, "staging": 2}
    assert httpx.post(f"{server.url}/models/iris/predict", json=[ROW]).json()["model_version"] == 2


def test_a_rollback_to_a_version_that_fails_to_load_moves_nothing(registry_dir, start_server):
    reg = open_registry(registry_dir)
    reg.promote("iris", 2)
    server = start_server(registry_dir, "--watch-seconds", "0")
    stored = reg.get("iris", 1).path
    (stored / "steps.json").write_text((stored / "steps.json").read_text() + " ")  # v1 damaged since
    r = httpx.post(f"{server.url}/admin/models/iris/rollback", headers=ADMIN)
    assert r.status_code == 409
    assert "version 1 of iris failed to load" in r.json()["error"]
    assert "production not rolled back, serving v2" in r.json()["error"]
    # Before, the registry was rolled back to the broken version while v2 went on serving: the two disagreed, and a
    # restarted server would not have served v2.
    assert reg.aliases("iris")["production"] == 2
    assert httpx.post(f"{server.url}/models/iris/predict", json=[ROW]).json()["model_version"] == 2


def test_mirrored_requests_are_timed_apart_from_what_clients_were_answered(registry_dir, start_server):
    import re

    server = start_server(registry_dir)
    url = server.url

    def counts() -> dict[tuple[str, str], float]:
        text = httpx.get(f"{url}/metrics").text
        found = re.findall(r'(assay_(?:shadow_)?request_seconds)_count\{model="iris",version="(\d+)"\} ([0-9.]+)', text)
        return {(metric, version): float(n) for metric, version, n in found}

    # v2 both the canary (half the clients' requests) and the shadow (a mirror of the other half): one deployment
    for path, body in (("canary", {"version": 2, "percent": 50}), ("shadow", {"version": 2})):
        assert httpx.post(f"{url}/admin/models/iris/{path}", json=body, headers=ADMIN).status_code == 200
    results = asyncio.run(_load(url, 100, 4))
    served = [body["model_version"] for _, body, _ in results]
    assert served.count(1) + served.count(2) == 100
    assert 10 < served.count(1) < 90
    deadline = time.monotonic() + 10
    while counts().get(("assay_shadow_request_seconds", "2"), 0) < served.count(1) and time.monotonic() < deadline:
        time.sleep(0.05)  # mirrors run after the answer
    seen = counts()
    # the client-facing histogram holds what each version answered clients, and nothing else
    assert seen[("assay_request_seconds", "1")] == served.count(1)
    assert seen[("assay_request_seconds", "2")] == served.count(2)
    # the shadow's own latency: one per request answered by another version (the canary's are not mirrored)
    assert seen[("assay_shadow_request_seconds", "2")] == served.count(1)
    assert ("assay_shadow_request_seconds", "1") not in seen


def _admin_request(name: str, body: bytes = b"") -> object:
    from starlette.requests import Request

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": f"/admin/models/{name}/promote", "query_string": b"",
             "headers": [(b"authorization", ADMIN["Authorization"].encode())], "path_params": {"name": name}}
    return Request(scope, receive)


def test_the_registry_watch_does_not_undo_an_admin_promote_or_rollback(registry_dir):
    # The admin routes swapped the new version in and moved the alias after: a watch poll in between read the old
    # alias and swapped the old version back in (then the new one again, a poll later): requests sent after the
    # promote was answered got the old version. A slow registry write makes the gap wide enough to land in.
    from assay.serve._app import Handlers, ServeConfig, Server

    async def scenario() -> list[tuple[str, set[int]]]:
        server = Server(ServeConfig(registry=str(registry_dir), token="s3cret", watch_seconds=0.005,
                                    drift_seconds=0))
        await server.startup()
        try:
            for method in ("promote", "rollback"):
                real = getattr(server.registry, method)

                def slow(*args, real=real, **kwargs):
                    time.sleep(0.3)
                    return real(*args, **kwargs)

                setattr(server.registry, method, slow)
            handlers = Handlers(server)
            seen = []
            for action, body in [("promote", b'{"version": 2}'), ("rollback", b""), ("promote", b'{"version": 2}')]:
                response = await getattr(handlers, f"admin_{action}")(_admin_request("iris", body))
                assert response.status_code == 200, response.body
                served = set()
                for _ in range(60):  # 0.3 s of watch polls after the answer
                    served.add(server.slots["iris"].production.version)
                    await asyncio.sleep(0.005)
                seen.append((action, served))
            return seen
        finally:
            for task in server._tasks:
                task.cancel()
            await server.shutdown()

    assert asyncio.run(scenario()) == [("promote", {2}), ("rollback", {1}), ("promote", {2})]
    assert open_registry(registry_dir).resolve("iris") == 2


def test_a_version_deleted_from_the_registry_is_no_longer_served(registry_dir, start_server, tmp_path):
    # A version loaded on request, kept as the fallback, or serving as canary or shadow went on answering after
    # `assay models delete` until the server restarted (and the OIP metadata went on listing it).
    reg = open_registry(registry_dir)
    reg.register(iris_artifact(tmp_path, alpha=1e-1), "iris")  # v3
    server = start_server(registry_dir, "--watch-seconds", "0.1")
    body = {"inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in ROW.items()]}

    def infer(version: int) -> httpx.Response:
        return httpx.post(f"{server.url}/v2/models/iris/versions/{version}/infer", json=body, timeout=60)

    assert infer(3).status_code == 200  # loaded on request
    r = httpx.post(f"{server.url}/admin/models/iris/promote", json={"version": 2}, headers=ADMIN, timeout=60)
    assert r.json()["fallback"]["version"] == 1
    for role, setting in (("canary", {"version": 3, "percent": 50}), ("shadow", {"version": 3})):
        r = httpx.post(f"{server.url}/admin/models/iris/{role}", json=setting, headers=ADMIN, timeout=60)
        assert r.json()[role]["version"] == 3
    reg.delete("iris", 3)
    reg.delete("iris", 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/models/iris/status").json()
        if infer(3).status_code == 404 and status["fallback"] is None and status["canary"] is None:
            break
        time.sleep(0.1)
    r = infer(3)
    assert r.status_code == 404, r.text
    assert "no version 3" in r.json()["error"]
    assert infer(1).status_code == 404
    status = httpx.get(f"{server.url}/models/iris/status").json()
    assert status["fallback"] is None
    assert status["canary"] is None
    assert status["canary_percent"] == 0.0
    assert status["shadow"] is None
    versions = {httpx.post(f"{server.url}/models/iris/predict", json=[ROW]).json()["model_version"] for _ in range(20)}
    assert versions == {2}
    assert httpx.get(f"{server.url}/v2/models/iris").json()["versions"] == ["2"]
    assert infer(2).status_code == 200
    assert "was deleted from the registry" in server.logs()


def test_a_model_whose_every_version_is_deleted_is_no_longer_served(registry_dir, start_server, tmp_path):
    # It answered from memory until the server restarted (the registry watch skipped a name it no longer lists).
    reg = open_registry(registry_dir)
    reg.register(iris_artifact(tmp_path), "other")
    for args in ((), ("--model", "iris", "--model", "other")):
        server = start_server(registry_dir, "--watch-seconds", "0.1", *args)
        assert httpx.post(f"{server.url}/models/other/predict", json=[ROW]).status_code == 200
        reg.delete("other", reg.resolve("other"), force=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if httpx.post(f"{server.url}/models/other/predict", json=[ROW]).status_code == 404:
                break
            time.sleep(0.1)
        r = httpx.post(f"{server.url}/models/other/predict", json=[ROW])
        assert r.status_code == 404
        assert "not served here" in r.json()["error"]
        assert httpx.post(f"{server.url}/models/iris/predict", json=[ROW]).status_code == 200
        assert "no version of it is registered any more" in server.logs()
        server.stop()
        reg.register(iris_artifact(tmp_path), "other")  # (for the run with --model)
