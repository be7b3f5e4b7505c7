"""Connecting to Dask distributed: a ``LocalCluster`` when no scheduler address is given, the user's cluster otherwise.

Only this module decides how a :class:`distributed.Client` is made. It also quiets Dask's chatty defaults (log lines
and warnings that say nothing to an assay user) and teaches Dask the size of a Polars frame, so that the workers'
memory manager counts frames held on a worker correctly and spills them to disk before a memory limit is reached.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from assay._deps import import_optional
from assay.exceptions import SpecError

__all__ = ["DASK_CONFIG", "dask_client", "register_sizeof"]

# Applied to every client assay makes. Why each one:
DASK_CONFIG: dict[str, Any] = {
    # assay reports progress itself; Dask's INFO lines would interleave with it.
    "distributed.logging.distributed": "error",
    # Large task graphs are not the problem the warning assumes here: task arguments are small partition plans.
    "distributed.admin.large-graph-warning-threshold": "1GB",
    # A killed worker is a fault assay is built to survive; retry lost tasks on the survivors.
    "distributed.scheduler.allowed-failures": 5,
}


def register_sizeof() -> None:
    """Tell Dask how many bytes a Polars frame holds (the generic estimate would see only the Python object)."""
    import polars as pl
    from dask.sizeof import sizeof

    if pl.DataFrame in getattr(sizeof, "_lookup", {}):
        return

    @sizeof.register(pl.DataFrame)
    def _frame_size(frame: pl.DataFrame) -> int:
        return int(frame.estimated_size()) + 1000


def _check_address(address: str) -> str:
    if "://" not in address:
        address = f"tcp://{address}"
    scheme = address.split("://", 1)[0]
    if scheme not in ("tcp", "tls", "inproc", "ws", "wss", "ucx"):
        msg = f"scheduler address {address!r} has an unknown protocol {scheme!r}; use tcp://HOST:8786"
        raise SpecError(msg)
    return address


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None,
    *,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | int = "auto",
    timeout: float = 20.0,
    echo: Callable[[str], None] | None = None,
) -> Iterator[Any]:
    """A connected :class:`distributed.Client`, closed (and its local cluster stopped) on exit.

    Args:
        scheduler: ``tcp://host:8786`` of a running scheduler; ``None`` starts a ``LocalCluster`` on 127.0.0.1.
        n_workers, threads_per_worker, memory_limit: the local cluster's shape (ignored with ``scheduler``).
        timeout: seconds to wait for the scheduler to answer.
        echo: where to print the dashboard link (e.g. ``print``); ``None`` logs it instead.
    """
    distributed = import_optional("distributed", "dask")
    import dask

    register_sizeof()
    say = echo or logging.getLogger("assay").info
    with dask.config.set(DASK_CONFIG):
        cluster = None
        if scheduler:
            address = _check_address(scheduler)
            try:
                client = distributed.Client(address, timeout=timeout, set_as_default=False)
            except OSError as exc:
                msg = (f"cannot reach the Dask scheduler at {address} within {timeout:g}s ({exc}); start one with "
                       f"'dask scheduler' or drop --scheduler to use a local cluster")
                raise SpecError(msg) from None
        else:
            workers = n_workers or max(1, min(4, (os.cpu_count() or 1)))
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=threads_per_worker or 1, memory_limit=memory_limit,
                host="127.0.0.1", dashboard_address=":0", processes=True, silence_logs=logging.CRITICAL,
            )
            client = distributed.Client(cluster, set_as_default=False)
        try:
            client.run(register_sizeof)
            workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            where = scheduler or f"a local cluster ({workers} workers)"
            say(f"dask: connected to {where}; dashboard: {dashboard_link(client)}")
            yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def dashboard_link(client: Any) -> str:
    """The dashboard URL, or a note saying how to get one (the dashboard needs bokeh)."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return f"{client.dashboard_link} (install bokeh>=3.1 to serve it)"
    return str(client.dashboard_link)
