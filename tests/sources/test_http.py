"""HTTP API sources against a real local HTTP server (a thread on 127.0.0.1, ephemeral port) that paginates every
way, throttles with 429, fails with 500, answers slowly, and returns HTML or malformed JSON."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from assay.exceptions import SourceError, SourceNotFoundError
from assay.sources import Source, open_source
from assay.sources._http import HTTPSource
from assay.testing import check_source

TOTAL = 45
TOKEN = "tok-8f3a1c"  # a test credential for the local server


def _record(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"user{i}", "score": i * 1.5, "address": {"city": ["Lyon", "Oslo"][i % 2], "geo": {
        "lat": i / 10, "lon": -i / 10}}, "tags": ["a", "b"][: i % 3]}


class _State:
    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    state: _State

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        return None

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None,
              ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        query = json.loads(self.rfile.read(length) or b"{}")
        rows = [_record(i) for i in range(TOTAL) if i % query.get("every", 1) == 0]
        self._send(200, {"data": {"rows": rows}})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route = parts.path.strip("/")
        with self.state.lock:
            self.state.calls[route + q.get("run", "")].append(time.monotonic())
            n_calls = len(self.state.calls[route + q.get("run", "")])
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if route == "page":
            page, size = int(q.get("page", 1)), int(q.get("per_page", 10))
            self._send(200, {"results": [_record(i) for i in range((page - 1) * size, min(page * size, TOTAL))]})
        elif route == "offset":
            off, lim = int(q["offset"]), int(q["limit"])
            self._send(200, {"items": [_record(i) for i in range(off, min(off + lim, TOTAL))], "total": TOTAL})
        elif route == "cursor":
            start = int(q.get("after", 0))
            rows = [_record(i) for i in range(start, min(start + 20, TOTAL))]
            nxt = start + 20 if start + 20 < TOTAL else None
            self._send(200, {"data": rows, "meta": {"next": nxt}})
        elif route == "next":
            start = int(q.get("from", 0))
            rows = [_record(i) for i in range(start, min(start + 15, TOTAL))]
            nxt = f"/next?from={start + 15}" if start + 15 < TOTAL else None
            self._send(200, {"records": rows, "next": nxt})
        elif route == "wrapped":  # records one level down, the next URL in meta
            start = int(q.get("from", 0))
            rows = [_record(i) for i in range(start, min(start + 20, TOTAL))]
            nxt = f"{base}/wrapped?from={start + 20}" if start + 20 < TOTAL else None
            self._send(200, {"data": {"items": rows, "count": len(rows)}, "meta": {"next": nxt}})
        elif route == "named":  # records under the resource's own name beside paging fields
            self._send(200, {"users": [_record(i) for i in range(TOTAL)], "total": TOTAL, "page": 1})
        elif route == "customer":  # one object with a list of objects inside: one record
            self._send(200, {"id": 7, "name": "Ann", "orders": [{"sku": "x"}, {"sku": "y"}]})
        elif route == "link":
            page = int(q.get("page", 1))
            rows = [_record(i) for i in range((page - 1) * 12, min(page * 12, TOTAL))]
            links = [f'<{base}/link?page={page + 1}>; rel="next"'] if page * 12 < TOTAL else []
            links.append(f'<{base}/link?page=1>; rel="first"')
            self._send(200, rows, {"Link": ", ".join(links)})
        elif route == "throttle":
            if n_calls == 1:
                self._send(429, {"error": "slow down"}, {"Retry-After": "1"})
            else:
                self._send(200, [_record(0)])
        elif route == "flaky":
            if n_calls <= 2:
                self._send(500, {"error": "boom"})
            else:
                self._send(200, [_record(1)])
        elif route == "down":
            self._send(503, {"error": "maintenance"})
        elif route == "slow":
            time.sleep(1.0)
            self._send(200, [_record(2)])
        elif route == "html":
            self._send(200, b"<!doctype html><html><body>Please log in</body></html>", ctype="text/html")
        elif route == "malformed":
            self._send(200, b'{"data": [{"id": 1}, {"id": ', ctype="application/json")
        elif route == "secure":
            auth = self.headers.get("Authorization", "")
            ok = (auth == f"Bearer {TOKEN}" or self.headers.get("X-Api-Key") == TOKEN
                  or auth == "Basic " + base64.b64encode(f"ann:{TOKEN}".encode()).decode())
            self._send(200, [_record(3)]) if ok else self._send(401, {"error": "unauthorized"})
        elif route == "plain":
            self._send(200, [_record(i) for i in range(3)])
        else:
            self._send(404, {"error": "no such route"})


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client that timed out on /slow closes its socket: expected, not worth a traceback


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, _State]]:
    state = _State()
    handler = type("Handler", (_Handler,), {"state": state})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()
    thread.join(5)


def _ids(frame: pl.DataFrame) -> list[int]:
    return sorted(frame["id"].to_list())


@pytest.mark.parametrize(
    "fragment",
    [
        "page?per_page=10#paginate=page",
        "offset#paginate=offset&limit=8",
        "cursor#paginate=cursor&cursor_path=meta.next&cursor_param=after",
        "next",  # a next URL in the body, followed automatically
        "link",  # RFC 8288 Link headers, followed automatically
        "wrapped",  # records at data.items, the next URL at meta.next: both found
        "named",  # {"users": [...], "total": 45, "page": 1}
    ],
)
def test_every_pagination_reads_all_records_once(api: tuple[str, _State], fragment: str) -> None:
    base, _ = api
    source = open_source(f"{base}/{fragment}")
    assert isinstance(source, Source)
    frame = source.read()
    assert _ids(frame) == list(range(TOTAL))
    assert frame.height == TOTAL


def test_one_object_holding_a_list_of_objects_is_one_record(api: tuple[str, _State]) -> None:
    base, _ = api
    frame = open_source(f"{base}/customer").read()
    assert frame.height == 1
    assert frame["name"].to_list() == ["Ann"]


def test_nested_objects_become_columns_and_the_contract_holds(api: tuple[str, _State]) -> None:
    base, _ = api
    data = check_source(open_source(f"{base}/link"), batch_sizes=(7, 100))
    assert {"address.city", "address.geo.lat", "address.geo.lon"} <= set(data.columns)
    assert data.sort("id")["address.geo.lat"][5] == pytest.approx(0.5)


def test_post_with_a_json_body_and_a_records_path(api: tuple[str, _State]) -> None:
    base, _ = api
    frame = HTTPSource(f"{base}/search#method=POST&records=data.rows", body=json.dumps({"every": 5})).read()
    assert _ids(frame) == list(range(0, TOTAL, 5))


def test_429_waits_for_retry_after(api: tuple[str, _State]) -> None:
    base, state = api
    frame = open_source(f"{base}/throttle#backoff=0.01").read()
    assert frame["id"].to_list() == [0]
    first, second = state.calls["throttle"][:2]
    assert second - first >= 0.95  # the server's Retry-After: 1 was honoured, not the 10 ms backoff


def test_500_is_retried_with_backoff_then_succeeds(api: tuple[str, _State]) -> None:
    base, _ = api
    source = HTTPSource(f"{base}/flaky#backoff=0.01")
    assert source.read()["id"].to_list() == [1]
    assert source.requests == 3
    with pytest.raises(SourceError, match=r"failed after 3 attempts: HTTP 503"):
        HTTPSource(f"{base}/down#retries=2&backoff=0.01").read()


def test_slow_answer_times_out_with_a_clear_error(api: tuple[str, _State]) -> None:
    base, _ = api
    with pytest.raises(SourceError, match=r"no answer within 0.2 s"):
        open_source(f"{base}/slow#timeout=0.2&retries=1&backoff=0.01").read()


def test_client_side_rate_limit_spaces_requests(api: tuple[str, _State]) -> None:
    base, state = api
    open_source(f"{base}/page?per_page=5&run=rated#paginate=page&rate=20").read()
    times = state.calls["pagerated"]
    assert len(times) == TOTAL // 5 + 1  # 9 pages, then the empty page that ends it
    # 20 requests/s at most: 10 requests span ≥ 9 × 50 ms (a lower bound; only network jitter at the ends counts)
    assert times[-1] - times[0] >= 0.4


def test_html_malformed_json_and_missing_routes_are_one_line_errors(api: tuple[str, _State]) -> None:
    base, _ = api
    with pytest.raises(SourceError, match=r"returned HTML, not JSON .*Please log in") as info:
        open_source(f"{base}/html").read()
    assert "\n" not in str(info.value)
    with pytest.raises(SourceError, match="malformed JSON"):
        open_source(f"{base}/malformed").read()
    with pytest.raises(SourceNotFoundError, match="HTTP 404"):
        open_source(f"{base}/nowhere").read()
    with pytest.raises(SourceError, match=r"no records at 'data\.items'"):
        open_source(f"{base}/plain#records=data.items").read()
    with pytest.raises(SourceError, match="failed after 2 attempts: connection failed"):
        open_source("http://127.0.0.1:1/x#retries=1&backoff=0.01").read()


def test_bearer_basic_and_api_key_auth(api: tuple[str, _State], monkeypatch: pytest.MonkeyPatch) -> None:
    base, _ = api
    monkeypatch.setenv("ASSAY_TEST_API_TOKEN", TOKEN)
    assert open_source(f"{base}/secure#bearer=${{ASSAY_TEST_API_TOKEN}}").read()["id"].to_list() == [3]
    assert open_source(f"{base}/secure#api_key={TOKEN}").read()["id"].to_list() == [3]
    host = base.removeprefix("http://")
    assert open_source(f"http://ann:{TOKEN}@{host}/secure").read()["id"].to_list() == [3]
    with pytest.raises(SourceError, match=r"refused access \(HTTP 401\)") as info:
        open_source(f"http://ann:wrong-pass-77@{host}/secure").read()
    assert "wrong-pass-77" not in str(info.value)


def test_an_api_ingested_into_a_parquet_dataset(api: tuple[str, _State], tmp_path: Path) -> None:
    from assay.sources._ingest import ingest
    from assay.sources._sinks import ParquetSink

    base, _ = api
    stats = ingest(open_source(f"{base}/cursor#paginate=cursor&cursor_path=meta.next&cursor_param=after"),
                   ParquetSink(tmp_path / "users", key="id"), batch_size=16)
    assert stats.reason == "end of source"
    assert stats.batches == 3
    data = pl.read_parquet(tmp_path / "users" / "*.parquet")
    assert _ids(data) == list(range(TOTAL))
