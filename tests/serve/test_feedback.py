"""Feedback on a real server: a value the live metrics could not use (text for a regression, the wrong number of
values for a multi-row request, nothing at all) is refused with a 422 naming the request and stores nothing, so it
can still be sent right; what was already stored that way never fails the live metrics."""

from __future__ import annotations

import sqlite3
import time

import httpx
import polars as pl
import pytest

from assay.registry import open_registry


def _regression_registry(tmp_path):
    from kit import regression_artifact

    reg = open_registry(tmp_path / "registry")
    reg.register(regression_artifact(tmp_path), "reg")
    return tmp_path / "registry"


def test_regression_feedback_must_be_numbers_one_per_row(start_server, tmp_path) -> None:
    server = start_server(_regression_registry(tmp_path))
    url = f"{server.url}/models/reg"
    one = httpx.post(f"{url}/predict", json=[{"a": 1.0, "b": 2.0}]).json()["request_id"]
    two = httpx.post(f"{url}/predict", json=[{"a": 1.0, "b": 2.0}, {"a": 0.0, "b": 0.0}]).json()["request_id"]

    text = httpx.post(f"{url}/feedback", json={"request_id": one, "value": "abc"})
    assert text.status_code == 422
    assert "finite number" in text.json()["error"]
    assert "'abc'" in text.json()["error"]
    assert text.json()["invalid"] == [{"request_id": one, "error": text.json()["invalid"][0]["error"]}]

    short = httpx.post(f"{url}/feedback", json={"request_id": two, "values": [1.0]})
    assert short.status_code == 422
    assert "predicted 2 row(s)" in short.json()["error"]
    assert "1 value(s)" in short.json()["error"]

    for bad in (None, True, {"a": 1.0}, [1.0, 2.0]):
        assert httpx.post(f"{url}/feedback", json={"request_id": one, "value": bad}).status_code == 422

    # one bad item refuses the whole list: nothing stored, so the good one is not a duplicate when sent again
    mixed = httpx.post(f"{url}/feedback", json=[{"request_id": one, "value": 2.5}, {"request_id": two, "value": 1}])
    assert mixed.status_code == 422

    # the refused values were not stored: the right ones are taken now
    ok = httpx.post(
        f"{url}/feedback", json=[{"request_id": one, "value": 2.5}, {"request_id": two, "values": [3, 0.5]}]
    )
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"stored": 2, "duplicates": 0, "unknown_request_ids": 0}
    live = httpx.get(f"{url}/metrics")
    assert live.status_code == 200
    assert live.json()["versions"]["1"]["feedback_rows"] == 3


def test_feedback_stored_before_the_check_does_not_break_live_metrics(start_server, tmp_path) -> None:
    registry = _regression_registry(tmp_path)
    server = start_server(registry)
    url = f"{server.url}/models/reg"
    good = httpx.post(f"{url}/predict", json=[{"a": 1.0, "b": 2.0}]).json()["request_id"]
    old = httpx.post(f"{url}/predict", json=[{"a": 1.0, "b": 2.0}]).json()["request_id"]
    assert httpx.post(f"{url}/feedback", json={"request_id": good, "value": 1.0}).status_code == 200
    # a value an earlier server stored without checking it
    with sqlite3.connect(registry / "predictions.sqlite") as conn:
        conn.execute(
            "INSERT INTO assay_feedback (request_id, model, value, ts) VALUES (?, 'reg', '\"abc\"', ?)",
            (old, time.time()),
        )
    live = httpx.get(f"{url}/metrics")
    assert live.status_code == 200, live.text
    assert live.json()["versions"]["1"]["feedback_rows"] == 1


def test_classification_feedback_takes_labels(start_server, registry_dir) -> None:
    from kit import ROW

    server = start_server(registry_dir)
    url = f"{server.url}/models/iris"
    rid = httpx.post(f"{url}/predict", json=[ROW, ROW]).json()["request_id"]
    refused = httpx.post(f"{url}/feedback", json={"request_id": rid, "values": ["setosa", None]})
    assert refused.status_code == 422
    assert "row 1" in refused.json()["error"]
    assert httpx.post(f"{url}/feedback", json={"request_id": rid, "values": ["setosa", "virginica"]}).json() == {
        "stored": 1,
        "duplicates": 0,
        "unknown_request_ids": 0,
    }
    assert httpx.get(f"{url}/metrics").json()["versions"]["1"] == {
        "feedback_rows": 2,
        "accuracy": 0.5,
        "f1_macro": pytest.approx(1 / 3),
    }


