"""``assay serve``: the prediction service over the models of a registry."""

from __future__ import annotations

import os

import typer

from assay.exceptions import SpecError

__all__ = ["register"]

EXAMPLES = """
Examples:

  assay serve                                   (every model in ~/.assay/registry, on 127.0.0.1:8000)

  assay serve --registry postgresql://db/mlops --model churn --port 9000 --token $ADMIN_TOKEN

  curl -s localhost:8000/models/churn/predict -d '[{"age": 41, "plan": "pro"}]'
"""


def register(app: typer.Typer) -> None:
    @app.command("serve", help="Serve registered models over HTTP (OIP v2, MLflow /invocations, JSON)." + EXAMPLES)
    def serve_command(
        registry: str | None = typer.Option(None, help="Registry directory or URI (default: $ASSAY_REGISTRY)."),
        host: str = typer.Option("127.0.0.1", help="Interface to bind (0.0.0.0 exposes it to the network)."),
        port: int = typer.Option(8000, min=0, max=65535, help="TCP port."),
        token: str | None = typer.Option(None, help="Bearer token for the admin endpoints (or $ASSAY_TOKEN)."),
        model: list[str] = typer.Option([], "--model", "-m", help="Serve only this model (repeatable)."),
        max_batch: int = typer.Option(64, min=1, help="Most rows per micro-batch."),
        max_wait_ms: float = typer.Option(2.0, min=0, help="Longest wait for a batch to fill (only under load)."),
        max_inflight: int = typer.Option(256, min=1, help="Predictions admitted at once; more get 503."),
        shed_hold_ms: float = typer.Option(
            2.0,
            min=0,
            max=4.0,
            help="A 503 at capacity to a client that retried at once is sent this long after its request.",
        ),
        queue_timeout: float = typer.Option(2.0, min=0.001, help="Seconds a request may wait in a batch queue."),
        degrade_at: int | None = typer.Option(None, min=0, help="In-flight count above which the fallback answers."),
        fallback: list[str] = typer.Option(
            [], help="NAME=previous|none|OTHER[:VERSION] (repeatable); default previous."
        ),
        breaker_window: int = typer.Option(20, min=1, help="Calls in the breaker's rolling window."),
        breaker_min_calls: int = typer.Option(10, min=1, help="Calls needed before the breaker may open."),
        breaker_failure_rate: float = typer.Option(
            0.5, help="Failure share (above 0, at most 1) that opens the breaker."
        ),
        breaker_slow_rate: float = typer.Option(
            1.0, help="Slow-call share (above 0, at most 1) that opens the breaker."
        ),
        breaker_slow_ms: float = typer.Option(1000.0, help="A call slower than this (ms, above 0) is slow."),
        breaker_open_seconds: float = typer.Option(10.0, min=0, help="Seconds open before half-open probes."),
        breaker_probes: int = typer.Option(3, min=1, help="Half-open probes that must succeed to close."),
        log_mode: str = typer.Option("durable", help="durable (answer after the log commit) or async."),
        log_inputs: str = typer.Option("full", help="full (store request bodies) or hash (SHA-256 only)."),
        max_body_kb: int = typer.Option(1024, min=1, help="Request size limit (413 above it)."),
        extra_versions: int = typer.Option(
            2,
            min=0,
            help="Other registered versions loaded on request by "
            "/v2/models/NAME/versions/V/infer and kept (LRU; 0: off).",
        ),
        watch_seconds: float = typer.Option(2.0, min=0, help="Poll the registry for promotions (0: off)."),
        drift_seconds: float = typer.Option(30.0, min=0, help="Drift check interval (0: only on request)."),
        wrap: str | None = typer.Option(
            None, help="module:function applied to each loaded model (fault injection, tracing); or $ASSAY_SERVE_WRAP."
        ),
        log_level: str = typer.Option("info", help="debug, info, warning, error."),
    ) -> None:
        from assay.serve import serve
        from assay.serve._app import ServeConfig
        from assay.serve._breaker import BreakerConfig

        # (0 would open the breaker on a window of successes; a negative threshold makes every call slow)
        rates = (("--breaker-failure-rate", breaker_failure_rate), ("--breaker-slow-rate", breaker_slow_rate))
        for flag, rate in rates:
            if not 0 < rate <= 1:
                msg = f"{flag} is a share of the window's calls, above 0 and at most 1 (0.5 = half), got {rate:g}"
                raise SpecError(msg)
        if breaker_min_calls > breaker_window:  # (the window never holds that many calls: it could never open)
            msg = (
                f"--breaker-min-calls {breaker_min_calls} is more than --breaker-window {breaker_window}: the "
                f"window never holds that many calls, so the breaker could never open; lower it or widen the window"
            )
            raise SpecError(msg)
        if not breaker_slow_ms > 0:
            msg = f"--breaker-slow-ms must be above 0, got {breaker_slow_ms:g}"
            raise SpecError(msg)
        if log_level.lower() not in ("debug", "info", "warning", "error"):
            msg = f"--log-level must be debug, info, warning or error, got {log_level!r}"
            raise SpecError(msg)
        if log_mode not in ("durable", "async"):
            msg = f"--log-mode must be durable or async, got {log_mode!r}"
            raise SpecError(msg)
        if log_inputs not in ("full", "hash"):
            msg = f"--log-inputs must be full or hash, got {log_inputs!r}"
            raise SpecError(msg)
        fallbacks = {}
        for item in fallback:
            name, sep, value = item.partition("=")
            if not sep or not name or not value:
                msg = f"--fallback {item!r}: write NAME=previous, NAME=none or NAME=OTHER_MODEL[:VERSION]"
                raise SpecError(msg)
            fallbacks[name] = value
        wrap_spec = wrap or os.environ.get("ASSAY_SERVE_WRAP")
        if wrap_spec:
            _check_wrap(wrap_spec, "--wrap" if wrap else "$ASSAY_SERVE_WRAP")
        _check_port(host, port)
        # The registry (and each model named with --model) checked before the server starts: a database that
        # cannot be reached or a mistyped model name is a one-line error, not a traceback from the server's start-up.
        from assay.registry import open_registry

        reg = open_registry(registry)
        for name in model:
            reg.resolve(name)
        config = ServeConfig(
            registry=registry,
            models=list(model) or None,
            token=token or os.environ.get("ASSAY_TOKEN"),
            max_batch=max_batch,
            max_wait=max_wait_ms / 1000,
            max_inflight=max_inflight,
            shed_hold=shed_hold_ms / 1000,
            queue_timeout=queue_timeout,
            degrade_at=degrade_at,
            fallback=fallbacks,
            breaker=BreakerConfig(
                window=breaker_window,
                min_calls=breaker_min_calls,
                failure_rate=breaker_failure_rate,
                slow_rate=breaker_slow_rate,
                slow_seconds=breaker_slow_ms / 1000,
                open_seconds=breaker_open_seconds,
                probes=breaker_probes,
            ),
            log_mode=log_mode,
            log_inputs=log_inputs,
            max_body=max_body_kb * 1024,
            watch_seconds=watch_seconds,
            drift_seconds=drift_seconds,
            wrap=wrap_spec,
            extra_versions=extra_versions,
        )
        serve(config, host=host, port=port, log_level=log_level)


