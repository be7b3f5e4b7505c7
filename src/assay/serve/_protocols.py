"""Request bodies of the three protocols turned into a Polars frame, and predictions turned into their responses.

- plain: ``POST /models/{name}/predict`` with a JSON list of records, ``{"records": [...]}`` or one record;
- MLflow ``/invocations``: JSON with exactly one of ``dataframe_split``, ``dataframe_records``, ``instances``,
  ``inputs`` (plus optional ``params``), or CSV (``text/csv``); errors are MLflow's (400 JSON ``error_code`` /
  415 text);
- Open Inference Protocol v2 ``…/infer``: one input tensor per column (shape ``[n]`` or ``[n, 1]``), JSON data or
  the binary tensor extension (``Inference-Header-Content-Length``).
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
from typing import Any

import numpy as np
import orjson
import polars as pl

__all__ = [
    "BadRequest",
    "NotJSON",
    "UnsupportedMedia",
    "frame_from_mlflow",
    "frame_from_oip",
    "frame_from_records",
    "oip_datatype",
    "oip_outputs",
    "records_frame",
    "records_from_body",
]

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MLFLOW_CONTENT_TYPES = ["text/csv", "application/json"]


class BadRequest(Exception):
    """The body cannot be read in this protocol (→ 400)."""


class NotJSON(BadRequest):
    """The body is not JSON at all (→ 400; a 415 on the plain protocol when it was declared as another type)."""


class UnsupportedMedia(Exception):
    """The Content-Type is not one this endpoint reads (→ 415)."""


def _loads(body: bytes) -> Any:
    if body[:3] == b"\xef\xbb\xbf":  # a UTF-8 byte order mark (Windows tools write one), which RFC 8259 lets a
        body = body[3:]  # reader ignore and orjson refuses
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        error = exc
    # Python's json.dumps (so requests' json=, MLflow's own client) and tritonclient write a missing float as NaN,
    # which strict JSON has no word for and MLflow's scoring server reads: read it as a missing value, as MLflow does
    # (and Infinity as the number). Only on this path: orjson stays the parser of every valid body.
    try:
        data = json.loads(body, parse_constant=_CONSTANTS.__getitem__)
        orjson.dumps(data)  # what orjson refuses for another reason (a lone surrogate, say) stays refused
    except (ValueError, KeyError, RecursionError, orjson.JSONEncodeError):  # (RecursionError: nesting too deep)
        msg = f"body is not valid JSON: {error}"
        raise NotJSON(msg) from error
    return data


_CONSTANTS = {"NaN": None, "Infinity": float("inf"), "-Infinity": float("-inf")}


def _check_records(records: list[Any], where: str) -> None:
    if not records:
        msg = f"{where} holds no rows"
        raise BadRequest(msg)
    if not all(isinstance(r, dict) for r in records):
        msg = f"{where} must be a list of objects (one per row, column name → value)"
        raise BadRequest(msg)


def records_frame(records: list[dict[str, Any]], where: str = "records") -> pl.DataFrame:
    """A frame from checked records (what one request would give on its own)."""
    try:
        return pl.DataFrame(records, infer_schema_length=None, strict=False)
    except Exception as exc:  # mixed types Polars cannot put in one column
        msg = f"{where}: {_mixed_column(records) or f'rows cannot form a table ({exc})'}"
        raise BadRequest(msg) from exc


def _kind(value: Any) -> str:
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else "one value"


def _mixed_column(records: list[dict[str, Any]]) -> str | None:
    """Which column mixes single values with lists or objects (what stops the rows forming a table), and where."""
    first: dict[str, tuple[int, str]] = {}
    for i, record in enumerate(records):
        for column, value in record.items():
            if value is None:
                continue
            kind = _kind(value)
            seen = first.setdefault(column, (i, kind))
            if seen[1] != kind:
                shown = orjson.dumps(value).decode()
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                return (
                    f"column {column!r}: row {i} holds {kind} ({shown}) where row {seen[0]} holds {seen[1]}; "
                    f"each column takes one value per row"
                )
    for i, record in enumerate(records):  # (Polars' own message named neither the column nor the row)
        for column, value in record.items():
            if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
                return (
                    f"column {column!r}: row {i} holds {value}, a whole number past the 64-bit range "
                    f"(send it as a decimal number, {float(value):g})"
                )
    return None


def _records_frame(records: list[Any], where: str) -> pl.DataFrame:
    _check_records(records, where)
    return records_frame(records, where)


def _columns_frame(columns: dict[str, Any], where: str) -> pl.DataFrame:
    if not columns:
        msg = f"{where} holds no columns"
        raise BadRequest(msg)
    values = {k: v if isinstance(v, list) else [v] for k, v in columns.items()}
    lengths = {len(v) for v in values.values()}
    if len(lengths) != 1:
        msg = f"{where}: every column must have the same number of values"
        raise BadRequest(msg)
    if lengths == {0}:
        msg = f"{where} holds no rows"
        raise BadRequest(msg)
    return _rows_frame(values, where)


def _rows_frame(columns: dict[str, list[Any]], where: str) -> pl.DataFrame:
    """JSON columns (of equal, non-zero length) as the frame their rows would give as records.

    Every JSON format goes through the one constructor of :func:`records_frame`, so that a value is read the same
    whatever the layout: Polars builds a column of lists differently from the same values in rows (a column that
    mixes text and numbers gets ``'2010.0'`` for 2010.0 from lists and ``'2010'`` from rows, and only the latter
    is an integer to the model's check).
    """
    if all(map(_one_kind, columns.values())):
        # (the same frame either way when each column holds one kind of value, or whole and decimal numbers: built
        # from the columns, several times faster for a large body)
        with contextlib.suppress(Exception):  # (what cannot form a table is reported as records report it)
            return pl.DataFrame(columns, strict=False)
    names = list(columns)
    return records_frame([dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)], where)


def _one_kind(values: list[Any]) -> bool:
    kinds = set(map(type, values))
    kinds.discard(type(None))
    return len(kinds) <= 1 or kinds == {int, float}


def records_from_body(body: bytes) -> list[dict[str, Any]]:
    """The plain protocol: a list of records, ``{"records": [...]}`` or one record (checked, not yet a frame).

    The frame is built by the batcher, once for a whole batch of requests (see ``_deploy``).
    """
    data = _loads(body)
    if isinstance(data, dict) and "records" in data:
        data = data["records"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        msg = 'body must be a JSON list of records, {"records": [...]}, or one record object'
        raise BadRequest(msg)
    _check_records(data, "records")
    return data


def frame_from_records(body: bytes) -> pl.DataFrame:
    """The plain protocol's body as a frame."""
    return records_frame(records_from_body(body))


def frame_from_mlflow(body: bytes, content_type: str) -> pl.DataFrame:
    """MLflow's scoring-server formats."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "text/csv":
        # the text a CSV writer puts for a missing value is read as missing, as training reads a CSV file
        # (otherwise 'NA' in a column of numbers makes every value of it text: '2010.0' then is no integer)
        from assay.sources._files import DEFAULT_NULL_VALUES, unescape_quoted_names

        try:
            frame = unescape_quoted_names(
                pl.read_csv(io.BytesIO(body), infer_schema_length=None, null_values=DEFAULT_NULL_VALUES))
        except Exception as exc:
            # (Polars' first paragraph says what and where; the rest is advice on its own read_csv arguments)
            msg = f"could not read the CSV body: {str(exc).split(chr(10) * 2, 1)[0].strip()}"
            raise BadRequest(msg) from exc
        if frame.height == 0:  # (as a JSON body without rows is refused)
            msg = "the CSV body holds no rows (a header line, then one line per row)"
            raise BadRequest(msg)
        return frame
    if mime != "application/json":
        raise UnsupportedMedia(content_type)
    data = _loads(body)
    if not isinstance(data, dict):
        msg = (
            f"The input must be a JSON dictionary with exactly one of the input fields {set(MLFLOW_KEYS)}. "
            f"Received a {type(data).__name__}."
        )
        raise BadRequest(msg)
    keys = [k for k in data if k in MLFLOW_KEYS]
    extra = [k for k in data if k not in (*MLFLOW_KEYS, "params")]
    if len(keys) != 1 or extra:
        msg = (
            f"The input must be a JSON dictionary with exactly one of the input fields {set(MLFLOW_KEYS)}. "
            f"Received dictionary with input fields: {list(data)}."
        )
        raise BadRequest(msg)
    key = keys[0]
    value = data[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            msg = "dataframe_split must be an object with 'columns' and 'data' (a list of rows)"
            raise BadRequest(msg)
        columns = value.get("columns")
        rows = value["data"]
        if not isinstance(columns, list) or not all(isinstance(r, list) and len(r) == len(columns) for r in rows):
            msg = "dataframe_split: 'columns' must be a list and every row of 'data' must have one value per column"
            if isinstance(columns, list):  # (which row, and how many values it has)
                i, row = next((i, r) for i, r in enumerate(rows) if not isinstance(r, list) or len(r) != len(columns))
                has = f"{len(row)} values" if isinstance(row, list) else f"no list ({orjson.dumps(row).decode()[:40]})"
                msg += f"; row {i} has {has} for the {len(columns)} columns"
            raise BadRequest(msg)
        names = [str(c) for c in columns]
        if len(set(names)) != len(names):  # (the last one's values were used, without a word)
            repeated = sorted({n for n in names if names.count(n) > 1})
            msg = f"dataframe_split: column(s) {', '.join(map(repr, repeated))} appear more than once in 'columns'"
            raise BadRequest(msg)
        if not rows:
            msg = "dataframe_split holds no rows"
            raise BadRequest(msg)
        return _columns_frame({c: [r[j] for r in rows] for j, c in enumerate(names)}, key)
    if isinstance(value, dict):
        return _columns_frame(value, key)
    if isinstance(value, list):
        return _records_frame(value, key)
    msg = f"{key} must be a list of records or an object of columns"
    raise BadRequest(msg)


# -- Open Inference Protocol v2 ------------------------------------------------------------------------------
_OIP_NUMPY = {
    "BOOL": np.bool_,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}


def oip_datatype(dtype: str) -> str:
    """OIP datatype for a Polars dtype name (as stored in an input schema)."""
    table = {
        "Float64": "FP64",
        "Float32": "FP32",
        "Int64": "INT64",
        "Int32": "INT32",
        "Int16": "INT16",
        "Int8": "INT8",
        "UInt8": "UINT8",
        "UInt16": "UINT16",
        "UInt32": "UINT32",
        "UInt64": "UINT64",
        "Boolean": "BOOL",
    }
    return table.get(dtype, "BYTES")


def _binary_bytes(raw: bytes, n: int) -> list[str]:
    out, pos = [], 0
    for _ in range(n):
        if pos + 4 > len(raw):
            msg = "binary BYTES tensor is shorter than its shape says"
            raise BadRequest(msg)
        (length,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + length > len(raw):  # (it was cut to what there is, without a word)
            msg = f"binary BYTES tensor: element {len(out)} is {length} bytes long, past the tensor's end"
            raise BadRequest(msg)
        out.append(raw[pos : pos + length].decode("utf-8", errors="replace"))
        pos += length
    return out


def frame_from_oip(body: bytes, header_length: str | None) -> tuple[pl.DataFrame, dict[str, Any]]:
    """An OIP v2 inference request (JSON or binary extension) → (frame, request JSON)."""
    binary = b""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError as exc:
            msg = "Inference-Header-Content-Length must be an integer"
            raise BadRequest(msg) from exc
        if not 0 < n <= len(body):
            msg = (
                f"Inference-Header-Content-Length is the length of the JSON header, from 1 to the body's "
                f"{len(body)} bytes; got {n}"
            )
            raise BadRequest(msg)
        body, binary = body[:n], body[n:]
    req = _loads(body)
    if not isinstance(req, dict) or not isinstance(req.get("inputs"), list) or not req["inputs"]:
        msg = "an inference request is a JSON object with a non-empty 'inputs' list"
        raise BadRequest(msg)
    columns: dict[str, Any] = {}
    typed: dict[str, np.ndarray] = {}  # tensors of the binary extension, which carry their own dtype
    offset = 0
    for tensor in req["inputs"]:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            msg = "each input needs a 'name', 'shape', 'datatype' and 'data'"
            raise BadRequest(msg)
        name, dtype, shape = tensor["name"], str(tensor.get("datatype", "")).upper(), tensor.get("shape")
        if name in columns:  # (the last one's values were used, without a word)
            msg = f"input {name!r} is given more than once; send one input per column"
            raise BadRequest(msg)
        if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape) or not shape:
            msg = f"input {name!r}: 'shape' must be a list of non-negative integers"
            raise BadRequest(msg)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            msg = f"input {name!r}: shape {shape} is not a column; send one input per column, shape [n] or [n, 1]"
            raise BadRequest(msg)
        if dtype not in _OIP_NUMPY and dtype != "BYTES":
            msg = (
                f"input {name!r}: datatype {tensor.get('datatype')!r} is not an OIP tensor datatype "
                f"(BOOL, INT8-64, UINT8-64, FP16, FP32, FP64 or BYTES)"
            )
            raise BadRequest(msg)
        n = shape[0]
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                msg = f"input {name!r}: binary_data_size does not fit the body"
                raise BadRequest(msg)
            raw = binary[offset : offset + size]
            offset += size
            if dtype == "BYTES":
                values: Any = _binary_bytes(raw, n)
            elif dtype in _OIP_NUMPY:
                itemsize = np.dtype(_OIP_NUMPY[dtype]).itemsize
                if size % itemsize:  # (numpy's ValueError was a 500)
                    msg = f"input {name!r}: binary_data_size {size} is not a whole number of {dtype} values"
                    raise BadRequest(msg)
                arr = np.frombuffer(raw, dtype=_OIP_NUMPY[dtype])
                if arr.size != n:
                    msg = f"input {name!r}: {arr.size} values for shape {shape}"
                    raise BadRequest(msg)
                typed[name] = arr
                values = arr
            else:
                msg = f"input {name!r}: unsupported datatype {dtype!r}"
                raise BadRequest(msg)
        else:
            data = tensor.get("data")
            if not isinstance(data, list):
                msg = f"input {name!r}: 'data' must be a list"
                raise BadRequest(msg)
            flat = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in data]
            if len(flat) != n or any(isinstance(v, list | dict) for v in flat):
                msg = f"input {name!r}: {len(flat)} values for shape {shape}"
                raise BadRequest(msg)
            values = flat
        columns[name] = values
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1 or 0 in lengths:
        msg = "every input must have the same, non-zero number of rows"
        raise BadRequest(msg)
    # JSON tensors are read as the same values in any other JSON format would be (see _rows_frame)
    loose = {k: v for k, v in columns.items() if k not in typed}
    read = _rows_frame(loose, "inputs") if loose else None
    try:
        frame = pl.DataFrame([pl.Series(k, typed[k]) if k in typed else read.get_column(k)  # type: ignore[union-attr]
                              for k in columns])
    except Exception as exc:
        msg = f"inputs cannot form a table: {exc}"
        raise BadRequest(msg) from exc
    return frame, req


def _answered_as(dtype: str | None) -> str:
    """The OIP datatype :func:`oip_outputs` gives values of a column of Polars type ``dtype`` (a name)."""
    if dtype == "Boolean":
        return "BOOL"
    if dtype is not None and dtype.startswith(("Int", "UInt")):
        return "INT64"
    if dtype is not None and dtype.startswith("Float"):
        return "FP64"
    return "BYTES"


def oip_output_metadata(task: str | None, classes: list[Any] | None, score: bool = True,
                        ids: tuple[str | None, str | None] = (None, None)) -> list[dict[str, Any]]:
    """The output tensors a model's answers carry (OIP model metadata), named and typed as :func:`oip_outputs`
    writes them: a classifier's ``prediction`` in its classes' type (INT64 for 0/1/2, BYTES for text) and
    ``proba_<class>``; a regressor's ``prediction``; a clustering's ``cluster``; an anomaly detector's ``anomaly``
    and (``score``) ``score``; a recommender's ``user``, ``item`` (typed as their columns: ``ids``, Polars type
    names), ``rank`` and ``score``."""
    if task == "recommendation":
        named = [("user", _answered_as(ids[0])), ("item", _answered_as(ids[1])), ("rank", "INT64"),
                 ("score", "FP64")]
    elif task == "classification":
        kinds = {type(c) for c in classes or []}
        if kinds == {bool}:
            dtype = "BOOL"
        elif kinds and kinds <= {bool, int}:
            dtype = "INT64"
        elif kinds and kinds <= {bool, int, float}:
            dtype = "FP64"
        else:
            dtype = "BYTES"
        named = [("prediction", dtype)] + [(f"proba_{c}", "FP64") for c in classes or []]
    elif task == "clustering":
        named = [("cluster", "INT64")]
    elif task == "anomaly":
        named = [("anomaly", "BOOL")] + ([("score", "FP64")] if score else [])
    else:
        named = [("prediction", "FP64")]
    return [{"name": name, "datatype": dtype, "shape": [-1]} for name, dtype in named]


def oip_outputs(rows: list[dict[str, Any]], requested: list[str] | None) -> list[dict[str, Any]]:
    """OIP output tensors (one per prediction column) from prediction rows; :class:`BadRequest` for a requested
    output the model does not give."""
    if not rows:
        return []
    unknown = [n for n in requested or [] if n not in rows[0]]
    if unknown:
        msg = f"unknown output(s) {', '.join(map(repr, unknown))}; this model gives: {', '.join(map(repr, rows[0]))}"
        raise BadRequest(msg)
    names = list(rows[0]) if not requested else [n for n in requested if n in rows[0]]
    outputs = []
    for name in names:
        data = [r[name] for r in rows]
        sample = next((v for v in data if v is not None), None)
        if isinstance(sample, bool):
            dtype = "BOOL"
        elif isinstance(sample, int):
            dtype = "INT64"
        elif isinstance(sample, float):
            dtype = "FP64"
        else:
            dtype, data = "BYTES", ["" if v is None else str(v) for v in data]
        outputs.append({"name": name, "datatype": dtype, "shape": [len(data)], "data": data})
    return outputs