def test_a_label_sent_as_another_json_type_is_the_same_class(start_server, tmp_path) -> None:
    import uuid

    from kit import FEATURES, iris

    from assay._fitted import Model
    from assay.models import LogisticRegressionGD

    frame = iris()
    target = (frame["species"] == "setosa").cast(int).to_numpy()  # a 0/1 target, as a churned/not column gives
    est = LogisticRegressionGD(max_iter=200).fit(frame.select(FEATURES).to_numpy(), target)
    model = Model(
        [],
        est,
        task="classification",
        target="setosa",
        input_schema=dict.fromkeys(FEATURES, "Float64"),
        features=FEATURES,
        classes=[int(c) for c in est.classes_],
    )
    reg = open_registry(tmp_path / "registry")
    reg.register(model.save(tmp_path / f"bin-{uuid.uuid4().hex[:8]}"), "bin")
    server = start_server(tmp_path / "registry")
    url = f"{server.url}/models/bin"
    rows = frame.select(FEATURES)[[0, 1, 60, 120]].to_dicts()  # two setosa, two others
    answer = httpx.post(f"{url}/predict", json=rows).json()
    predicted = [p["prediction"] for p in answer["predictions"]]
    assert predicted == [1, 1, 0, 0]
    # The right labels, as clients write them: a float, text, a flag.
    truths = [1.0, "1", False, 0.0]
    stored = httpx.post(f"{url}/feedback", json={"request_id": answer["request_id"], "values": truths})
    assert stored.json()["stored"] == 1
    live = httpx.get(f"{url}/metrics").json()["versions"]["1"]
    assert live == {"feedback_rows": 4, "accuracy": 1.0, "f1_macro": 1.0}


def test_a_huge_true_value_leaves_the_live_rmse_defined(start_server, tmp_path) -> None:
    import math

    server = start_server(_regression_registry(tmp_path))
    url = f"{server.url}/models/reg"
    answers = [httpx.post(f"{url}/predict", json=[{"a": 1.0, "b": 2.0}]).json() for _ in range(2)]
    truths = [1e300, 3.0]  # (squared, the first overflows a float)
    for answer, truth in zip(answers, truths, strict=True):
        httpx.post(f"{url}/feedback", json={"request_id": answer["request_id"], "value": truth})
    errors = [abs(a["predictions"][0]["prediction"] - t) for a, t in zip(answers, truths, strict=True)]
    live = httpx.get(f"{url}/metrics").json()["versions"]["1"]
    assert live["rmse"] == pytest.approx(math.hypot(*errors) / math.sqrt(2))
    assert live["mae"] == pytest.approx(sum(errors) / 2)


def test_live_mae_of_errors_near_the_largest_float_is_finite() -> None:
    # The scaled sum was multiplied back before the division: 2 errors of 1.5e308 gave an infinite MAE (null in the
    # JSON answer, +Inf in /metrics) next to a finite RMSE.
    from assay.serve._app import _LiveCounts

    counts = _LiveCounts("regression")
    counts.add(1, [0.0, 0.0], [1.5e308, 1.5e308], [])
    entry = counts.entry(1)
    assert entry["mae"] == pytest.approx(1.5e308)
    assert entry["rmse"] == pytest.approx(1.5e308)


def test_live_metrics_read_only_new_feedback_and_count_late_records(tmp_path) -> None:
    from types import SimpleNamespace

    from assay.serve._app import ServeConfig, Server
    from assay.serve._predlog import PredictionLog, prediction_record

    log = PredictionLog(str(tmp_path / "predictions.sqlite"))
    server = Server(ServeConfig())
    server.predlog = log
    model = SimpleNamespace(task="classification", classes=["a", "b"])
    server.slots["m"] = SimpleNamespace(production=SimpleNamespace(model=model))
    hour_ago = time.time() - 3600

    def predict(rid: str, label: str, version: int = 1, shadow: bool = False) -> None:
        record = prediction_record(rid, "m", version, 0.001, 1, b"{}", "hash", [{"prediction": label}], None, shadow)
        with sqlite3.connect(tmp_path / "predictions.sqlite") as conn:
            conn.execute(f"INSERT INTO assay_predictions VALUES ({', '.join('?' * len(record))})", record)

    def feedback(rid: str, label: str, ts: float) -> None:
        with sqlite3.connect(tmp_path / "predictions.sqlite") as conn:
            conn.execute("INSERT INTO assay_feedback VALUES (?, 'm', ?, ?)", (rid, f'"{label}"', ts))

    for i in range(200):  # labelled an hour ago: half right
        predict(f"old{i}", "a")
        feedback(f"old{i}", "a" if i % 2 else "b", hour_ago)
    read: list[int] = []
    joined_since = log.joined_since
    log.joined_since = lambda *args: read.append(len(rows := joined_since(*args))) or rows
    assert server.live_metrics("m")["versions"]["1"] == {"feedback_rows": 200, "accuracy": 0.5, "f1_macro": 1 / 3}
    predict("new", "b")
    feedback("new", "b", time.time())
    feedback("mirrored", "b", time.time())  # its shadow's record is written after the feedback
    assert server.live_metrics("m")["versions"]["1"]["feedback_rows"] == 201
    predict("mirrored-shadow", "b", version=2, shadow=True)
    live = server.live_metrics("m")["versions"]
    from sklearn.metrics import f1_score

    truths, predicted = ["a", "b"] * 100 + ["b"], ["a"] * 200 + ["b"]
    expected_f1 = f1_score(truths, predicted, average="macro")
    assert live["1"] == {"feedback_rows": 201, "accuracy": 101 / 201, "f1_macro": pytest.approx(expected_f1)}
    assert live["2"] == {"feedback_rows": 1, "accuracy": 1.0, "f1_macro": 1.0}
    # Each refresh reads what was labelled since the latest label it had counted (less a margin): all of them at
    # first, then (the latest being an hour old) all again, then only the two labelled since.
    assert read == [200, 201, 2]


