"""HTTP JSON APIs as sources: records found by a JSON path, nested objects flattened, every kind of pagination.

The URI is the API's own URL; assay's options go in the fragment (never sent to the server) or as keyword
arguments to :func:`~assay.sources.open_source`::

    https://api.example.com/v1/orders?status=open#records=data.items&paginate=cursor&cursor_path=meta.next
    https://api.example.com/v1/users#paginate=page&page_size=100&bearer=${API_TOKEN}

Options:

- ``records``: dotted path to the list of records (``data.items``); by default the body itself when it is a list,
  else the first of ``data``, ``results``, ``items``, ``records``, ``rows`` that holds a list, else a list of
  objects beside only paging fields (``{"users": [...], "total": 45}``), else the same one level down in a wrapper
  (``data.items``, with a note); an object with none of these is one record.
- ``method`` (GET/POST) and ``body`` (JSON text sent with POST).
- ``paginate``: ``page`` (``page_param``, ``start_page``, ``page_size_param``, ``page_size``), ``offset``
  (``offset_param``, ``limit_param``, ``limit``), ``cursor`` (``cursor_path`` in the body, ``cursor_param``),
  ``next`` (a next URL at ``next_path`` in the body), ``link`` (RFC 8288 ``Link: <…>; rel="next"`` headers), or
  ``none``. Without it, a ``Link`` header or a next URL in the body (``next``, ``links.next``, ``meta.next``,
  ``pagination.next``, ``_links.next.href``, ``@odata.nextLink``, …) is followed automatically.
  ``max_pages`` bounds any of them.
- Auth: ``bearer=TOKEN``, basic auth from ``user:password@`` in the URL, or ``api_key=KEY`` sent in the header
  ``api_key_header`` (default ``X-API-Key``); ``${VAR}`` values come from the environment or ``.env``.
- ``timeout`` (seconds, default 30), ``retries`` (default 5) with exponential backoff from ``backoff`` seconds and
  full jitter on connection errors, 429 and 5xx, honouring ``Retry-After``; ``rate`` caps requests per second.
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import json
import random
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit, urlunsplit

import polars as pl

from assay.exceptions import SourceError, SourceNotFoundError, SpecError
from assay.sources._base import DEFAULT_BATCH_SIZE, mask_uri
from assay.sources._credentials import expand_env, mask_text, masked_logger, remember_secret
from assay.sources._streams import flatten

__all__ = ["HTTPSource", "parse_link_header"]

log = masked_logger(__name__)

_AUTO_KEYS = ("data", "results", "items", "records", "rows")
_RETRY_STATUS = {429, 500, 502, 503, 504}


def parse_link_header(value: str) -> dict[str, str]:
    """RFC 8288 ``Link`` header -> ``{rel: url}``.

    >>> parse_link_header('<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last"')
    {'next': 'https://a/x?page=2', 'last': 'https://a/x?page=9'}
    """
    links: dict[str, str] = {}
    for part in value.split(","):
        if "<" not in part or ">" not in part:
            continue
        url = part[part.index("<") + 1 : part.index(">")].strip()
        for param in part[part.index(">") + 1 :].split(";"):
            key, _, val = param.strip().partition("=")
            if key.strip().lower() == "rel":
                for rel in val.strip().strip('"').split():
                    links[rel.lower()] = url
    return links


# Fields an API's list response holds beside the records (lower case): paging, counts and status.
_PAGING_KEYS = frozenset({
    "total", "total_count", "totalcount", "count", "page", "pages", "per_page", "page_size", "pagesize", "limit",
    "offset", "next", "next_url", "nextpage", "previous", "prev", "links", "_links", "meta", "pagination", "paging",
    "has_more", "hasmore", "cursor", "next_cursor", "status", "success", "ok", "message", "took", "request_id",
    "@odata.context", "@odata.nextlink", "incomplete_results", "object", "url",
})

# Where APIs put the next page's URL, tried in order when pagination is automatic.
_NEXT_PATHS = ("next", "next_url", "nextPage", "links.next", "meta.next", "pagination.next", "paging.next",
               "_links.next.href", "@odata.nextLink")


def _auto_records(body: dict[str, Any]) -> tuple[str, list[Any]] | None:
    """``(path, records)``: the list of records in an API's JSON object when no ``#records`` path is given.

    First a list under a usual key (``data``, ``results``, ``items``, ``records``, ``rows``), then a list of objects
    beside nothing but paging and status fields (``{"users": [...], "total": 3, "next": null}``), then the same one
    level down in a wrapper (``data.items``, ``response.results``); None when there is no such list (the object
    itself is then one record: a customer with a list of orders stays one customer).

    >>> _auto_records({"data": {"items": [{"id": 1}]}, "meta": {"next": None}})
    ('data.items', [{'id': 1}])
    >>> _auto_records({"users": [{"id": 1}], "total": 1})
    ('users', [{'id': 1}])
    >>> _auto_records({"id": 1, "name": "Ann", "orders": [{"sku": "x"}]}) is None
    True
    """

    def here(obj: dict[str, Any]) -> tuple[str, list[Any]] | None:
        for key in _AUTO_KEYS:
            if isinstance(obj.get(key), list):
                return key, obj[key]
        lists = [k for k, v in obj.items() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
        if len(lists) == 1 and all(k.lower() in _PAGING_KEYS for k in obj if k != lists[0]):
            return lists[0], obj[lists[0]]
        return None

    found = here(body)
    if found is not None:
        return found
    for key in (*_AUTO_KEYS, "response", "result", "body", "payload"):
        if isinstance(body.get(key), dict) and (inner := here(body[key])) is not None:
            return f"{key}.{inner[0]}", inner[1]
    return None


def _dig(value: Any, path: str | None) -> Any:
    if not path or path in ("$", "."):
        return value
    for key in path.removeprefix("$.").split("."):
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


class _RateLimit:
    """At most ``rate`` requests per second across threads (a minimum interval; simple and predictable)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            delay = self.next_at - now
            self.next_at = max(now, self.next_at) + self.interval
        if delay > 0:
            time.sleep(delay)


