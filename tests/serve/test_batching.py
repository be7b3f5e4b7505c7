"""The batcher's one-frame-per-batch path (no server): a batch built from several requests' JSON records must read
exactly as each request would on its own, and a batch the model refuses is answered request by request."""

from __future__ import annotations

import time
import uuid

import polars as pl
from kit import FEATURES, iris_artifact

from assay._fitted import Model
from assay.exceptions import SchemaError
from assay.serve._app import _RequestIds
from assay.serve._deploy import Deployment, _one_frame
from assay.serve._protocols import BadRequest, records_frame

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def test_records_of_one_shape_become_the_stacked_frames():
    a, b = [ROW, {**ROW, "sepal_length": 6.3}], [{**ROW, "petal_width": 2.1}]
    whole = _one_frame([a, b])
    assert whole is not None
    assert whole.equals(pl.concat([records_frame(a), records_frame(b)]))


def test_records_whose_values_differ_in_type_are_not_stacked():
    # Alone, an int column reads as Int64 and a string one as String; stacked they would be read differently.
    assert _one_frame([[ROW], [{**ROW, "sepal_length": 5}]]) is None
    assert _one_frame([[ROW], [{**ROW, "sepal_length": "5.1"}]]) is None
    assert _one_frame([[ROW], [{k: v for k, v in ROW.items() if k != "petal_width"}]]) is None  # missing column
    assert _one_frame([[ROW], records_frame([ROW])]) is None  # records and a frame


def test_a_refused_batch_is_answered_request_by_request(tmp_path):
    model = Model.load(iris_artifact(tmp_path))
    dep = Deployment("iris", 1, model)
    good, bad_type, missing, no_table = ([ROW], [{**ROW, "sepal_length": "abc"}], [{"sepal_width": 1.0}],
                                         [ROW, {**ROW, "sepal_length": [1, 2]}])
    results, _ = dep._run([good, bad_type, good, missing, no_table])
    assert [type(r) for r in results] == [list, SchemaError, list, SchemaError, BadRequest]
    assert "sepal_length" in str(results[1])
    assert "Float64" in str(results[1])
    alone, _ = dep._run([good])
    assert results[0] == results[2] == alone[0]
    assert set(alone[0][0]) == {"prediction", "proba_setosa", "proba_versicolor", "proba_virginica"}
    inputs, outputs = dep.window()  # the drift window holds the inputs cast to the training types
    assert inputs is not None
    assert outputs is not None
    assert inputs.columns == FEATURES
    assert all(t == pl.Float64 for t in inputs.dtypes)
    assert inputs.height == outputs.height == 3


def test_request_ids_are_unique_hex():
    ids = _RequestIds()
    drawn = [ids() for _ in range(1000)]  # crosses a refill of the random pool
    assert len(set(drawn)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in drawn)
    parsed = [uuid.UUID(hex=i) for i in drawn]
    assert {(u.version, u.variant) for u in parsed} == {(7, uuid.RFC_4122)}
    stamps = [int(i[:12], 16) for i in drawn]  # milliseconds since the epoch, in order of issue
    assert stamps == sorted(stamps)
    assert abs(stamps[-1] / 1000 - time.time()) < 60
