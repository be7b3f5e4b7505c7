"""One real server process, real clients: the plain, MLflow and OIP v2 protocols (tritonclient unchanged),
validation errors, size limit, feedback with live metrics, drift, Prometheus metrics, admin auth, OpenAPI fuzzing."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import httpx
import numpy as np
import orjson
import polars as pl
import pytest
from kit import FEATURES, ROW, cars_artifact, free_port, iris, iris_artifact

from assay.registry import open_registry


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("protocols")
    reg = open_registry(tmp / "registry")
    reg.register(iris_artifact(tmp), "iris", reference=iris())
    port = free_port()
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assay",
            "serve",
            "--registry",
            str(tmp / "registry"),
            "--port",
            str(port),
            "--token",
            "s3cret",
            "--max-body-kb",
            "64",
            "--drift-seconds",
            "0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp / "server.log").read_text()
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url, tmp
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    log.close()


def test_plain_predict_carries_version_and_request_id(server):
    url, _ = server
    r = httpx.post(f"{url}/models/iris/predict", json=[ROW, {**ROW, "petal_length": 5.5, "petal_width": 2.1}])
    assert r.status_code == 200
    body = r.json()
    assert body["model_version"] == 1
    assert r.headers["x-model-version"] == "1"
    assert r.headers["x-request-id"] == body["request_id"]
    assert [p["prediction"] for p in body["predictions"]] == ["setosa", "virginica"]
    assert sum(body["predictions"][0][f"proba_{c}"] for c in ("setosa", "versicolor", "virginica")) == pytest.approx(1)
    # One record (not a list) and {"records": [...]} are accepted too.
    assert httpx.post(f"{url}/models/iris/predict", json=ROW).json()["predictions"][0]["prediction"] == "setosa"
    assert len(httpx.post(f"{url}/models/iris/predict", json={"records": [ROW] * 3}).json()["predictions"]) == 3


def test_validation_names_field_and_type_and_size_limit(server):
    url, _ = server
    r = httpx.post(f"{url}/models/iris/predict", json=[{**ROW, "petal_width": "wide"}])
    assert r.status_code == 422
    assert "'petal_width'" in r.json()["error"]
    assert "Float64" in r.json()["error"]
    missing = httpx.post(f"{url}/models/iris/predict", json=[{"sepal_length": 1.0}])
    assert missing.status_code == 422
    assert "sepal_width" in missing.json()["error"]
    assert httpx.post(f"{url}/models/iris/predict", content=b"{not json").status_code == 400
    assert httpx.post(f"{url}/models/nope/predict", json=[ROW]).status_code == 404
    big = httpx.post(f"{url}/models/iris/predict", json=[ROW] * 2000)
    assert big.status_code == 413
    assert "limit of 65536 bytes" in big.json()["error"]
    assert "--max-body-kb" in big.json()["error"]  # what sets the limit, and what a client can do
    big = httpx.post(f"{url}/invocations", json={"dataframe_records": [ROW] * 2000})
    assert big.status_code == 413
    assert big.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"  # MLflow's error shape on its route
    assert "--max-body-kb" in big.json()["message"]


def test_plain_predict_refuses_a_body_declared_as_another_type_with_a_415(server):
    url, _ = server
    csv = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"
    # answered from the HTTP protocol, and (Expect: 100-continue) through the ASGI route: the same answer
    for extra in ({}, {"Expect": "100-continue"}):
        r = httpx.post(f"{url}/models/iris/predict", content=csv, headers={"Content-Type": "text/csv", **extra})
        assert r.status_code == 415, r.text
        assert "reads JSON records" in r.json()["error"]
        assert "/models/iris/invocations" in r.json()["error"]
        assert len(r.headers["x-request-id"]) == 32
        xml = httpx.post(f"{url}/models/iris/predict", content=b"<row/>", headers={"Content-Type": "application/xml"})
        assert xml.status_code == 415
        assert "'application/xml'" in xml.json()["error"]
    # JSON is read whatever it is declared as (curl -d sends form-urlencoded); JSON that is not JSON stays a 400
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8"):
        ok = httpx.post(f"{url}/models/iris/predict", content=orjson.dumps([ROW]), headers={"Content-Type": ctype})
        assert ok.status_code == 200, (ctype, ok.text)
    bad = httpx.post(f"{url}/models/iris/predict", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    empty = httpx.post(f"{url}/models/iris/predict", content=b"[]", headers={"Content-Type": "text/plain"})
    assert empty.status_code == 400  # JSON, however declared: what is wrong is the rows, not the type
    assert "no rows" in empty.json()["error"]


def test_every_response_carries_a_request_id_refusals_too(server):
    url, _ = server
    ids = set()
    refused = httpx.post(f"{url}/models/iris/predict", json=[{**ROW, "petal_width": "wide"}])
    assert refused.status_code == 422
    assert refused.headers["x-model-version"] == "1"  # the version that refused it
    for r in (
        refused,
        httpx.post(f"{url}/models/iris/predict", content=b"{not json"),
        httpx.post(f"{url}/models/nope/predict", json=[ROW]),
        httpx.post(f"{url}/invocations", content=b"x", headers={"Content-Type": "text/plain"}),
        httpx.get(f"{url}/v2/health/ready"),
        httpx.get(f"{url}/metrics"),
        httpx.get(f"{url}/no/such/path"),
    ):
        assert len(r.headers["x-request-id"]) == 32, (r.status_code, r.text)
        ids.add(r.headers["x-request-id"])
    assert len(ids) == 7


def test_mlflow_formats_and_errors(server):
    url, _ = server
    rows = [ROW, {**ROW, "petal_length": 5.5, "petal_width": 2.1}]
    bodies = [
        {"dataframe_split": {"columns": FEATURES, "data": [[r[c] for c in FEATURES] for r in rows]}},
        {"dataframe_records": rows},
        {"instances": rows},
        {"inputs": {c: [r[c] for r in rows] for c in FEATURES}},
    ]
    for body in bodies:
        r = httpx.post(f"{url}/invocations", json=body)
        assert r.status_code == 200, (body, r.text)
        assert r.json()["predictions"] == ["setosa", "virginica"]
        assert r.headers["x-model-version"] == "1"
    csv = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"
    r = httpx.post(f"{url}/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert r.json()["predictions"] == ["setosa"]
    # a header line without rows is refused like a JSON body without rows (not a 200 of no predictions)
    empty = httpx.post(f"{url}/invocations", content=csv.splitlines()[0] + "\n", headers={"Content-Type": "text/csv"})
    assert empty.status_code == 400
    assert "holds no rows" in empty.json()["message"]
    bom = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, as Windows tools write one
    for path, body in (("/invocations", {"dataframe_records": rows}), ("/models/iris/predict", rows)):
        r = httpx.post(f"{url}{path}", content=bom + orjson.dumps(body), headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
    empty = httpx.post(f"{url}/invocations", json={"inputs": {c: [] for c in FEATURES}})
    assert empty.status_code == 400
    assert empty.json()["message"] == "inputs holds no rows"
    bad = httpx.post(f"{url}/invocations", json={"dataframe_records": rows, "instances": rows})
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "BAD_REQUEST"
    assert "exactly one of the input fields" in bad.json()["message"]
    wrong_type = httpx.post(f"{url}/invocations", json={"instances": [{**ROW, "sepal_width": "x"}]})
    assert wrong_type.status_code == 400
    assert "sepal_width" in wrong_type.json()["message"]
    # a CSV body Polars cannot read: what and where, without Polars' advice on its own read_csv arguments
    unread = httpx.post(f"{url}/invocations", content=csv + '"5.1,3.5,1.4,0.2\n', headers={"Content-Type": "text/csv"})
    assert unread.status_code == 400
    assert unread.json()["message"].startswith("could not read the CSV body: ")
    assert "infer_schema_length" not in unread.json()["message"]
    for probe in ("/ping", "/health"):  # MLflow's health checks, as its scoring server answers them
        assert httpx.get(f"{url}{probe}").status_code == 200
    r = httpx.post(f"{url}/invocations", content=b"x", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415
    assert r.text.startswith("This predictor only supports the following content types")


def test_oip_with_tritonclient(server):
    import tritonclient.http as triton

    url, _ = server
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    meta = client.get_model_metadata("iris")
    assert [i["name"] for i in meta["inputs"]] == FEATURES
    data = iris().select(FEATURES).to_numpy()[[0, 75, 149]]
    for binary in (False, True):
        inputs = []
        for j, name in enumerate(FEATURES):
            tensor = triton.InferInput(name, [3], "FP64")
            tensor.set_data_from_numpy(np.ascontiguousarray(data[:, j]), binary_data=binary)
            inputs.append(tensor)
        result = client.infer("iris", inputs, request_id="req-1")
        labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("prediction")]
        assert labels == ["setosa", "versicolor", "virginica"]
        assert result.as_numpy("proba_setosa").shape == (3,)
        assert result.get_response()["model_version"] == "1"
    r = httpx.post(
        f"{url}/v2/models/iris/versions/1/infer",
        json={"inputs": [{"name": n, "shape": [1, 1], "datatype": "FP64", "data": [[ROW[n]]]} for n in FEATURES]},
    )
    assert r.status_code == 200
    assert r.json()["outputs"][0]["data"] == ["setosa"]
    assert (
        httpx.post(
            f"{url}/v2/models/iris/versions/9/infer",
            json={"inputs": [{"name": n, "shape": [1], "datatype": "FP64", "data": [1.0]} for n in FEATURES]},
        ).status_code
        == 404
    )
    # A route the server does not have is an error in the protocol's shape ({"error": ...}), which the client
    # reports as such (FastAPI's {"detail": ...} made it fail decoding the answer).
    with pytest.raises(triton.InferenceServerException) as info:
        client.get_model_repository_index()
    assert info.value.status() == "404"
    assert "no route POST /v2/repository/index" in info.value.message()
    wrong_method = httpx.get(f"{url}/v2/models/iris/infer")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"error": "Method Not Allowed"}
    assert wrong_method.headers["allow"] == "POST"
    assert len(wrong_method.headers["x-request-id"]) == 32


def test_a_nan_written_by_python_json_or_tritonclient_is_a_missing_value(start_server, tmp_path):
    import json
    import uuid

    import tritonclient.http as triton

    from assay._fitted import Model
    from assay.clean._missing import MissingStep
    from assay.models import LogisticRegressionGD

    frame = iris()
    est = LogisticRegressionGD(max_iter=200).fit(frame.select(FEATURES).to_numpy(), frame["species"].to_numpy())
    steps = [MissingStep().fit(frame.select(FEATURES))]  # missing inputs get the training median
    model = Model(
        steps,
        est,
        task="classification",
        target="species",
        input_schema=dict.fromkeys(FEATURES, "Float64"),
        features=FEATURES,
        classes=[str(c) for c in est.classes_],
    )
    open_registry(tmp_path / "registry").register(model.save(tmp_path / f"m-{uuid.uuid4().hex[:6]}"), "iris")
    url = start_server(tmp_path / "registry").url
    with_nan = {**ROW, "sepal_width": float("nan")}
    missing = {**ROW, "sepal_width": None}
    expected = httpx.post(f"{url}/models/iris/predict", json=[missing]).json()["predictions"]
    # json.dumps (requests' json=, MLflow's client) writes NaN, which MLflow's scoring server reads as missing.
    for path, body in [
        ("predict", [with_nan]),
        ("invocations", {"dataframe_records": [with_nan]}),
        ("invocations", {"dataframe_split": {"columns": FEATURES, "data": [[with_nan[c] for c in FEATURES]]}}),
    ]:
        r = httpx.post(
            f"{url}/models/iris/{path}", content=json.dumps(body), headers={"content-type": "application/json"}
        )
        assert r.status_code == 200, (path, r.text)
        got = r.json()["predictions"]
        assert got == (expected if path == "predict" else [expected[0]["prediction"]])
    # tritonclient's JSON tensors write NaN too.
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    inputs = []
    for name in FEATURES:
        tensor = triton.InferInput(name, [1], "FP64")
        tensor.set_data_from_numpy(np.array([with_nan[name]]), binary_data=False)
        inputs.append(tensor)
    result = client.infer("iris", inputs)
    assert list(result.as_numpy("prediction")) == [expected[0]["prediction"]]
    # What is still not JSON is refused as before.
    for bad in (b'[{"sepal_width": NaN', b'[{"sepal_width": nan}]', b'[{"a": "\\ud800", "b": NaN}]', b"[" * 5000):
        r = httpx.post(f"{url}/models/iris/predict", content=bad)
        assert r.status_code == 400, bad
        assert "not valid JSON" in r.json()["error"]


def test_a_whole_float_for_an_integer_column_is_read_alike_in_every_format(start_server, tmp_path):
    # JSON writers (pandas' to_json) write 2010.0 for a year; a column of them may also hold a missing value
    # written as text ("" or "NA"), which made the column text in some layouts and "2010.0" no integer.
    open_registry(tmp_path / "registry").register(cars_artifact(tmp_path), "cars")
    url = start_server(tmp_path / "registry").url
    cols = ["year", "mileage"]

    def bodies(years: list) -> list[tuple[str, dict]]:
        rows = [{"year": y, "mileage": 40.0 + i} for i, y in enumerate(years)]
        csv = "year,mileage\n" + "".join(f"{'' if r['year'] is None else r['year']},{r['mileage']}\n" for r in rows)
        return [
            ("split", {"json": {"dataframe_split": {"columns": cols, "data": [[r[c] for c in cols] for r in rows]}}}),
            ("records", {"json": {"dataframe_records": rows}}),
            ("instances", {"json": {"instances": rows}}),
            ("inputs", {"json": {"inputs": {c: [r[c] for r in rows] for c in cols}}}),
            ("csv", {"content": csv, "headers": {"content-type": "text/csv"}}),
            ("predict", {"json": rows}),
            ("oip", {"json": {"inputs": [{"name": c, "shape": [len(rows)], "datatype": "FP64" if c == "mileage" else
                                          "INT64", "data": [r[c] for r in rows]} for c in cols]}}),
        ]

    paths = {"predict": "/models/cars/predict", "oip": "/v2/models/cars/infer"}

    def post(fmt: str, kwargs: dict) -> httpx.Response:
        return httpx.post(url + paths.get(fmt, "/models/cars/invocations"), **kwargs)

    def predictions(r: httpx.Response) -> list:
        body = r.json()
        if "outputs" in body:
            return body["outputs"][0]["data"]
        return [p["prediction"] if isinstance(p, dict) else p for p in body["predictions"]]

    expected = predictions(post("records", bodies([2010, None, 2011])[1][1]))
    assert len(expected) == 3
    for years in ([2010.0, "", 2011.0], [2010.0, "NA", 2011], [2010.0, None, 2011.0]):
        for fmt, kwargs in bodies(years):
            r = post(fmt, kwargs)
            assert r.status_code == 200, (years, fmt, r.text)
            assert predictions(r) == pytest.approx(expected), (years, fmt)
    for years in ([2010.5, None, 2011], [2010.5, "NA", 2011.0]):
        for fmt, kwargs in bodies(years):
            r = post(fmt, kwargs)
            # MLflow answers every invalid input with a 400; the plain and OIP routes with a 422, as for any value
            # of the wrong type
            assert r.status_code == (422 if fmt in paths else 400), (years, fmt, r.text)
            message = r.json()["error" if fmt in paths else "message"]
            assert "'year'" in message, (fmt, message)
            assert "2010.5" in message, (fmt, message)
            assert "Int64" in message, (fmt, message)


def test_the_request_counter_says_the_status_the_client_was_given(server):
    import re

    url, _ = server

    def counts() -> dict[str, float]:
        text = httpx.get(f"{url}/metrics").text
        found = re.findall(r'assay_requests_total\{model="iris",status="(\d+)",version="1"\} ([0-9.]+)', text)
        return {status: float(value) for status, value in found}

    before = counts()
    bad = {**ROW, "petal_width": "wide"}
    mlflow = [httpx.post(f"{url}/models/iris/invocations", json={"dataframe_records": [bad]}) for _ in range(2)]
    plain = httpx.post(f"{url}/models/iris/predict", json=[bad])
    assert [r.status_code for r in mlflow] == [400, 400]  # MLflow's answer to input its schema refuses
    assert plain.status_code == 422
    after = counts()
    assert after.get("400", 0) - before.get("400", 0) == 2
    assert after.get("422", 0) - before.get("422", 0) == 1


def test_a_model_s_own_address_answers_its_status(server):
    url, _ = server
    status = httpx.get(f"{url}/models/iris")
    assert status.status_code == 200
    assert status.json()["model"] == "iris"
    assert status.json()["production"]["version"] == httpx.get(f"{url}/models/iris/status").json()[
        "production"]["version"]
    assert httpx.get(f"{url}/models/nope").status_code == 404


def test_version_numbers_no_database_can_hold_are_unknown_versions(server):
    url, _ = server
    for path in ("", "/ready"):
        r = httpx.get(f"{url}/v2/models/iris/versions/99999999999999999999{path}")
        assert r.status_code == 404, r.text
        assert "has no version 99999999999999999999" in r.json()["error"]
        r = httpx.get(f"{url}/v2/models/iris/versions/%C2%B2{path}")  # "²"
        assert r.status_code == 400, r.text
    oip = {"inputs": [{"name": n, "shape": [1], "datatype": "FP64", "data": [ROW[n]]} for n in FEATURES]}
    assert httpx.post(f"{url}/v2/models/iris/versions/99999999999999999999/infer", json=oip).status_code == 404


def test_oip_refuses_unknown_outputs_and_datatypes(server):
    url, _ = server
    inputs = [{"name": n, "shape": [1], "datatype": "FP64", "data": [ROW[n]]} for n in FEATURES]
    r = httpx.post(f"{url}/v2/models/iris/infer", json={"inputs": inputs, "outputs": [{"name": "probability"}]})
    assert r.status_code == 400
    assert "unknown output(s) 'probability'" in r.json()["error"]
    assert "'prediction', 'proba_setosa'" in r.json()["error"]
    assert r.headers["x-model-version"] == "1"
    r = httpx.post(f"{url}/v2/models/iris/infer", json={"inputs": inputs, "outputs": [{"name": "proba_setosa"}]})
    assert [o["name"] for o in r.json()["outputs"]] == ["proba_setosa"]
    for datatype in ("FOO", None, "FLOAT"):
        bad = [{**inputs[0], "datatype": datatype}, *inputs[1:]]
        r = httpx.post(f"{url}/v2/models/iris/infer", json={"inputs": bad})
        assert r.status_code == 400, datatype
        assert f"datatype {datatype!r} is not an OIP tensor datatype" in r.json()["error"]
    half = [{**i, "datatype": "FP16"} for i in inputs]
    assert httpx.post(f"{url}/v2/models/iris/infer", json={"inputs": half}).status_code == 200


def test_feedback_is_idempotent_and_feeds_live_metrics(server):
    url, tmp = server
    frame = iris()
    ids, truths = [], []
    for i in range(0, 150, 10):
        row = {c: frame[c][i] for c in FEATURES}
        ids.append(httpx.post(f"{url}/models/iris/predict", json=[row]).json()["request_id"])
        truths.append(frame["species"][i])
    first = httpx.post(
        f"{url}/models/iris/feedback", json=[{"request_id": r, "value": t} for r, t in zip(ids, truths, strict=True)]
    )
    assert first.json() == {"stored": 15, "duplicates": 0, "unknown_request_ids": 0}
    again = httpx.post(f"{url}/models/iris/feedback", json={"request_id": ids[0], "value": "virginica"})
    assert again.json() == {"stored": 0, "duplicates": 1, "unknown_request_ids": 0}
    assert httpx.post(f"{url}/models/iris/feedback", json={"request_id": "nope", "value": 1}).status_code == 404
    with sqlite3.connect(tmp / "registry" / "predictions.sqlite") as conn:
        stored = conn.execute("SELECT value FROM assay_feedback WHERE request_id = ?", (ids[0],)).fetchall()
    assert stored == [(f'"{truths[0]}"',)]  # the first value is kept, the duplicate ignored
    live = httpx.get(f"{url}/models/iris/metrics").json()["versions"]["1"]
    assert live["feedback_rows"] == 15
    assert live["accuracy"] >= 0.8
    assert 0 < live["f1_macro"] <= 1


def test_drift_against_training_profile(server):
    url, _ = server
    frame = iris().select(FEATURES)
    shifted = frame.with_columns(petal_length=frame["petal_length"] + 4)
    httpx.post(f"{url}/models/iris/predict", json=shifted.to_dicts()[:120])
    report = httpx.get(f"{url}/models/iris/drift").json()["versions"]["1"]
    assert "petal_length" in report["alerts"]
    assert report["features"]["petal_length"]["psi"] > 0.25
    assert report["features"]["petal_length"]["ks"] > 0.3
    assert report["prediction"]["psi"] > 0  # predictions shift with the inputs
    metrics = httpx.get(f"{url}/metrics").text
    assert 'assay_drift_psi{feature="petal_length",model="iris",version="1"}' in metrics


def test_prometheus_metrics_and_admin_auth(server):
    url, _ = server
    httpx.post(f"{url}/models/iris/predict", json=[ROW])
    text = httpx.get(f"{url}/metrics").text
    for name in (
        "assay_requests_total",
        "assay_request_seconds_bucket",
        "assay_batch_rows_bucket",
        "assay_breaker_state",
        "assay_log_written",
        "assay_log_dropped",
    ):
        assert name in text
    missing = httpx.post(f"{url}/admin/reload")
    assert missing.status_code == 401
    assert "not it" not in missing.json()["error"]
    wrong = httpx.post(f"{url}/admin/reload", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    assert "the token given is not it" in wrong.json()["error"]  # sent, but not the server's: said so
    ok = httpx.post(f"{url}/admin/reload", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert ok.json()["models"][0]["production"]["version"] == 1
    # The scheme is case-insensitive (RFC 9110): "bearer" with the right token was refused as a wrong token.
    for header in ("bearer s3cret", "BEARER s3cret"):
        assert httpx.post(f"{url}/admin/reload", headers={"Authorization": header}).status_code == 200
    for header in ("Bearer s3cret2", "Basic s3cret", "s3cret", "Bearer"):
        assert httpx.post(f"{url}/admin/reload", headers={"Authorization": header}).status_code == 401


def test_openapi_fuzzing_finds_no_server_errors(server):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    url, _ = server
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures = []

    def checker(op):
        @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case):
            response = case.call(base_url=url, timeout=10)
            if response.status_code >= 500 and response.status_code != 503:
                failures.append((op.method, op.path, response.status_code, response.text[:200]))

        return check

    checked = 0
    for operation in schema.get_all_operations():
        op = operation.ok()
        if op.path.startswith("/admin"):
            continue  # token-protected; their bodies are covered by the versions tests
        checker(op)()
        checked += 1
    assert checked >= 15
    assert failures == []


def test_bad_request_in_a_batch_fails_alone(server):
    import asyncio

    url, _ = server

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            bodies = [[ROW]] * 12 + [[{**ROW, "petal_width": "wide"}]] * 3 + [[{"sepal_length": 1.0}]]
            responses = await asyncio.gather(*[client.post(f"{url}/models/iris/predict", json=b) for b in bodies])
            return [r.status_code for r in responses]

    for _ in range(3):  # concurrent requests share batches; each bad one gets its own 422
        assert asyncio.run(burst()) == [200] * 12 + [422] * 4


def test_request_tallies_expose_what_prometheus_observe_would():
    """The per-request counts kept in plain Python and added at each /metrics read give the same series as
    ``Counter.inc`` and ``Histogram.observe`` per request, including values on a bucket bound and past the last."""
    from prometheus_client import CollectorRegistry, generate_latest

    from assay.serve._app import _Metrics, _Tally

    direct, tallied = _Metrics(), _Metrics()
    tally = _Tally(
        tallied.requests.labels("m", "1", "200"), tallied.latency.labels("m", "1"), tallied.batch.labels("m", "1")
    )
    latencies = [0.0004, 0.001, 0.0011, 0.003, 0.25, 7.0]
    for i, seconds in enumerate(latencies):
        direct.requests.labels("m", "1", "200").inc()
        direct.latency.labels("m", "1").observe(seconds)
        direct.batch.labels("m", "1").observe(i * 30)
        tally.answered(seconds)
        tally.batched(i * 30)
        if i == 2:
            tally.flush()  # a read in between: nothing is counted twice
    tally.flush()
    tally.flush()

    def series(metrics: _Metrics) -> dict[str, float]:
        lines = generate_latest(metrics.registry).decode().splitlines()
        return {
            k: float(v)
            for k, _, v in (line.rpartition(" ") for line in lines)
            if k.startswith(("assay_requests_total", "assay_request_seconds", "assay_batch_rows"))
        }

    assert isinstance(direct.registry, CollectorRegistry)
    expected = series(direct)
    assert series(tallied) == pytest.approx(expected)  # the sums may differ in the last bit (order of additions)
    assert expected['assay_request_seconds_count{model="m",version="1"}'] == 6
    assert expected['assay_request_seconds_bucket{le="0.001",model="m",version="1"}'] == 2


def test_a_response_head_goes_out_with_its_body():
    """The response cycle's first write (the head) is held and sent with the first body write, in one write;
    later writes pass through; closing sends a held head first."""
    from assay.serve._app import _HeadWithBody

    inner = _Transport()
    cycle = _HeadWithBody(inner)
    cycle.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert inner.writes == []
    cycle.write(b"body")
    cycle.write(b"more")
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]
    assert not cycle.is_closing()  # everything else is the transport's own
    inner = _Transport()
    cycle = _HeadWithBody(inner)
    cycle.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    cycle.close()
    assert inner.writes == [b"HTTP/1.1 500 Internal Server Error\r\n\r\n"]
    assert inner.closed


def _exchange(url: str, raw: bytes, expect: int = 1, body: bytes | None = None) -> list[bytes]:
    """Send raw HTTP/1.1 bytes on one connection and read ``expect`` whole answers (then ``body``, if given, after
    the first answer: the body of an ``Expect: 100-continue`` request)."""
    import socket
    from urllib.parse import urlsplit

    host, port = urlsplit(url).hostname, urlsplit(url).port
    answers: list[bytes] = []
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(raw)
        buffer = b""
        while len(answers) < expect:
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return answers
                buffer += chunk
            head, _, rest = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if head.startswith(b"HTTP/1.1 100") or raw.startswith(b"HEAD"):
                length = 0
            while len(rest) < length:
                rest += sock.recv(65536)
            answers.append(head + b"\r\n\r\n" + rest[:length])
            buffer = rest[length:]
            if body is not None and len(answers) == 1:
                sock.sendall(body)
    return answers


def test_raw_http_answers_are_whole_for_keep_alive_head_close_and_100_continue(server):
    url, _ = server
    body = orjson.dumps([ROW])
    post = (
        f"POST /models/iris/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    answers = _exchange(url, post * 3, expect=3)  # keep-alive, pipelined
    assert len(answers) == 3
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 200")
        assert b"x-request-id: " in answer
        assert orjson.loads(answer.partition(b"\r\n\r\n")[2])["predictions"][0]["prediction"]
    [head] = _exchange(url, b"HEAD /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")  # (every GET route takes HEAD: health probes send it; was a 405)
    assert head.endswith(b"\r\n\r\n")  # the head only
    # no body follows a HEAD's head: the request behind it on the connection is answered whole
    import socket
    from urllib.parse import urlsplit

    with socket.create_connection((urlsplit(url).hostname, urlsplit(url).port), timeout=10) as sock:
        sock.sendall(b"HEAD /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head_only, get_head, get_body = raw.split(b"\r\n\r\n")
    assert head_only.startswith(b"HTTP/1.1 200")
    assert get_head.startswith(b"HTTP/1.1 200")
    assert orjson.loads(get_body) == {"ready": True}
    [closed] = _exchange(url, post.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n"))
    assert closed.startswith(b"HTTP/1.1 200")
    assert b"connection: close" in closed.lower()
    expect = post.replace(b"Host: x\r\n", b"Host: x\r\nExpect: 100-continue\r\n").partition(b"\r\n\r\n")[0]
    first, answer = _exchange(url, expect + b"\r\n\r\n", expect=2, body=body)
    assert first.startswith(b"HTTP/1.1 100")
    assert answer.startswith(b"HTTP/1.1 200")


def test_predict_and_noop_answered_from_the_protocol_keep_every_http_rule(server):
    """The plain predict route and the no-op are answered straight from the HTTP protocol (not through the ASGI
    layers): a chunked body past the limit is refused with 413, an HTTP/1.0 request is answered and its connection
    closed, a pipelined request behind a direct one is answered after it, and a name that needs percent-decoding
    goes the ASGI way with the same answer."""
    url, _ = server
    body = orjson.dumps([ROW])
    big = orjson.dumps([ROW] * 2000)
    chunked = (
        b"POST /models/iris/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(big):x}\r\n".encode()
        + big
        + b"\r\n0\r\n\r\n"
    )
    [refused] = _exchange(url, chunked)
    assert refused.startswith(b"HTTP/1.1 413")
    assert b"limit of 65536 bytes" in refused
    assert b"x-request-id: " in refused
    old = (f"POST /models/iris/predict HTTP/1.0\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    [answer] = _exchange(url, old)
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"connection: close" in answer.lower()
    noop = f"POST /noop HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    post = (f"POST /models/iris/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    first, second, third = _exchange(url, post + noop + post, expect=3)
    assert orjson.loads(first.partition(b"\r\n\r\n")[2])["predictions"][0]["prediction"] == "setosa"
    assert orjson.loads(second.partition(b"\r\n\r\n")[2]) == {"ok": True, "bytes": len(body)}
    assert b"x-model-version: 1" in third
    sized = f"POST /models/iris/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {len(big)}\r\n\r\n".encode() + big
    too_big, after = _exchange(url, sized + post, expect=2)  # the refusal names its own request's length
    assert too_big.startswith(b"HTTP/1.1 413")
    assert f"request body of {len(big)} bytes exceeds the limit of 65536 bytes".encode() in too_big
    assert after.startswith(b"HTTP/1.1 200")
    encoded = httpx.post(f"{url}/models/%69ris/predict", json=[ROW])
    assert encoded.status_code == 200
    assert encoded.json()["predictions"][0]["prediction"] == "setosa"
    assert httpx.post(f"{url}/models/nope/predict", json=[ROW]).status_code == 404


def _connected(app: object, **config: object) -> tuple[object, _Transport]:
    """assay's HTTP protocol for ``app``, in process, connected to a recording transport (call in a running loop)."""
    import asyncio

    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from assay.serve._app import shedding_protocol

    conf = Config(app=app, log_level="warning", **config)
    conf.load()
    protocol = shedding_protocol(app.front)(
        config=conf, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )
    transport = _Transport()
    protocol.connection_made(transport)
    return protocol, transport