def _check_port(host: str, port: int) -> None:
    """A port another process listens on is a one-line error before the models are loaded (uvicorn would find it
    only after loading every model, and log it among the start-up lines). Bound as uvicorn binds (SO_REUSEADDR);
    port 0 too, for the host."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            import errno

            if exc.errno == errno.EADDRINUSE:
                hint = "is another server there? use another --port"
            elif exc.errno == errno.EACCES:
                hint = "a port below 1024 needs privileges; use another --port"
            else:  # (a name that does not resolve, an address of another machine)
                hint = "--host must be an address of this machine: 127.0.0.1, 0.0.0.0 (every interface) or its own"
            msg = f"cannot listen on {host}:{port}: {exc.strerror or exc} ({hint})"
            raise SpecError(msg) from exc


def _check_wrap(spec: str, flag: str) -> None:
    """The wrap function imported before the server starts: a mistyped one is a one-line error (it was a traceback
    from the server's start-up)."""
    import importlib

    module, sep, func = spec.partition(":")
    if not sep or not module or not func:
        msg = f"{flag} {spec!r}: write module:function, e.g. mypackage.tracing:wrap"
        raise SpecError(msg)
    try:
        imported = importlib.import_module(module)
    except Exception as exc:
        msg = f"{flag} {spec!r}: cannot import {module!r} ({type(exc).__name__}: {exc}); is it on PYTHONPATH?"
        raise SpecError(msg) from exc
    if not callable(getattr(imported, func, None)):
        msg = f"{flag} {spec!r}: module {module!r} has no function {func!r}"
        raise SpecError(msg)