def test_async_log_feedback_sent_before_the_record_is_written_finds_its_prediction(tmp_path, monkeypatch) -> None:
    # With --log-mode async a request is answered before its record is written; feedback sent at once for it was a
    # 404 "unknown request id" (about 1 in 100 on a live server; every time while the writer is slow).
    import asyncio
    from types import SimpleNamespace

    import orjson
    from starlette.requests import Request

    from assay.serve import _predlog
    from assay.serve._app import Handlers, ServeConfig, Server
    from assay.serve._predlog import PredictionLog, prediction_record

    write = _predlog._write

    def slow_write(conn, records):
        time.sleep(0.3)
        write(conn, records)

    monkeypatch.setattr(_predlog, "_write", slow_write)

    async def scenario() -> tuple[int, dict]:
        log = PredictionLog(str(tmp_path / "predictions.sqlite"), mode="async")
        log.start(asyncio.get_running_loop())
        server = Server(ServeConfig())
        server.predlog = log
        model = SimpleNamespace(task="classification", classes=["a", "b"])
        server.slots["m"] = SimpleNamespace(production=SimpleNamespace(model=model))
        record = prediction_record("r1", "m", 1, 0.001, 1, b"{}", "hash", [{"prediction": "a"}], None, False)
        assert log.submit(record) is None  # async: queued, nothing to wait for
        body = orjson.dumps({"request_id": "r1", "value": "a"})

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {"type": "http", "method": "POST", "path": "/models/m/feedback", "query_string": b"", "headers": [],
                 "path_params": {"name": "m"}}
        response = await Handlers(server).feedback(Request(scope, receive))
        await asyncio.get_running_loop().run_in_executor(None, log.close)
        return response.status_code, orjson.loads(response.body)

    assert asyncio.run(scenario()) == (200, {"stored": 1, "duplicates": 0, "unknown_request_ids": 0})


def test_flush_waits_for_what_was_queued_before_it(tmp_path) -> None:
    import asyncio

    from assay.serve._predlog import PredictionLog, prediction_record

    async def scenario() -> tuple[bool, set[str]]:
        log = PredictionLog(str(tmp_path / "predictions.sqlite"), mode="async")
        log.start(asyncio.get_running_loop())
        for i in range(50):
            log.submit(prediction_record(f"r{i}", "m", 1, 0.0, 1, b"{}", "hash", [{"prediction": 1}], None, False))
        flushed = await asyncio.get_running_loop().run_in_executor(None, log.flush)
        seen = log.request_ids([f"r{i}" for i in range(50)])
        await asyncio.get_running_loop().run_in_executor(None, log.close)
        return flushed, seen

    flushed, seen = asyncio.run(scenario())
    assert flushed is True
    assert seen == {f"r{i}" for i in range(50)}


def test_feedback_sent_for_a_shadow_record_is_refused_naming_the_request_to_send_it_for(tmp_path) -> None:
    # It was stored (200) under the shadow's id, which no live metric reads: the shadow is scored by the feedback
    # of the request it mirrored.
    import asyncio
    from types import SimpleNamespace

    import orjson
    from starlette.requests import Request

    from assay.serve._app import Handlers, HTTPError, ServeConfig, Server
    from assay.serve._predlog import PredictionLog, prediction_record

    log = PredictionLog(str(tmp_path / "predictions.sqlite"))
    for rid, shadow in (("r1", False), ("r1-shadow", True)):
        record = prediction_record(rid, "m", 1, 0.001, 1, b"{}", "hash", [{"prediction": "a"}], None, shadow)
        with sqlite3.connect(tmp_path / "predictions.sqlite") as conn:
            conn.execute(f"INSERT INTO assay_predictions VALUES ({', '.join('?' * len(record))})", record)
    server = Server(ServeConfig())
    server.predlog = log
    model = SimpleNamespace(task="classification", classes=["a", "b"])
    server.slots["m"] = SimpleNamespace(production=SimpleNamespace(model=model))

    async def send(rid: str):
        body = orjson.dumps({"request_id": rid, "value": "a"})

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {"type": "http", "method": "POST", "path": "/models/m/feedback", "query_string": b"", "headers": [],
                 "path_params": {"name": "m"}}
        return await Handlers(server).feedback(Request(scope, receive))

    with pytest.raises(HTTPError, match=r"r1-shadow is a shadow's record; send the feedback for r1 \(it scores both\)"):
        asyncio.run(send("r1-shadow"))
    assert orjson.loads(asyncio.run(send("r1")).body) == {"stored": 1, "duplicates": 0, "unknown_request_ids": 0}
    with sqlite3.connect(tmp_path / "predictions.sqlite") as conn:
        assert conn.execute("SELECT request_id FROM assay_feedback").fetchall() == [("r1",)]


