"""The prediction service: OIP v2, MLflow /invocations and plain JSON over registry models, with micro-batching,
per-version circuit breakers, load shedding, hot swap, canary/shadow, a durable prediction log, feedback and drift.

``serve(config, host, port)`` runs it with uvicorn; ``create_app(config)`` gives the ASGI app.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BreakerConfig", "ServeConfig", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    # FastAPI and uvicorn are the [serve] extra: imported only when the server is used.
    if name in ("ServeConfig", "create_app"):
        from assay._deps import import_optional

        import_optional("fastapi", "serve")
        from assay.serve import _app

        return getattr(_app, name)
    if name == "BreakerConfig":
        from assay.serve._breaker import BreakerConfig

        return BreakerConfig
    msg = f"module 'assay.serve' has no attribute {name!r}"
    raise AttributeError(msg)


def serve(config: Any = None, host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info",
          graceful_seconds: float = 30.0) -> None:
    """Run the server until SIGINT/SIGTERM; in-flight requests finish (drain) before it exits."""
    from assay._deps import import_optional

    uvicorn = import_optional("uvicorn", "serve")
    from assay.serve._app import ServeConfig, configure_logging, create_app, shedding_protocol

    configure_logging(log_level)
    app = create_app(config or ServeConfig())
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, log_level=log_level,
                timeout_graceful_shutdown=graceful_seconds, backlog=2048, http=shedding_protocol(app.front))