class _Transport:
    """A transport that records writes (for the HTTP protocol run in process)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_a_keep_alive_connection_closes_after_the_idle_timeout_and_not_while_in_use():
    """One timer per connection (not one per request) closes it once it has been idle for the keep-alive timeout
    since its last answer; requests that keep coming keep it open."""
    import asyncio

    from assay.serve._app import ServeConfig, create_app

    async def main() -> None:
        protocol, transport = _connected(create_app(ServeConfig()), timeout_keep_alive=0.3)
        request = b"POST /noop HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]"
        for _ in range(8):  # 0.8 s of requests 0.1 s apart: longer than the timeout, never idle that long
            protocol.data_received(request)
            await asyncio.sleep(0.1)
            assert not transport.closed
        assert len(transport.writes) == 8
        assert all(w.startswith(b"HTTP/1.1 200") and w.endswith(b'{"ok":true,"bytes":2}') for w in transport.writes)
        await asyncio.sleep(0.15)
        assert not transport.closed  # idle 0.25 s
        await asyncio.sleep(0.2)
        assert transport.closed  # idle 0.45 s

    asyncio.run(main())


def test_a_retry_sent_at_once_after_a_refusal_is_refused_after_a_hold_in_order():
    """At capacity, a refusal goes out at once; a request that comes back within RETRY_AT_ONCE of its connection's
    refusal (Retry-After ignored) is refused only after ``shed_hold``, and a request pipelined behind a held refusal
    is answered after it."""
    import asyncio

    from assay.serve._app import ServeConfig, create_app

    async def main() -> None:
        app = create_app(ServeConfig(max_inflight=1, shed_hold=0.05))
        app.front.server.inflight = 5  # at capacity: every prediction is refused
        protocol, transport = _connected(app)
        predict = b"POST /models/iris/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]"
        noop = b"POST /noop HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]"
        protocol.data_received(predict)
        assert len(transport.writes) == 1  # the first refusal: at once
        assert transport.writes[0].startswith(b"HTTP/1.1 503")
        assert b"retry-after: 1" in transport.writes[0]
        protocol.data_received(predict + noop)  # resent at once, and a request pipelined behind it
        assert len(transport.writes) == 1  # held
        await asyncio.sleep(0.2)
        assert [w[:12] for w in transport.writes] == [b"HTTP/1.1 503", b"HTTP/1.1 503", b"HTTP/1.1 200"]
        await asyncio.sleep(0.01)  # longer than RETRY_AT_ONCE since the last refusal: not a retry at once
        protocol.data_received(predict)
        assert len(transport.writes) == 4
        assert not transport.closed

    asyncio.run(main())


def test_an_oip_header_length_outside_the_body_says_what_it_must_be():
    from assay.serve._protocols import BadRequest, frame_from_oip

    header = orjson.dumps({"inputs": [{"name": "a", "datatype": "FP64", "shape": [1], "data": [1.0]}]})
    assert frame_from_oip(header, str(len(header)))[0]["a"].to_list() == [1.0]
    for bad in (-5, 0, len(header) + 100):
        with pytest.raises(BadRequest, match=rf"from 1 to the body's {len(header)} bytes; got {bad}$"):
            frame_from_oip(header, str(bad))


def test_a_binary_tensor_whose_size_does_not_fit_its_datatype_is_a_400():
    # 7 bytes of FP64 was numpy's ValueError, a 500; a BYTES element longer than the tensor was cut short silently.
    from assay.serve._protocols import BadRequest, frame_from_oip

    def request(datatype: str, payload: bytes) -> tuple[bytes, str]:
        tensor = {"name": "a", "datatype": datatype, "shape": [1], "parameters": {"binary_data_size": len(payload)}}
        header = orjson.dumps({"inputs": [tensor]})
        return header + payload, str(len(header))

    assert frame_from_oip(*request("FP64", np.array([2.5]).tobytes()))[0]["a"].to_list() == [2.5]
    with pytest.raises(BadRequest, match=r"^input 'a': binary_data_size 7 is not a whole number of FP64 values$"):
        frame_from_oip(*request("FP64", b"\0" * 7))
    with pytest.raises(BadRequest, match=r"binary_data_size 3 is not a whole number of INT16 values"):
        frame_from_oip(*request("INT16", b"\0" * 3))
    assert frame_from_oip(*request("BYTES", b"\x02\0\0\0ok"))[0]["a"].to_list() == ["ok"]
    with pytest.raises(BadRequest, match=r"element 0 is 9 bytes long, past the tensor's end"):
        frame_from_oip(*request("BYTES", b"\x09\0\0\0ok"))


def test_one_pass_over_many_connections_admits_only_what_there_is_room_for():
    """Requests read in one pass of the loop are admitted by the protocol only while there is room (those admitted
    count until their handler runs); the rest get the protocol's own refusal at once instead of a task each whose
    handler would refuse them."""
    import asyncio

    from assay.serve._app import ServeConfig, create_app

    async def main() -> None:
        app = create_app(ServeConfig(max_inflight=2))
        server = app.front.server
        connections = [_connected(app) for _ in range(5)]
        predict = b"POST /models/iris/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]"
        for protocol, _ in connections:
            protocol.data_received(predict)
        # (no await yet: the handlers of the admitted ones have not run)
        refused = [t for _, t in connections if t.writes]
        assert len(refused) == 3
        assert all(t.writes[0].startswith(b"HTTP/1.1 503") and b"retry-after: 1" in t.writes[0] for t in refused)
        assert server.reserved == 2
        await asyncio.sleep(0.05)
        assert server.reserved == 0
        assert server.inflight == 0
        answered = [t.writes for _, t in connections if t not in refused]
        assert all(len(w) == 1 for w in answered)
        assert not any(b"at capacity" in w[0] for w in answered)  # what was admitted was not refused later

    asyncio.run(main())


@pytest.mark.parametrize(
    "values",
    [
        [2010, 2011],
        [2010.0, 2011],
        [2010.0, None, 2011.5],
        [2010.0, "", 2011],
        ["NA", 2010.0],
        [1e20, "a"],
        [True, 1],
        [True, "x"],
        ["a", None, "b"],
        [None, None],
    ],
)
def test_every_json_layout_builds_the_frame_records_build(values):
    from assay.serve._protocols import frame_from_mlflow, frame_from_oip

    rows = [{"x": v, "y": float(i)} for i, v in enumerate(values)]

    def mlflow(body: dict) -> pl.DataFrame:
        return frame_from_mlflow(orjson.dumps(body), "application/json")

    expected = mlflow({"dataframe_records": rows})
    tensors = [{"name": c, "shape": [len(rows)], "datatype": "BYTES", "data": [r[c] for r in rows]} for c in "xy"]
    for frame in (
        mlflow({"dataframe_split": {"columns": ["x", "y"], "data": [[r["x"], r["y"]] for r in rows]}}),
        mlflow({"inputs": {c: [r[c] for r in rows] for c in "xy"}}),
        frame_from_oip(orjson.dumps({"inputs": tensors}), None)[0],
    ):
        assert frame.equals(expected), (frame, expected)


def test_oip_metadata_names_and_types_the_outputs_the_answers_carry(start_server, tmp_path):
    # The metadata said "prediction" FP64 for a clustering (answered as "cluster" INT64) and an anomaly detector
    # ("anomaly" BOOL and "score" FP64), and BYTES for a classifier of 0/1/2 (answered as INT64).
    from sklearn.cluster import KMeans
    from sklearn.ensemble import IsolationForest
    from sklearn.linear_model import LogisticRegression

    from assay._fitted import Model

    frame = iris()
    X = frame.select(FEATURES).to_numpy()
    codes = frame["species"].cast(pl.Categorical).to_physical().cast(pl.Int64).to_numpy()
    schema = dict.fromkeys(FEATURES, "Float64")
    models = {
        "codes": Model([], LogisticRegression(max_iter=500).fit(X, codes), task="classification", target="species",
                       input_schema=schema, features=FEATURES, classes=[0, 1, 2]),
        "groups": Model([], KMeans(n_clusters=3, n_init=2, random_state=0).fit(X), task="clustering", target=None,
                        input_schema=schema, features=FEATURES),
        "odd": Model([], IsolationForest(random_state=0).fit(X), task="anomaly", target=None, input_schema=schema,
                     features=FEATURES),
    }
    reg = open_registry(tmp_path / "registry")
    for name, model in models.items():
        reg.register(model.save(tmp_path / name), name)
    server = start_server(tmp_path / "registry")
    body = {"inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in ROW.items()]}
    for name in models:
        meta = httpx.get(f"{server.url}/v2/models/{name}").json()["outputs"]
        answer = httpx.post(f"{server.url}/v2/models/{name}/infer", json=body).json()["outputs"]
        assert [(o["name"], o["datatype"]) for o in meta] == [(o["name"], o["datatype"]) for o in answer], name


def test_a_dataframe_split_that_does_not_fit_its_columns_says_where():
    # A repeated column name was read as the last of its columns without a word (so was a repeated OIP input); a
    # short row was not named.
    from assay.serve._protocols import BadRequest, frame_from_mlflow, frame_from_oip

    def split(columns, data):
        return frame_from_mlflow(orjson.dumps({"dataframe_split": {"columns": columns, "data": data}}),
                                 "application/json")

    assert split(["a", "b"], [[1, 2], [3, 4]])["b"].to_list() == [2, 4]
    with pytest.raises(BadRequest, match=r"^dataframe_split: column\(s\) 'a' appear more than once in 'columns'$"):
        split(["a", "b", "a"], [[1, 2, 3]])
    with pytest.raises(BadRequest, match=r"; row 1 has 1 values for the 2 columns$"):
        split(["a", "b"], [[1, 2], [3]])
    with pytest.raises(BadRequest, match=r"; row 0 has no list \(5\) for the 2 columns$"):
        split(["a", "b"], [5])
    tensor = {"name": "a", "datatype": "FP64", "shape": [1], "data": [1.0]}
    with pytest.raises(BadRequest, match=r"^input 'a' is given more than once; send one input per column$"):
        frame_from_oip(orjson.dumps({"inputs": [tensor, {**tensor, "data": [2.0]}]}), None)


def test_a_csv_body_reads_a_quoted_header_name_as_training_does():
    from assay.serve._protocols import frame_from_mlflow

    frame = frame_from_mlflow(b'"a""b",y\n1,2\n', "text/csv")
    assert frame.columns == ['a"b', "y"]


def test_oip_metadata_of_a_recommender_names_and_types_its_answers(start_server, tmp_path):
    """user (typed as its column), item (typed as the items were), rank and score: it said prediction FP64."""
    import assay

    rng = np.random.default_rng(0)
    ratings = pl.DataFrame({"user": rng.integers(0, 30, 600), "movie": [f"m{i}" for i in rng.integers(0, 40, 600)],
                            "stars": rng.integers(1, 6, 600).astype(float)})
    result = assay.train(ratings, task="recommendation", user="user", item="movie", rating="stars",
                         models=["popularity"], out=tmp_path / "rec", report=False)
    reg = open_registry(tmp_path / "registry")
    reg.register(result.model_path, "rec")
    server = start_server(tmp_path / "registry")
    meta = httpx.get(f"{server.url}/v2/models/rec").json()["outputs"]
    body = {"inputs": [{"name": "user", "shape": [1], "datatype": "INT64", "data": [3]}]}
    answer = httpx.post(f"{server.url}/v2/models/rec/infer", json=body).json()["outputs"]
    assert [(o["name"], o["datatype"]) for o in meta] == [(o["name"], o["datatype"]) for o in answer]
    assert [(o["name"], o["datatype"]) for o in meta] == [("user", "INT64"), ("item", "BYTES"), ("rank", "INT64"),
                                                          ("score", "FP64")]