class HTTPSource:
    """A JSON API read page by page; see the module docstring for the options."""

    def __init__(self, uri: str, **options: Any) -> None:
        self.uri = uri
        parts = urlsplit(uri)
        self.options: dict[str, str] = {**dict(parse_qsl(parts.fragment)), **{k: str(v) for k, v in options.items()}}
        self.url = urlunsplit(parts._replace(fragment=""))
        self.method = self.options.get("method", "GET").upper()
        if self.method not in ("GET", "POST"):
            msg = f"method {self.method!r} for {mask_uri(uri)}: use GET or POST"
            raise SpecError(msg)
        self.paginate = self.options.get("paginate", "auto").lower()
        known = ("auto", "none", "page", "offset", "cursor", "next", "link")
        if self.paginate not in known:
            msg = f"paginate={self.paginate!r} for {mask_uri(uri)}; use one of {', '.join(known)}"
            raise SpecError(msg)
        self.timeout = float(self.options.get("timeout", 30))
        self.retries = int(self.options.get("retries", 5))
        self.backoff = float(self.options.get("backoff", 0.5))
        self.max_wait = float(self.options.get("max_wait", 60))
        self.max_pages = int(self.options["max_pages"]) if "max_pages" in self.options else None
        self._rate = _RateLimit(float(self.options["rate"]) if "rate" in self.options else None)
        self.requests = 0

    # -- one request, with retries -------------------------------------------------------------------------------
    def _client(self) -> Any:
        import httpx

        headers = {"Accept": "application/json", "User-Agent": "assay"}
        for key, value in self.options.items():
            if key.startswith("header."):
                headers[key[len("header.") :]] = expand_env(value)
        if "bearer" in self.options:
            token = expand_env(self.options["bearer"])
            remember_secret(token)
            headers["Authorization"] = f"Bearer {token}"
        if "api_key" in self.options:
            key = expand_env(self.options["api_key"])
            remember_secret(key)
            headers[self.options.get("api_key_header", "X-API-Key")] = key
        auth = None
        parts = urlsplit(expand_env(self.url))
        if parts.username:
            password = unquote(parts.password or "")
            remember_secret(password)
            auth = httpx.BasicAuth(unquote(parts.username), password)
        return httpx.Client(headers=headers, auth=auth, timeout=self.timeout, follow_redirects=True)

    def _request_url(self, url: str) -> str:
        # credentials travel in the Authorization header, never in the request line
        parts = urlsplit(expand_env(url))
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def _retry_after(self, response: Any, attempt: int) -> float:
        header = response.headers.get("Retry-After") if response is not None else None
        if header:
            try:
                return min(float(header), self.max_wait)
            except ValueError:
                when = email.utils.parsedate_to_datetime(header)
                if when is not None:
                    return min(max(0.0, when.timestamp() - time.time()), self.max_wait)
        # exponential backoff with full jitter (AWS architecture blog): spreads retries of many clients apart
        return random.uniform(0, min(self.max_wait, self.backoff * 2**attempt))

    def _get(self, client: Any, url: str, params: dict[str, Any] | None = None) -> Any:
        import httpx

        body = self.options.get("body")
        payload = json.loads(expand_env(body)) if body else None
        if params:  # httpx would replace the URL's own query string with ``params``; keep both
            params = {**dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)), **params}
            url = urlunsplit(urlsplit(url)._replace(query=""))
        last: str = ""
        for attempt in range(self.retries + 1):
            self._rate.wait()
            self.requests += 1
            response = None
            try:
                if self.method == "POST":
                    response = client.post(self._request_url(url), params=params, json=payload)
                else:
                    response = client.get(self._request_url(url), params=params)
            except httpx.TimeoutException as exc:
                last = f"no answer within {self.timeout:g} s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                last = f"connection failed ({mask_text(str(exc)) or type(exc).__name__})"
            else:
                if response.status_code not in _RETRY_STATUS:
                    return response
                last = f"HTTP {response.status_code}"
            if attempt < self.retries:
                wait = self._retry_after(response, attempt)
                log.info("%s: %s; retry %d/%d in %.2f s", mask_uri(url), last, attempt + 1, self.retries, wait)
                time.sleep(wait)
        msg = (f"{mask_uri(url)} failed after {self.retries + 1} attempts: {last}; check the URL and the service, "
               "or raise #retries= / #timeout=")
        raise SourceError(msg)

    def _json(self, response: Any, url: str) -> Any:
        status = response.status_code
        ctype = response.headers.get("content-type", "")
        excerpt = " ".join(response.text[:80].split())
        if status in (401, 403):
            msg = f"{mask_uri(url)} refused access (HTTP {status}): check #bearer=, #api_key= or user:password@"
            raise SourceError(msg)
        if status == 404:
            raise SourceNotFoundError(f"{mask_uri(url)} not found (HTTP 404); check the URL")
        if status >= 400:
            raise SourceError(f"{mask_uri(url)} answered HTTP {status}: {excerpt!r}")
        if "html" in ctype or response.text.lstrip()[:1] == "<":
            msg = (f"{mask_uri(url)} returned HTML, not JSON (HTTP {status}, {ctype or 'no content-type'}): "
                   f"{excerpt!r}; check the URL (an API endpoint, not a web page) and the auth")
            raise SourceError(msg)
        try:
            return response.json()
        except ValueError as exc:
            msg = f"{mask_uri(url)} returned malformed JSON ({exc}): {excerpt!r}"
            raise SourceError(msg) from None

    def _records(self, body: Any, url: str) -> list[Any]:
        path = self.options.get("records")
        if path:
            records = _dig(body, path)
            if records is None:
                keys = list(body) if isinstance(body, dict) else type(body).__name__
                msg = f"no records at {path!r} in the JSON from {mask_uri(url)}; top-level keys: {keys}"
                raise SourceError(msg)
        elif isinstance(body, list):
            records = body
        elif isinstance(body, dict):
            found = _auto_records(body)
            if found is None:
                records = [body]  # a single object is one record
            else:
                where, records = found
                if "." in where and not self.__dict__.get("_said_where"):
                    self.__dict__["_said_where"] = True
                    log.warning("records read from %r in the JSON of %s; set #records=PATH for others", where,
                                mask_uri(url))
        else:
            msg = f"{mask_uri(url)} returned JSON {type(body).__name__}, not records; set #records=PATH"
            raise SourceError(msg)
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            msg = f"#records={path!r} in {mask_uri(url)} is a {type(records).__name__}, not a list"
            raise SourceError(msg)
        return records

    # -- pages ---------------------------------------------------------------------------------------------------
    def pages(self) -> Iterator[pl.DataFrame]:
        """One frame per page, following the pagination until the API has no more."""
        o = self.options
        mode = self.paginate
        page = int(o.get("start_page", 1))
        offset = int(o.get("start_offset", 0))
        limit = int(o.get("limit", o.get("page_size", 100)))
        params: dict[str, Any] = {}
        if mode == "page" and "page_size_param" in o:
            params[o["page_size_param"]] = int(o.get("page_size", limit))
        url = self.url
        count = 0
        with self._client() as client:
            while True:
                if mode == "page":
                    params[o.get("page_param", "page")] = page
                elif mode == "offset":
                    params[o.get("offset_param", "offset")] = offset
                    params[o.get("limit_param", "limit")] = limit
                response = self._get(client, url, params or None)
                body = self._json(response, url)
                records = self._records(body, url)
                count += 1
                if records:
                    yield self._frame(records, url)
                if self.max_pages is not None and count >= self.max_pages:
                    return
                nxt = self._next(mode, response, body, url)
                if mode in ("page", "offset"):
                    if not records:
                        return
                    page += 1
                    offset += len(records)
                    continue
                if nxt is None or (mode == "cursor" and not records):
                    return
                if mode == "cursor":
                    params = {o.get("cursor_param", "cursor"): nxt}
                else:
                    url, params = urljoin(url, nxt), {}

    def _next(self, mode: str, response: Any, body: Any, url: str) -> str | None:
        o = self.options
        if mode in ("link", "auto"):
            link = parse_link_header(response.headers.get("link", "")).get("next")
            if link or mode == "link":
                return link
        if mode == "cursor":
            value = _dig(body, o.get("cursor_path", "next_cursor"))
            return None if value in (None, "", False) else str(value)
        if mode in ("next", "auto") and isinstance(body, dict):
            if "next_path" in o or mode == "next":
                value = _dig(body, o.get("next_path", "next"))
            else:  # automatic: the usual places, and only a URL (a cursor token there is not followed)
                found = ((path, _dig(body, path)) for path in _NEXT_PATHS)
                value = next((v for path, v in found if isinstance(v, str) and v
                              and (path == "next" or v.startswith(("http://", "https://", "/", "?")))), None)
            if isinstance(value, str) and value:
                if urljoin(url, value) == url:
                    return None  # a next link to itself would loop forever
                return value
        return None

    def _frame(self, records: list[Any], url: str) -> pl.DataFrame:
        if not all(isinstance(r, dict) for r in records):
            records = [r if isinstance(r, dict) else {"value": r} for r in records]
        try:
            frame = pl.read_json(io.BytesIO(json.dumps(records).encode()), infer_schema_length=None)
        except Exception as exc:  # fields whose type changes between records: let Polars widen row by row
            log.debug("vectorised JSON read of %s failed (%s); building the frame from dicts", mask_uri(url), exc)
            frame = pl.from_dicts(records, infer_schema_length=None, strict=False)
        return flatten(frame)

    # -- the Source protocol -------------------------------------------------------------------------------------
    def read(self) -> pl.DataFrame:
        frames = list(self.pages())
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames, how="diagonal_relaxed")

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[pl.DataFrame]:
        pending: list[pl.DataFrame] = []
        held = 0
        for frame in self.pages():
            pending.append(frame)
            held += frame.height
            while held >= batch_size:
                block = pl.concat(pending, how="diagonal_relaxed")
                yield block.head(batch_size)
                rest = block.slice(batch_size)
                pending, held = ([rest] if rest.height else []), rest.height
        if pending:
            yield pl.concat(pending, how="diagonal_relaxed")

    def scan(self) -> pl.LazyFrame:
        return self.read().lazy()

    def fingerprint(self) -> str:
        frame = self.read()
        digest = hashlib.sha256(mask_uri(self.uri).encode())
        digest.update(str(frame.shape).encode())
        if frame.height:
            digest.update(str(frame.hash_rows(seed=0).sum()).encode())
        return digest.hexdigest()[:16]