def test_an_anomaly_detectors_live_accuracy_compares_its_flag_with_the_feedback(tmp_path) -> None:
    # Its answers carry "anomaly" (and "score"), no "prediction": every true value counted as a miss (accuracy 0).
    from types import SimpleNamespace

    from assay.serve._app import ServeConfig, Server
    from assay.serve._predlog import PredictionLog, prediction_record

    log = PredictionLog(str(tmp_path / "predictions.sqlite"))
    server = Server(ServeConfig())
    server.predlog = log
    model = SimpleNamespace(task="anomaly", classes=None)
    server.slots["m"] = SimpleNamespace(production=SimpleNamespace(model=model))
    with sqlite3.connect(tmp_path / "predictions.sqlite") as conn:
        for i, (flag, truth) in enumerate([(True, "true"), (False, "false"), (True, "false"), (False, "false")]):
            out = [{"anomaly": flag, "score": 0.5}]
            record = prediction_record(f"r{i}", "m", 1, 0.001, 1, b"{}", "hash", out, None, False)
            conn.execute(f"INSERT INTO assay_predictions VALUES ({', '.join('?' * len(record))})", record)
            conn.execute("INSERT INTO assay_feedback VALUES (?, 'm', ?, ?)", (f"r{i}", truth, time.time()))
    live = server.live_metrics("m")["versions"]["1"]
    assert live["feedback_rows"] == 4
    assert live["accuracy"] == 0.75


def test_a_clustering_is_scored_by_agreement_whatever_its_true_groups_are_called():
    """Cluster numbers are arbitrary: feedback naming the true groups ("gold", "silver") of a perfect clustering
    scored accuracy 0. The adjusted Rand index, as scikit-learn computes it, says how well the groups agree."""
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from assay.serve._app import _LiveCounts

    rng = np.random.default_rng(7)
    for _ in range(50):
        n = int(rng.integers(1, 60))
        truth = rng.integers(0, int(rng.integers(1, 5)), n)
        clusters = rng.integers(0, int(rng.integers(1, 5)), n)
        counts = _LiveCounts("clustering")
        counts.add(2, clusters.tolist(), [f"group {t}" for t in truth], [])
        assert counts.entry(2)["adjusted_rand"] == pytest.approx(adjusted_rand_score(truth, clusters), abs=1e-12)
    perfect = _LiveCounts("clustering")
    perfect.add(1, [0, 0, 1, 1, 2], ["gold", "gold", "silver", "silver", "bronze"], [])
    assert perfect.entry(1)["accuracy"] == 0.0
    assert perfect.entry(1)["adjusted_rand"] == 1.0
    classifier = _LiveCounts("classification")
    classifier.add(1, ["a", "b"], ["a", "a"], ["a", "b"])
    assert set(classifier.entry(1)) == {"feedback_rows", "accuracy", "f1_macro"}


def test_a_date_column_loads_and_a_window_of_later_dates_is_drift(start_server, tmp_path):
    """A model reading text dates, registered with its training data: the server's load check predicts a row made
    from the profile (the median date as the data wrote it, not a number of days), and the date column's drift is
    measured in time: sales two years past training alert, with a KS distance."""
    from kit import sales_artifact, sales_frame

    reg = open_registry(tmp_path / "registry")
    reg.register(sales_artifact(tmp_path), "sales", reference=sales_frame())
    server = start_server(tmp_path / "registry")
    url = f"{server.url}/models/sales"
    assert httpx.get(f"{url}/status").json()["production"]["version"] == 1
    rows = sales_frame(200).with_columns(sold=pl.lit("15/06/2024")).to_dicts()
    assert httpx.post(f"{url}/predict", json=rows).status_code == 200
    report = httpx.get(f"{url}/drift").json()["versions"]["1"]
    assert report["alerts"] == ["sold", "prediction"]  # (the model reads the year: its predictions move too)
    assert report["features"]["sold"]["ks"] == 1.0
